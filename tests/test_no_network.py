"""Nothing leaves the machine: opening, predicting, scanning, recording and exporting never touch the network."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from osteo_desktop.cli import main


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Make every way of reaching another machine fail loudly, and record each attempt.

    Creating a socket is allowed: urllib3, which pydicom imports for its (unused) test-data downloader, opens and
    binds one to ::1 at import time to probe for IPv6 support. That stays on the machine; connecting, sending,
    listening and name lookups do not.
    """
    attempts: list[str] = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append(f"{name}{args[1:] if args and isinstance(args[0], socket.socket) else args!r}")
            raise NetworkAttempt(f"network access attempted: {name}")

        return blocked

    for method in ("connect", "connect_ex", "sendto", "sendmsg", "listen"):
        monkeypatch.setattr(socket.socket, method, refuse(f"socket.{method}"))
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr",
                 "create_server"):
        monkeypatch.setattr(socket, name, refuse(f"socket.{name}"))
    return attempts


def test_the_guard_itself_catches_a_connection(no_network):
    import urllib.request

    with pytest.raises(Exception):
        urllib.request.urlopen("http://example.org", timeout=1)
    assert no_network


def test_open_predict_scan_record_and_export_stay_offline(no_network, tmp_path, monkeypatch, knee_png, knee_jpeg,
                                                          dicom_dir, capsys):
    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.core.results.exports import write_rows_csv, write_rows_json
    from osteo_desktop.core.results.history import History
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.scanning import scan_folder

    try:
        read_radiograph(dicom_dir / "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm")  # open
        classifier = Classifier.load()
        analysis = analyse_file(knee_png, classifier, explain=True)  # predict and explain
        folder = tmp_path / "folder"
        folder.mkdir()
        for source in (knee_png, knee_jpeg, dicom_dir / "SC_rgb_jpeg-baseline_YBR.dcm"):
            (folder / source.name).write_bytes(source.read_bytes())
        with History() as history:
            history.record(knee_png, analysis.prediction)
            rows = list(scan_folder(folder, classifier, history=history))  # scan
        write_rows_csv(rows, tmp_path / "out.csv")  # export
        write_rows_json(rows, tmp_path / "out.json")
        assert main(["predict", "--json", str(knee_png), str(knee_jpeg)]) == 0
        assert len(json.loads(capsys.readouterr().out)) == 2
        assert main(["scan", str(folder), "--csv", str(tmp_path / "cli.csv")]) == 0
        assert main(["info", str(knee_jpeg)]) == 0
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert all(row.error is None for row in rows)  # two knee results; the photo-like SC DICOM declined, not failed
    assert sorted(row.declined for row in rows) == [False, False, True]
    assert no_network == [], f"network access attempted: {no_network}"


def test_the_window_opens_no_connection_unless_a_pacs_is_configured(no_network, qtbot, tmp_path, monkeypatch,
                                                                      classifier, knee_png):
    """Networking is opt-in (issue 14): with no PACS configured, opening, analysing and the PACS window itself
    connect nowhere, and its buttons cannot ask to."""
    from PySide6.QtCore import QSettings

    from osteo_desktop.gui.main_window import MainWindow

    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, load_classifier=lambda: classifier)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.classifier is not None, timeout=30000)
    with qtbot.waitSignal(window.analysis_shown, timeout=60000):
        window.open_file(knee_png)
    window.side.show_pacs()
    dialog = window.side.pacs
    dialog.patient_id.setText("P-1")
    for button in (dialog.find_button, dialog.fetch_button, dialog.send_button):
        assert not button.isEnabled()
        button.click()
    dialog.find()
    assert dialog.worker is None
    window.close()
    assert no_network == [], f"network access attempted: {no_network}"
