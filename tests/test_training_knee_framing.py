"""The framing study's pieces (training/knee_framing*.py) on hand-built inputs: the framings are the boxes they say,
the consistency penalty makes a head ignore a direction that only the box's framing moves, and the shipped
(lambda, strength) is the pair most folds chose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_features import KneeBank, scaled_box
from osteo_desktop.training.knee_framing import FRAMINGS
from osteo_desktop.training.knee_framing_study import Fitter, majority


def test_framings_scale_about_the_centre_and_shift_by_a_tenth_of_the_side():
    box = (100.0, 200.0, 300.0, 400.0)  # side 200, centre (200, 300)
    assert scaled_box(box, *FRAMINGS["scale_0.85"]) == pytest.approx((115.0, 215.0, 285.0, 385.0))
    assert scaled_box(box, *FRAMINGS["scale_1.15"]) == pytest.approx((85.0, 185.0, 315.0, 415.0))
    assert scaled_box(box, *FRAMINGS["shift_left"]) == pytest.approx((80.0, 200.0, 280.0, 400.0))
    assert scaled_box(box, *FRAMINGS["shift_down"]) == pytest.approx((100.0, 220.0, 300.0, 420.0))


def _knees(n: int) -> list[Knee]:
    labels = ("normal", "osteoporosis")
    return [Knee(f"film{i}", "single", 1, (0, 0, 1, 1), Path("x.png"), (0, 0, 1, 1), labels[i % 2], i % 5, "s", None, False)
            for i in range(n)]


def test_consistency_penalty_makes_the_head_ignore_what_only_framing_moves():
    # Two directions carry the label: "bone" (unchanged by the box) and "framing" (a shortcut that the jittered
    # copies of the same knee move a lot). Without the penalty the head leans on both; with it, on bone alone.
    rng = np.random.default_rng(0)
    n, channels = 120, 32  # few channels: the 256-component basis then keeps them all
    knees = _knees(n)
    y = np.array([k.target for k in knees], float)
    bone, framing = np.zeros(channels), np.zeros(channels)
    bone[0], framing[1] = 1.0, 1.0
    plain = rng.normal(0, 1, (n, channels)) + np.outer(y, bone) * 1.0 + np.outer(y, framing) * 1.5
    copies = plain[:, None, :] + rng.normal(0, 0.5, (n, 6, 1)) * framing
    bank = KneeBank(plain.astype(np.float32), plain.astype(np.float32), copies.astype(np.float32), {}, np.zeros(n))
    fitter = Fitter(bank, knees, np.arange(n), target="binary")
    free = fitter.fit(100.0, 0.0).weights / fitter.basis.scale
    penalised = fitter.fit(100.0, 1000.0).weights / fitter.basis.scale
    assert abs(free[1]) > 0.5 * abs(free[0])  # the shortcut is used without the penalty
    assert abs(penalised[1]) < 0.1 * abs(penalised[0])  # and dropped with it
    assert abs(penalised[0]) > 0


def test_the_shipped_pair_is_the_one_most_folds_chose():
    choices = [{"lambda": 1e5, "strength": 100.0}, {"lambda": 100.0, "strength": 10.0},
               {"lambda": 1e4, "strength": 10.0}, {"lambda": 1e4, "strength": 10.0}, {"lambda": 1e4, "strength": 10.0}]
    assert majority(choices) == (1e4, 10.0)
    assert majority(choices[:2]) == (1e5, 100.0)  # a tie goes to the stronger penalty
