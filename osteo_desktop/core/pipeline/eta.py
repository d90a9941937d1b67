"""The scan's time-left estimate: smoothed, and only once there is something to go on.

The raw estimate (elapsed / done x remaining) jumps wildly in the first seconds: the first rows wait for the model
to warm up and for its first batch, then a whole batch arrives at once, and one slow file (a network share) doubles
it. Here the clock starts at the first row (the warm-up is not a rate), the rate (files per second) is measured over
windows of at least ``window_s`` seconds, which end on a row, so that rows arriving a batch at a time are counted
whole, and it is smoothed with an exponential moving average. Nothing is shown before ``min_files`` files are done
and one window has been measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TimeLeft:
    """Call :meth:`update` after each row with the files done and the total; it returns the seconds left or None."""

    def __init__(self, *, min_files: int = 5, window_s: float = 1.0, smoothing: float = 0.3,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if not 0.0 < smoothing <= 1.0:
            raise ValueError("smoothing must be in (0, 1]")
        self.min_files = min_files
        self.window_s = window_s
        self.smoothing = smoothing
        self._clock = clock
        self._window: tuple[float, int] | None = None  # (time, files done) where the current window began
        self.files_per_s: float | None = None

    def update(self, done: int, total: int | None) -> float | None:
        now = self._clock()
        if self._window is None:
            self._window = (now, done)
        started, done_then = self._window
        if done > done_then and now - started >= self.window_s:
            sample = (done - done_then) / (now - started)
            previous = self.files_per_s
            self.files_per_s = sample if previous is None else self.smoothing * sample + (1 - self.smoothing) * previous
            self._window = (now, done)
        if total is not None and done >= total:
            return 0.0  # finished: nothing left, whatever was measured
        if total is None or done < self.min_files or not self.files_per_s:
            return None
        return max(0, total - done) / self.files_per_s
