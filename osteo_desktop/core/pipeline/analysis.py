"""One file, end to end: read, judge the scope, find the knees, analyse each knee, explain. The path the GUI, the
command line and tests share; a folder scan (:mod:`~osteo_desktop.core.pipeline.scanning`) takes the same steps
(:mod:`~osteo_desktop.core.pipeline.film`) in batches.

A file the scope gate declines (not a frontal knee radiograph), or on which no knee is found, gets no prediction and
no explanation: the model's outputs on it may have been computed (the gate reads the same pass) but are never
handed out.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from osteo_desktop.core.model.explain import share_on_bone
from osteo_desktop.core.model.knee_model import KneePrediction, knee_heat_map
from osteo_desktop.core.model.preprocessing import InputGeometry, KneeGeometry
from osteo_desktop.core.model.runtime import Classifier, Prediction
from osteo_desktop.core.model.scope import ScopeDecision
from osteo_desktop.core.pipeline.film import FilmVerdict, declined_warnings, film_warnings, judge_film, prepare_film, run_films, settle, verdict_of
from osteo_desktop.core.reading.radiograph import Radiograph
from osteo_desktop.core.reading.reader import read_file_bytes, read_radiograph
from osteo_desktop.core.results import text
from osteo_desktop.core.results.result import FileResult

# A knee's heat map whose weight lies mostly off bone (below this share on bone) gets a warning: the model looked at
# soft tissue, background or a marker rather than at the bone it is meant to grade.
MIN_SHARE_ON_BONE = 0.5


@dataclass
class AnalysedKnee:
    """One knee as shown: its side, box (file pixels), the model's verdict, the exact input the model saw, and,
    when explained, the heat map over that input and the share of its weight on bone."""

    side: str
    prediction: KneePrediction
    model_input: np.ndarray  # (S, S, 3) in [-1, 1]: the knee's region as the model was given it
    explanation: np.ndarray | None = None  # on the model input grid (S, S), in [0, 1]
    share_on_bone: float | None = None
    side_source: str | None = None  # where the side came from (knee_sides.SIDE_SOURCES); None when unknown

    @property
    def box(self) -> tuple[int, int, int, int]:
        return tuple(int(round(v)) for v in self.prediction.box)  # type: ignore[return-value]

    @property
    def geometry(self) -> KneeGeometry:
        return self.prediction.geometry


@dataclass
class Analysis:
    """Everything shown for one image: the knees (each with what the model saw and where it looked), the file's
    verdict (``prediction``: its most suspicious knee's) and the gate's decision.

    ``prediction`` is None and ``knees`` empty when the file got no result (``scope.in_scope`` False: declined by
    the gate, or no knee found). ``model_input`` is the whole film as the scope gate's pass saw it (None when the
    header alone declined the file). ``warnings`` and ``timings_ms`` are the file's either way, except that a file
    with no result keeps only the warnings that may explain why (:func:`~osteo_desktop.core.pipeline.film.declined_warnings`).
    """

    radiograph: Radiograph
    model_input: np.ndarray | None
    geometry: InputGeometry | None
    prediction: Prediction | None
    knees: list[AnalysedKnee] = field(default_factory=list)
    scope: ScopeDecision | None = None
    model_version: str = ""
    model_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    scope_gate: str | None = None  # the gate that let the result through (None when declined)
    explanation: np.ndarray | None = field(default=None, repr=False)  # every knee's heat map over the original
    file_sha256: str | None = None  # of the bytes analysed (set when the file was read here, by analyse_file)

    @property
    def declined(self) -> bool:
        return self.prediction is None

    @property
    def out_of_scope(self) -> str | None:
        """Why the file got no result, else None."""
        return None if self.scope is None or self.scope.in_scope else self.scope.reason

    @property
    def result(self) -> FileResult:
        """The analysis as a result record: what the history stores and the words in :mod:`~osteo_desktop.core.results.text` describe."""
        row = FileResult(path=str(self.radiograph.path), model_version=self.model_version or None,
                         model_sha256=self.model_sha256, file_sha256=self.file_sha256,
                         warnings=list(self.warnings), timings_ms=dict(self.timings_ms))
        if self.prediction is None:
            row.decline(self.out_of_scope or "not a knee radiograph")
        else:
            row.apply_knees(FilmVerdict(self.scope, [k.prediction for k in self.knees],  # type: ignore[arg-type]
                                        [k.side for k in self.knees],
                                        [k.side_source for k in self.knees]).knee_results(), self.prediction)
            row.scope_gate = self.scope_gate
        return row

    def explanation_on_original(self) -> np.ndarray | None:
        """Each knee's heat map drawn in place over the original (0 outside the knees' regions), or None."""
        return self.explanation


def _region_view(values: np.ndarray, geometry: KneeGeometry) -> np.ndarray:
    """A map over the original, seen through a knee's region (0 beyond the film's edges), at the model input's size."""
    height, width = values.shape
    x0, y0, x1, y1 = geometry.region
    side = x1 - x0
    crop = np.zeros((side, side), np.float32)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 > cx0 and cy1 > cy0:
        crop[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = values[cy0:cy1, cx0:cx1]
    size = geometry.input_size
    image = Image.fromarray(crop, mode="F").resize((size, size), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)


def _explain(knee: AnalysedKnee, classifier: Classifier, pixels: np.ndarray, combined: np.ndarray | None) -> np.ndarray:
    """The knee's heat map over the original; sets the knee's map over its input and its share on bone."""
    heat = knee_heat_map(knee.prediction, classifier.knee_head)
    knee.explanation = _region_view(heat, knee.geometry)
    height, width = pixels.shape
    x0, y0, x1, y1 = knee.geometry.region
    inside = (slice(max(0, y0), min(height, y1)), slice(max(0, x0), min(width, x1)))
    knee.share_on_bone = share_on_bone(heat[inside], pixels[inside])
    return heat if combined is None else np.maximum(combined, heat, out=combined)


def analyse_radiograph(radiograph: Radiograph, classifier: Classifier, explain: bool = True, read_ms: float = 0.0) -> Analysis:
    work = prepare_film(radiograph, classifier)
    (outputs,) = run_films(classifier, [work])
    verdict = judge_film(classifier, work, outputs)
    row = FileResult(path=str(radiograph.path))
    settle(row, classifier, verdict)
    timings = {"read": read_ms, **work.timings_ms}
    warnings = list(radiograph.warnings) + film_warnings(radiograph, work)
    analysis = Analysis(radiograph, work.film_input, work.geometry, None, scope=verdict.decision,
                        model_version=classifier.version, model_sha256=classifier.model_sha256, warnings=warnings,
                        timings_ms=timings)
    if row.declined:
        analysis.warnings = declined_warnings(warnings)  # as settle keeps them for a scan's row
        return analysis
    worst = verdict.most_suspicious()
    analysis.prediction = verdict_of(classifier, verdict.knees[worst])  # type: ignore[index]
    analysis.prediction.warnings, analysis.prediction.timings_ms = warnings, timings
    analysis.scope_gate = row.scope_gate
    sources = verdict.side_sources or [None] * len(verdict.knees)
    analysis.knees = [AnalysedKnee(side, knee, model_input, side_source=source)
                      for side, knee, model_input, source in zip(verdict.sides, verdict.knees, work.regions, sources)]
    if explain:
        start = time.perf_counter()
        for knee in analysis.knees:
            analysis.explanation = _explain(knee, classifier, radiograph.pixels, analysis.explanation)
            if knee.share_on_bone is not None and knee.share_on_bone < MIN_SHARE_ON_BONE:
                warnings.append(text.off_bone_warning(knee.side, knee.share_on_bone))
        timings["explain"] = (time.perf_counter() - start) * 1000.0
    return analysis


def analyse_file(path: str | Path, classifier: Classifier, explain: bool = True) -> Analysis:
    """Read and analyse one file. Raises :class:`~osteo_desktop.core.errors.ImageReadError` for unreadable input."""
    start = time.perf_counter()
    data = read_file_bytes(path)  # read once: the content hashed is the content analysed
    radiograph = read_radiograph(path, target_size=classifier.input_size, data=data)
    read_ms = (time.perf_counter() - start) * 1000.0
    analysis = analyse_radiograph(radiograph, classifier, explain=explain, read_ms=read_ms)
    analysis.file_sha256 = hashlib.sha256(data).hexdigest()
    return analysis
