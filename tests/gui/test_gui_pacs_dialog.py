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
