"""training/knee_texture.py and knee_texture_study.py on hand-made inputs: local binary patterns, co-occurrence
statistics, the feature sets, the region side and the study's rule (expectations worked out here, by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.model.preprocessing import KneeRegionConfig
from osteo_desktop.training.knee_data import Knee
from osteo_desktop.training.knee_framing import NAMES
from osteo_desktop.training.knee_texture import (TEXTURE_SIZE, TextureBank, cooccurrence, feature_set, glcm_statistics, lbp_histogram,
                                                 quantise, region_side, texture_statistics)
from osteo_desktop.training.knee_texture_study import CANDIDATES, REFERENCE, RULE, decide, flip, label_changes, size_shortcut


def ring(centre: float, up_left, up, up_right, left, right, down_left, down, down_right) -> np.ndarray:
    return np.array([[up_left, up, up_right], [left, centre, right], [down_left, down, down_right]], float)


def one_hot(b: int) -> list[float]:
    return [1.0 if i == b else 0.0 for i in range(10)]


def test_lbp_bins_by_the_number_of_brighter_neighbours_when_the_pattern_is_uniform():
    # every neighbour >= the centre (equal counts as brighter): 8 ones, no 0/1 change around the ring
    assert lbp_histogram(ring(5, 5, 6, 7, 8, 9, 5, 5, 5), 1).tolist() == one_hot(8)
    assert lbp_histogram(ring(5, 0, 0, 0, 0, 0, 0, 0, 0), 1).tolist() == one_hot(0)
    # right, down-right, down brighter (consecutive on the ring): 3 ones, 2 changes -> uniform, bin 3
    assert lbp_histogram(ring(5, 0, 0, 0, 0, 9, 0, 9, 9), 1).tolist() == one_hot(3)
    # right and left brighter only: 2 ones but 4 changes around the ring -> not uniform, bin 9
    assert lbp_histogram(ring(5, 0, 0, 0, 9, 9, 0, 0, 0), 1).tolist() == one_hot(9)


def test_lbp_radius_two_reads_the_ring_two_pixels_away():
    image = np.zeros((5, 5))
    image[2, 2] = 5.0
    image[2, 4] = image[4, 4] = 9.0  # right and down-right at distance 2: consecutive -> bin 2
    image[2, 3] = 9.0  # distance 1: not read at radius 2
    assert lbp_histogram(image, 2).tolist() == one_hot(2)
    # the ring must fit inside the image: more than 2 r rows and columns
    for shape in ((4, 4), (4, 9), (9, 4), (5, 3)):
        with pytest.raises(ValueError, match="too small for radius 2"):
            lbp_histogram(np.zeros(shape), 2)
    assert lbp_histogram(np.zeros((5, 5)), 2).tolist() == one_hot(8)


def test_lbp_histogram_counts_every_interior_pixel():
    image = np.array([[0, 0, 0, 0], [0, 5, 1, 0], [0, 0, 0, 0]], float)
    # two interior pixels: (1,1) centre 5, every neighbour darker -> bin 0; (1,2) centre 1: only left (5) brighter -> bin 1
    assert lbp_histogram(image, 1).tolist() == [0.5, 0.5] + [0.0] * 8


def test_lbp_uniformity_is_decided_per_pixel():
    image = np.zeros((3, 4))
    image[1, 1] = 5.0
    image[0, 1] = image[2, 1] = 9.0  # pixel (1,1): up and down brighter -> 4 changes -> bin 9
    # pixel (1,2) (value 0): every neighbour >= 0 -> bin 8, whatever its neighbour's pattern
    assert lbp_histogram(image, 1).tolist() == [0.0] * 8 + [0.5, 0.5]


def test_quantise_maps_unit_grey_values_to_levels():
    assert quantise(np.array([0.0, 0.06, 0.0625, 0.999, 1.0, 1.5, -0.2]), 16).tolist() == [0, 0, 1, 15, 15, 15, 0]


def test_cooccurrence_and_haralick_statistics_of_a_checkerboard():
    board = np.array([[0, 1], [1, 0]])
    for axis in (0, 1):
        matrix = cooccurrence(board, 2, 1, axis)
        # pairs (0,1) and (1,0), counted both ways: half the mass off the diagonal on each side
        assert matrix.tolist() == [[0.0, 0.5], [0.5, 0.0]]
    # contrast 1 (every pair differs by 1); homogeneity 1/2; energy 2 x 0.25; mean level 0.5, variance 0.25,
    # covariance 2 x 0.5 x (-0.25) -> correlation -1
    assert glcm_statistics(cooccurrence(board, 2, 1, 1)) == pytest.approx([1.0, 0.5, 0.5, -1.0])


def test_cooccurrence_at_a_distance_and_of_a_flat_image():
    stripes = np.array([[0, 0, 3, 3, 0, 0]])
    # distance 2 along the row: (0,3), (0,3), (3,0), (3,0) -> symmetric: 4 of 8 at (0,3), 4 at (3,0)
    m = cooccurrence(stripes, 4, 2, 1)
    assert m[0, 3] == 0.5 and m[3, 0] == 0.5 and m.sum() == pytest.approx(1.0)
    flat = cooccurrence(np.full((3, 3), 2), 4, 1, 0)
    assert flat[2, 2] == 1.0
    assert glcm_statistics(flat) == pytest.approx([0.0, 1.0, 1.0, 1.0])  # no spread: correlation 1 by convention


def test_texture_statistics_layout_and_mirror_invariance():
    rng = np.random.default_rng(4)
    model_input = np.repeat(rng.uniform(-1, 1, (40, 40, 1)), 3, axis=2)
    values = texture_statistics(model_input)
    assert values.shape == (TEXTURE_SIZE,) == (32,)
    assert values[:10].sum() == pytest.approx(1.0) and values[10:20].sum() == pytest.approx(1.0)
    # a mirror image has the same patterns (the ring reversed) and the same symmetric co-occurrences
    assert np.array_equal(texture_statistics(model_input[:, ::-1]), values)
    # the grey values are read from channel 0 mapped from [-1, 1] to [0, 1]
    assert np.array_equal(texture_statistics((model_input[..., 0] + 1.0) / 2.0), values)


def test_texture_statistics_of_horizontal_stripes_worked_by_hand():
    grey = np.zeros((8, 8))
    grey[1::2] = 1.0  # rows 0, 1, 0, 1, ...: levels 0 and 15
    model_input = np.stack([2.0 * grey - 1.0, np.zeros((8, 8)), np.ones((8, 8))], axis=2)  # only channel 0 is read
    expected = [0.0] * 8 + [0.5, 0.5]  # radius 1: a dark-row pixel sees nothing darker (bin 8); a bright-row pixel
    # sees its row's two neighbours as bright and the six in the dark rows as darker: 2 ones, 4 changes (bin 9)
    expected += one_hot(8)  # radius 2: the ring's rows are 0 or 2 away, all of the pixel's own value: bin 8
    # distance 1: horizontal pairs (0,0)/(15,15) (contrast 0, homogeneity 1, energy 0.5, correlation 1); vertical pairs
    # (0,15)/(15,0) (contrast 225, homogeneity 1/226, energy 0.5, correlation -1); the two averaged
    expected += [112.5, (1.0 + 1.0 / 226.0) / 2.0, 0.5, 0.0]
    expected += [0.0, 1.0, 0.5, 1.0] * 2  # distances 2 and 4: rows of the same level both ways
    assert texture_statistics(model_input) == pytest.approx(expected)


def test_feature_set_concatenates_the_groups_in_order():
    n, k = 2, 3
    single = {g: {name: np.full((n, c), v, np.float32) for name in NAMES} for g, c, v in (("final", 2, 1.0), ("texture", 1, 7.0))}
    mirrored = {g: {name: -a for name, a in by.items()} for g, by in single.items()}
    jitter = {"final": np.full((n, k, 2), 3.0, np.float32), "texture": np.full((n, k, 1), 4.0, np.float32)}
    bank = feature_set(TextureBank(single, mirrored, jitter), ("texture", "final"))
    assert bank.single["plain"].tolist() == [[7.0, 1.0, 1.0]] * n
    assert bank.mirrored["half"].tolist() == [[-7.0, -1.0, -1.0]] * n
    assert bank.jitter.shape == (n, k, 3) and bank.jitter[0, 0].tolist() == [4.0, 3.0, 3.0]


def knee(film: str, box, target: int = 0) -> Knee:
    label = {0: "normal", 1: "osteoporosis"}[target]
    return Knee(film, "single", 1, box, Path(film), box, label, 0, "s", None, False)


def test_region_side_is_the_square_around_the_box_in_file_pixels():
    assert region_side(knee("a", (10.0, 20.0, 110.0, 70.0)), KneeRegionConfig()) == 100  # the longer side
    assert region_side(knee("a", (10.0, 20.0, 110.0, 70.0)), KneeRegionConfig(margin=0.1)) == 120  # 100 x 1.2
    # x0 + x1 odd (101) and the side even (99.5 rounds to 100): one pixel more, so the corner is a whole pixel
    assert region_side(knee("a", (1.0, 0.0, 100.0, 99.5)), KneeRegionConfig()) == 101


def logits_of(plain, tight, loose):
    single = {"plain": np.array(plain, float), "scale_0.85": np.array(tight, float), "scale_1.15": np.array(loose, float)}
    return {"single": single, "mirrored": dict(single)}


def test_label_changes_counts_knee_framing_pairs_across_the_threshold():
    logits = logits_of([2.0, -2.0, 0.1], [2.0, -2.0, -0.1], [2.0, 2.0, 0.1])
    # labels at 0.5: plain T F T; x0.85 T F F (one change); x1.15 T T T (one change): 2 of 6 pairs
    assert label_changes(logits, 1.0, 0.5) == pytest.approx(2 / 6)
    # the mirror's logit is averaged in: a mirror at -0.3 pulls knee 2's plain to -0.1 (F) and its x1.15 likewise
    logits["mirrored"] = {"plain": np.array([2.0, -2.0, -0.3]), "scale_0.85": np.array([2.0, -2.0, -0.3]), "scale_1.15": np.array([2.0, 2.0, -0.3])}
    assert label_changes(logits, 1.0, 0.5) == pytest.approx(1 / 6)


def test_flip_is_the_mean_of_the_input_and_its_mirror():
    logits = {"single": {"a": np.array([1.0, 3.0])}, "mirrored": {"a": np.array([3.0, 6.0])}}
    assert flip(logits, "a").tolist() == [2.0, 4.5]


def test_label_changes_reads_calibrated_probabilities_against_the_threshold():
    # one knee, logit 0.5 however framed; T = 0.5 gives sigmoid(1.0) = 0.73 >= 0.7 everywhere: no change. (Reading
    # sigmoid(0.5 x 0.5) = 0.56 for any one of them would make it change.)
    assert label_changes(logits_of([0.5], [0.5], [0.5]), 0.5, 0.7) == 0.0
    # a probability exactly at the threshold is a positive call: sigmoid(0) = 0.5 >= 0.5 for the box and x0.85
    assert label_changes(logits_of([0.0], [0.0], [1.0]), 1.0, 0.5) == 0.0


def test_size_shortcut_ranks_logits_against_the_region_side_within_each_class():
    sides = [100, 200, 300, 400]
    knees = [knee(f"n{i}", (0.0, 0.0, float(s), float(s)), 0) for i, s in enumerate(sides)]
    knees += [knee(f"p{i}", (0.0, 0.0, float(s), float(s)), 1) for i, s in enumerate(sides)]
    logits = np.array([1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0])  # normal: rises with the side; osteoporosis: falls
    reference = np.array([4.0, 3.0, 2.0, 1.0, 4.0, 3.0, 2.0, 1.0])
    out = size_shortcut(knees, logits, KneeRegionConfig(), 50, 0, reference)
    assert out["normal"]["value"] == pytest.approx(1.0) and out["osteoporosis"]["value"] == pytest.approx(-1.0)
    assert out["normal"]["difference_vs_reference"]["value"] == pytest.approx(2.0)
    assert out["osteoporosis"]["difference_vs_reference"]["value"] == pytest.approx(0.0)
    # the side alone: osteoporosis knees are no bigger than normal ones here -> 0.5
    assert out["region_side_alone_knee_auc"] == pytest.approx(0.5)
    assert out["normal"]["n"] == 4 and out["osteoporosis"]["n"] == 4


def test_size_shortcut_intervals_resample_films_reproducibly():
    rng = np.random.default_rng(1)
    sides = rng.integers(100, 1000, 16)
    knees = [knee(f"f{i}", (0.0, 0.0, float(s), float(s)), i % 2) for i, s in enumerate(sides)]
    logits = sides + rng.normal(0, 200, 16)
    reference = rng.normal(0, 1, 16)
    out = size_shortcut(knees, logits, KneeRegionConfig(), 200, 0, reference)
    for cls in ("normal", "osteoporosis"):
        entry, diff = out[cls], out[cls]["difference_vs_reference"]
        assert -1.0 <= entry["ci_low"] <= entry["value"] <= entry["ci_high"] <= 1.0
        assert -2.0 <= diff["ci_low"] <= diff["value"] <= diff["ci_high"] <= 2.0
        assert entry["ci_low"] < entry["ci_high"] and diff["ci_low"] < diff["ci_high"]
    # the same seed, the same resamples
    assert size_shortcut(knees, logits, KneeRegionConfig(), 200, 0, reference) == out


def figures(auc: float, ci_low: float, scale: float, mirror: float, half: float, labels: float) -> dict:
    return {"evaluation": {"film": {"subsets": {"all binary": {"value": auc}}}}, "auc_difference_decision": {"ci_low": ci_low},
            "framing": {"flip": {"scale_0.85_and_1.15": {"median": scale}, "half": {"median": half}}, "single": {"mirror": {"median": mirror}}},
            "label_changes": labels}


def test_decide_adopts_only_a_candidate_that_meets_every_condition():
    report = {REFERENCE: figures(0.83, 0.0, 0.018, 0.019, 0.0, 0.03)}
    a, b, c = CANDIDATES
    report[a] = figures(0.86, 0.001, 0.022, 0.023, 0.0, 0.035)  # everything within the slack: passes
    report[b] = figures(0.87, -0.002, 0.018, 0.019, 0.0, 0.03)  # its interval reaches 0: fails
    report[c] = figures(0.88, 0.01, 0.024, 0.019, 0.0, 0.03)  # box x0.85/x1.15 0.006 worse than the reference: fails
    decision = decide(report)
    assert decision["adopted"] == a
    assert decision["verdicts"][b]["checks"]["auc_interval_above_0"] is False
    assert [k for k, ok in decision["verdicts"][c]["checks"].items() if not ok] == ["scale_x0.85_x1.15"]
    report[a] = figures(0.86, 0.001, 0.018, 0.019, 0.06, 0.03)  # halves over 0.05
    report[a]["label_changes"] = 0.041  # and more labels changed than the reference + 0.01
    assert decide(report)["adopted"] is None
    assert [k for k, ok in decide(report)["verdicts"][a]["checks"].items() if not ok] == ["halves", "label_changes"]


def test_decide_at_the_edges_of_each_condition():
    a, b, c = CANDIDATES
    report = {REFERENCE: figures(0.83, 0.0, 0.0, 0.0, 0.0, 0.0)}
    report[a] = figures(0.90, 0.0, 0.0, 0.0, 0.0, 0.0)  # an interval ending exactly at 0 does not exclude 0
    report[b] = figures(0.85, 0.01, 0.005, 0.005, 0.05, 0.01)  # every framing figure exactly at its limit: passes
    report[c] = figures(0.84, 0.01, 0.0, 0.0, 0.0, 0.0)  # passes too, with a lower AUC than b
    decision = decide(report)
    assert decision["rule"] == RULE
    assert list(decision["verdicts"][a]["checks"]) == ["auc_interval_above_0", "scale_x0.85_x1.15", "mirror_single_pass", "halves", "label_changes"]
    assert decision["verdicts"][a]["checks"]["auc_interval_above_0"] is False
    assert decision["verdicts"][b]["passes"] and decision["verdicts"][c]["passes"]
    assert decision["adopted"] == b  # the highest per-film AUC of those that pass
    # the x0.85 / x1.15 limit is never above 0.03, however loose the reference
    report[REFERENCE] = figures(0.83, 0.0, 0.03, 0.0, 0.0, 0.0)
    report[b] = figures(0.85, 0.01, 0.031, 0.0, 0.0, 0.0)
    assert decide(report)["verdicts"][b]["checks"]["scale_x0.85_x1.15"] is False


def test_bootstrap_level_narrows_the_percentile_interval():
    from osteo_desktop.training.knee_evaluation import _bootstrap

    values = np.arange(20, dtype=float)
    statistic = lambda idx: float(values[idx].mean())  # noqa: E731
    groups = np.arange(20)
    wide = _bootstrap(statistic, groups, 400, 0)
    assert wide == _bootstrap(statistic, groups, 400, 0, 0.95)  # 95 % unless told
    narrow = _bootstrap(statistic, groups, 400, 0, 0.5)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    low, high = _bootstrap(statistic, groups, 400, 0, 0.0)  # a 0 % interval is the median of the resamples, twice
    assert low == high
