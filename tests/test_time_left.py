"""The scan's time-left estimate with a fake clock: hidden at first, then smoothed (issue 12)."""

from __future__ import annotations

import pytest

from osteo_desktop.core.pipeline.eta import TimeLeft


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_shown_before_a_few_files_and_a_measured_window():
    clock = Clock()
    eta = TimeLeft(min_files=5, window_s=1.0, clock=clock)
    clock.now = 0.2
    assert eta.update(1, 100) is None  # the clock starts at the first row
    clock.now = 0.5
    assert eta.update(4, 100) is None  # 4 files: not enough to go on
    clock.now = 0.9
    assert eta.update(5, 100) is None  # 5 files but under a second measured
    clock.now = 1.2
    assert eta.update(6, 100) == pytest.approx(94 / 5.0)  # 5 files in 1 s since the first row: 94 to go
    assert eta.update(6, None) is None  # no total, no estimate


def test_warm_up_and_rows_a_batch_at_a_time_give_the_steady_rate_at_once():
    # The model warms up for 3 s, then rows come 16 at a time every 1.6 s: 0.1 s a file.
    clock = Clock()
    eta = TimeLeft(clock=clock)
    total, done, shown = 1000, 0, []
    clock.now = 3.0
    for burst in range(20):
        for _ in range(16):
            done += 1
            estimate = eta.update(done, total)
            if estimate is not None:
                shown.append((estimate, 0.1 * (total - done)))
        clock.now += 1.6
    assert shown and all(abs(estimate - truth) <= 0.05 * truth + 1.6 for estimate, truth in shown)
    # The raw estimate would have said 3 s / 16 files = 0.19 s a file after the first batch: 87 % too long.


def test_one_slow_file_moves_the_estimate_by_the_smoothing_share_only():
    clock = Clock()
    eta = TimeLeft(clock=clock)
    for done in range(1, 51):
        clock.now += 0.1
        steady = eta.update(done, 200)
    clock.now += 10.0  # one file takes 10 s (a slow network share)
    after = eta.update(51, 200)
    raw = clock.now / 51 * 149  # the unsmoothed elapsed / done estimate: about 3 times the steady one
    assert steady == pytest.approx(150 / 10.0, rel=0.05)
    assert after is not None and after <= 1.5 * 149 / 10.0 and after < raw / 2
    with pytest.raises(ValueError):
        TimeLeft(smoothing=0.0)
