"""Emitting signals must not wear down the interpreter's reference to True.

PySide6 6.12.0 returns ``True`` from ``SignalInstance.emit()`` without taking a reference to it: on Python 3.11 the
interpreter aborts ("bool_dealloc: deallocating True or False") within a thousand emits. pyproject.toml excludes
that release, and the app emits signals plainly; this test is the canary that fails if a release with the same defect
is ever installed. The probe runs in a child process, so a defective binding fails this test instead of aborting
the whole test run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PySide6.QtCore import QPoint

PROBE = """
import sys
from PySide6.QtCore import QObject, Signal

class Sender(QObject):
    text = Signal(str)
    value = Signal(object)
    bare = Signal()

sender = Sender()
received = []
sender.text.connect(received.append)
sender.value.connect(received.append)
sender.bare.connect(lambda: received.append(None))
before = sys.getrefcount(True)
for _ in range(5000):
    sender.text.emit("x")
    sender.value.emit(1)
    sender.bare.emit()
print(before - sys.getrefcount(True), len(received))
"""


def test_many_emits_leave_true_alone():
    import PySide6

    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, f"PySide6 {PySide6.__version__} corrupts the interpreter on Signal.emit: {proc.stderr[-500:]}"
    lost, received = (int(v) for v in proc.stdout.split())
    assert received == 15000
    assert abs(lost) < 100  # a defective binding loses one reference per emit: 15000


def test_hovering_over_an_image_for_a_long_time_is_safe(qtbot):
    from osteo_desktop.gui.image_view import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(200, 200)
    view.set_image(np.zeros((64, 64), dtype=np.float32))
    texts = []
    view.pixel_hovered.connect(texts.append)
    before = sys.getrefcount(True)
    for i in range(3000):
        view._report_pixel(QPoint(i % 200, (i * 7) % 200))
    assert abs(sys.getrefcount(True) - before) < 100
    assert len(texts) == 3000
