"""Text from files, DICOM tags and paths is shown as plain text everywhere in the GUI: the one rule, kept here.

Qt guesses the format of a label, a tooltip or a message box: text that "might be rich text" (it starts with
something like a tag, ``Qt.mightBeRichText``) is drawn as HTML. A file named ``<font color=green>No sign of
osteoporosis.png`` or a PatientName of ``<h1>...`` would then be drawn as green words or a heading beside a result.
So the GUI never lets Qt guess:

- every label is a :class:`PlainLabel` (``Qt.PlainText``); the few labels laid out as rich text on purpose (the
  result's facts, the model summary) build their markup themselves and escape every value with ``html.escape``;
- tooltips cannot be told to be plain, so :func:`tooltip` escapes the text and marks it as rich text, which Qt then
  shows literally;
- message boxes go through :func:`message` / :func:`question` (``Qt.PlainText``);
- menu entries go through :func:`action_text` (a ``&`` in a file name is not a keyboard mnemonic), window titles
  through :func:`window_title` (a ``[*]`` in a file name is not the "modified" placeholder).

Item views (table and tree cells), the status bar and the PDF (``QPainter.drawText``) draw plain
text already.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as _GuiQt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


class PlainLabel(QLabel):
    """A QLabel whose text is always plain text, whatever it looks like."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)


def tooltip(text: str) -> str:
    """A tooltip showing ``text`` literally. Text Qt would take as plain is returned as it is; text Qt would take as
    rich (by Qt's own test) is escaped inside an explicit rich-text paragraph, line breaks kept."""
    text = str(text)
    if not _GuiQt.mightBeRichText(text):
        return text
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"


def action_text(text: str) -> str:
    """Menu text showing ``text`` literally: ``&`` doubled, so it is not taken as a keyboard mnemonic."""
    return str(text).replace("&", "&&")


def window_title(text: str) -> str:
    """A window title showing ``text`` literally: Qt takes ``[*]`` as the "modified" placeholder and drops it
    unless it is doubled."""
    return str(text).replace("[*]", "[*][*]")


def _box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str,
         buttons: QMessageBox.StandardButton) -> QMessageBox:
    box = QMessageBox(icon, str(title), str(text), buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box


def message(parent: QWidget | None, title: str, text: str,
            icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> None:
    """A message box (warning by default) with ``text`` as plain text."""
    _box(parent, icon, title, text, QMessageBox.StandardButton.Ok).exec()


def question(parent: QWidget | None, title: str, text: str) -> QMessageBox.StandardButton:
    """A Yes/No question with ``text`` as plain text; returns the button chosen."""
    box = _box(parent, QMessageBox.Icon.Question, title, text,
               QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    return QMessageBox.StandardButton(box.exec())


def notify(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """An information box with ``text`` as plain text that does not block (shown with ``open()``)."""
    box = _box(parent, QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
