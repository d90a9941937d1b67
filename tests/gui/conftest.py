"""Fixtures for the desktop application tests (offscreen; QT_QPA_PLATFORM is set by tests/conftest.py)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from osteo_desktop.core.results.history import History


class GatedClassifier:
    """The real classifier, except that chosen calls to ``run`` (the interpreter: one call per analysed film, the
    film and its knees together) wait until the test opens a gate.

    This holds a worker inside a prediction for as long as a test needs, without any sleep or timing guess.
    """

    def __init__(self, classifier, block_calls: set[int]) -> None:
        self._classifier = classifier
        self._block_calls = block_calls
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name):
        return getattr(self._classifier, name)

    def run(self, inputs):
        self.calls += 1
        if self.calls in self._block_calls:
            self.entered.set()
            # A bound, not a timing: a broken test must not hang the suite.
            if not self.gate.wait(60):
                raise TimeoutError("test gate never opened")
        return self._classifier.run(inputs)


@pytest.fixture
def make_gated(classifier):
    """``make_gated({1})``: the real classifier whose first prediction waits for ``.gate.set()``."""
    made = []

    def make(block_calls: set[int]) -> GatedClassifier:
        made.append(GatedClassifier(classifier, block_calls))
        return made[-1]

    yield make
    for gated in made:
        gated.gate.set()


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def history(tmp_path):
    store = History(tmp_path / "history.sqlite3")
    yield store
    store.close()


@pytest.fixture
def make_window(qtbot, settings, history, classifier):
    from osteo_desktop.gui.main_window import MainWindow

    windows = []

    def make(model=None):
        window = MainWindow(settings=settings, history=history, load_classifier=lambda: model or classifier)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.classifier is not None, timeout=30000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def bad_file(tmp_path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("a text file that only pretends to be a PNG\n")
    return path


@pytest.fixture
def knee_folder(tmp_path, knee_images) -> Path:
    """Three real knee radiographs, one damaged file, and one more radiograph in a subfolder."""
    folder = tmp_path / "study"
    (folder / "more").mkdir(parents=True)
    images = knee_images["normal"][:2] + knee_images["osteoporosis"][:1]
    for path in images:
        shutil.copy(path, folder / path.name)
    (folder / "broken.dcm").write_bytes(b"not a dicom file at all")
    extra = knee_images["osteoporosis"][1]
    shutil.copy(extra, folder / "more" / extra.name)
    return folder


@pytest.fixture
def colour_bars(tmp_path):
    """Seven saturated colour bars (a PNG): no radiograph at all, so the scope gate declines it."""
    import numpy as np
    from PIL import Image

    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]])
    path = tmp_path / "bars.png"
    Image.fromarray(np.repeat(bars, 90, axis=0)[None].repeat(480, axis=0).astype(np.uint8)).save(path)
    return path
