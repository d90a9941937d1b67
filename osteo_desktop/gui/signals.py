"""Emitting Qt signals from Python without corrupting the interpreter.

PySide6 6.12.0 on Python 3.11 returns ``True`` from ``SignalInstance.emit()`` without taking a reference to it, so
every emit made from Python lowers the reference count of ``True`` by one; after a few thousand emits (a mouse
moving over the image emits on every move) the interpreter aborts with "bool_dealloc: deallocating True or False".
PySide6 6.11.3 does not do this. Every emit in this package goes through :func:`emit`, which measures the defect
once at import and gives the lost reference back only where it is really lost, so it is correct with either version.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBE_EMITS = 64


class _Probe(QObject):
    ping = Signal(int)


def _lost_refs_per_emit() -> int:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_EMITS):
        probe.ping.emit(0)
    lost = before - sys.getrefcount(True)
    per_emit = round(lost / _PROBE_EMITS)
    for _ in range(max(0, lost)):  # repair the probe's own damage
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return max(0, per_emit)


LOST_REFS_PER_EMIT = _lost_refs_per_emit()


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, compensating the reference to ``True`` that a defective PySide6 drops."""
    signal.emit(*args)
    for _ in range(LOST_REFS_PER_EMIT):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
