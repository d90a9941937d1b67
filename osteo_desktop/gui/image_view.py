"""The radiograph viewer: fit, zoom, pan, 1:1, window/level by right-drag, invert, explanation overlay, knee boxes."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QMouseEvent, QPainter, QPen, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene,
                               QGraphicsSimpleTextItem, QGraphicsView, QWidget)

from osteo_desktop.gui.dropping import local_file_from_mime
from osteo_desktop.core.reading.window import apply_window
from osteo_desktop.gui.qimages import grey_qimage, heat_qimage

BACKGROUND = QColor(12, 12, 14)
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 40.0


class ImageView(QGraphicsView):
    """Shows one greyscale image, optionally with a heat-map overlay on the same grid.

    The default display is exactly the pixels the reader produced (what the model sees). Window/level is a viewing
    aid only: it re-renders ``values`` (DICOM values after the modality LUT, or the pixels of a raster image)
    and never changes what is analysed.
    """

    pixel_hovered = Signal(str)  # a short "x, y, value" text, or "" when the cursor leaves the image
    window_changed = Signal(str)  # a short description of the current window, or "" at the default
    file_dropped = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, adjustable: bool = True, placeholder: str = "",
                 fitted: bool = False) -> None:
        """``adjustable``: window/level by right-drag. ``fitted``: the image is always shown whole, fitted to the
        view (no zoom, no pan, no scroll bars), and the wheel scrolls whatever holds the view: the side panel's model
        input tiles were zoomed, and cut, by a wheel turn meant to scroll the panel."""
        super().__init__(parent)
        self._adjustable = adjustable
        self._fitted = fitted
        self._placeholder = placeholder
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag if fitted else QGraphicsView.DragMode.ScrollHandDrag)
        if fitted:
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay_item = QGraphicsPixmapItem(self._image_item)
        self._overlay_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._overlay_item.setOpacity(0.5)
        self.scene().addItem(self._image_item)
        self._image_item.setVisible(False)
        self._marks: list[QGraphicsItem] = []  # knee boxes and their captions, children of the image
        self._captions: list[tuple[QGraphicsRectItem, QGraphicsSimpleTextItem]] = []  # each box with its caption
        self._pixels: np.ndarray | None = None
        self._values: np.ndarray | None = None
        self._is_raster = True
        self._window_function = "LINEAR"
        self._start_window: tuple[float, float] | None = None
        self._window: tuple[float, float] | None = None  # None: show the reader's own rendering
        self._base_invert = False
        self._invert = False
        self._fit = True
        self._drag_origin: QPoint | None = None
        self._drag_window: tuple[float, float] = (0.5, 1.0)

    # --- content -------------------------------------------------------------------------------------------------
    def has_image(self) -> bool:
        return self._pixels is not None

    def set_image(
        self,
        pixels: np.ndarray,
        *,
        modality_values: np.ndarray | None = None,
        window: tuple[float, float] | None = None,
        invert_for_display: bool = False,
        window_function: str = "LINEAR",
    ) -> None:
        """Show new pixels (2-D, [0, 1] or uint8); the view is fitted and any overlay and adjustment cleared."""
        self._pixels = pixels
        self._is_raster = modality_values is None
        if modality_values is not None and modality_values.ndim == 2 and modality_values.shape == pixels.shape:
            self._values = modality_values
            self._start_window = window
        else:
            self._values = pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels
            self._start_window = (0.5, 1.0)
            self._is_raster = True
        self._base_invert = bool(invert_for_display) and not self._is_raster
        self._window_function = window_function if window_function in ("LINEAR", "LINEAR_EXACT", "SIGMOID") else "LINEAR"
        self._window = None
        self._invert = False
        self.clear_overlay()
        self.set_marks([])
        self._render()
        self._image_item.setVisible(True)
        self.scene().setSceneRect(QRectF(self._image_item.pixmap().rect()))
        self.fit_to_window()
        self.window_changed.emit("")

    def clear(self) -> None:
        self._pixels = self._values = None
        self._window = None
        self._image_item.setPixmap(QPixmap())
        self._image_item.setVisible(False)
        self.clear_overlay()
        self.set_marks([])
        self.viewport().update()
        self.window_changed.emit("")

    def set_overlay(self, values: np.ndarray | None) -> None:
        """A heat map in [0, 1] over the image; it is stretched to the image size if its grid differs."""
        if values is None or self._pixels is None:
            self.clear_overlay()
            return
        pixmap = QPixmap.fromImage(heat_qimage(values))
        self._overlay_item.setPixmap(pixmap)
        height, width = self._pixels.shape[:2]
        self._overlay_item.setTransform(QTransform.fromScale(width / pixmap.width(), height / pixmap.height()))

    def clear_overlay(self) -> None:
        self._overlay_item.setPixmap(QPixmap())

    def set_marks(self, marks: list[tuple[tuple[int, int, int, int], str, str]]) -> None:
        """Boxes (x0, y0, x1, y1 in image pixels) with a caption and a colour ("#rrggbb"): the knees found.

        The line and the caption keep their size on screen whatever the zoom (cosmetic pen, caption untransformed).
        Each caption is a tag outside its box where the image has room for it (see :meth:`_place_captions`).
        """
        for item in self._marks:
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._marks = []
        self._captions = []
        if self._pixels is None:
            return
        for (x0, y0, x1, y1), caption, colour in marks:
            # A dark line under the coloured one: a light (borderline) box on white bone was hard to see.
            halo_pen = QPen(QColor(0, 0, 0, 200), 4)
            halo_pen.setCosmetic(True)
            halo = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0), self._image_item)
            halo.setPen(halo_pen)
            pen = QPen(QColor(colour), 2)
            pen.setCosmetic(True)
            box = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0), self._image_item)
            box.setPen(pen)
            label = QGraphicsSimpleTextItem(caption, self._image_item)
            font = QFont(self.font())
            font.setBold(True)
            label.setFont(font)
            label.setBrush(QBrush(QColor(colour)))
            label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
            backdrop = QGraphicsRectItem(label.boundingRect().adjusted(-3, -1, 3, 1), label)
            backdrop.setBrush(QBrush(QColor(0, 0, 0, 170)))
            backdrop.setPen(QPen(Qt.PenStyle.NoPen))
            backdrop.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent, True)
            self._marks += [halo, box, label]
            self._captions.append((box, label))
        self._place_captions()

    def _place_captions(self) -> None:
        """Put each caption tag just outside its box: above it, else below it, else (no room either way, as on a
        preview tile that fills the image) inside its top corner; on the side of the box nearer the film's middle.

        Inside the box's top-left corner the tag hid the film's own burnt-in side marker (R, L), which sits at a
        knee's outer top corner; and the box is what the model looked at, best left uncovered. The room is measured
        at the current zoom, in image pixels, because the tag keeps its size on screen.
        """
        if self._pixels is None or not self._captions:
            return
        scale = max(self.scale_factor(), 1e-6)
        height, width = self._pixels.shape[:2]
        for box, label in self._captions:
            rect = box.rect()
            tag = label.boundingRect().adjusted(-3, -1, 3, 1)  # the backdrop, in screen pixels
            tag_height = (tag.height() + 1) / scale  # in image pixels, with a pixel's gap to the box line
            toward_middle_right = rect.center().x() < width / 2  # a box on the left: its tag at its right edge
            inside = False
            if rect.top() >= tag_height:
                y, dy = rect.top(), -tag.bottom() - 1
            elif height - rect.bottom() >= tag_height:
                y, dy = rect.bottom(), -tag.top() + 1
            else:
                y, dy, inside = rect.top(), -tag.top() + 2, True
            if toward_middle_right:
                x, dx = rect.right(), -tag.right() - (2 if inside else 0)
                # A tag wider than the room left of its anchor (a long "R (film position) 0.41" in a small window)
                # slides right until it is whole on the image.
                x = max(x, -(dx + tag.left()) / scale)
            else:
                x, dx = rect.left(), -tag.left() + (2 if inside else 0)
                x = min(x, width - (dx + tag.right()) / scale)
            label.setPos(x, y)
            label.setTransform(QTransform.fromTranslate(dx, dy))

    def mark_caption_rects(self) -> list[QRectF]:
        """Where each caption tag (with its backdrop) lies on the image, in image pixels at the current zoom."""
        rects = []
        for _, label in self._captions:
            on_screen = label.deviceTransform(self.viewportTransform()).mapRect(label.boundingRect().adjusted(-3, -1, 3, 1))
            top_left, bottom_right = self.mapToScene(on_screen.topLeft().toPoint()), self.mapToScene(on_screen.bottomRight().toPoint())
            rects.append(self._image_item.mapRectFromScene(QRectF(top_left, bottom_right)))
        return rects

    def mark_captions(self) -> list[str]:
        """The captions of the boxes drawn (what a test or the self-test can check)."""
        return [item.text() for item in self._marks if isinstance(item, QGraphicsSimpleTextItem)]

    def has_overlay(self) -> bool:
        return not self._overlay_item.pixmap().isNull()

    def set_overlay_visible(self, visible: bool) -> None:
        self._overlay_item.setVisible(visible)

    def overlay_visible(self) -> bool:
        return self._overlay_item.isVisible() and self.has_overlay()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay_item.setOpacity(max(0.0, min(1.0, opacity)))

    def overlay_opacity(self) -> float:
        return self._overlay_item.opacity()

    def rendered_image(self) -> np.ndarray | None:
        """The greyscale image as currently displayed (after window and invert), as uint8."""
        if self._pixels is None:
            return None
        image = self._image_item.pixmap().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
        buffer = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return buffer[:, : image.width()].copy()

    # --- display adjustments -------------------------------------------------------------------------------------
    @property
    def window(self) -> tuple[float, float] | None:
        return self._window

    @property
    def inverted(self) -> bool:
        return self._invert

    def set_window(self, center: float, width: float) -> None:
        if self._pixels is None or not self._adjustable:
            return
        self._window = (float(center), max(float(width), self._minimum_width()))
        self._render()
        self.window_changed.emit(self._describe_window())

    def reset_window(self) -> None:
        """Back to the reader's own rendering (the DICOM file's window, or the raw raster) and no inversion."""
        if self._pixels is None:
            return
        self._window = None
        self._invert = False
        self._render()
        self.window_changed.emit("")

    def set_inverted(self, inverted: bool) -> None:
        if self._pixels is None or not self._adjustable:
            return
        self._invert = bool(inverted)
        self._render()

    def _initial_window(self) -> tuple[float, float]:
        if self._start_window is not None:
            return self._start_window
        low, high = np.percentile(self._values, [0.5, 99.5])
        self._start_window = (float(low + high) / 2.0, float(max(high - low, self._minimum_width())))
        return self._start_window

    def _value_span(self) -> float:
        return 1.0 if self._is_raster else max(self._initial_window()[1], 1.0)

    def _minimum_width(self) -> float:
        return 1e-3 if self._is_raster else 1.0

    def _describe_window(self) -> str:
        if self._window is None:
            return ""
        center, width = self._window
        # Spelled out: "Window 10276 / 21142" leaves the reader guessing between centre/width and width/level.
        if self._is_raster:
            return f"Window centre {center * 255:.0f}, width {width * 255:.0f}"
        return f"Window centre {center:.0f}, width {width:.0f}"

    def _render(self) -> None:
        if self._pixels is None:
            return
        if self._window is None:
            grey = self._pixels.astype(np.float32) / 255.0 if self._pixels.dtype == np.uint8 else self._pixels
            grey = 1.0 - grey if self._invert else grey
        else:
            # The reader's own mapping (core/reading/window.py), so a re-window behaves exactly like the file's window
            # would. A raster image's 0..1 grey values take the plain linear window, edge to edge (LINEAR_EXACT).
            function = "LINEAR_EXACT" if self._is_raster else self._window_function
            grey = apply_window(self._values, self._window, function)
            grey = 1.0 - grey if self._base_invert != self._invert else grey
        self._image_item.setPixmap(QPixmap.fromImage(grey_qimage(grey)))

    # --- zoom ----------------------------------------------------------------------------------------------------
    def _scale_changed(self) -> None:
        self._update_sampling()
        self._place_captions()  # the room for a caption tag, in image pixels, depends on the zoom

    def _update_sampling(self) -> None:
        """Smooth when an image pixel covers less than 3 screen pixels; beyond that, sharp pixels, as a reading
        viewer shows them (smoothing a magnified 16×16 image turns it into a blur that the file does not contain)."""
        magnified = self.scale_factor() * self.devicePixelRatioF() >= 3.0
        mode = Qt.TransformationMode.FastTransformation if magnified else Qt.TransformationMode.SmoothTransformation
        if self._image_item.transformationMode() != mode:
            self._image_item.setTransformationMode(mode)

    def fit_to_window(self) -> None:
        self._fit = True
        if self._pixels is not None:
            self.fitInView(self._image_item, Qt.AspectRatioMode.KeepAspectRatio)
            self._scale_changed()

    def actual_size(self) -> None:
        """One image pixel on one screen pixel, also on a high-DPI screen (where Qt's unit is larger)."""
        if self._fitted:
            return
        self._fit = False
        scale = 1.0 / self.devicePixelRatioF()
        self.setTransform(QTransform.fromScale(scale, scale))
        self._scale_changed()

    def zoom_in(self) -> None:
        self._zoom(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom(1.0 / ZOOM_STEP)

    def scale_factor(self) -> float:
        return self.transform().m11()

    def _zoom(self, factor: float) -> None:
        if self._pixels is None or self._fitted:
            return
        target = self.scale_factor() * factor
        if not MIN_SCALE <= target <= MAX_SCALE:
            return
        self._fit = False
        self.scale(factor, factor)
        self._scale_changed()

    # --- events --------------------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fit:
            self.fit_to_window()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self._fitted:
            event.ignore()  # passed on to the scroll area that holds the view
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._zoom(ZOOM_STEP ** (steps * 0.5))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton and self._adjustable and self._pixels is not None:
            self._drag_origin = event.position().toPoint()
            self._drag_window = self._window or self._initial_window()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_origin is not None:
            delta = event.position().toPoint() - self._drag_origin
            # A drag across the whole view spans about twice the value range: fine control, still quick.
            per_pixel = 2.0 * self._value_span() / max(1, self.viewport().width())
            center, width = self._drag_window
            self.set_window(center - delta.y() * per_pixel, width + delta.x() * per_pixel)
            event.accept()
        else:
            super().mouseMoveEvent(event)
        self._report_pixel(event.position().toPoint())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton and self._drag_origin is not None:
            self._drag_origin = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.pixel_hovered.emit("")
        super().leaveEvent(event)

    def pixel_text_at(self, view_pos: QPoint) -> str:
        """'x 12  y 40  value 187' for the image pixel under a viewport position, or '' outside the image."""
        if self._pixels is None:
            return ""
        point = self._image_item.mapFromScene(self.mapToScene(view_pos))
        x, y = int(np.floor(point.x())), int(np.floor(point.y()))
        height, width = self._pixels.shape[:2]
        if not (0 <= x < width and 0 <= y < height):
            return ""
        if self._is_raster:
            value = self._values[y, x]
            shown = f"{value * 255:.0f}" if self._pixels.dtype != np.uint8 else f"{self._pixels[y, x]}"
        else:
            value = float(self._values[y, x])
            shown = f"{value:.0f}" if abs(value - round(value)) < 1e-6 else f"{value:.2f}"
        return f"x {x}   y {y}   value {shown}"

    def _report_pixel(self, view_pos: QPoint) -> None:
        self.pixel_hovered.emit(self.pixel_text_at(view_pos))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        super().drawForeground(painter, rect)
        if self._pixels is not None or not self._placeholder:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(150, 150, 155))
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
        painter.restore()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if local_file_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        path = local_file_from_mime(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.file_dropped.emit(path)
