"""On the dark theme an empty text field is visible: its border stands out from the dialog around it."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from osteo_desktop.gui.dicom_export_dialog import StudyDetailsDialog
from osteo_desktop.gui.style import apply_theme


@pytest.fixture
def themed(qtbot):
    app = QApplication.instance()
    before = (app.style().name(), app.palette(), app.styleSheet())
    apply_theme(app)
    yield app
    app.setStyleSheet(before[2])
    app.setPalette(before[1])
    app.setStyle(before[0])


def lightness(image, x, y) -> int:
    return QColor(image.pixel(x, y)).lightness()


def test_an_empty_study_field_has_a_border_that_stands_out(qtbot, themed):
    dialog = StudyDetailsDialog("knee.png")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    field = dialog.accession
    assert field.text() == "" and field.placeholderText() == ""  # an empty field, no hint text in it
    image = dialog.grab().toImage()
    top_left = field.mapTo(dialog, field.rect().topLeft())
    middle_y = top_left.y() + field.height() // 2
    outside = lightness(image, top_left.x() - 3, middle_y)  # the dialog's own background
    border = max(lightness(image, top_left.x() + dx, middle_y) for dx in (0, 1))
    inside = lightness(image, top_left.x() + field.width() // 2, middle_y)
    # Lightness 0-255: the border differs from the background around it and from the field's inside by 40 or more
    # (the trial's screenshot showed the field as a one- or two-step change on the dark dialog).
    assert abs(border - outside) >= 40 and abs(border - inside) >= 40, (outside, border, inside)
