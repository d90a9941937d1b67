"""The scope gate (core/model/scope.py) on hand-built inputs whose answer is worked out here, not read from the gate.

Images are a few pixels whose statistics are counted by hand; headers are dictionaries written out in the test;
gates are hand-made (weights, bias, mean, scale chosen so that the probabilities are exp(a) / (exp(a) + exp(b))
of numbers written in the test). No model, no shared data: every test here runs in milliseconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from osteo_desktop.core.model import scope
from osteo_desktop.core.model.scope import (
    ScopeDecision,
    ScopeEvidence,
    ScopeGate,
    decide_from_tags,
    gate_features,
    image_statistics,
    look,
    pooled_features,
)

# What the header's Modality means, written out from the DICOM standard's defined terms (PS3.3 C.7.3.1.1.1),
# in the words the reason must use.
NON_RADIOGRAPHS = {
    "MR": "MR image", "CT": "CT image", "US": "ultrasound image", "NM": "nuclear-medicine image",
    "PT": "PET image", "XA": "angiography image", "RF": "fluoroscopy image", "MG": "mammogram",
    "IO": "intra-oral dental radiograph", "PX": "panoramic dental radiograph", "ES": "endoscopy image",
    "XC": "photograph", "OP": "ophthalmic photograph", "SM": "microscopy image", "SR": "structured report",
    "DOC": "document", "ECG": "ECG", "SEG": "segmentation", "RTSTRUCT": "radiotherapy structure set",
}
LATERAL = "lateral knee view: the model reads frontal views"
BLANK = ScopeDecision(False, "not a radiograph: the image is blank", "synthetic", None)


# --- image statistics -------------------------------------------------------------------------------------------


def test_statistics_of_a_small_image_counted_by_hand():
    # 2 rows x 4 columns: aspect log(4/2); eight values, one per histogram bin edge region.
    pixels = np.array([[0.0, 0.05, 0.3, 0.3], [0.55, 0.8, 0.99, 1.0]], dtype=np.float32)
    stats = image_statistics(pixels)
    assert stats.dtype == np.float32 and stats.shape == (11,)
    values = [0.0, 0.05, 0.3, 0.3, 0.55, 0.8, 0.99, 1.0]
    mean = sum(values) / 8
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 8)
    assert stats[0] == pytest.approx(math.log(2.0), abs=1e-6)
    assert stats[1] == pytest.approx(mean, abs=1e-6)
    assert stats[2] == pytest.approx(std, abs=1e-6)
    # Bins of width 1/8: [0, .125) holds 0 and 0.05; [.25, .375) both 0.3; [.5, .625) 0.55; [.75, .875) 0.8;
    # the last bin [.875, 1] holds 0.99 and 1.0 (numpy's last bin is closed).
    assert stats[3:].tolist() == pytest.approx([2 / 8, 0, 2 / 8, 0, 1 / 8, 0, 1 / 8, 2 / 8])


def test_statistics_of_a_tall_image_have_a_negative_aspect():
    pixels = np.full((6, 2), 0.5, dtype=np.float32)
    stats = image_statistics(pixels)
    assert stats[0] == pytest.approx(math.log(2 / 6), abs=1e-6)
    assert stats[1] == pytest.approx(0.5) and stats[2] == pytest.approx(0.0, abs=1e-7)
    assert stats[3:].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]  # 0.5 opens the fifth bin


def test_statistics_of_one_pixel_are_fractions_of_one():
    stats = image_statistics(np.array([[0.2]], dtype=np.float32))
    assert stats[0] == 0.0 and stats[1] == pytest.approx(0.2) and stats[2] == 0.0
    assert stats[3:].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]


def test_statistics_of_a_large_image_sample_every_nth_row_and_column():
    # 512 x 1024: the grid takes every 2nd row (512 // 256) and every 4th column (1024 // 256). The sampled pixels
    # are 0.3, every other one 0.9: the statistics see 0.3 only.
    pixels = np.full((512, 1024), 0.9, dtype=np.float32)
    pixels[::2, ::4] = 0.3
    stats = image_statistics(pixels)
    assert stats[0] == pytest.approx(math.log(2.0), abs=1e-6)
    assert stats[1] == pytest.approx(0.3, abs=1e-6) and stats[2] == pytest.approx(0.0, abs=1e-6)
    assert stats[3:].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]


def test_statistics_accept_integer_pixels():
    # Values above 1 fall outside the histogram's range and are not counted in any bin, but still in the mean.
    stats = image_statistics(np.array([[0, 2]], dtype=np.uint16))
    assert stats[1] == pytest.approx(1.0) and stats[2] == pytest.approx(1.0)
    assert stats[3:].tolist() == [0.5, 0, 0, 0, 0, 0, 0, 0]
    # uint8 pixels are a compact read's grey levels (core.reading.levels): 0 and 2 stand for 0 and 2/255.
    stats = image_statistics(np.array([[0, 2]], dtype=np.uint8))
    assert stats[1] == pytest.approx(1 / 255) and stats[2] == pytest.approx(1 / 255)
    assert stats[3:].tolist() == [1.0, 0, 0, 0, 0, 0, 0, 0]


def test_pooled_features_are_the_per_channel_mean():
    activations = np.zeros((2, 3, 2), dtype=np.float32)
    activations[..., 0] = [[1, 2, 3], [4, 5, 6]]  # mean 3.5
    activations[..., 1] = 6.0
    assert pooled_features(activations).tolist() == [3.5, 6.0]
    assert pooled_features(activations[None]).tolist() == [3.5, 6.0]  # with the batch axis
    assert pooled_features([[[1, 3]]]).dtype == np.float32  # lists are accepted and pooled as float32
    assert pooled_features(np.array([2.0, 4.0])).tolist() == [2.0, 4.0]  # already pooled: unchanged


def test_gate_features_are_log1p_of_the_pooled_activations_then_the_statistics():
    pixels = np.array([[0.0, 1.0]], dtype=np.float32)
    activations = np.array([[[math.e - 1, 0.0]], [[math.e - 1, 0.0]]], dtype=np.float32)  # (2, 1, 2)
    features = gate_features(pixels, activations)
    assert features.shape == (13,)
    assert features[:2].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert features[2] == pytest.approx(math.log(2.0), abs=1e-6)  # the aspect of a 1 x 2 image
    assert features[3:5].tolist() == pytest.approx([0.5, 0.5])  # mean, spread
    assert features[5:].tolist() == [0.5, 0, 0, 0, 0, 0, 0, 0.5]


# --- the header -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("modality", sorted(NON_RADIOGRAPHS))
def test_every_non_radiograph_modality_is_declined_on_the_tag(modality):
    decision = decide_from_tags({"modality": modality, "body_part": "KNEE", "view_position": "AP"})
    assert decision == ScopeDecision(False, f"not a radiograph: {NON_RADIOGRAPHS[modality]}", "other-modality", None)


def test_the_modality_is_read_case_and_space_insensitively():
    assert decide_from_tags({"modality": " mr "}).reason == "not a radiograph: MR image"
    assert decide_from_tags({"modality": "ct"}).reason == "not a radiograph: CT image"


@pytest.mark.parametrize("modality", ["CR", "DX", "RG", "DR", "OT", "", None])
def test_radiograph_or_unknown_modality_with_a_frontal_view_leaves_it_to_the_pixels(modality):
    assert decide_from_tags({"modality": modality, "body_part": "KNEE", "view_position": "AP"}) is None
    assert decide_from_tags({"modality": modality}) is None


def test_an_empty_header_leaves_it_to_the_pixels():
    assert decide_from_tags({}) is None


@pytest.mark.parametrize("view", ["LAT", "LATERAL", "LL", "RL", "RLD", "LLD", "XTABLE", "CROSS-TABLE LATERAL", " lateral "])
@pytest.mark.parametrize("body_part", ["KNEE", "knee", "LEG", "LOWER LIMB", "LOWERLIMB", "LOW_EXM", "EXTREMITY",
                                       "TIBIA", "FEMUR", "PATELLA", "", None])
def test_a_lateral_view_of_a_knee_or_unnamed_part_is_declined(view, body_part):
    decision = decide_from_tags({"modality": "DX", "body_part": body_part, "view_position": view})
    assert decision == ScopeDecision(False, LATERAL, "knee-lateral", None)


def test_a_lateral_view_without_any_other_tag_is_declined():
    assert decide_from_tags({"view_position": "LAT"}) == ScopeDecision(False, LATERAL, "knee-lateral", None)


@pytest.mark.parametrize("body_part", ["CHEST", "HAND", "SKULL", "ANKLE"])
def test_a_lateral_view_of_another_body_part_is_left_to_the_pixels(body_part):
    # Not the gate's lateral-knee reason: the pixels decide (and name the body part they see).
    assert decide_from_tags({"modality": "CR", "body_part": body_part, "view_position": "LATERAL"}) is None


@pytest.mark.parametrize("view", ["AP", "PA", "", None, "OBLIQUE"])
def test_a_frontal_or_missing_view_is_left_to_the_pixels(view):
    assert decide_from_tags({"modality": "CR", "body_part": "KNEE", "view_position": view}) is None


def test_the_modality_decides_before_the_view():
    decision = decide_from_tags({"modality": "MR", "body_part": "KNEE", "view_position": "LATERAL"})
    assert decision.reason == "not a radiograph: MR image" and decision.category == "other-modality"


def test_the_decision_as_a_dictionary_field_by_field():
    assert ScopeDecision(False, "why", "chest", 0.25).to_dict() == {
        "in_scope": False, "reason": "why", "category": "chest", "score": 0.25}
    assert list(ScopeDecision(True, None, "knee", 0.9).to_dict()) == ["in_scope", "reason", "category", "score"]
    assert ScopeDecision(True, None, "knee", None).to_dict() == {
        "in_scope": True, "reason": None, "category": "knee", "score": None}


# --- blank images and the spread --------------------------------------------------------------------------------


def test_a_uniform_image_is_blank():
    evidence = look(np.full((20, 30), 0.4, dtype=np.float32), {})
    assert evidence == ScopeEvidence(BLANK)
    assert evidence.decided.to_dict() == {"in_scope": False, "reason": "not a radiograph: the image is blank",
                                          "category": "synthetic", "score": None}


def test_blankness_is_a_spread_below_one_hundredth():
    # Half the pixels 0, half d: the standard deviation is d / 2. Just under 0.01 is blank, just over is not.
    low = np.zeros((10, 10), dtype=np.float32)
    low[:5] = 0.0199
    high = np.zeros((10, 10), dtype=np.float32)
    high[:5] = 0.0201
    assert look(low, {}).decided == BLANK
    assert look(high, {}).decided is None


def test_blankness_of_a_large_image_uses_its_whole_spread():
    # Larger than one band (65,536 values): a 300 x 300 image with one bright block. A dozen bright rows among
    # 300 give a spread far above 0.01, so it is not blank even though most bands are uniform.
    pixels = np.zeros((300, 300), dtype=np.float32)
    pixels[250:262] = 1.0
    assert look(pixels, {}).decided is None
    # and a large image of one value is blank
    assert look(np.full((300, 300), 0.7, dtype=np.float32), {}).decided == BLANK


@pytest.mark.parametrize("shape", [(300, 300), (257, 301), (1000, 70), (37, 11)])
def test_the_banded_spread_equals_the_standard_deviation(shape):
    values = np.random.default_rng(sum(shape)).random(shape).astype(np.float32) * 3.0 + 5.0
    expected = float(np.std(values.astype(np.float64)))
    assert scope._spread(values) == pytest.approx(expected, rel=1e-5)
    # Many small bands, the last one partial (37 rows in bands of 9, 11 rows in bands of 100 // 11 = 9, ...).
    assert scope._spread(values, band_values=100) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape", [(37, 11), (300, 300)])
def test_the_banded_spread_of_a_nearly_flat_image(shape):
    # A spread of about 0.003 around 0.5: an error of a few parts in 10^4 in the mean, or a unit added to a sum,
    # shows in the third digit.
    values = (0.5 + 0.01 * np.random.default_rng(5).random(shape)).astype(np.float32)
    expected = float(np.std(values.astype(np.float64)))
    assert expected == pytest.approx(0.01 / math.sqrt(12), rel=0.05)
    assert scope._spread(values, band_values=100) == pytest.approx(expected, rel=1e-4)
    assert scope._spread(values) == pytest.approx(expected, rel=1e-4)


def test_a_spread_of_exactly_one_hundredth_is_not_blank(monkeypatch):
    # Blank means a spread below BLANK_STD; at it, the pixels decide.
    monkeypatch.setattr(scope, "_spread", lambda pixels: 0.01)
    assert look(np.zeros((4, 4), dtype=np.float32), {}).decided is None
    monkeypatch.setattr(scope, "_spread", lambda pixels: 0.0099999)
    assert look(np.zeros((4, 4), dtype=np.float32), {}).decided == BLANK


def test_the_spread_of_a_colour_image_is_taken_over_all_values():
    values = np.zeros((200, 200, 3), dtype=np.float32)
    values[..., 0] = 1.0
    # A third of the values are 1: mean 1/3, variance 1/3 * 4/9 + 2/3 * 1/9 = 2/9.
    assert scope._spread(values) == pytest.approx(math.sqrt(2 / 9), rel=1e-6)


def test_the_spread_of_a_mostly_constant_large_image():
    # 400 x 200 = 80,000 values in bands of 327 rows: one band holds all the zeros, the mean is 0.75, the variance
    # 0.25 * 0.75^2 + 0.75 * 0.25^2 = 0.1875.
    values = np.ones((400, 200), dtype=np.float32)
    values[:100] = 0.0
    assert scope._spread(values) == pytest.approx(math.sqrt(0.1875), rel=1e-6)
    assert scope._spread(values, band_values=1000) == pytest.approx(math.sqrt(0.1875), rel=1e-6)


# --- look: what the gate keeps before the model runs ------------------------------------------------------------


def test_look_keeps_the_header_verdict_and_nothing_else():
    evidence = look(np.random.default_rng(0).random((8, 8)), {"modality": "CT"})
    assert evidence == ScopeEvidence(ScopeDecision(False, "not a radiograph: CT image", "other-modality", None))
    assert evidence.statistics is None and evidence.body_part == "" and evidence.modality == ""


def test_the_header_decides_even_for_a_blank_image():
    evidence = look(np.zeros((8, 8), dtype=np.float32), {"modality": "DX", "view_position": "LAT"})
    assert evidence.decided == ScopeDecision(False, LATERAL, "knee-lateral", None)


def test_look_keeps_statistics_body_part_and_modality_for_the_model():
    pixels = np.array([[0.0, 0.05, 0.3, 0.3], [0.55, 0.8, 0.99, 1.0]], dtype=np.float32)
    evidence = look(pixels, {"modality": " dx", "body_part": "chest ", "view_position": "AP"})
    assert evidence.decided is None
    assert evidence.body_part == "CHEST" and evidence.modality == "DX"
    values = [0.0, 0.05, 0.3, 0.3, 0.55, 0.8, 0.99, 1.0]
    std = math.sqrt(sum((v - 0.49875) ** 2 for v in values) / 8)
    assert evidence.statistics.tolist() == pytest.approx(
        [math.log(2.0), 0.49875, std, 0.25, 0, 0.25, 0, 0.125, 0, 0.125, 0.25], abs=1e-6)


def test_look_without_tags_has_empty_body_part_and_modality():
    evidence = look(np.eye(4, dtype=np.float32), {"body_part": None})
    assert evidence.decided is None and evidence.body_part == "" and evidence.modality == ""
    assert evidence.statistics[1] == pytest.approx(0.25)


# --- the pixel model: a hand-made gate ----------------------------------------------------------------------------


def _gate(bias, categories, threshold=0.5, strict=0.9, *, weights=None, mean=None, scale=None) -> ScopeGate:
    """A gate over 13 features (2 pooled channels + 11 statistics) whose logits are ``bias`` unless weights say."""
    k = len(categories)
    return ScopeGate(np.zeros((13, k)) if weights is None else weights, np.asarray(bias, dtype=np.float64),
                     np.zeros(13) if mean is None else mean, np.ones(13) if scale is None else scale,
                     categories, threshold, strict)


def _evidence(body_part: str = "", modality: str = "") -> ScopeEvidence:
    return ScopeEvidence(None, np.zeros(11, dtype=np.float32), body_part, modality)


ACTIVATIONS = np.zeros((1, 2, 2, 2), dtype=np.float32)


def _softmax(logits):
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    return [e / sum(exps) for e in exps]


def test_probabilities_are_the_softmax_of_standardised_features_times_weights_plus_bias():
    # Two features, three categories: z = (f - mean) / scale; logits = z @ W + b, worked out below.
    weights = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    bias = np.array([0.1, -0.2, 0.3])
    gate = ScopeGate(weights, bias, np.array([1.0, 2.0]), np.array([2.0, 4.0]), ["a", "knee", "b"], 0.5, 0.9)
    features = np.array([[5.0, 6.0], [1.0, 2.0]])
    # Row 0: z = (2, 1): logits (2 + 0.5 + 0.1, 2 - 0.2, -2 + 0.3) = (2.6, 1.8, -1.7). Row 1: z = 0: the bias.
    expected = [_softmax([2.6, 1.8, -1.7]), _softmax([0.1, -0.2, 0.3])]
    probs = gate.probabilities(features)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs, expected, rtol=1e-12)
    np.testing.assert_allclose(gate.probabilities(features[0]), expected[:1], rtol=1e-12)  # one row, 1-D


def test_probabilities_do_not_overflow_for_huge_logits():
    gate = ScopeGate(np.array([[1000.0, 999.0]]), np.zeros(2), np.zeros(1), np.ones(1), ["knee", "x"], 0.5, 0.9)
    probs = gate.probabilities(np.array([[1.0], [-1.0]]))
    np.testing.assert_allclose(probs, [_softmax([0.0, -1.0]), _softmax([0.0, 1.0])], rtol=1e-12)


def test_scores_at_and_around_the_threshold():
    # Equal logits: exactly one half each.
    at = _gate([0.0, 0.0], ["other-msk", "knee"], threshold=0.5).judge(_evidence(), ACTIVATIONS)
    assert at == ScopeDecision(True, None, "knee", 0.5)
    below = _gate([0.0, 0.0], ["other-msk", "knee"], threshold=0.5000001).judge(_evidence(), ACTIVATIONS)
    assert below == ScopeDecision(False, "not a knee radiograph: looks like a radiograph of another bone or joint",
                                  "other-msk", 0.5)


def test_the_knee_score_is_the_knee_categorys_probability():
    # log-probabilities as bias: the softmax gives them back.
    categories = ["chest", "hand", "knee", "synthetic"]
    gate = _gate(np.log([0.1, 0.2, 0.6, 0.1]), categories, threshold=0.55)
    decision = gate.judge(_evidence(), ACTIVATIONS)
    assert decision.in_scope and decision.reason is None and decision.category == "knee"
    assert decision.score == pytest.approx(0.6, abs=1e-12) and isinstance(decision.score, float)
    declined = _gate(np.log([0.1, 0.2, 0.6, 0.1]), categories, threshold=0.65).judge(_evidence(), ACTIVATIONS)
    assert declined == ScopeDecision(False, "not a knee radiograph: looks like a hand or wrist radiograph", "hand",
                                     pytest.approx(0.6, abs=1e-12))


def test_the_pixels_feed_the_logits_through_the_pooled_activations():
    # Only the first pooled channel weighs: log1p(e - 1) = 1, times 3 for the knee; the other category's bias is 2.
    weights = np.zeros((13, 2))
    weights[0, 1] = 3.0
    gate = _gate([2.0, 0.0], ["chest", "knee"], weights=weights)
    activations = np.full((3, 3, 2), math.e - 1, dtype=np.float32)
    decision = gate.judge(_evidence(), activations)
    assert decision.score == pytest.approx(_softmax([2.0, 3.0])[1], abs=1e-6) and decision.in_scope
    # Already pooled to (C,): the same.
    assert gate.judge(_evidence(), np.array([math.e - 1, 0.0])).score == pytest.approx(decision.score, abs=1e-9)
    # No activation: the chest wins.
    assert gate.judge(_evidence(), np.zeros((3, 3, 2))).category == "chest"


def test_the_statistics_feed_the_logits():
    # The weight sits on the mean grey value (feature 2 + 1): 0.8 x 5 = 4 for the knee.
    weights = np.zeros((13, 2))
    weights[3, 1] = 5.0
    gate = _gate([1.0, 0.0], ["synthetic", "knee"], weights=weights)
    stats = np.zeros(11, dtype=np.float32)
    stats[1] = 0.8
    decision = gate.judge(ScopeEvidence(None, stats), ACTIVATIONS)
    assert decision.score == pytest.approx(_softmax([1.0, 4.0])[1], abs=1e-6)


def test_a_decided_evidence_is_returned_as_it_is_without_activations():
    decided = ScopeDecision(False, "not a radiograph: MR image", "other-modality", None)
    assert _gate([0.0, 9.0], ["x", "knee"]).judge(ScopeEvidence(decided), None) is decided


def test_an_undecided_film_needs_activations_and_statistics():
    gate = _gate([0.0, 0.0], ["x", "knee"])
    message = "the scope gate needs the backbone's activations for an undecided film"
    with pytest.raises(ValueError) as no_activations:
        gate.judge(_evidence(), None)
    with pytest.raises(ValueError) as no_statistics:
        gate.judge(ScopeEvidence(None, None), ACTIVATIONS)
    assert str(no_activations.value) == str(no_statistics.value) == message


@pytest.mark.parametrize(("body_part", "in_scope"), [
    ("", True), ("KNEE", True), ("LEG", True), ("PATELLA", True),
    ("CHEST", False), ("HAND", False), ("ABDOMEN", False),
])
def test_a_body_part_other_than_the_knee_needs_the_strict_threshold(body_part, in_scope):
    # Knee probability 0.7: above the threshold 0.5, below the strict one 0.9.
    gate = _gate(np.log([0.3, 0.7]), ["chest", "knee"], threshold=0.5, strict=0.9)
    decision = gate.judge(_evidence(body_part=body_part), ACTIVATIONS)
    assert decision.in_scope is in_scope
    assert decision.score == pytest.approx(0.7, abs=1e-12)
    if not in_scope:
        # The pixels' guess is "chest"; a header naming the chest agrees, so the reason names it. A header naming
        # another body part (HAND, ABDOMEN) contradicts the guess: still declined, in words that name no body part.
        words = ("not a knee radiograph: looks like a chest radiograph" if body_part == "CHEST"
                 else "not a knee radiograph: looks like a radiograph of another bone or joint")
        assert decision == ScopeDecision(False, words, "chest", pytest.approx(0.7, abs=1e-12))


def test_a_clear_knee_overrules_a_wrong_body_part_above_the_strict_threshold():
    gate = _gate(np.log([0.05, 0.95]), ["chest", "knee"], threshold=0.5, strict=0.9)
    assert gate.judge(_evidence(body_part="CHEST"), ACTIVATIONS).in_scope
    # ... and exactly at the strict threshold too (equal logits, strict 0.5, normal threshold above it).
    exact = _gate([0.0, 0.0], ["chest", "knee"], threshold=0.7, strict=0.5)
    assert exact.judge(_evidence(body_part="CHEST"), ACTIVATIONS).in_scope
    assert not exact.judge(_evidence(body_part="KNEE"), ACTIVATIONS).in_scope


@pytest.mark.parametrize(("category", "words"), [
    ("chest", "not a knee radiograph: looks like a chest radiograph"),
    ("hand", "not a knee radiograph: looks like a hand or wrist radiograph"),
    ("other-msk", "not a knee radiograph: looks like a radiograph of another bone or joint"),
    ("dental-skull", "not a knee radiograph: looks like a dental or skull radiograph"),
    ("other-modality", "not a radiograph: looks like an MR, CT or ultrasound image"),
    ("non-medical", "not a radiograph: looks like a photograph, drawing or document"),
    ("synthetic", "not a radiograph: looks like a test pattern or graphic"),
    ("foot", "not a knee radiograph"),  # a category the words do not know
])
def test_the_likeliest_other_category_is_named(category, words):
    gate = _gate(np.log([0.1, 0.2, 0.7]), ["knee", "spare", category], threshold=0.5)
    decision = gate.judge(_evidence(), ACTIVATIONS)
    assert decision == ScopeDecision(False, words, category, pytest.approx(0.1, abs=1e-12))


def test_the_likeliest_category_wins_whatever_its_place():
    categories = ["synthetic", "knee", "chest", "hand"]
    for probs, expected in (([0.5, 0.1, 0.3, 0.1], "synthetic"), ([0.2, 0.1, 0.3, 0.4], "hand"),
                            ([0.2, 0.1, 0.6, 0.1], "chest")):
        assert _gate(np.log(probs), categories).judge(_evidence(), ACTIVATIONS).category == expected


@pytest.mark.parametrize("modality", ["CR", "DX", "RG", "DR"])
def test_a_radiograph_modality_names_the_likeliest_radiograph_kind(modality):
    # The pixels say "test pattern" (0.5), then "dental or skull" (0.25); the header says radiograph.
    categories = ["synthetic", "knee", "chest", "dental-skull", "non-medical"]
    gate = _gate(np.log([0.5, 0.05, 0.1, 0.25, 0.1]), categories)
    decision = gate.judge(_evidence(modality=modality), ACTIVATIONS)
    assert decision == ScopeDecision(False, "not a knee radiograph: looks like a dental or skull radiograph",
                                     "dental-skull", pytest.approx(0.05, abs=1e-12))
    # Without that header (or with another modality) the pixels' first choice is named.
    for other in ("", "OT", "SC"):
        assert gate.judge(_evidence(modality=other), ACTIVATIONS).category == "synthetic"


def test_a_radiograph_modality_with_no_radiograph_category_falls_back_to_the_likeliest():
    categories = ["synthetic", "knee", "non-medical"]
    gate = _gate(np.log([0.3, 0.1, 0.6]), categories)
    decision = gate.judge(_evidence(modality="CR"), ACTIVATIONS)
    assert decision.category == "non-medical"
    assert decision.reason == "not a radiograph: looks like a photograph, drawing or document"


def test_the_knee_category_is_never_named_for_a_declined_film():
    # The knee is the likeliest category but below a threshold of 0.9: the reason names the runner-up.
    gate = _gate(np.log([0.8, 0.15, 0.05]), ["knee", "hand", "chest"], threshold=0.9)
    decision = gate.judge(_evidence(), ACTIVATIONS)
    assert decision.category == "hand" and not decision.in_scope


def test_decide_is_look_then_judge():
    gate = _gate(np.log([0.3, 0.7]), ["chest", "knee"], threshold=0.5, strict=0.9)
    pixels = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    assert gate.decide(pixels, {"modality": "DX"}, ACTIVATIONS).in_scope
    assert not gate.decide(pixels, {"modality": "DX", "body_part": "chest"}, ACTIVATIONS).in_scope
    assert gate.decide(pixels, {"modality": "US"}, None).reason == "not a radiograph: ultrasound image"
    assert gate.decide(np.zeros((4, 4)), {}, None) == BLANK


# --- the gate's file --------------------------------------------------------------------------------------------


def _save_gate(path, **overrides):
    arrays = dict(weights=np.arange(6.0).reshape(3, 2), bias=np.array([0.5, -0.5]), mean=np.array([1.0, 2.0, 3.0]),
                  scale=np.array([4.0, 5.0, 6.0]), categories=np.array(["chest", "knee"]), threshold=np.array(0.25),
                  strict_threshold=np.array(0.75))
    arrays.update(overrides)
    np.savez(path, **arrays)


def test_the_gate_is_loaded_from_its_file_or_its_directory(tmp_path):
    _save_gate(tmp_path / "scope_gate.npz")
    for where in (tmp_path, tmp_path / "scope_gate.npz", str(tmp_path)):
        gate = ScopeGate.load(where)
        assert gate.weights.tolist() == [[0, 1], [2, 3], [4, 5]]
        assert gate.bias.tolist() == [0.5, -0.5] and gate.mean.tolist() == [1, 2, 3] and gate.scale.tolist() == [4, 5, 6]
        assert gate.categories == ["chest", "knee"] and all(type(c) is str for c in gate.categories)
        assert gate.threshold == 0.25 and gate.strict_threshold == 0.75
        assert type(gate.threshold) is float and type(gate.strict_threshold) is float
        assert gate.knee_index == 1


def test_a_gate_file_with_pickled_objects_is_refused(tmp_path):
    # Object arrays can only be stored pickled; loading them must not unpickle (the file may be hostile).
    _save_gate(tmp_path / "scope_gate.npz", categories=np.array(["chest", "knee"], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        ScopeGate.load(tmp_path)


def test_a_gate_without_a_knee_category_is_refused():
    with pytest.raises(ValueError):
        ScopeGate(np.zeros((1, 2)), np.zeros(2), np.zeros(1), np.ones(1), ["chest", "hand"], 0.5, 0.9)


def test_the_constructor_keeps_what_it_was_given():
    weights, bias, mean, scale = np.ones((1, 3)), np.zeros(3), np.full(1, 2.0), np.full(1, 3.0)
    gate = ScopeGate(weights, bias, mean, scale, ["hand", "chest", "knee"], 0.3, 0.8)
    assert gate.weights is weights and gate.bias is bias and gate.mean is mean and gate.scale is scale
    assert gate.categories == ["hand", "chest", "knee"] and gate.knee_index == 2
    assert (gate.threshold, gate.strict_threshold) == (0.3, 0.8)
