"""AppLogic and AppSettings without the window: slow work off the GUI thread, results tied to their file, settings typed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from osteo_desktop.gui.logic import AppLogic
from osteo_desktop.gui.settings import MAX_RECENT_FILES, AppSettings


@pytest.fixture
def app_settings(settings) -> AppSettings:
    return AppSettings.load(settings)


@pytest.fixture
def logic(qtbot, app_settings, history, classifier):
    made = AppLogic(app_settings, history, lambda: classifier)
    with qtbot.waitSignal(made.model_ready, timeout=30000):
        made.load_model()
    yield made
    made.shutdown()


def test_history_and_report_are_written_off_the_gui_thread(qtbot, logic, history, knee_png, tmp_path, monkeypatch):
    import osteo_desktop.gui.report_pdf as report_pdf

    threads = {}
    record, write = history.record, report_pdf.write_report_pdf
    monkeypatch.setattr(history, "record", lambda *a, **k: (threads.setdefault("history", threading.current_thread()), record(*a, **k))[1])
    monkeypatch.setattr(report_pdf, "write_report_pdf", lambda *a, **k: (threads.setdefault("pdf", threading.current_thread()), write(*a, **k))[1])
    with qtbot.waitSignal(logic.analysis_ready, timeout=60000) as shown:
        logic.open(knee_png)
    assert history.count() == 1  # recorded before it was handed over
    with qtbot.waitSignal(logic.report_saved, timeout=60000) as saved:
        logic.export_report(tmp_path / "r.pdf")
    assert saved.args[0] == tmp_path / "r.pdf" and saved.args[0].read_bytes().startswith(b"%PDF")
    assert set(threads) == {"history", "pdf"}
    assert all(thread is not threading.main_thread() for thread in threads.values())
    assert shown.args[0].path == logic.current_path == str(knee_png)
    assert logic.settings.last_report_folder == str(tmp_path)


def test_a_result_only_ever_belongs_to_the_current_path(qtbot, logic, knee_images):
    paths = [knee_images["normal"][0], knee_images["osteoporosis"][0], knee_images["normal"][1]]
    delivered = []
    logic.image_ready.connect(lambda radiograph: delivered.append(("image", str(radiograph.path), logic.current_path)))
    logic.analysis_ready.connect(lambda outcome: delivered.append(("result", outcome.path, logic.current_path)))
    with qtbot.waitSignal(logic.analysis_ready, timeout=60000):
        for path in paths:  # opened in quick succession: the first two are superseded
            logic.open(path)
    assert logic.runner.wait_for_done(30000)
    qtbot.waitUntil(lambda: not logic.is_busy(), timeout=5000)
    assert all(item == current for _, item, current in delivered)
    assert delivered[-1] == ("result", str(paths[-1]), str(paths[-1]))


def test_a_failed_export_says_why_in_words(qtbot, logic, knee_png, tmp_path):
    with qtbot.waitSignal(logic.analysis_ready, timeout=60000):
        logic.open(knee_png)
    with qtbot.waitSignal(logic.report_failed, timeout=60000) as failed:
        logic.export_report(tmp_path / "no such folder" / "r.pdf")
    assert failed.args[0].startswith("The report could not be saved: ")
    assert str(tmp_path / "no such folder") in failed.args[0]  # which file or folder is missing, not only that one is
    assert "Traceback" not in failed.args[0]


def test_a_full_disk_is_a_failed_report_not_an_empty_saved_one(qtbot, logic, knee_png, tmp_path, monkeypatch):
    # A clinic's full disk: Qt's PDF writer ignored the failed write, left a 0-byte file and the window said "Report
    # saved". The disk is made full at the sync that every atomic write ends with.
    import errno
    import os

    with qtbot.waitSignal(logic.analysis_ready, timeout=60000):
        logic.open(knee_png)
    folder = tmp_path / "reports"
    folder.mkdir()
    target = folder / "r.pdf"
    target.write_bytes(b"the report saved yesterday")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    saved = []
    logic.report_saved.connect(saved.append)
    with qtbot.waitSignal(logic.report_failed, timeout=60000) as failed:
        logic.export_report(target)
    assert failed.args[0].startswith("The report could not be saved: No space left on device")
    assert saved == []
    assert target.read_bytes() == b"the report saved yesterday"  # yesterday's report is not lost either
    assert sorted(p.name for p in folder.iterdir()) == ["r.pdf"]  # no temporary left behind


def test_a_report_is_readable_like_the_other_exports(qtbot, logic, knee_png, tmp_path):
    # The PDF was created by mkstemp (0600: owner only) while CSV and DICOM exports follow the umask (0644 here).
    import stat

    reference = tmp_path / "reference.csv"
    reference.write_text("made by open(), as any new file of the user's")
    with qtbot.waitSignal(logic.analysis_ready, timeout=60000):
        logic.open(knee_png)
    with qtbot.waitSignal(logic.report_saved, timeout=60000) as saved:
        logic.export_report(tmp_path / "r.pdf")
    written = saved.args[0]
    assert written.read_bytes().startswith(b"%PDF") and written.read_bytes().rstrip().endswith(b"%%EOF")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)


def test_settings_come_back_typed_and_are_written_at_once(tmp_path):
    path = str(tmp_path / "settings.ini")
    first = AppSettings.load(QSettings(path, QSettings.Format.IniFormat))
    assert first.batch_recursive is False and first.recent_files == [] and first.last_folder == str(Path.home())
    first.update(batch_recursive=True, batch_folder="/data/study")
    first.remember_recent("/a/only.dcm")  # one item: INI files give it back as a plain string
    on_disk = Path(path).read_text()  # written at once, not when the store is destroyed
    assert "batch_recursive=true" in on_disk and "only.dcm" in on_disk
    again = AppSettings.load(QSettings(path, QSettings.Format.IniFormat))  # a new store: what is on disk
    assert again.batch_recursive is True and again.batch_folder == "/data/study"
    assert again.recent_files == ["/a/only.dcm"]
    for i in range(MAX_RECENT_FILES + 3):
        again.remember_recent(f"/a/{i}.png")
    again.remember_recent("/a/3.png")  # reopened: moves to the front, not listed twice
    assert again.recent_files[0] == "/a/3.png" and len(again.recent_files) == MAX_RECENT_FILES
    assert again.recent_files.count("/a/3.png") == 1
    with pytest.raises(AttributeError):
        again.update(data_dir=tmp_path)  # from the environment only


def test_folders_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OSTEO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OSTEO_MODEL_DIR", str(tmp_path / "model"))
    settings = AppSettings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert settings.data_dir == tmp_path / "data" and settings.model_dir == tmp_path / "model"


def test_a_full_disk_writes_no_dicom_result_and_says_so_without_a_traceback(qtbot, logic, knee_png, tmp_path, monkeypatch):
    # Trial 22b: the dialog showed pydicom's traceback, and an SR was left without its annotated image beside a
    # half-written temporary. The disk is full when the annotated image's bytes are synced (the second object).
    import errno
    import os

    from osteo_desktop.core.results.dicom_adapter import StudyDetails

    with qtbot.waitSignal(logic.analysis_ready, timeout=60000):
        logic.open(knee_png)
    out = tmp_path / "dicom"
    real = os.fsync

    def full(fd):
        if ".annotated.dcm." in os.readlink(f"/proc/self/fd/{fd}"):  # the annotated image's temporary
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", full)
    exported = []
    logic.dicom_exported.connect(exported.append)
    with qtbot.waitSignal(logic.dicom_export_failed, timeout=60000) as failed:
        logic.export_dicom(out, StudyDetails("P-1", "Doe^J"))
    stem = Path(knee_png).stem
    assert failed.args[0] == f"The DICOM results could not be written: No space left on device ({out / stem}.annotated.dcm)"
    assert exported == [] and list(out.iterdir()) == []  # no SR, no image, no temporary


def test_a_write_error_pydicom_wrapped_is_told_by_the_error_it_wraps():
    # pydicom re-raises an element's failed write as type(exc)(message with a traceback) from the error itself.
    import errno
    import os

    try:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as inner:
            raise OSError("With tag (7FE0,0010) got exception: [Errno 28] No space left on device\n"
                          "Traceback (most recent call last):\n  File \"pydicom/tag.py\", line 29") from inner
    except OSError as wrapped:
        assert AppLogic._reason(wrapped) == "No space left on device"
    assert AppLogic._reason(OSError("first line\nTraceback (most recent call last):")) == "first line"


def test_an_unexpected_failure_to_write_is_not_called_a_failed_analysis():
    # Review of stop 22: a DICOM export failing with anything but an OSError read "The DICOM results could not be
    # written: the image could not be analysed because of an unexpected problem": the image had been analysed.
    reason = AppLogic._reason(RuntimeError("highdicom could not build the SR"))
    assert reason == "an unexpected problem (details are in the log)" and "analysed" not in reason
