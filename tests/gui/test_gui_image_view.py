"""The viewer: zoom, 1:1, fit, window/level by right-drag, reset, invert and the pixel readout."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.gui.image_view import ImageView
from osteo_desktop.core.reading.window import apply_window as dicom_window
from osteo_desktop.gui.qimages import to_grey8


@pytest.fixture
def view(qtbot):
    widget = ImageView(placeholder="nothing open")
    widget.resize(400, 300)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def right_drag(view: ImageView, start: QPoint, end: QPoint) -> None:
    viewport = view.viewport()
    for kind, pos, buttons in (
        (QEvent.Type.MouseButtonPress, start, Qt.MouseButton.RightButton),
        (QEvent.Type.MouseMove, end, Qt.MouseButton.RightButton),
        (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton),
    ):
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.RightButton
        event = QMouseEvent(kind, QPointF(pos), viewport.mapToGlobal(QPointF(pos)), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)


def test_zoom_fit_and_actual_size(view):
    view.set_image(np.linspace(0, 1, 600 * 800, dtype=np.float32).reshape(600, 800))
    fitted = view.scale_factor()
    assert fitted < 1.0  # an 800-pixel image fitted into a 400-pixel view
    view.zoom_in()
    assert view.scale_factor() > fitted
    view.zoom_out()
    view.zoom_out()
    assert view.scale_factor() < fitted
    view.actual_size()
    assert view.scale_factor() == pytest.approx(1.0 / view.devicePixelRatioF())
    view.fit_to_window()
    assert view.scale_factor() == pytest.approx(fitted)


def test_raster_shows_its_pixels_and_reports_values(view):
    pixels = np.zeros((5, 8), dtype=np.float32)
    pixels[1, 2] = 1.0
    pixels[3, 6] = 0.5
    view.set_image(pixels)  # fitted: each pixel covers many screen pixels, so a position maps to one pixel
    np.testing.assert_array_equal(view.rendered_image(), to_grey8(pixels))
    for (y, x), expected in (((1, 2), "255"), ((3, 6), "128")):
        pos = view.mapFromScene(QPointF(x + 0.5, y + 0.5))
        assert view.pixel_text_at(pos) == f"x {x}   y {y}   value {expected}"
    assert view.pixel_text_at(view.mapFromScene(QPointF(-5, -5))) == ""
    view.set_window(0.25, 0.5)  # window/level works on raster images too, on their 0..1 grey values
    # centre 0.25, width 0.5 spans grey 0 to 0.5: 0 stays black, 0.5 and above turn white
    expected = np.zeros((5, 8), dtype=np.uint8)
    expected[1, 2] = expected[3, 6] = 255
    np.testing.assert_array_equal(view.rendered_image(), expected)


def test_dicom_window_level_drag_reset_and_invert(view, dicom_dir):
    radiograph = read_radiograph(dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm")
    assert radiograph.modality_values is not None and radiograph.window is not None
    view.set_image(radiograph.pixels, modality_values=radiograph.modality_values, window=radiograph.window,
                   invert_for_display=radiograph.invert_for_display)
    default = view.rendered_image()
    np.testing.assert_array_equal(default, to_grey8(radiograph.pixels))  # the reader's own rendering first
    changes = []
    view.window_changed.connect(changes.append)

    right_drag(view, QPoint(100, 150), QPoint(180, 100))  # right: wider, up: brighter centre
    assert view.window is not None
    center, width = view.window
    assert width > radiograph.window[1] and center > radiograph.window[0]
    windowed = dicom_window(radiograph.modality_values, (center, width), radiograph.metadata.get("voi_lut_function", "LINEAR"))
    np.testing.assert_array_equal(view.rendered_image(), to_grey8(1.0 - windowed if radiograph.invert_for_display else windowed))
    assert changes and changes[-1].startswith("Window")

    view.set_inverted(True)
    np.testing.assert_array_equal(view.rendered_image(), to_grey8(windowed if radiograph.invert_for_display else 1.0 - windowed))

    # the file's own window through the viewer's path gives the reader's rendering
    view.set_window(*radiograph.window)
    view.set_inverted(False)
    assert np.abs(view.rendered_image().astype(int) - default.astype(int)).max() <= 1

    view.reset_window()
    assert view.window is None and not view.inverted
    np.testing.assert_array_equal(view.rendered_image(), default)

    for _ in range(10):
        view.zoom_in()
    view.centerOn(100.5, 200.5)
    pos = view.mapFromScene(QPointF(100.5, 200.5))
    assert view.pixel_text_at(pos).endswith(f"value {radiograph.modality_values[200, 100]:.0f}")


def test_overlay_is_stretched_to_the_image(view):
    view.set_image(np.zeros((448, 448), dtype=np.float32))
    view.set_overlay(np.ones((224, 224), dtype=np.float32))
    assert view.has_overlay()
    item = view._overlay_item
    assert item.mapRectToParent(item.boundingRect()).width() == pytest.approx(448)
    view.clear()
    assert not view.has_image() and not view.has_overlay()


def test_magnified_pixels_stay_sharp(view):
    view.set_image(np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16))
    view.fit_to_window()  # 16 px into a 400x300 view: each image pixel covers many screen pixels
    assert view._image_item.transformationMode() == Qt.TransformationMode.FastTransformation
    view.set_image(np.linspace(0, 1, 600 * 800, dtype=np.float32).reshape(600, 800))
    view.fit_to_window()  # shrunk: smoothed
    assert view._image_item.transformationMode() == Qt.TransformationMode.SmoothTransformation
    for _ in range(20):
        view.zoom_in()
    assert view._image_item.transformationMode() == Qt.TransformationMode.FastTransformation
