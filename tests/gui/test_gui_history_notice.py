"""A damaged history set aside on start-up is told to the user in the window, in plain text (issue 12)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from osteo_desktop.core.results.history import History


def test_the_window_tells_the_user_the_history_was_set_aside(qtbot, tmp_path, settings):
    from osteo_desktop.gui.app import open_main_window

    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # a damaged header: no SQLite can read it
    history = History(path)
    try:
        window = open_main_window(None, settings=settings, history=history)
        qtbot.addWidget(window)
        box = window.history_notice
        assert box.isVisible() and box.textFormat() == Qt.TextFormat.PlainText
        assert str(history.set_aside) in box.text() and "damaged" in box.text()
        window.close()
    finally:
        history.close()
