"""The side panel's model input tiles are always shown whole: fitted to the preview, never zoomed or panned (a wheel
turn over them, meant to scroll the panel, zoomed them and cut them off), whatever the window's size."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from shared_paths import KNEE_DIR
from window_steps import open_and_wait

TWO_KNEES = KNEE_DIR / "osteopenia" / "osteopenia_9779cf973d54.jpg"  # two knees found: two tiles side by side


def _wheel(view, steps: int) -> bool:
    """Turn the wheel ``steps`` notches over the view's centre; whether the view took the event for itself."""
    centre = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)
    event = QWheelEvent(centre, view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    return event.isAccepted()


def _whole_in_view(view) -> bool:
    shown = view.mapToScene(view.viewport().rect()).boundingRect().adjusted(-0.5, -0.5, 0.5, 0.5)
    return shown.contains(view.sceneRect()) and view.sceneRect().width() > 0


@pytest.mark.skipif(not TWO_KNEES.is_file(), reason="shared two-knee film missing")
def test_the_tiles_stay_whole_under_the_wheel_and_the_zoom_calls(qtbot, window):
    window.resize(1400, 900)
    open_and_wait(qtbot, window, TWO_KNEES)
    preview = window.preview
    assert len(window.preview.mark_captions()) == 2
    assert _whole_in_view(preview)
    scale = preview.scale_factor()
    for steps in (3, -3, 5):
        assert not _wheel(preview, steps)  # ignored, so Qt hands it on to the side panel's scroll area
    preview.zoom_in()
    preview.actual_size()
    assert preview.scale_factor() == scale and _whole_in_view(preview)
    assert not preview.horizontalScrollBar().isVisible() and not preview.verticalScrollBar().isVisible()
    # The main image still zooms with the wheel: only the preview is fitted.
    before = window.view.scale_factor()
    assert _wheel(window.view, 1) and window.view.scale_factor() > before


@pytest.mark.skipif(not TWO_KNEES.is_file(), reason="shared two-knee film missing")
@pytest.mark.parametrize("size", [(1400, 900), (1100, 700), (1800, 1000)])
def test_the_tiles_are_fitted_at_any_window_size(qtbot, window, size):
    window.resize(*size)
    open_and_wait(qtbot, window, TWO_KNEES)
    qtbot.waitUntil(lambda: _whole_in_view(window.preview), timeout=3000)
    preview = window.preview
    # Fitted, not merely inside: the image fills the preview's width or its height (2 px margins of fitInView).
    drawn = preview.mapFromScene(preview.sceneRect()).boundingRect()
    room = preview.viewport().rect()
    assert drawn.width() >= room.width() - 6 or drawn.height() >= room.height() - 6
    assert QRectF(room).adjusted(-1, -1, 1, 1).contains(QRectF(drawn))
