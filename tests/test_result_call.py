"""FileResult.call, the call in one word (JSON and CSV last key): set whenever a verdict is taken (from_prediction,
reuse of a recorded result), cleared by decline, and None whenever label, probability or threshold is missing.
Every expected word is worked out by hand from the numbers given (the borderline margin is 0.05)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from osteo_desktop.core.results.result import FileResult


def _verdict(label: str, probability: float, threshold: float) -> SimpleNamespace:
    return SimpleNamespace(label=label, probability=probability, confidence=0.5, threshold=threshold,
                           model_version="2.1.0", model_sha256="ab" * 32, warnings=[], timings_ms={})


@pytest.mark.parametrize("label, probability, threshold, call", [
    ("osteoporosis", 0.44, 0.36, "osteoporosis"),  # 0.08 above: outside the margin, the label itself
    ("normal", 0.10, 0.36, "normal"),  # 0.26 below
    ("osteoporosis", 0.38, 0.36, "borderline-above"),  # 0.02 above
    ("normal", 0.33, 0.36, "borderline-below"),  # 0.03 below
    ("osteoporosis", 0.36, 0.36, "borderline-at"),
])
def test_a_verdict_sets_the_call(label, probability, threshold, call):
    row = FileResult.from_prediction("knee.png", _verdict(label, probability, threshold))
    assert row.call == call
    assert row.to_dict()["call"] == call


def test_decline_clears_the_call():
    row = FileResult.from_prediction("knee.png", _verdict("osteoporosis", 0.44, 0.36))
    assert row.call == "osteoporosis"
    row.decline("not a knee radiograph")
    assert row.call is None and row.to_dict()["call"] is None


@pytest.mark.parametrize("probability, call", [(0.32, "borderline-below"), (0.70, "osteoporosis")])
def test_a_reused_result_gains_its_call(probability, call):
    """The call is not stored: a result built from stored fields derives it when built, and the row reusing it
    takes the same call."""
    label = "osteoporosis" if probability >= 0.36 else "normal"
    recorded = FileResult(path="old/knee.png", label=label, probability=probability, confidence=0.5, threshold=0.36,
                          model_version="2.1.0")
    assert recorded.call == call
    row = FileResult(path="new/knee.png")
    row.reuse(recorded)
    assert row.call == call and row.path == "new/knee.png"


@pytest.mark.parametrize("label, probability, threshold", [
    ("normal", 0.10, None),  # a label without a threshold: no call, not the bare label
    ("normal", None, 0.36),  # a label without a probability
    (None, 0.34, 0.36),  # numbers 0.02 below the threshold without a label: not "borderline-below"
    (None, None, None),
])
def test_no_call_without_label_probability_and_threshold(label, probability, threshold):
    recorded = FileResult(path="old/knee.png", label=label, probability=probability, threshold=threshold)
    row = FileResult(path="new/knee.png", call="stale")
    row.reuse(recorded)
    assert row.call is None
