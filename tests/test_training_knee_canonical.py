"""training/knee_canonical.py on hand-made banks: which orientation each input is read in, how often a score's sign
flips, and the candidate scores' antisymmetry (the expectations are worked out here, not by the code under test)."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.training.knee_canonical import (SCORES, STABILITY_PAIRS, CanonicalBank, candidate_scores,
                                                   canonical_framing_bank, compact, sign_stability, single_pass)

NAMES = ("plain", *STABILITY_PAIRS, "mirror_film", "mirror_film_detector")


def bank(plain_scores, other_scores=None) -> CanonicalBank:
    """Two channels per row: channel 0 says which knee, channel 1 whether the row is the input as read (+1) or its
    mirror image (-1). Every input of knee i has score plain_scores[i] unless ``other_scores`` says otherwise."""
    n = len(plain_scores)
    single = {name: np.stack([np.arange(n), np.ones(n)], axis=1).astype(np.float32) for name in NAMES}
    mirrored = {name: np.stack([np.arange(n), -np.ones(n)], axis=1).astype(np.float32) for name in NAMES}
    scores = {s: {name: np.array(plain_scores, float) for name in NAMES} for s in SCORES}
    for name, values in (other_scores or {}).items():
        scores["centroid"][name] = np.array(values, float)
    for s in SCORES:
        scores[s]["jitter"] = np.array([[0.5, -0.5]] * n)
    jitter = np.stack([single["plain"]] * 2, axis=1)
    jitter_mirrored = np.stack([mirrored["plain"]] * 2, axis=1)
    return CanonicalBank(single, mirrored, jitter, jitter_mirrored, scores, {})


def test_each_input_is_read_as_cut_when_its_score_is_not_negative_and_mirrored_otherwise():
    b = bank([0.3, -0.2, 0.0])
    only = canonical_framing_bank(b, "centroid")
    # knee 0 (score 0.3) and knee 2 (a tie, 0) as read, knee 1 mirrored; the "mirror row" is the canonical input again
    assert only.single["plain"][:, 1].tolist() == [1.0, -1.0, 1.0]
    assert np.array_equal(only.mirrored["plain"], only.single["plain"])
    # jitter copies: the first copy's score is 0.5 (as read), the second's -0.5 (mirrored)
    assert only.jitter[:, 0, 1].tolist() == [1.0] * 3 and only.jitter[:, 1, 1].tolist() == [-1.0] * 3
    kept = canonical_framing_bank(b, "centroid", keep_mirror=True)
    assert kept.mirrored["plain"][:, 1].tolist() == [-1.0, 1.0, -1.0]  # the other orientation
    assert np.array_equal(kept.single["plain"], only.single["plain"])


def test_a_missing_score_leaves_the_input_missing():
    b = bank([0.3, -0.2], {"detector": [np.nan, -0.1]})
    canon = canonical_framing_bank(b, "centroid")
    assert np.isnan(canon.single["detector"][0]).all() and canon.single["detector"][1, 1] == -1.0


def test_sign_stability_counts_the_knees_whose_orientation_flips():
    # 4 knees; x0.85 flips knee 3 only; the mirrored film must have the opposite sign: knees 0-1 do, 2-3 do not.
    b = bank([0.3, -0.2, 0.1, 0.4], {"scale_0.85": [0.3, -0.2, 0.1, -0.4], "mirror_film": [-0.3, 0.2, 0.1, 0.4]})
    out = sign_stability(b, "centroid")
    assert out["scale_0.85"] == 0.25 and out["scale_1.15"] == 0.0
    assert out["mirror_film"] == 0.5
    assert out["mean_over_framings"] == pytest.approx(0.25 / len(STABILITY_PAIRS))


def test_candidate_scores_change_sign_under_the_mirror():
    rng = np.random.default_rng(2)
    x = (rng.random((16, 16, 3)) * 2 - 1).astype(np.float32)
    plain, mirrored = candidate_scores(x), candidate_scores(np.ascontiguousarray(x[:, ::-1]))
    assert set(plain) == set(SCORES)
    for name in SCORES:
        assert mirrored[name] == pytest.approx(-plain[name], abs=1e-12)


def test_single_pass_and_compact():
    logits = {"single": {"plain": np.array([1.0]), "half": np.array([2.0])}, "mirrored": {"plain": np.array([3.0])}}
    assert single_pass(logits)["mirrored"] is logits["single"]
    report = {"x": 1, "logits": {"2.1.0": {"single": {"plain": [0.123456789, None], "half": [1.0]}, "mirrored": {"plain": [2.0]}},
                                 "v": {"single": {"plain": [1.0]}, "mirrored": {"plain": [5.0]}}}}
    out = compact(report)
    assert out["logits"]["2.1.0"] == {"single": {"plain": [0.12346, None]}, "mirrored": {"plain": [2.0]}}
    assert out["logits"]["v"] == {"single": {"plain": [1.0]}} and out["x"] == 1 and "half" in report["logits"]["2.1.0"]["single"]
