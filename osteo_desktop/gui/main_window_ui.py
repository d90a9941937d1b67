"""The main window's widgets, actions, menus and toolbar, built onto the window (as Qt Designer's ``setupUi`` does).

Nothing here decides anything: :mod:`osteo_desktop.gui.main_window` connects these to :class:`AppLogic`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLayout,
    QProgressBar,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results import text
from osteo_desktop.gui.image_view import ImageView
from osteo_desktop.gui.metadata_panel import MetadataPanel
from osteo_desktop.gui.result_panel import ResultPanel
from osteo_desktop.gui.plain import PlainLabel

if TYPE_CHECKING:
    from osteo_desktop.gui.main_window import MainWindow

DEFAULT_OPACITY_PERCENT = 40
# The preview box says what its image is: the knees' model inputs with their explanation, or, for a declined file,
# only the whole film as the scope gate looked at it (no knee was analysed, so there is no explanation to show).
PREVIEW_TITLE = "Model input and explanation"
PREVIEW_TIP = ("Exactly what the model was given for each knee, from the viewer's left: the region around the joint "
               "at the film's own resolution, resized and contrast-equalised.")
DECLINED_TITLE = text.DECLINED_TITLE  # the PDF report captions the image in the same words
DECLINED_TIP = ("The whole film as the app checked it before any analysis (is this a frontal knee radiograph?). It "
                "was declined, so no knee was analysed: there is no result and no explanation map.")
DECLINED_EMPTY_TITLE = "Model input: none (no result)"


def build_widgets(window: "MainWindow") -> None:
    """The image on the left; result, model input with its explanation, and image details on the right."""
    window.view = ImageView(placeholder="Open a knee radiograph\n\nFile ▸ Open (Ctrl+O), or drop a file here")
    window.result_panel = ResultPanel()
    window.preview = ImageView(adjustable=False, fitted=True)  # every tile whole; the wheel scrolls the panel
    # 220 px: a square knee input still reads at this size, and with the details table's eight rows the side panel
    # fits a 1600x1000 window without scrolling (at 260 px the "Show patient details" box fell below the fold).
    window.preview.setMinimumSize(220, 220)
    window.preview.setToolTip(PREVIEW_TIP)
    window.show_explanation = QCheckBox("Show explanation map")
    window.show_explanation.setChecked(True)
    window.show_explanation.setToolTip("Highlights the regions that weighed most in the result (Grad-CAM).  Shortcut: X")
    window.opacity = QSlider(Qt.Orientation.Horizontal)
    window.opacity.setRange(0, 100)
    window.opacity.setValue(DEFAULT_OPACITY_PERCENT)
    window.opacity.setToolTip("Opacity of the explanation map")
    opacity_row = QHBoxLayout()
    window.opacity_label = PlainLabel("Opacity")
    opacity_row.addWidget(window.opacity_label)
    opacity_row.addWidget(window.opacity, 1)
    window.preview_box = preview_box = QGroupBox(PREVIEW_TITLE)
    preview_layout = QVBoxLayout(preview_box)
    preview_layout.addWidget(window.preview, 1)
    preview_layout.addWidget(window.show_explanation)
    preview_layout.addLayout(opacity_row)

    window.metadata = MetadataPanel()
    metadata_box = QGroupBox("Image details")
    QVBoxLayout(metadata_box).addWidget(window.metadata)

    # The right-hand panel is resizable both ways: its width against the image (the outer splitter), and the share of
    # the model input against the image details (this one), e.g. to read a long DICOM header. The result sits above
    # the splitter, always at its full height: in a splitter pane its word-wrapped lines (a line per knee) were given
    # too little height and the scale, the figures and the disclaimer were drawn over the model input.
    window.side_splitter = QSplitter(Qt.Orientation.Vertical)
    for widget, stretch in ((preview_box, 3), (metadata_box, 2)):
        window.side_splitter.addWidget(widget)
        window.side_splitter.setStretchFactor(window.side_splitter.count() - 1, stretch)
    window.side_splitter.setChildrenCollapsible(False)
    window.side_splitter.setHandleWidth(8)
    side = QWidget()
    side_layout = QVBoxLayout(side)
    side_layout.setContentsMargins(8, 8, 8, 8)
    side_layout.addWidget(window.result_panel)
    side_layout.addWidget(window.side_splitter, 1)
    # The panel's minimum height is what its parts need (the result grows with its lines): the scroll area then
    # scrolls instead of squeezing the model input under its own controls.
    side_layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
    scroll = QScrollArea()
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setMinimumWidth(380)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    window.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(window.view)
    splitter.addWidget(scroll)
    splitter.setStretchFactor(0, 1)
    splitter.setStretchFactor(1, 0)
    splitter.setSizes([1000, 420])
    splitter.setChildrenCollapsible(False)
    splitter.setHandleWidth(8)  # wide enough to find with the mouse
    window.setCentralWidget(splitter)

    # Where the file on screen stands in the scan list that N/P step through ("12 of 36 in the scan list"): a reader
    # going through a worklist had no sign of how far along it they were. Hidden for a file not in the list.
    window.position_label = PlainLabel()
    window.position_label.setToolTip("This file's place in the scan window's list, in the order it shows "
                                     "(N or Page Down: next, P or Page Up: previous)")
    window.position_label.hide()
    window.pixel_label = PlainLabel()
    window.window_label = PlainLabel()
    window.window_label.setToolTip("Right-drag on the image: up/down moves the centre, left/right the width. R resets.")
    window.busy = QProgressBar()
    window.busy.setRange(0, 0)
    window.busy.setMaximumWidth(140)
    window.busy.setMaximumHeight(14)
    window.busy.hide()
    for widget in (window.position_label, window.window_label, window.pixel_label, window.busy):
        window.statusBar().addPermanentWidget(widget)


def _action(window: "MainWindow", text: str, slot: Callable, shortcut: QKeySequence | str | list | None = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if isinstance(shortcut, list):
        action.setShortcuts([QKeySequence(s) for s in shortcut])
    elif shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    label = tip or text.replace("&", "").rstrip("…")
    action.setToolTip(f"{label}  ({keys})" if keys else label)
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)
    return action


def _show_model_card(window: "MainWindow") -> None:
    from osteo_desktop.gui.about_dialog import ModelDialog  # imported when asked for: keeps start-up short

    if window.logic.classifier is not None:
        ModelDialog(window.logic.classifier.card, window).exec()


def _export_dicom(window: "MainWindow") -> None:
    from osteo_desktop.gui.dicom_export_dialog import export_dicom_results

    export_dicom_results(window)


def _show_about(window: "MainWindow") -> None:
    from osteo_desktop.gui.about_dialog import show_about

    show_about(window)


def build_actions(window: "MainWindow") -> None:
    """Every command once, as an action with its shortcut; the menus and the toolbar show the same actions."""
    w, view = window, window.view
    w.open_action = _action(w, "&Open…", w.choose_file, QKeySequence.StandardKey.Open, "Open a radiograph (DICOM, PNG, JPEG)")
    w.batch_action = _action(w, "Scan &folder…", w.show_batch_dialog, "Ctrl+B", "Screen every image in a folder")
    w.export_action = _action(w, "&Export report…", w.choose_report_path, "Ctrl+E", "Save this result as a one-page PDF")
    w.dicom_export_action = _action(w, "Export &DICOM results…", lambda: _export_dicom(w), None,
                                    "Save this result as DICOM: structured report, annotated image and PDF")
    w.history_action = _action(w, "&History", w.show_history, "Ctrl+H", "Results recorded so far")
    w.pacs_action = _action(w, "&PACS…", lambda: w.side.show_pacs(), None,
                            "Find studies in a PACS, fetch and analyse them, send the results back")
    w.next_action = _action(w, "&Next file", w.next_file, ["N", "PgDown"], "Open the next file of the scanned folder, in the table's order")
    w.previous_action = _action(w, "&Previous file", w.previous_file, ["P", "PgUp"], "Open the previous file of the scanned folder")
    # The reader's verdict is kept in the history: it takes Shift, so a stray key while reading the film records
    # nothing (plain A and D did, in the IT trial). Moving through the list and the view stay single keys.
    w.agree_action = _action(w, "&Agree with the result", lambda: w.side.mark("agree"), "Shift+A",
                             "Record that you agree with the result on screen (kept in the history)")
    w.disagree_action = _action(w, "&Disagree with the result", lambda: w.side.mark("disagree"), "Shift+D",
                                "Record that you disagree with the result on screen (kept in the history)")
    w.quit_action = _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.fit_action = _action(w, "&Fit to window", view.fit_to_window, ["F", "Ctrl+0"])
    w.actual_action = _action(w, "&Actual size (1:1)", view.actual_size, ["1", "Ctrl+1"])
    w.zoom_in_action = _action(w, "Zoom &in", view.zoom_in, ["+", "=", "Ctrl++"])
    w.zoom_out_action = _action(w, "Zoom &out", view.zoom_out, ["-", "Ctrl+-"])
    w.invert_action = _action(w, "&Invert", lambda checked: view.set_inverted(checked), "I", "Show the image inverted")
    w.invert_action.setCheckable(True)
    w.reset_action = _action(w, "&Reset window/level", w.reset_window, "R", "Back to the file's own brightness and contrast")
    w.explain_action = _action(w, "Show e&xplanation", lambda: w.show_explanation.toggle(), "X")
    w.model_action = _action(w, "About the &model…", lambda: _show_model_card(w), "F1")
    w.about_action = _action(w, "&About Osteo Desktop…", lambda: _show_about(w))

    menu = w.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.addAction(w.open_action)
    w.recent_menu = file_menu.addMenu("Open &recent")
    file_menu.addAction(w.batch_action)
    file_menu.addAction(w.next_action)
    file_menu.addAction(w.previous_action)
    file_menu.addAction(w.agree_action)
    file_menu.addAction(w.disagree_action)
    file_menu.addSeparator()
    file_menu.addAction(w.export_action)
    file_menu.addAction(w.dicom_export_action)
    file_menu.addAction(w.history_action)
    file_menu.addAction(w.pacs_action)
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)
    view_menu = menu.addMenu("&View")
    for action in (w.fit_action, w.actual_action, w.zoom_in_action, w.zoom_out_action):
        view_menu.addAction(action)
    view_menu.addSeparator()
    for action in (w.invert_action, w.reset_action, w.explain_action):
        view_menu.addAction(action)
    help_menu = menu.addMenu("&Help")
    help_menu.addAction(w.model_action)
    help_menu.addAction(w.about_action)

    toolbar = w.addToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    for action in (w.open_action, w.batch_action, None, w.fit_action, w.actual_action, w.zoom_in_action,
                   w.zoom_out_action, None, w.invert_action, w.reset_action, None, w.export_action, w.history_action):
        if action is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(action)
