"""The per-knee model (core/model/knee_model.py) on tiny hand-made weights and activations (issue 15).

The knee head here is linear: two ReLU units carry +s and -s, the output takes their difference, so the logit is
exactly s = pooled . A + b3 with A = (1, 2, -1). Every activation map below is written out by hand, so each pooled
vector, logit, probability (1 / (1 + exp(-logit / T))) and Grad-CAM map is worked out in the test, not by the code
under test. The stand-in interpreter records what it was given and answers with the activations the test planned.
Where a region is compared, preprocessing's own ``knee_region`` (not under test here) says which region is meant.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model import knee_model
from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.model.explain import HeadWeights
from osteo_desktop.core.model.knee_model import FilmAnalysis, KneeHead, KneePrediction, analyse_film, knee_heat_map
from osteo_desktop.core.model.preprocessing import KneeGeometry, KneeRegionConfig, knee_map_to_original, knee_region

from shared_paths import REPO_ROOT

A = np.array([1.0, 2.0, -1.0], np.float32)
LABELS = ("normal", "osteoporosis")
REGION = KneeRegionConfig(input_size=32)


def linear_weights(b3: float = 0.0) -> HeadWeights:
    """logit = relu(s) - relu(-s) + b3 = s + b3, with s = pooled . A."""
    w1 = np.stack([A, -A], axis=1)[None].astype(np.float32)  # (1, 3, 2)
    return HeadWeights(w1=w1, b1=np.zeros((1, 2), np.float32), w2=np.eye(2, dtype=np.float32)[None],
                       b2=np.zeros((1, 2), np.float32), w3=np.array([[1.0, -1.0]], np.float32),
                       b3=np.array([b3], np.float32))


def head(temperature: float = 0.5, threshold: float = 0.5, hflip_tta: bool = False) -> KneeHead:
    return KneeHead(version="k-hand", weights=linear_weights(), region=REGION, temperature=temperature,
                    threshold=threshold, hflip_tta=hflip_tta, labels=LABELS)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Activation maps (2 x 2 positions x 3 channels), written out; the pooled vector is the mean of the four positions.
# Knee 0: positions (2,0,0), (0,1,0), (0,0,2), (2,1,0) -> pooled (1, 0.5, 0.5) -> s = 1 + 1 - 0.5 = 1.5
KNEE0 = np.array([[[2, 0, 0], [0, 1, 0]], [[0, 0, 2], [2, 1, 0]]], np.float32)
# its mirror image: one position (2,0,0) -> pooled (0.5, 0, 0) -> s = 0.5; averaged with 1.5: 1.0
KNEE0_MIRROR = np.array([[[0, 0, 0], [0, 0, 0]], [[2, 0, 0], [0, 0, 0]]], np.float32)
# Knee 1: (0,0,4) twice -> pooled (0, 0, 2) -> s = -2; its mirror (0,0,4) once -> pooled (0, 0, 1) -> s = -1
KNEE1 = np.array([[[0, 0, 4], [0, 0, 4]], [[0, 0, 0], [0, 0, 0]]], np.float32)
KNEE1_MIRROR = np.array([[[0, 0, 4], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]], np.float32)
FILM = np.full((2, 2, 3), 7.0, np.float32)  # the whole film's activations: handed back untouched


class Interpreter:
    """Records each call's inputs; answers with the planned activations (in the order given) and logits 10, 11, ..."""

    def __init__(self, features: list[np.ndarray]) -> None:
        self.features = features
        self.calls: list[np.ndarray] = []

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(inputs)
        assert len(inputs) == len(self.features), (len(inputs), len(self.features))
        return np.arange(10, 10 + len(inputs), dtype=np.float32), np.stack(self.features)


def film_pixels() -> np.ndarray:
    rng = np.random.default_rng(3)
    pixels = np.full((64, 100), 0.1, np.float32)
    pixels[8:56, 5:45] = 0.4 + 0.5 * rng.random((48, 40))
    pixels[8:56, 55:95] = 0.3 + 0.6 * rng.random((48, 40))
    return pixels


BOXES = [(10, 12, 40, 44), (58, 10, 90, 50)]


# --- the probability ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("logit, temperature, expected", [
    (0.0, 0.5, 0.5),
    (math.log(3.0), 1.0, 0.75),  # 1 / (1 + 1/3)
    (0.5 * math.log(3.0), 0.5, 0.75),  # the logit divided by the temperature
    (-math.log(3.0), 1.0, 0.25),
    (2.0, 4.0, 1.0 / (1.0 + math.exp(-0.5))),
])
def test_probability_is_the_logistic_of_the_logit_over_the_temperature(logit, temperature, expected):
    assert head(temperature=temperature).probability(logit) == pytest.approx(expected, abs=1e-12)
    assert isinstance(head(temperature=temperature).probability(logit), float)


# --- one film's knees ----------------------------------------------------------------------------------------------


def test_each_knee_gets_its_own_pooled_logit_probability_label_and_confidence():
    pixels = film_pixels()
    interpreter = Interpreter([KNEE0, KNEE1])
    analysis = analyse_film(interpreter, head(temperature=0.5), pixels, BOXES)
    (inputs,) = interpreter.calls
    # Only the two knees' regions, in the boxes' order (no film input asked for, no mirror images).
    assert inputs.shape == (2, 32, 32, 3)
    for given, box in zip(inputs, BOXES):
        assert np.array_equal(given, knee_region(pixels, box, REGION)[0])
    first, second = analysis.knees
    # Knee 0: s = 1.5, T = 0.5 -> sigmoid(3); knee 1: s = -2 -> sigmoid(-4).
    assert first.logit == pytest.approx(1.5) and second.logit == pytest.approx(-2.0)
    assert first.probability == pytest.approx(sigmoid(3.0)) and second.probability == pytest.approx(sigmoid(-4.0))
    assert (first.label, second.label) == ("osteoporosis", "normal")
    assert first.confidence == pytest.approx(sigmoid(3.0)) and second.confidence == pytest.approx(1 - sigmoid(-4.0))
    assert first.box == (10.0, 12.0, 40.0, 44.0) and all(isinstance(v, float) for v in first.box)
    assert second.box == (58.0, 10.0, 90.0, 50.0)
    assert first.geometry == knee_region(pixels, BOXES[0], REGION)[1]
    assert second.geometry == knee_region(pixels, BOXES[1], REGION)[1]
    assert np.array_equal(first.features, KNEE0) and np.array_equal(second.features, KNEE1)
    assert first.mirrored_features is None and second.mirrored_features is None
    assert analysis.film_logit is None and analysis.film_features is None
    assert analysis.most_suspicious is first


def test_the_mirror_images_follow_the_knees_and_their_logits_are_averaged():
    pixels = film_pixels()
    film_input = np.full((32, 32, 3), 0.25, np.float32)
    interpreter = Interpreter([FILM, KNEE0, KNEE1, KNEE0_MIRROR, KNEE1_MIRROR])
    analysis = analyse_film(interpreter, head(temperature=0.5, hflip_tta=True), pixels, BOXES, film_input=film_input)
    (inputs,) = interpreter.calls
    # The film first, then the knees, then their mirror images, all in one call.
    assert inputs.shape == (5, 32, 32, 3)
    assert np.array_equal(inputs[0], film_input)
    for i, box in enumerate(BOXES):
        region = knee_region(pixels, box, REGION)[0]
        assert np.array_equal(inputs[1 + i], region)
        assert np.array_equal(inputs[3 + i], region[:, ::-1])
    first, second = analysis.knees
    # (1.5 + 0.5) / 2 = 1.0 and (-2 + -1) / 2 = -1.5, over T = 0.5.
    assert first.logit == pytest.approx(1.0) and second.logit == pytest.approx(-1.5)
    assert first.probability == pytest.approx(sigmoid(2.0)) and second.probability == pytest.approx(sigmoid(-3.0))
    assert (first.label, second.label) == ("osteoporosis", "normal")
    assert second.confidence == pytest.approx(1 - sigmoid(-3.0))
    assert np.array_equal(first.features, KNEE0) and np.array_equal(first.mirrored_features, KNEE0_MIRROR)
    assert np.array_equal(second.features, KNEE1) and np.array_equal(second.mirrored_features, KNEE1_MIRROR)
    # The whole film's outputs: the interpreter's first logit (10) and activations.
    assert analysis.film_logit == 10.0 and isinstance(analysis.film_logit, float)
    assert np.array_equal(analysis.film_features, FILM)


def test_without_mirror_images_the_film_input_comes_first():
    pixels = film_pixels()
    film_input = np.full((32, 32, 3), -0.5, np.float32)
    interpreter = Interpreter([FILM, KNEE1, KNEE0])
    analysis = analyse_film(interpreter, head(temperature=1.0), pixels, BOXES[::-1], film_input=film_input)
    (inputs,) = interpreter.calls
    assert len(inputs) == 3 and np.array_equal(inputs[0], film_input)
    assert np.array_equal(inputs[1], knee_region(pixels, BOXES[1], REGION)[0])
    assert [k.logit for k in analysis.knees] == pytest.approx([-2.0, 1.5])
    assert [k.probability for k in analysis.knees] == pytest.approx([sigmoid(-2.0), sigmoid(1.5)])
    assert analysis.most_suspicious is analysis.knees[1]
    assert analysis.film_logit == 10.0


def test_the_threshold_itself_is_positive():
    # All-zero activations: logit 0, probability exactly 0.5.
    zero = np.zeros((2, 2, 3), np.float32)
    at = analyse_film(Interpreter([zero]), head(threshold=0.5), film_pixels(), BOXES[:1]).knees[0]
    assert (at.probability, at.label, at.confidence) == (0.5, "osteoporosis", 0.5)
    above = analyse_film(Interpreter([zero]), head(threshold=0.5000001), film_pixels(), BOXES[:1]).knees[0]
    assert (above.label, above.confidence) == ("normal", pytest.approx(0.5))


def test_a_film_with_a_film_input_and_no_knee_still_runs_the_film():
    interpreter = Interpreter([FILM])
    analysis = analyse_film(interpreter, head(hflip_tta=True), film_pixels(), [], film_input=np.zeros((32, 32, 3), np.float32))
    assert analysis.knees == [] and analysis.most_suspicious is None
    assert len(interpreter.calls) == 1 and analysis.film_logit == 10.0


def test_nothing_to_run_gives_an_empty_analysis_without_calling_the_interpreter():
    interpreter = Interpreter([])
    analysis = analyse_film(interpreter, head(hflip_tta=True), film_pixels(), [])
    assert interpreter.calls == [] and analysis.knees == [] and analysis.film_logit is None
    assert analysis.film_features is None
    assert analysis.timings_ms == {"knee_regions": 0.0, "inference": 0.0}


class Clock:
    """perf_counter for the module under test: half a second per call."""

    def __init__(self) -> None:
        self.now = 10.0

    def perf_counter(self) -> float:
        self.now += 0.5
        return self.now


def test_timings_are_milliseconds_of_each_step(monkeypatch):
    monkeypatch.setattr(knee_model, "time", Clock())
    analysis = analyse_film(Interpreter([KNEE0]), head(), film_pixels(), BOXES[:1])
    # start, after the regions, after the interpreter, after the head: one tick (500 ms) each.
    assert analysis.timings_ms == {"knee_regions": 500.0, "inference": 500.0, "knee_head": 500.0}


def test_most_suspicious_of_several_knees():
    def knee(probability: float) -> KneePrediction:
        return KneePrediction((0, 0, 1, 1), "normal", probability, 1 - probability, 0.0, None, np.zeros((1, 1, 3)))

    knees = [knee(0.2), knee(0.7), knee(0.4)]
    assert FilmAnalysis(knees).most_suspicious is knees[1]
    assert FilmAnalysis([]).most_suspicious is None
    assert FilmAnalysis([]).timings_ms == {} and FilmAnalysis([]).film_logit is None


# --- the heat map ----------------------------------------------------------------------------------------------------

# Per position, activation . A: [[3, -1], [1, 0]]. Grad-CAM of a linear head: ReLU(F . A / 4), over its peak.
HEAT = np.array([[[3, 0, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 0]]], np.float32)
HEAT_POSITIVE = np.array([[1.0, 0.0], [1.0 / 3.0, 0.0]])
HEAT_NEGATIVE = np.array([[0.0, 1.0], [0.0, 0.0]])  # ReLU(-F . A): only the -1 position
# Mirror image activations with F . A = [[2, 0], [0, 0]]: positive map [[1, 0], [0, 0]], flipped back [[0, 1], [0, 0]].
HEAT_MIRROR = np.array([[[2, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]], np.float32)
# The region is the 2 x 2 map's own size, placed at columns 1-2 of a 2 x 4 film: the map lands there unresized.
GEOMETRY = KneeGeometry((2, 4), (1, 0, 3, 2), 2, 0.0)


def on_film(cam: np.ndarray) -> np.ndarray:
    out = np.zeros((2, 4))
    out[:, 1:3] = cam
    return out


def heat_knee(probability: float, mirrored: np.ndarray | None = None, features: np.ndarray = HEAT) -> KneePrediction:
    return KneePrediction((1, 0, 3, 2), "x", probability, probability, 0.0, GEOMETRY, features, mirrored)


def test_heat_map_explains_the_knees_own_decision_at_the_threshold():
    h = head(threshold=0.5)
    # No side asked for: the knee's decision says which (the threshold itself is positive).
    assert np.allclose(knee_heat_map(heat_knee(0.5), h), on_film(HEAT_POSITIVE), atol=1e-6)
    assert np.allclose(knee_heat_map(heat_knee(0.49), h), on_film(HEAT_NEGATIVE), atol=1e-6)
    # Asked for explicitly, whatever the knee's decision.
    assert np.allclose(knee_heat_map(heat_knee(0.49), h, positive=True), on_film(HEAT_POSITIVE), atol=1e-6)
    assert np.allclose(knee_heat_map(heat_knee(0.9), h, positive=False), on_film(HEAT_NEGATIVE), atol=1e-6)
    # The reference projection agrees (the map over the region, 0 elsewhere).
    assert np.allclose(knee_heat_map(heat_knee(0.9), h), knee_map_to_original(HEAT_POSITIVE.astype(np.float32), GEOMETRY), atol=1e-6)


def test_heat_map_averages_the_mirror_images_map_flipped_back_then_rescales_to_one():
    h = head(threshold=0.5)
    # ([[1, 0], [1/3, 0]] + [[0, 1], [0, 0]]) / 2 = [[0.5, 0.5], [1/6, 0]]; over its peak 0.5: [[1, 1], [1/3, 0]].
    expected = np.array([[1.0, 1.0], [1.0 / 3.0, 0.0]])
    assert np.allclose(knee_heat_map(heat_knee(0.9, HEAT_MIRROR), h), on_film(expected), atol=1e-6)
    # Negative side: the mirror's map is empty (no position below 0), so the average is half the knee's own, rescaled.
    assert np.allclose(knee_heat_map(heat_knee(0.1, HEAT_MIRROR), h), on_film(HEAT_NEGATIVE), atol=1e-6)


def test_an_empty_averaged_heat_map_stays_zero():
    h = head(threshold=0.5)
    flat = np.zeros((2, 2, 3), np.float32)
    flat[0, 0] = (1, 0, 0)  # F . A >= 0 everywhere: nothing speaks against osteoporosis
    heat = knee_heat_map(heat_knee(0.1, flat, features=flat), h)
    assert np.isfinite(heat).all() and not heat.any()


# --- the head from the card ----------------------------------------------------------------------------------------


def test_the_shipped_card_gives_its_knee_head():
    raw = json.loads((REPO_ROOT / "model_weights" / "model_card.json").read_text("utf-8"))
    section = raw["knee_model"]
    loaded = KneeHead.from_card(load_model_card(REPO_ROOT / "model_weights"))
    assert loaded.version == section["version"] == "2.1.0"
    assert loaded.temperature == section["temperature"] and loaded.threshold == section["threshold"]
    assert loaded.hflip_tta is True and section["hflip_tta"] is True
    assert loaded.region == KneeRegionConfig(**section["region"])
    assert loaded.labels == (raw["labels"]["negative"], raw["labels"]["positive"])
    with np.load(REPO_ROOT / "model_weights" / raw["files"]["knee_head"]["path"]) as npz:
        assert np.array_equal(loaded.weights.w1, npz["w1"]) and np.array_equal(loaded.weights.b3, npz["b3"].reshape(-1))


SECTION = {"version": "9.1", "region": {"input_size": 64, "margin": 0.1, "contrast": "none", "edge_fraction": 0.02},
           "temperature": 2.0, "threshold": 0.4, "hflip_tta": True}


def card_with(tmp_path, section, npz_bytes: bytes | None = None):
    """The shipped card with another knee_model section and a knee head written here (hashed with hashlib)."""
    path = tmp_path / "kh.npz"
    if npz_bytes is None:
        w = linear_weights(b3=0.25)
        np.savez(path, w1=w.w1, b1=w.b1, w2=w.w2, b2=w.b2, w3=w.w3, b3=w.b3)
    else:
        path.write_bytes(npz_bytes)
    shipped = load_model_card(REPO_ROOT / "model_weights")
    raw = {} if section is None else {"knee_model": section}
    files = {"knee_head": {"path": "kh.npz", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    return replace(shipped, directory=tmp_path, files=files, raw=raw)


def test_a_card_section_is_read_field_by_field(tmp_path):
    loaded = KneeHead.from_card(card_with(tmp_path, SECTION))
    assert (loaded.version, loaded.temperature, loaded.threshold, loaded.hflip_tta) == ("9.1", 2.0, 0.4, True)
    assert loaded.region == KneeRegionConfig(input_size=64, margin=0.1, contrast="none", edge_fraction=0.02)
    assert loaded.labels == ("normal", "osteoporosis")
    assert float(loaded.weights.b3[0]) == 0.25 and loaded.weights.w1.shape == (1, 3, 2)
    # Numbers written as text or integers are taken as numbers.
    loose = KneeHead.from_card(card_with(tmp_path, {**SECTION, "version": 3, "temperature": "1.5", "threshold": 1}))
    assert (loose.version, loose.temperature, loose.threshold) == ("3", 1.5, 1.0)
    unflipped = {k: v for k, v in SECTION.items() if k != "hflip_tta"}
    assert KneeHead.from_card(card_with(tmp_path, unflipped)).hflip_tta is False  # not averaged unless the card says


@pytest.mark.parametrize("section", [None, ["version"], "knee"])
def test_a_card_without_a_knee_model_section_is_refused(tmp_path, section):
    with pytest.raises(ModelFormatError, match="^the model card has no knee_model section$"):
        KneeHead.from_card(card_with(tmp_path, section))


@pytest.mark.parametrize("change", [
    {"version": None}, {"region": None}, {"temperature": None}, {"threshold": None},  # a key missing
    {"temperature": "warm"}, {"threshold": [0.5]}, {"region": {"input_size": 8}}, {"region": {"shape": 1}},
])
def test_a_broken_section_is_refused_naming_the_head(tmp_path, change):
    section = {**SECTION, **change}
    section = {k: v for k, v in section.items() if v is not None}
    with pytest.raises(ModelFormatError, match=r"^the knee model in the card or kh\.npz is invalid: "):
        KneeHead.from_card(card_with(tmp_path, section))


@pytest.mark.parametrize("npz_bytes", [b"not an npz", None])
def test_a_broken_head_file_is_refused(tmp_path, npz_bytes):
    if npz_bytes is None:  # a valid npz that lacks b3
        buffer = tmp_path / "partial.npz"
        w = linear_weights()
        np.savez(buffer, w1=w.w1, b1=w.b1, w2=w.w2, b2=w.b2, w3=w.w3)
        npz_bytes = buffer.read_bytes()
    with pytest.raises(ModelFormatError, match=r"^the knee model in the card or kh\.npz is invalid: "):
        KneeHead.from_card(card_with(tmp_path, SECTION, npz_bytes))


def test_a_head_file_that_does_not_match_its_checksum_is_refused(tmp_path):
    card = card_with(tmp_path, SECTION)
    (tmp_path / "kh.npz").write_bytes(b"swapped")
    with pytest.raises(ModelIntegrityError):
        KneeHead.from_card(card)


@pytest.mark.parametrize("temperature, threshold", [
    (0.0, 0.5), (-1.0, 0.5), (float("inf"), 0.5), (float("nan"), 0.5), (1.0, -0.01), (1.0, 1.01), (1.0, float("nan")),
])
def test_an_impossible_temperature_or_threshold_is_refused(tmp_path, temperature, threshold):
    with pytest.raises(ModelFormatError, match="^the knee model's temperature or threshold is invalid$"):
        KneeHead.from_card(card_with(tmp_path, {**SECTION, "temperature": temperature, "threshold": threshold}))


@pytest.mark.parametrize("temperature, threshold", [(1e-6, 0.0), (1e6, 1.0), (0.27, 0.36)])
def test_the_edges_of_the_valid_range_are_accepted(tmp_path, temperature, threshold):
    loaded = KneeHead.from_card(card_with(tmp_path, {**SECTION, "temperature": temperature, "threshold": threshold}))
    assert (loaded.temperature, loaded.threshold) == (temperature, threshold)


# --- canonical orientation (knee model 2.2.0: one pass per knee instead of the knee and its mirror) ------------------


def grey_columns(values, rows: int = 2) -> np.ndarray:
    """A model input whose grey values (channel 0, [-1, 1] mapped to [0, 1]) are ``values`` in every row."""
    grey = np.tile(np.asarray(values, np.float32), (rows, 1))
    return np.repeat((grey * 2.0 - 1.0)[..., None], 3, axis=2)


def test_centroid_offset_worked_by_hand():
    # Columns at -1, 0, 1 half-widths with grey 0, 0.5, 1: (0 * -1 + 0.5 * 0 + 1 * 1) / 1.5 = 2/3; to the 4th power
    # the grey values are 0, 1/16, 1: 1 / (1 + 1/16) = 16/17.
    assert knee_model.centroid_offset(grey_columns([0.0, 0.5, 1.0])) == pytest.approx(2.0 / 3.0, abs=1e-12)
    assert knee_model.centroid_offset(grey_columns([0.0, 0.5, 1.0]), 4) == pytest.approx(16.0 / 17.0, abs=1e-12)
    # Four columns at -1, -1/3, 1/3, 1; grey 1, 0, 0, 0.5: (-1 + 0.5) / 1.5 = -1/3.
    assert knee_model.centroid_offset(grey_columns([1.0, 0.0, 0.0, 0.5])) == pytest.approx(-1.0 / 3.0, abs=1e-12)
    # Symmetric or empty: 0 (no division by zero for an all-black input).
    assert knee_model.centroid_offset(grey_columns([0.3, 0.9, 0.3])) == pytest.approx(0.0, abs=1e-12)
    assert knee_model.centroid_offset(grey_columns([0.0, 0.0, 0.0]), 4) == 0.0
    assert knee_model.ORIENTATION_SCORES["centroid_p4"](grey_columns([0.0, 0.5, 1.0])) == pytest.approx(16.0 / 17.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(knee_model.ORIENTATION_SCORES))
def test_every_orientation_score_changes_sign_under_the_mirror(name):
    rng = np.random.default_rng(5)
    score = knee_model.ORIENTATION_SCORES[name]
    for _ in range(10):
        model_input = (rng.random((32, 32, 3)) * 2 - 1).astype(np.float32)
        assert score(np.ascontiguousarray(model_input[:, ::-1])) == pytest.approx(-score(model_input), abs=1e-12)


def canonical_head(hflip_tta: bool = False) -> KneeHead:
    return replace(head(temperature=0.5, hflip_tta=hflip_tta), orientation="centroid_p4")


def test_a_canonical_head_mirrors_the_regions_whose_bone_lies_left():
    bright_left, bright_right = grey_columns([1.0, 0.2, 0.1]), grey_columns([0.1, 0.2, 1.0])
    assert canonical_head().mirrors(bright_left) is True and canonical_head().mirrors(bright_right) is False
    assert canonical_head().mirrors(grey_columns([0.7, 0.1, 0.7])) is False  # a tie (score 0) is read as it is
    assert head().mirrors(bright_left) is False  # no orientation in the card: nothing is mirrored


def lopsided_film() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Two 'knees': the first with its bright bone in the left part of its box, the second in the right part."""
    pixels = np.full((64, 100), 0.1, np.float32)
    pixels[10:50, 6:22] = 0.9  # box 0 spans columns 6-38: bright in its left half
    pixels[10:50, 22:38] = 0.3
    pixels[10:50, 56:74] = 0.3  # box 1 spans columns 56-90: bright in its right half
    pixels[10:50, 74:90] = 0.9
    return pixels, [(6, 10, 38, 50), (56, 8, 90, 52)]


def test_a_canonical_head_reads_each_knee_once_in_its_canonical_orientation():
    pixels, boxes = lopsided_film()
    interpreter = Interpreter([FILM, KNEE0, KNEE1])
    film_input = np.zeros((32, 32, 3), np.float32)
    analysis = analyse_film(interpreter, canonical_head(), pixels, boxes, film_input=film_input)
    (inputs,) = interpreter.calls
    first_region, second_region = (knee_region(pixels, box, REGION)[0] for box in boxes)
    # The film, the first knee mirrored (its bone lay left), the second as cut: three inputs, no mirror images.
    assert len(inputs) == 3 and np.array_equal(inputs[0], film_input)
    assert np.array_equal(inputs[1], first_region[:, ::-1]) and np.array_equal(inputs[2], second_region)
    first, second = analysis.knees
    assert (first.flipped, second.flipped) == (True, False)
    # One pass each: logits 1.5 and -2 (KNEE0, KNEE1), over T = 0.5.
    assert first.logit == pytest.approx(1.5) and second.logit == pytest.approx(-2.0)
    assert first.probability == pytest.approx(sigmoid(3.0)) and first.mirrored_features is None
    # The geometry is the region's on the film, as cut (the heat map is drawn there).
    assert first.geometry == knee_region(pixels, boxes[0], REGION)[1]


def test_with_mirror_averaging_too_the_mirror_images_are_of_the_canonical_inputs():
    pixels, boxes = lopsided_film()
    interpreter = Interpreter([KNEE0, KNEE1, KNEE0_MIRROR, KNEE1_MIRROR])
    analysis = analyse_film(interpreter, canonical_head(hflip_tta=True), pixels, boxes)
    (inputs,) = interpreter.calls
    first_region, second_region = (knee_region(pixels, box, REGION)[0] for box in boxes)
    assert np.array_equal(inputs[0], first_region[:, ::-1]) and np.array_equal(inputs[1], second_region)
    assert np.array_equal(inputs[2], first_region) and np.array_equal(inputs[3], second_region[:, ::-1])
    assert [k.logit for k in analysis.knees] == pytest.approx([1.0, -1.5])


def test_a_mirrored_film_gives_a_canonical_head_the_same_inputs_and_answers():
    pixels, boxes = lopsided_film()
    width = pixels.shape[1]
    mirrored_boxes = [(width - x1, y0, width - x0, y1) for x0, y0, x1, y1 in boxes]
    plain, mirrored = Interpreter([KNEE0, KNEE1]), Interpreter([KNEE0, KNEE1])
    one = analyse_film(plain, canonical_head(), pixels, boxes)
    other = analyse_film(mirrored, canonical_head(), np.ascontiguousarray(pixels[:, ::-1]), mirrored_boxes)
    assert np.array_equal(plain.calls[0], mirrored.calls[0])  # whole-pixel boxes: exactly the same inputs
    assert [k.probability for k in one.knees] == [k.probability for k in other.knees]
    assert [k.flipped for k in one.knees] == [True, False] and [k.flipped for k in other.knees] == [False, True]


def test_knee_inputs_and_predictions_refuse_what_does_not_match():
    region = np.zeros((32, 32, 3), np.float32)
    with pytest.raises(ValueError):
        knee_model.knee_inputs(head(), [region, region], [True])
    with pytest.raises(ValueError):
        knee_model.knee_predictions(head(hflip_tta=True), [(0, 0, 1, 1)], [GEOMETRY], np.stack([KNEE0]))
    assert knee_model.inputs_per_knee(head()) == 1 and knee_model.inputs_per_knee(head(hflip_tta=True)) == 2


def test_heat_map_of_a_knee_read_mirrored_is_flipped_back_onto_the_film():
    h = head(threshold=0.5)
    flipped = replace(heat_knee(0.9), flipped=True)
    # The map over the mirrored input, [[1, 0], [1/3, 0]], is [[0, 1], [0, 1/3]] over the film.
    assert np.allclose(knee_heat_map(flipped, h), on_film(HEAT_POSITIVE[:, ::-1]), atol=1e-6)
    # With a mirror image averaged in as well, the average (over the canonical input) is flipped back last.
    both = replace(heat_knee(0.9, HEAT_MIRROR), flipped=True)
    assert np.allclose(knee_heat_map(both, h), on_film(np.array([[1.0, 1.0], [0.0, 1.0 / 3.0]])), atol=1e-6)


def test_a_card_names_the_canonical_orientation_and_an_unknown_one_is_refused(tmp_path):
    loaded = KneeHead.from_card(card_with(tmp_path, {**SECTION, "hflip_tta": False, "canonical_orientation": "centroid_p4"}))
    assert loaded.orientation == "centroid_p4" and loaded.hflip_tta is False
    assert KneeHead.from_card(card_with(tmp_path, SECTION)).orientation is None
    with pytest.raises(ModelFormatError, match="canonical orientation"):
        KneeHead.from_card(card_with(tmp_path, {**SECTION, "canonical_orientation": "upside-down"}))
