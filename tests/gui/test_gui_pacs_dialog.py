"""File ▸ PACS… without a PACS behind it (trial 22): the words of the fetch summary, why the network buttons are off,
no warning before anything is typed, the connection test; fast, no model loaded."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from osteo_desktop.gui.settings import AppSettings


@pytest.fixture
def dialog(qtbot, settings):
    from osteo_desktop.gui.pacs_dialog import PacsDialog

    logic = SimpleNamespace(settings=AppSettings.coerce(settings), current=None, classifier=None)
    made = PacsDialog(logic)
    qtbot.addWidget(made)
    yield made
    made.wait()


def test_the_fetch_summary_counts_the_apps_own_images_it_skipped(dialog, tmp_path):
    from osteo_desktop.dicomnet.pacs import FetchedStudy

    film = tmp_path / "1.2.3.dcm"
    dialog._fetched((tmp_path, FetchedStudy([film], skipped_own=1)))
    assert dialog.status.text() == (f"1 radiograph fetched to {tmp_path} (1 skipped: made by osteo-desktop); "
                                    "analysing them in the scan window.")
    dialog._fetched((tmp_path, FetchedStudy([], skipped_own=2)))
    assert dialog.status.text() == ("The study holds no radiograph (CR, DX or secondary capture) to analyse "
                                    "(2 skipped: made by osteo-desktop).")
    dialog._fetched((tmp_path, FetchedStudy([film, Path("x.dcm")])))
    assert dialog.status.text() == f"2 radiographs fetched to {tmp_path}; analysing them in the scan window."


def test_a_fresh_form_shows_no_warning_until_edited_or_a_button_is_pressed(dialog):
    """Trial 22: a fresh PACS dialog opened with a yellow "The PACS AE title must be 1 to 16 characters"."""
    assert dialog.settings_problem.isHidden() and dialog.settings_problem.text() == ""
    dialog.save_button.click()  # pressing Save with nothing typed: now say why nothing was saved
    assert not dialog.settings_problem.isHidden()
    assert dialog.settings_problem.text() == "The PACS AE title must be 1 to 16 characters (letters, digits, spaces)."


def test_typing_shows_the_warning_and_a_complete_form_clears_it(dialog):
    dialog.host.setText("pacs.example")
    assert dialog.settings_problem.text() == "The PACS AE title must be 1 to 16 characters (letters, digits, spaces)."
    dialog.ae_title.setText("ORTHANC")
    dialog.port.setText("70000")
    assert dialog.settings_problem.text() == "The port is a number from 1 to 65535."
    dialog.port.setText("4242")
    assert dialog.settings_problem.isHidden()


def test_without_pynetdicom_the_dialog_says_why_the_buttons_are_off(qtbot, settings, monkeypatch):
    """Trial 22: a bundle built without the dicom-network extra showed Find, Fetch and Send greyed with no reason."""
    import sys

    from osteo_desktop.gui.pacs_dialog import NO_NETWORK, PacsDialog

    stored = AppSettings.coerce(settings)
    stored.update(pacs_ae_title="ORTHANC", pacs_host="127.0.0.1", pacs_port="4242", pacs_calling_ae="OSTEO")
    monkeypatch.setitem(sys.modules, "pynetdicom", None)  # as if not installed: importing it raises ImportError
    made = PacsDialog(SimpleNamespace(settings=stored, current=None, classifier=None))
    qtbot.addWidget(made)
    assert not made.network_problem.isHidden() and made.network_problem.text() == NO_NETWORK
    assert "pynetdicom package is missing" in NO_NETWORK
    for button in (made.find_button, made.fetch_button, made.send_button, made.test_button):
        assert not button.isEnabled()
    assert made.find_button.toolTip() == NO_NETWORK


def test_with_pynetdicom_no_network_warning_and_find_follows_the_saved_pacs(dialog):
    assert dialog.network_problem.isHidden()
    assert not dialog.find_button.isEnabled() and dialog.find_button.toolTip() == "Save a PACS (AE title, host and port) first."
    for edit, value in ((dialog.ae_title, "ORTHANC"), (dialog.host, "127.0.0.1"), (dialog.port, "4242")):
        edit.setText(value)
    dialog.save_button.click()
    assert dialog.find_button.isEnabled() and dialog.find_button.toolTip() == ""


def test_test_connection_echoes_the_pacs_as_typed_on_the_worker(qtbot, dialog):
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    from tests.dicomnet_helpers import LOOPBACK, free_port

    ae = AE(ae_title="ECHOER")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server((LOOPBACK, port), block=False)
    try:
        for edit, value in ((dialog.ae_title, "ECHOER"), (dialog.host, LOOPBACK), (dialog.port, str(port))):
            edit.setText(value)
        dialog.test_button.click()
        assert dialog.worker is not None  # off the GUI thread
        qtbot.waitUntil(lambda: dialog.worker is None, timeout=15000)
    finally:
        server.shutdown()
    # Trial 22b: "The PACS PACS at ..." when the AE title was PACS; worded now as the failure below is
    assert dialog.status.text() == f"The PACS (AE title ECHOER) at {LOOPBACK}:{port} answered (C-ECHO)."
    assert dialog.settings.pacs_ae_title == ""  # testing saves nothing

    closed = free_port()
    dialog.port.setText(str(closed))
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=15000)
    assert dialog.status.text() == (f"The PACS (AE title ECHOER) at {LOOPBACK}:{closed} could not be reached: nothing "
                                    "listens on that port (connection refused).")


def test_the_modalities_column_lists_a_studys_modalities_in_words(dialog):
    """Trial 22b: the Find table showed DICOM's raw multi-value, DX\\OT\\SR."""
    from osteo_desktop.dicomnet.pacs import StudyMatch

    dialog._show_studies([StudyMatch("1.2.3", modalities="DX\\OT\\SR"), StudyMatch("1.2.4", modalities="CR"),
                          StudyMatch("1.2.5")])
    column = 5
    assert dialog.table.horizontalHeaderItem(column).text() == "Modalities"
    assert [dialog.table.item(row, column).text() for row in range(3)] == ["DX, OT, SR", "CR", ""]
