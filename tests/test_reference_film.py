"""One film through the model, knee by knee (core/pipeline/film.py), and the single-file analysis built on those steps
(core/pipeline/analysis.py: each knee's heat map, its share on bone, the film's map), against a hand-made stand-in
(issue 15).

The stand-in classifier has a gate whose answer the test sets, a detector that returns the knees the test lists,
a linear knee head (logit = pooled activations . (1, 2, -1), as in test_reference_knee.py) and an interpreter that
records its inputs and answers with activation maps written out here. So which inputs go through the interpreter
in which order, which activations each knee reads, its logit, probability, label and side, which knee decides the
file and why a film is declined are all worked out in the test. preprocessing's ``knee_region`` and
``preprocess_with_geometry`` (not under test here) say which regions and film input are meant.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.model.explain import HeadWeights
from osteo_desktop.core.model.knee_detector import DetectedKnee
from osteo_desktop.core.model.knee_model import KneeHead, KneePrediction
from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_region, preprocess_with_geometry
from osteo_desktop.core.model.scope import ScopeDecision, ScopeEvidence
from osteo_desktop.core.pipeline import film
from osteo_desktop.core.pipeline.film import FilmVerdict, FilmWork, judge_film, prepare_film, run_films, settle, verdict_of
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult

from shared_paths import REPO_ROOT

SIZE = 32
A = np.array([1.0, 2.0, -1.0], np.float32)
IN = ScopeDecision(True, None, "knee", 0.875)
HAND = ScopeDecision(False, "not a knee radiograph: looks like a hand", "hand", 0.125)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def linear_head(hflip_tta: bool = False, temperature: float = 0.5, threshold: float = 0.5) -> KneeHead:
    w1 = np.stack([A, -A], axis=1)[None].astype(np.float32)  # logit = relu(s) - relu(-s) = s = pooled . A
    weights = HeadWeights(w1=w1, b1=np.zeros((1, 2), np.float32), w2=np.eye(2, dtype=np.float32)[None],
                          b2=np.zeros((1, 2), np.float32), w3=np.array([[1.0, -1.0]], np.float32),
                          b3=np.zeros(1, np.float32))
    return KneeHead(version="k-hand", weights=weights, region=KneeRegionConfig(input_size=SIZE), temperature=temperature,
                    threshold=threshold, hflip_tta=hflip_tta, labels=("normal", "osteoporosis"))


class Gate:
    def __init__(self, decision: ScopeDecision) -> None:
        self.decision = decision
        self.calls: list[tuple[ScopeEvidence, np.ndarray | None]] = []

    def judge(self, evidence: ScopeEvidence, backbone: np.ndarray | None) -> ScopeDecision:
        self.calls.append((evidence, backbone))
        return evidence.decided if evidence.decided is not None else self.decision


class Detector:
    def __init__(self, knees: list[DetectedKnee]) -> None:
        self.knees = knees
        self.calls: list[tuple[np.ndarray, dict]] = []

    def detect(self, pixels: np.ndarray, orientation=None) -> list[DetectedKnee]:
        self.calls.append((pixels, orientation))
        return list(self.knees)


class Hand:
    """The classifier the film steps use, every part of it set by the test."""

    def __init__(self, knees=(), decision: ScopeDecision = IN, features: list[np.ndarray] | None = None,
                 hflip_tta: bool = False) -> None:
        card = load_model_card(REPO_ROOT / "model_weights")
        self.config = replace(card.preprocessing, input_size=SIZE)
        self.input_size = SIZE
        self.version = "7.7.7"
        self.model_sha256 = "ab" * 32
        self.scope_gate_id = "gate-hand"
        self.scope_gate = Gate(decision)
        self.knee_detector = Detector(list(knees))
        self.knee_head = linear_head(hflip_tta)
        self.features = features or []
        self.calls: list[np.ndarray] = []

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append(inputs)
        assert len(inputs) == len(self.features), (len(inputs), len(self.features))
        return np.arange(len(inputs), dtype=np.float32), np.stack(self.features)


def textured(height: int = 80, width: int = 120) -> np.ndarray:
    rng = np.random.default_rng(11)
    pixels = np.full((height, width), 0.1, np.float32)
    pixels[10:70, 8:52] = 0.35 + 0.5 * rng.random((60, 44))
    pixels[10:70, 68:112] = 0.3 + 0.6 * rng.random((60, 44))
    return pixels


def radiograph(pixels: np.ndarray, dicom=None) -> Radiograph:
    return Radiograph(path=Path("film.png"), pixels=pixels, source_format="png", metadata={}, dicom=dicom)


LEFT_KNEE = DetectedKnee("right", (10, 12, 50, 60), 1.5)  # the viewer's left: the patient's right
RIGHT_KNEE = DetectedKnee("left", (70, 14, 110, 62), 0.5)

# Activation maps (2 x 2 positions x 3 channels). Pooled . A = logit:
FILM = np.full((2, 2, 3), 3.0, np.float32)  # the whole film's: what the gate reads
KNEE_A = np.array([[[2, 0, 0], [0, 1, 0]], [[0, 0, 2], [2, 1, 0]]], np.float32)  # pooled (1, .5, .5): 1.5
KNEE_A_MIRROR = np.array([[[0, 0, 0], [0, 0, 0]], [[2, 0, 0], [0, 0, 0]]], np.float32)  # (.5, 0, 0): 0.5
KNEE_B = np.array([[[0, 0, 4], [0, 0, 4]], [[0, 0, 0], [0, 0, 0]]], np.float32)  # (0, 0, 2): -2
KNEE_B_MIRROR = np.array([[[0, 4, 0], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]]], np.float32)  # (0, 1, 0): 2


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def perf_counter(self) -> float:
        self.now += 0.5
        return self.now


# --- prepare_film ---------------------------------------------------------------------------------------------------


def test_a_blank_film_is_declined_before_the_model_and_the_detector(monkeypatch):
    monkeypatch.setattr(film, "time", Clock())
    model = Hand([LEFT_KNEE])
    work = prepare_film(radiograph(np.full((40, 40), 0.5, np.float32)), model)
    assert work.evidence.decided == ScopeDecision(False, "not a radiograph: the image is blank", "synthetic", None)
    assert work.film_input is None and work.geometry is None and work.detected == [] and work.regions == []
    assert work.region_geometry == [] and model.knee_detector.calls == []
    assert work.timings_ms == {"preprocess": 500.0}  # one tick, from start to the decision
    assert work.inputs(model.knee_head) == []


def test_a_film_in_reach_of_the_model_gets_its_input_its_knees_and_their_regions(monkeypatch):
    monkeypatch.setattr(film, "time", Clock())
    pixels = textured()
    model = Hand([LEFT_KNEE, RIGHT_KNEE])
    header = SimpleNamespace(patient_orientation="L\\F", image_laterality="B", view_position="AP")
    work = prepare_film(radiograph(pixels, header), model)
    assert work.evidence.decided is None
    expected_input, expected_geometry = preprocess_with_geometry(pixels, model.config)
    assert np.array_equal(work.film_input, expected_input) and work.film_input.shape == (SIZE, SIZE, 3)
    assert work.geometry == expected_geometry
    # The detector saw the film's own pixels and the header's geometry as knee_sides reads it.
    ((seen, orientation),) = model.knee_detector.calls
    assert seen is pixels
    assert orientation == {"patient_orientation": "L\\F", "image_laterality": "B", "view_position": "AP"}
    assert work.detected == [LEFT_KNEE, RIGHT_KNEE]
    for region, geometry, knee in zip(work.regions, work.region_geometry, work.detected, strict=True):
        reference, reference_geometry = knee_region(pixels, knee.box, model.knee_head.region)
        assert np.array_equal(region, reference) and geometry == reference_geometry
    # start, detector start, detector end, end: preprocessing is the two outer ticks, the detector the middle one.
    assert work.timings_ms == {"preprocess": 1000.0, "detect": 500.0}


def test_a_raster_film_gives_the_detector_no_header():
    model = Hand([])
    prepare_film(radiograph(textured()), model)
    ((_, orientation),) = model.knee_detector.calls
    assert orientation == {"patient_orientation": None, "image_laterality": None, "view_position": None}


def test_the_interpreter_gets_the_film_then_the_knees_then_their_mirror_images():
    regions = [np.full((SIZE, SIZE, 3), v, np.float32) for v in (0.1, 0.2)]
    regions[0][:, 0] = -1.0  # a left column: its mirror image has it on the right
    work = FilmWork(ScopeEvidence(None), np.zeros((SIZE, SIZE, 3), np.float32), None, [LEFT_KNEE, RIGHT_KNEE], regions)
    plain = work.inputs(linear_head(hflip_tta=False))
    assert len(plain) == 3 and plain[0] is work.film_input and plain[1] is regions[0] and plain[2] is regions[1]
    flipped = work.inputs(linear_head(hflip_tta=True))
    assert len(flipped) == 5
    assert np.all(flipped[3][:, -1] == -1.0) and np.all(flipped[3][:, :-1] == 0.1)
    assert np.all(flipped[4] == 0.2)
    assert flipped[3].flags["C_CONTIGUOUS"]


# --- run_films ------------------------------------------------------------------------------------------------------


def test_one_interpreter_call_for_every_film_and_each_film_gets_its_share(monkeypatch):
    monkeypatch.setattr(film, "time", Clock())
    one = FilmWork(ScopeEvidence(None), np.full((SIZE, SIZE, 3), 1.0, np.float32), regions=[np.full((SIZE, SIZE, 3), 2.0, np.float32)] * 2)
    declined = FilmWork(ScopeEvidence(HAND))
    two = FilmWork(ScopeEvidence(None), np.full((SIZE, SIZE, 3), 3.0, np.float32), regions=[np.full((SIZE, SIZE, 3), 4.0, np.float32)])
    features = [np.full((2, 2, 3), float(i), np.float32) for i in range(5)]
    model = Hand(features=features)
    outputs = run_films(model, [one, declined, two])
    (inputs,) = model.calls
    assert [float(x[0, 0, 0]) for x in inputs] == [1.0, 2.0, 2.0, 3.0, 4.0]
    first, none, last = outputs
    assert none is None
    assert list(first[0]) == [0.0, 1.0, 2.0] and [float(f[0, 0, 0]) for f in first[1]] == [0.0, 1.0, 2.0]
    assert list(last[0]) == [3.0, 4.0] and [float(f[0, 0, 0]) for f in last[1]] == [3.0, 4.0]
    # One tick (500 ms) for five inputs: 100 ms each, three for the first film and two for the second.
    assert one.timings_ms == {"inference": 300.0} and two.timings_ms == {"inference": 200.0}
    assert declined.timings_ms == {}


def test_no_interpreter_call_when_no_film_needs_the_model():
    model = Hand()
    assert run_films(model, [FilmWork(ScopeEvidence(HAND)), FilmWork(ScopeEvidence(HAND))]) == [None, None]
    assert model.calls == []


# --- judge_film -----------------------------------------------------------------------------------------------------


def work_with(knees: list[DetectedKnee]) -> FilmWork:
    geometries = [knee_region(textured(), k.box, KneeRegionConfig(input_size=SIZE))[1] for k in knees]
    return FilmWork(ScopeEvidence(None), np.zeros((SIZE, SIZE, 3), np.float32), None, list(knees),
                    [np.zeros((SIZE, SIZE, 3), np.float32)] * len(knees), geometries)


def test_a_film_decided_without_the_model_keeps_that_decision():
    model = Hand()
    decided = ScopeDecision(False, "not a radiograph: the image is blank", "synthetic", None)
    evidence = ScopeEvidence(decided)
    verdict = judge_film(model, FilmWork(evidence), None)
    assert verdict.decision is decided and not verdict.in_scope and verdict.knees == [] and verdict.sides == []
    assert model.scope_gate.calls == [(evidence, None)]


def test_the_gate_reads_the_whole_films_activations_and_may_decline():
    model = Hand([LEFT_KNEE], decision=HAND)
    work = work_with([LEFT_KNEE])
    verdict = judge_film(model, work, (np.zeros(2), np.stack([FILM, KNEE_A])))
    ((evidence, backbone),) = model.scope_gate.calls
    assert evidence is work.evidence and np.array_equal(backbone, FILM)
    assert verdict.decision == HAND and verdict.knees == [] and verdict.most_suspicious() is None


def test_in_scope_without_a_knee_is_declined_with_its_own_reason_and_the_gates_score():
    verdict = judge_film(Hand(), work_with([]), (np.zeros(1), np.stack([FILM])))
    assert verdict.decision == ScopeDecision(False, "no knee joint found on the film", "no-knee", 0.875)
    assert not verdict.in_scope and verdict.knees == []


def test_each_knee_reads_its_own_activations_and_keeps_its_side():
    model = Hand()
    work = work_with([LEFT_KNEE, RIGHT_KNEE])
    verdict = judge_film(model, work, (np.zeros(3), np.stack([FILM, KNEE_A, KNEE_B])))
    assert verdict.decision is IN and verdict.in_scope
    assert verdict.sides == ["right", "left"]
    a, b = verdict.knees
    # logits 1.5 and -2 over T = 0.5
    assert (a.logit, b.logit) == (pytest.approx(1.5), pytest.approx(-2.0))
    assert a.probability == pytest.approx(sigmoid(3.0)) and b.probability == pytest.approx(sigmoid(-4.0))
    assert (a.label, b.label) == ("osteoporosis", "normal")
    assert a.confidence == pytest.approx(sigmoid(3.0)) and b.confidence == pytest.approx(1 - sigmoid(-4.0))
    assert a.box == (10.0, 12.0, 50.0, 60.0) and b.box == (70.0, 14.0, 110.0, 62.0)
    assert a.geometry == work.region_geometry[0] and b.geometry == work.region_geometry[1]
    assert np.array_equal(a.features, KNEE_A) and a.mirrored_features is None
    assert verdict.most_suspicious() == 0
    assert verdict.knee_results() == [
        KneeResult("right", (10, 12, 50, 60), "osteoporosis", a.probability, a.confidence),
        KneeResult("left", (70, 14, 110, 62), "normal", b.probability, b.confidence)]


def test_with_mirror_images_each_knee_averages_with_its_own_mirror():
    model = Hand(hflip_tta=True)
    work = work_with([LEFT_KNEE, RIGHT_KNEE])
    verdict = judge_film(model, work, (np.zeros(5), np.stack([FILM, KNEE_A, KNEE_B, KNEE_A_MIRROR, KNEE_B_MIRROR])))
    a, b = verdict.knees
    # (1.5 + 0.5) / 2 = 1 and (-2 + 2) / 2 = 0 (exactly 0.5: at the threshold, positive).
    assert a.logit == pytest.approx(1.0) and b.logit == 0.0
    assert a.probability == pytest.approx(sigmoid(2.0)) and b.probability == 0.5
    assert (a.label, b.label) == ("osteoporosis", "osteoporosis") and b.confidence == 0.5
    assert np.array_equal(a.mirrored_features, KNEE_A_MIRROR) and np.array_equal(b.mirrored_features, KNEE_B_MIRROR)
    assert verdict.most_suspicious() == 0


# --- the file's answer ---------------------------------------------------------------------------------------------


def knee(probability: float, box=(0, 0, 10, 10)) -> KneePrediction:
    label = "osteoporosis" if probability >= 0.5 else "normal"
    return KneePrediction(box, label, probability, max(probability, 1 - probability), probability * 2 - 1, None,
                          np.zeros((1, 1, 3)))


def test_the_most_suspicious_knee_is_the_first_of_the_highest():
    verdict = FilmVerdict(IN, [knee(0.3), knee(0.7), knee(0.7), knee(0.1)], ["right", "left", "unknown", "unknown"])
    assert verdict.most_suspicious() == 1
    assert FilmVerdict(IN, [knee(0.9), knee(0.2)], ["right", "left"]).most_suspicious() == 0
    assert FilmVerdict(IN, [knee(0.2), knee(0.9)], ["right", "left"]).most_suspicious() == 1
    assert FilmVerdict(IN).most_suspicious() is None


def test_knee_boxes_are_rounded_to_whole_pixels():
    verdict = FilmVerdict(IN, [knee(0.6, (10.4, 20.6, 30.49, 41.51))], ["unknown"])
    (result,) = verdict.knee_results()
    assert result.box == (10, 21, 30, 42) and all(type(v) is int for v in result.box)
    assert (result.side, result.label, result.probability, result.confidence) == ("unknown", "osteoporosis", 0.6, 0.6)


def test_the_files_verdict_is_its_knees_with_the_knee_models_threshold_and_the_exact_model():
    model = Hand()
    worst = knee(0.8)
    prediction = verdict_of(model, worst)
    assert (prediction.label, prediction.probability, prediction.confidence, prediction.logit) == (
        "osteoporosis", 0.8, 0.8, pytest.approx(0.6))
    assert prediction.threshold == 0.5 and prediction.model_version == "7.7.7" and prediction.model_sha256 == "ab" * 32


def test_settle_takes_the_most_suspicious_knee_or_the_gates_reason():
    model = Hand()
    row = FileResult(path="f.png", model_version="7.7.7")
    settle(row, model, FilmVerdict(IN, [knee(0.2, (0, 0, 5, 5)), knee(0.9, (5, 0, 9, 5)), knee(0.9)], ["right", "left", "unknown"]))
    assert (row.label, row.probability, row.confidence, row.threshold) == ("osteoporosis", 0.9, 0.9, 0.5)
    assert row.knees[1].box == (5, 0, 9, 5) and [k.side for k in row.knees] == ["right", "left", "unknown"]
    assert row.scope_gate == "gate-hand" and row.out_of_scope is None and row.model_sha256 == "ab" * 32
    declined = FileResult(path="h.png", model_version="7.7.7")
    settle(declined, model, FilmVerdict(HAND, [knee(0.9)], ["right"]))  # the gate's no wins over any knee
    assert declined.out_of_scope == HAND.reason and declined.label is None and declined.knees == []
    assert declined.scope_gate is None
    no_knee = FileResult(path="n.png", model_version="7.7.7")
    settle(no_knee, model, judge_film(model, work_with([]), (np.zeros(1), np.stack([FILM]))))
    assert no_knee.out_of_scope == "no knee joint found on the film" and no_knee.scope_gate is None


# --- the single-file analysis on these steps (core/pipeline/analysis.py) --------------------------------------------
# Heat maps of the linear head: Grad-CAM is ReLU(F . A) over its peak (A's sign for a positive knee), so each map
# below is read off the activations' per-position F . A.


def heat_features(dots: list[list[float]]) -> np.ndarray:
    """Activations (2, 2, 3) whose per-position F . A are ``dots`` (channel 0 carries it: A[0] = 1)."""
    features = np.zeros((2, 2, 3), np.float32)
    features[..., 0] = dots
    return features


def region_knee(box, features, probability=0.9, geometry=None) -> KneePrediction:
    from osteo_desktop.core.model.preprocessing import KneeGeometry

    x0, y0, x1, y1 = box
    geometry = geometry or KneeGeometry((6, 6), (x0, y0, x1, y1), 2, 0.0)
    return KneePrediction(tuple(map(float, box)), "osteoporosis", probability, probability, 1.0, geometry, features)


def test_region_view_is_the_map_under_the_region_zero_beyond_the_film():
    from osteo_desktop.core.model.preprocessing import KneeGeometry
    from osteo_desktop.core.pipeline.analysis import _region_view

    values = (np.arange(24, dtype=np.float32) / 24).reshape(4, 6)
    # A 4-pixel region from (3, 1), running one pixel past the right and the bottom edge; input as large: no resizing.
    view = _region_view(values, KneeGeometry((4, 6), (3, 1, 7, 5), 4, 0.0))
    expected = np.zeros((4, 4), np.float32)
    expected[0:3, 0:3] = values[1:4, 3:6]
    assert view.dtype == np.float32 and np.array_equal(view, expected)
    # Past the top-left corner.
    view = _region_view(values, KneeGeometry((4, 6), (-1, -1, 3, 3), 4, 0.0))
    expected = np.zeros((4, 4), np.float32)
    expected[1:4, 1:4] = values[0:3, 0:3]
    assert np.array_equal(view, expected)
    # Wholly beside the film (rows in range, columns not): nothing of the map.
    assert np.array_equal(_region_view(values, KneeGeometry((4, 6), (8, 0, 16, 8), 8, 0.0)), np.zeros((8, 8)))


def test_region_view_upsamples_bilinearly():
    from osteo_desktop.core.model.preprocessing import KneeGeometry
    from osteo_desktop.core.pipeline.analysis import _region_view

    values = np.array([[0.0, 1.0], [1.0, 0.5]], np.float32)
    # 2 -> 4 pixels, pixel centres aligned: each output is (1 - t) a + t b at t = -0.25, 0.25, 0.75, 1.25 (clamped).
    weights = np.array([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    view = _region_view(values, KneeGeometry((2, 2), (0, 0, 2, 2), 4, 0.0))
    assert np.allclose(view, weights @ values @ weights.T, atol=1e-6)


def bone_film(x0: int, y0: int) -> np.ndarray:
    """A dark 6 x 6 film with a 2 x 2 knee at (x0, y0) whose own Otsu split puts 0.6 and 0.65 on bone."""
    pixels = np.zeros((6, 6), np.float32)
    pixels[y0 : y0 + 2, x0 : x0 + 2] = [[0.6, 0.5], [0.55, 0.65]]
    return pixels


def test_explain_maps_the_knee_and_weighs_it_on_the_bone_of_its_own_region():
    from osteo_desktop.core.pipeline.analysis import AnalysedKnee, _explain

    model = Hand()
    # F . A = [[3, -1], [1, 0]]: the map [[1, 0], [1/3, 0]]. Bone in the knee's region: (0, 0) and (1, 1), so the
    # share on bone is 1 / (1 + 1/3) = 0.75. (Counted over the dark film around it, all four pixels would be bone.)
    knee = AnalysedKnee("right", region_knee((2, 2, 4, 4), heat_features([[3, -1], [1, 0]])), np.zeros((2, 2, 3)))
    heat = _explain(knee, model, bone_film(2, 2), None)
    expected = np.zeros((6, 6))
    expected[2:4, 2:4] = [[1.0, 0.0], [1.0 / 3.0, 0.0]]
    assert np.allclose(heat, expected, atol=1e-6)
    assert np.allclose(knee.explanation, [[1.0, 0.0], [1.0 / 3.0, 0.0]], atol=1e-6)
    assert knee.share_on_bone == pytest.approx(0.75)
    # In the film's corner: the first row and column count too.
    corner = AnalysedKnee("left", region_knee((0, 0, 2, 2), heat_features([[3, -1], [1, 0]])), np.zeros((2, 2, 3)))
    _explain(corner, model, bone_film(0, 0), None)
    assert corner.share_on_bone == pytest.approx(0.75)
    # Several knees: the film's map is the larger of the maps so far and this knee's.
    combined = np.full((6, 6), 0.5, np.float32)
    again = AnalysedKnee("right", region_knee((2, 2, 4, 4), heat_features([[3, -1], [1, 0]])), np.zeros((2, 2, 3)))
    assert np.allclose(_explain(again, model, bone_film(2, 2), combined), np.maximum(expected, 0.5), atol=1e-6)


TWO_KNEE_FILM = np.full((8, 8), 0.3, np.float32)
TWO_KNEE_FILM[1:7, 0] = np.linspace(0.2, 0.5, 6)  # some structure: not blank
TWO_KNEE_FILM[2:4, 2:4] = [[0.9, 0.1], [0.2, 0.3]]  # knee A: Otsu puts only the 0.9 on bone
TWO_KNEE_FILM[4:6, 5:7] = [[0.1, 0.2], [0.8, 0.9]]  # knee B: bone is its lower row
KNEE_AT_A = DetectedKnee("right", (2, 2, 4, 4), 1.0)
KNEE_AT_B = DetectedKnee("left", (5, 4, 7, 6), 1.0)


def test_analysis_of_a_two_knee_film_by_hand():
    from osteo_desktop.core.pipeline.analysis import analyse_radiograph

    # Knee A: F . A = [[2, 2], [-1, -1]], logit 0.5 -> sigmoid(1); map [[1, 1], [0, 0]], exactly half on bone: no
    # warning (the warning is for less than half). Knee B: F . A = [[0, 3], [0, 0]], logit 0.75 -> sigmoid(1.5), the
    # most suspicious; map [[0, 1], [0, 0]], none of it on bone: warned.
    features = [FILM, heat_features([[2, 2], [-1, -1]]), heat_features([[0, 3], [0, 0]])]
    model = Hand([KNEE_AT_A, KNEE_AT_B], features=features)
    analysis = analyse_radiograph(radiograph(TWO_KNEE_FILM.copy()), model)
    assert analysis.prediction.probability == pytest.approx(sigmoid(1.5)) and analysis.prediction.logit == pytest.approx(0.75)
    assert [k.side for k in analysis.knees] == ["right", "left"] and [k.box for k in analysis.knees] == [(2, 2, 4, 4), (5, 4, 7, 6)]
    a, b = analysis.knees
    for knee, detected in zip(analysis.knees, (KNEE_AT_A, KNEE_AT_B)):
        assert np.array_equal(knee.model_input, knee_region(TWO_KNEE_FILM, detected.box, model.knee_head.region)[0])
    assert a.share_on_bone == 0.5 and b.share_on_bone == 0.0
    assert analysis.warnings == ["Left knee: most of the heat map (100 %) lies outside bone; the result may rest on "
                                 "soft tissue, background or markers rather than on the bone"]
    assert analysis.prediction.warnings is analysis.warnings
    expected = np.zeros((8, 8))
    expected[2, 2:4] = 1.0  # knee A's map
    expected[4, 6] = 1.0  # knee B's map
    assert np.allclose(analysis.explanation, expected, atol=1e-6)
    # Each knee's map over its own input (32 pixels): A's upper half bright, fading across the middle.
    assert a.explanation.shape == (32, 32) and a.explanation[:8].min() == 1.0 and a.explanation[24:].max() == 0.0
    assert analysis.result.model_sha256 == "ab" * 32 and analysis.model_sha256 == "ab" * 32


def test_a_declined_analysis_names_the_exact_model():
    from osteo_desktop.core.pipeline.analysis import analyse_radiograph

    model = Hand([KNEE_AT_A], decision=HAND, features=[FILM, heat_features([[1, 1], [1, 1]])])
    analysis = analyse_radiograph(radiograph(TWO_KNEE_FILM.copy()), model)
    assert analysis.declined and analysis.knees == [] and analysis.explanation is None
    assert analysis.model_sha256 == "ab" * 32 and analysis.model_version == "7.7.7"
    row = analysis.result
    assert (row.out_of_scope, row.model_sha256, row.model_version) == (HAND.reason, "ab" * 32, "7.7.7")


def test_a_knees_activations_are_pooled_in_float32():
    # The interpreter's activations are float32 and the knee head was fitted on their float32 mean; handed float64
    # activations, the knee is pooled the same way. Worked by hand (IEEE round-half-to-even), u = 2**-23:
    # 1 + 0.4u and 1 + 1.4u round to 1 and 1 + u in float32; their float32 sum 2 + u lies halfway between 2 and
    # 2 + 2u and rounds to 2, so the mean is exactly 1 (a float64 mean, 1 + 0.9u, would round to 1 + u instead).
    u = 2.0**-23
    features = np.zeros((1, 2, 3))
    features[0, :, 0] = [1 + 0.4 * u, 1 + 1.4 * u]
    assert features.dtype == np.float64
    model = Hand(hflip_tta=True)
    work = work_with([LEFT_KNEE])
    verdict = judge_film(model, work, (np.zeros(3), np.stack([np.zeros((1, 2, 3)), features, features])))
    assert verdict.knees[0].logit == 1.0  # the knee's and its mirror's pooled channel 0 both exactly 1


# --- canonical orientation (knee model 2.2.0) ------------------------------------------------------------------------


def lopsided() -> np.ndarray:
    """The textured film with the first knee's bone bright in the left part of its box and the second's in the right."""
    pixels = textured()
    pixels[10:70, 10:28] = 0.95  # LEFT_KNEE's box spans columns 10-50
    pixels[10:70, 92:110] = 0.95  # RIGHT_KNEE's box spans columns 70-110
    return pixels


def test_prepare_film_says_which_regions_are_read_mirrored_and_keeps_them_as_cut():
    pixels = lopsided()
    model = Hand([LEFT_KNEE, RIGHT_KNEE])
    model.knee_head = replace(model.knee_head, orientation="centroid_p4")
    work = prepare_film(radiograph(pixels), model)
    assert work.flipped == [True, False]
    for region, knee in zip(work.regions, work.detected, strict=True):
        assert np.array_equal(region, knee_region(pixels, knee.box, model.knee_head.region)[0])  # as cut, not mirrored
    inputs = work.inputs(model.knee_head)
    assert len(inputs) == 3 and inputs[0] is work.film_input
    assert np.array_equal(inputs[1], work.regions[0][:, ::-1]) and inputs[2] is work.regions[1]
    # Without an orientation in the card nothing is mirrored.
    assert prepare_film(radiograph(pixels), Hand([LEFT_KNEE, RIGHT_KNEE])).flipped == [False, False]


def test_a_canonical_film_goes_through_in_one_pass_per_knee_and_its_knees_say_which_was_mirrored():
    pixels = lopsided()
    model = Hand([LEFT_KNEE, RIGHT_KNEE], features=[FILM, KNEE_A, KNEE_B])
    model.knee_head = replace(model.knee_head, orientation="centroid_p4")
    work = prepare_film(radiograph(pixels), model)
    (outputs,) = run_films(model, [work])
    verdict = judge_film(model, work, outputs)
    (inputs,) = model.calls
    assert len(inputs) == 3 == film.most_inputs_per_film(model.knee_head)  # the film and its two knees, once each
    a, b = verdict.knees
    assert (a.flipped, b.flipped) == (True, False)
    assert (a.logit, b.logit) == (pytest.approx(1.5), pytest.approx(-2.0)) and a.mirrored_features is None
    assert a.geometry == work.region_geometry[0]


def test_inputs_per_film_count_the_mirror_images_only_when_averaged():
    assert film.most_inputs_per_film(linear_head(hflip_tta=False)) == 3
    assert film.most_inputs_per_film(linear_head(hflip_tta=True)) == 5
