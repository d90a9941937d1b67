"""One film through the model, knee by knee (issue 11): the steps the single-file analysis and the folder scan share.

1. :func:`prepare_film` (in the reader's thread): what the scope gate sees without the model (the header, a blank
   image); unless that already declines the film, the whole-film model input (the gate reads the backbone's pass
   on it), the knees the detector finds with their sides, and each knee's region cut from the film at its own
   resolution (the knee model's input, :func:`~osteo_desktop.core.model.preprocessing.knee_region`) and whether it
   is read mirrored (:meth:`~osteo_desktop.core.model.knee_model.KneeHead.mirrors`). Only these
   small inputs are kept, never the full-size pixels, so a scan's memory stays flat.
2. :func:`run_films`: the inputs of one film (the film, then its knees, each in its canonical orientation when the
   knee model has one, then their mirror images when it averages them) or of a batch of films, through the
   interpreter in one call.
3. :func:`judge_film`: the gate's verdict from the whole-film pass; a film in scope on which no knee was found gets
   no result either ("no knee joint found on the film"); otherwise each knee gets the knee head's probability
   (:func:`~osteo_desktop.core.model.knee_model.knee_predictions`, which analyse_film uses too).
4. :func:`settle`: the row takes the verdict: no result with the reason, or every knee and, as the file's label,
   probability and confidence, those of its most suspicious knee.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from osteo_desktop.core.model.knee_detector import MAX_KNEES, DetectedKnee
from osteo_desktop.core.model.knee_model import KneeHead, KneePrediction, inputs_per_knee, knee_inputs, knee_predictions
from osteo_desktop.core.model.knee_sides import contradicting_laterality, orientation_from_identity
from osteo_desktop.core.model.preprocessing import InputGeometry, KneeGeometry, knee_region, preprocess_with_geometry
from osteo_desktop.core.model.runtime import Prediction
from osteo_desktop.core.model.scope import ScopeDecision, ScopeEvidence, look
from osteo_desktop.core.reading.radiograph import Radiograph, about_appearance_only
from osteo_desktop.core.results import text
from osteo_desktop.core.results.knee import KneeResult
from osteo_desktop.core.results.result import FileResult

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier

NO_KNEE_REASON = "no knee joint found on the film"


@dataclass
class FilmWork:
    """A film ready for the interpreter. ``film_input`` is None when the gate declined it without the model."""

    evidence: ScopeEvidence
    film_input: np.ndarray | None = None  # (S, S, 3): the whole film, for the scope gate
    geometry: InputGeometry | None = None
    detected: list[DetectedKnee] = field(default_factory=list)  # ordered from the viewer's left to right
    regions: list[np.ndarray] = field(default_factory=list)  # each knee's model input (S, S, 3), "what the model saw"
    region_geometry: list[KneeGeometry] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Per region: whether it goes through the model mirrored (its canonical orientation); empty: none is. The regions
    # above stay as cut from the film, so what is shown as the model's input matches the film.
    flipped: list[bool] = field(default_factory=list)

    def inputs(self, head: KneeHead) -> list[np.ndarray]:
        """What goes through the interpreter, in this order: the film, then its knees as
        :func:`~osteo_desktop.core.model.knee_model.knee_inputs` gives them."""
        if self.film_input is None:
            return []
        return [self.film_input, *knee_inputs(head, self.regions, self.flipped)]


def most_inputs_per_film(head: KneeHead) -> int:
    """The most inputs :meth:`FilmWork.inputs` gives for one film: the film and each knee's."""
    return 1 + MAX_KNEES * inputs_per_knee(head)


@dataclass
class FilmVerdict:
    """The gate's decision and, when in scope, every knee (same order as the detector's) with its side and where
    the side came from (``side_sources``; empty: not known, every knee's source None)."""

    decision: ScopeDecision
    knees: list[KneePrediction] = field(default_factory=list)
    sides: list[str] = field(default_factory=list)
    side_sources: list[str | None] = field(default_factory=list)

    @property
    def in_scope(self) -> bool:
        return self.decision.in_scope

    def most_suspicious(self) -> int | None:
        """Index of the knee with the highest probability (the first of equals), None without knees."""
        if not self.knees:
            return None
        return max(range(len(self.knees)), key=lambda i: (self.knees[i].probability, -i))

    def knee_results(self) -> list[KneeResult]:
        sources = self.side_sources or [None] * len(self.knees)
        return [KneeResult(side, tuple(int(round(v)) for v in knee.box), knee.label, knee.probability,  # type: ignore[arg-type]
                           knee.confidence, source) for side, knee, source in zip(self.sides, self.knees, sources)]


def prepare_film(radiograph: Radiograph, classifier: "Classifier") -> FilmWork:
    """Everything before the interpreter (see the module docstring): the gate's look, the film input, the knees."""
    start = time.perf_counter()
    evidence = look(radiograph.pixels, radiograph.metadata)
    if evidence.decided is not None:  # the header (or a blank image) already declines it: the model need not run
        return FilmWork(evidence, timings_ms={"preprocess": (time.perf_counter() - start) * 1000.0})
    film_input, geometry = preprocess_with_geometry(radiograph.pixels, classifier.config)
    detect_start = time.perf_counter()
    detected = classifier.knee_detector.detect(radiograph.pixels, orientation_from_identity(radiograph.dicom))
    detect_end = time.perf_counter()
    head = classifier.knee_head
    regions = [knee_region(radiograph.pixels, knee.box, head.region) for knee in detected]
    flipped = [head.mirrors(region) for region, _ in regions]
    end = time.perf_counter()
    timings = {"preprocess": (detect_start - start + end - detect_end) * 1000.0, "detect": (detect_end - detect_start) * 1000.0}
    return FilmWork(evidence, film_input, geometry, list(detected), [r for r, _ in regions], [g for _, g in regions], timings, flipped)


def film_warnings(radiograph: Radiograph, work: FilmWork) -> list[str]:
    """Warnings that need the knees found: the header naming one knee on a film that shows two."""
    laterality = contradicting_laterality(orientation_from_identity(radiograph.dicom), len(work.detected))
    return [text.laterality_conflict_warning(laterality, len(work.detected))] if laterality else []


def run_films(classifier: "Classifier", works: list[FilmWork]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each film's (logits, features) from one interpreter call over all their inputs; None for a film that needs
    no model. ``timings_ms['inference']`` of each film gets its share of the call (by number of inputs)."""
    head = classifier.knee_head
    batches = [work.inputs(head) for work in works]
    total = sum(len(batch) for batch in batches)
    if total == 0:
        return [None] * len(works)
    start = time.perf_counter()
    logits, features = classifier.run(np.stack([item for batch in batches for item in batch]))
    per_input = (time.perf_counter() - start) * 1000.0 / total
    outputs: list[tuple[np.ndarray, np.ndarray] | None] = []
    offset = 0
    for work, batch in zip(works, batches):
        if not batch:
            outputs.append(None)
            continue
        outputs.append((logits[offset : offset + len(batch)], features[offset : offset + len(batch)]))
        work.timings_ms["inference"] = per_input * len(batch)
        offset += len(batch)
    return outputs


def judge_film(classifier: "Classifier", work: FilmWork, outputs: tuple[np.ndarray, np.ndarray] | None) -> FilmVerdict:
    """The gate's decision, then the knees (see the module docstring). ``outputs`` is the film's from :func:`run_films`."""
    if outputs is None:
        return FilmVerdict(classifier.scope_gate.judge(work.evidence, None))
    _, features = outputs
    decision = classifier.scope_gate.judge(work.evidence, features[0])
    if not decision.in_scope:
        return FilmVerdict(decision)
    if not work.detected:
        return FilmVerdict(ScopeDecision(False, NO_KNEE_REASON, "no-knee", decision.score))
    knees = knee_predictions(classifier.knee_head, [knee.box for knee in work.detected], work.region_geometry, features[1:], work.flipped)
    return FilmVerdict(decision, knees, [knee.side for knee in work.detected], [knee.side_source for knee in work.detected])


def verdict_of(classifier: "Classifier", knee: KneePrediction) -> Prediction:
    """A file's verdict from one knee's (its most suspicious), in the shape of the model's :class:`Prediction`."""
    return Prediction(label=knee.label, probability=knee.probability, confidence=knee.confidence,
                      threshold=classifier.knee_head.threshold, model_version=classifier.version, logit=knee.logit,
                      model_sha256=classifier.model_sha256)


def declined_warnings(warnings: list[str]) -> list[str]:
    """The warnings a file that gets no result keeps: not those about its appearance only (a colour photograph's
    "converted to greyscale" says nothing the reason for no result does not), the others, which may explain it
    (see :func:`~osteo_desktop.core.reading.radiograph.about_appearance_only`)."""
    return [warning for warning in warnings if not about_appearance_only(warning)]


def settle(row: FileResult, classifier: "Classifier", verdict: FilmVerdict) -> None:
    """Give ``row`` the film's verdict: no result with the reason, or its knees and its most suspicious knee's result."""
    worst = verdict.most_suspicious()
    if not verdict.in_scope or worst is None:
        row.decline(verdict.decision.reason or "not a knee radiograph")
        row.warnings = declined_warnings(row.warnings)
        return
    row.apply_knees(verdict.knee_results(), verdict_of(classifier, verdict.knees[worst]))
    row.scope_gate = classifier.scope_gate_id
