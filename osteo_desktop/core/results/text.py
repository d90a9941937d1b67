"""The words of a result, written once: the result panel, the PDF report, the command line and a future DICOM report
all say the same thing the same way.

Plain text only (no markup): each face escapes or lays it out as its medium needs. The functions take any result
with the model's verdict fields (:class:`~osteo_desktop.core.results.result.FileResult`, a history entry, or the
model's :class:`~osteo_desktop.core.model.runtime.Prediction`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: this module is imported with the package and stays light
    from osteo_desktop.core.results.result import ModelVerdict as Verdict

DISCLAIMER = (
    "Research tool, not a diagnostic device. The result is a screening estimate from a machine-learning model "
    "and must not be used on its own to diagnose or treat a patient."
)

# How close to the threshold a result reads as borderline. Measured, not tuned: drawing a knee's box 15 % tighter or
# looser moves its probability by a median 0.09 (reports/per_knee.md), so a result within 0.05 of the threshold can
# change sides with the framing alone; a confident green or orange headline there would overstate it.
BORDERLINE_MARGIN = 0.05

# Every borderline warning starts with this: how the sentence is recognised in a list of warnings (one recorded by an
# earlier version, with other numbers or words after it, must not be repeated beside today's).
BORDERLINE_PREFIX = "Borderline:"

PROBABILITY_EXPLAINED = (
    "The calibrated probability of osteoporosis of the most suspicious knee, and where it lies against the screening "
    "threshold. A result is positive from the threshold up, and the threshold is below 50 %, so a positive result can "
    f"have a probability under 50 %. Within {BORDERLINE_MARGIN * 100:.0f} points of the threshold the result is "
    "borderline: read it as undecided."
)


def is_borderline(probability: float | None, threshold: float | None) -> bool:
    """Whether ``probability`` lies within :data:`BORDERLINE_MARGIN` of ``threshold`` (False when either is missing)."""
    return probability is not None and threshold is not None and abs(probability - threshold) < BORDERLINE_MARGIN


def _where(probability: float, threshold: float) -> str:
    """Which side of the threshold: "above" (positive from the threshold up, so equal is "at"), "at" or "below"."""
    return "above" if probability > threshold else "at" if probability == threshold else "below"


def borderline_headline(where: str, *, short: bool = False) -> str:
    """The headline of a borderline result on side ``where`` ("above", "at", "below"): "Borderline (just above the
    threshold): read as undecided", or with ``short`` "Borderline (above)", for a table's cell (a scan table at
    1500 px cut the long words; the cell's tooltip keeps them)."""
    if short:
        return f"Borderline ({where})"
    return f"Borderline ({'at the threshold' if where == 'at' else f'just {where} the threshold'}): read as undecided"


def headline(label: str, positive_label: str, probability: float | None = None, threshold: float | None = None,
             *, short: bool = False) -> str:
    """The result in a few words: "Osteoporosis suspected", "No sign of osteoporosis", or, within
    :data:`BORDERLINE_MARGIN` of the threshold (given both numbers), "Borderline (just above the threshold): read as
    undecided": near the threshold the headline itself must not read as a firm call, yet it says which side it fell.
    ``short`` gives a table cell's borderline words (:func:`borderline_headline`)."""
    # "Suspected", not "likely": the threshold (0.360) sits well below 0.5, so a positive result can carry a
    # probability under one half, and "likely" beside a probability of 44 % reads as a contradiction.
    if is_borderline(probability, threshold):
        return borderline_headline(_where(probability, threshold), short=short)  # type: ignore[arg-type]
    if label == positive_label:
        return "Osteoporosis suspected" if label == "osteoporosis" else f"{label.capitalize()} suspected"
    return "No sign of osteoporosis" if positive_label == "osteoporosis" else f"{label.capitalize()}"


def verdict_headline(result: object, positive_label: str, *, short: bool = False) -> str:
    """:func:`headline` of a result with the model's verdict fields (borderline when it is)."""
    return headline(result.label, positive_label, getattr(result, "probability", None),  # type: ignore[attr-defined]
                    getattr(result, "threshold", None), short=short)


def short_call(label: str, probability: float, threshold: float) -> str:
    """The call in a fixed-width table's cell, one word as the label is (so columns still split on spaces): the label,
    or "borderline-above", "borderline-below", "borderline-at" within :data:`BORDERLINE_MARGIN` of the threshold."""
    return f"borderline-{_where(probability, threshold)}" if is_borderline(probability, threshold) else label


def percent(value: float) -> str:
    """A probability as a whole percentage, "38 %"."""
    return f"{value * 100:.0f} %"


def _percents(probability: float, threshold: float) -> tuple[str, str]:
    """Both as percentages with as few decimals (up to 3) as tell them apart: 0.362 and 0.360 are "36.2 %" and
    "36.0 %", not "36 %" and "36 %" beside the words "just above"."""
    for decimals in range(4):
        shown = f"{probability * 100:.{decimals}f} %", f"{threshold * 100:.{decimals}f} %"
        if probability == threshold or shown[0] != shown[1]:
            return shown
    return shown


def probability_line(probability: float, threshold: float, positive_label: str = "osteoporosis") -> str:
    """How sure the result is, in words a reader cannot misread: "Probability of osteoporosis 44 % — above the
    screening threshold of 36 %" ("just above"/"just below" when borderline, "at" when equal). Not a "confidence":
    the threshold is below 50 %, so a positive call's confidence can be under 50 % and read as favouring normal."""
    shown, line = _percents(probability, threshold)
    where = _where(probability, threshold)
    if where != "at" and is_borderline(probability, threshold):
        where = f"just {where}"
    return f"Probability of {positive_label} {shown} — {where} the screening threshold of {line}"


def _distance(difference: float, borderline: bool) -> str:
    """``difference`` (from the threshold, not negative) with as many decimals (3 to 5) as keep it on the same side of
    :data:`BORDERLINE_MARGIN` as the call: a borderline 0.0496 is "0.0496", not "0.050", which read as outside the
    margin beside a borderline headline. A borderline difference that still rounds up to the margin at 5 decimals
    (0.41 - 0.36 is 0.0499999... in floating point) is cut, not rounded: "0.04999"."""
    for decimals in range(3, 6):
        shown = f"{difference:.{decimals}f}"
        if (float(shown) < BORDERLINE_MARGIN) == borderline:
            return shown
    return f"{math.floor(difference * 10**5) / 10**5:.5f}"  # only a borderline one gets here: rounding is monotone


def threshold_distance(probability: float, threshold: float) -> str:
    """How far from the threshold, for a table's cell: "0.080 above", "0.250 below", "at the threshold"; never on the
    other side of the borderline margin from the call (a file 0.0496 above is "0.0496 above", see :func:`_distance`)."""
    where = _where(probability, threshold)
    if where == "at":
        return "at the threshold"
    return f"{_distance(abs(probability - threshold), is_borderline(probability, threshold))} {where}"


def no_result_headline(reason: str | None) -> str:
    """The headline of a file the scope gate declined: "No result: not a knee radiograph: looks like a chest ..."."""
    return f"No result: {reason or 'not a knee radiograph'}"


def out_of_scope(result: object) -> str | None:
    """The scope gate's reason when ``result`` was declined (a FileResult or history entry), else None."""
    return getattr(result, "out_of_scope", None)


def result_headline(result: Verdict, positive_label: str, *, short: bool = False) -> str:
    """The headline of any result: :func:`no_result_headline` for a declined file, else :func:`headline` (its
    ``short`` borderline words for a table's cell)."""
    reason = out_of_scope(result)
    return no_result_headline(reason) if reason is not None else verdict_headline(result, positive_label, short=short)


def result_facts(result: Verdict, positive_label: str) -> list[tuple[str, str]]:
    """The numbers behind the headline, as (name, value): probability, decision threshold, model version."""
    return [
        (f"Probability of {positive_label}", f"{result.probability:.3f}"),
        ("Decision threshold", f"{result.threshold:.3f}"),
        ("Model version", str(result.model_version)),
    ]


def knee_name(side: str) -> str:
    """How a knee is called: "Right knee", "Left knee" (the patient's side), "Knee (side unknown)"."""
    return {"right": "Right knee", "left": "Left knee"}.get(side, "Knee (side unknown)")


def knee_short(side: str) -> str:
    """The side as marked on the image beside a knee's box: "R", "L", or "?" when nothing tells the side."""
    return {"right": "R", "left": "L"}.get(side, "?")


# Where a knee's side came from, in plain words (the result's side_source; see core.model.knee_sides): "film
# position" is the hanging convention (a film with no orientation in its header is read with the viewer's left as
# the patient's right), said so that a reader knows the side is assumed, not marked.
SIDE_SOURCE_WORDS = {"dicom_header": "DICOM header", "film_marker": "film marker", "hanging_convention": "film position"}


def side_source_words(source: str | None) -> str | None:
    """Where a side came from in words ("DICOM header", "film marker", "film position"), None when not known."""
    return SIDE_SOURCE_WORDS.get(source) if source else None


def _with_source(name: str, knee: object) -> str:
    words = side_source_words(getattr(knee, "side_source", None))
    return f"{name} ({words})" if words else name


def knee_title(knee: object) -> str:
    """A knee's name with where its side came from: "Right knee (film marker)", "Left knee (film position)",
    "Knee (side unknown)"; just "Right knee" for a knee recorded before sources were kept."""
    return _with_source(knee_name(knee.side), knee)  # type: ignore[attr-defined]


def knee_tag(knee: object) -> str:
    """The side as marked beside a knee's box, with where it came from: "R (DICOM header)", "L (film position)", "?"."""
    return _with_source(knee_short(knee.side), knee)  # type: ignore[attr-defined]


def laterality_conflict_warning(laterality: str, knees: int) -> str:
    """The header names one knee (Image Laterality R or L) but the film shows ``knees``: a radiologist wants to know
    that the file and the film disagree, and which one the sides follow."""
    side = {"R": "right", "L": "left"}.get(laterality, laterality)
    return (f"The DICOM header names one knee (Image Laterality {laterality}, the {side}), but {knees} knees were "
            "found on the film: each is read, and their sides come from the film, not from that tag")


def knee_summary(knee: object, positive_label: str, threshold: float, *, short: bool = False) -> str:
    """One knee's result after its name: "Osteoporosis suspected, probability 0.412 (threshold 0.339)", or
    "Borderline (just above the threshold): read as undecided, probability 0.362 (threshold 0.339)"; with ``short``
    a borderline knee's words are the scan table's ("Borderline (above), probability 0.362 (threshold 0.339)")."""
    probability = knee.probability  # type: ignore[attr-defined]
    return (f"{headline(knee.label, positive_label, probability, threshold, short=short)}, "  # type: ignore[attr-defined]
            f"probability {probability:.3f} (threshold {threshold:.3f})")


def knee_summaries(knees: list | tuple, positive_label: str, threshold: float, file_probability: float | None) -> list[str]:
    """Each knee's :func:`knee_summary` under a file's headline, the long borderline words said once: a borderline
    file's headline says them, so its knees have the short ones ("Borderline (above)"); under a firm headline the
    first borderline knee says them and any other the short ones. A two-knee borderline film showed "Borderline
    (just above the threshold): read as undecided" three times in the result panel (trial 23); the side and the
    numbers stay on every line."""
    said = is_borderline(file_probability, threshold)
    summaries = []
    for knee in knees:
        borderline = is_borderline(knee.probability, threshold)
        summaries.append(knee_summary(knee, positive_label, threshold, short=borderline and said))
        said = said or borderline
    return summaries


def knee_line(knee: object, positive_label: str, threshold: float) -> str:
    """One knee's result in a line: "Right knee (film marker): Osteoporosis suspected, probability 0.412 (threshold
    0.339)"."""
    return f"{knee_title(knee)}: {knee_summary(knee, positive_label, threshold)}"


def off_bone_warning(side: str, share_on_bone: float) -> str:
    """The warning for a knee whose heat map lies mostly off bone (bone: pixels above the region's Otsu threshold)."""
    return (f"{knee_name(side)}: most of the heat map ({(1.0 - share_on_bone) * 100:.0f} %) lies outside bone; "
            "the result may rest on soft tissue, background or markers rather than on the bone")


def borderline_sentence(result: Verdict) -> str | None:
    """A warning when the probability lies within :data:`BORDERLINE_MARGIN` of the threshold, else None."""
    probability, threshold = getattr(result, "probability", None), getattr(result, "threshold", None)
    if not is_borderline(probability, threshold):
        return None
    return (f"{BORDERLINE_PREFIX} the probability {probability:.3f} lies within {BORDERLINE_MARGIN:.2f} of the decision threshold "
            f"{threshold:.3f}; the framing of the knee alone can move it that far, so read this result as undecided")


def with_borderline(warnings: list[str] | tuple[str, ...], result: object) -> list[str]:
    """``warnings`` and, when the result is borderline and they do not already say so, :func:`borderline_sentence`
    at the end. The result's own ``warnings`` carry it from when it is given (FileResult.apply_prediction); this
    adds it to one recorded before that, and never twice."""
    sentences = [str(warning) for warning in warnings]
    borderline = borderline_sentence(result)  # type: ignore[arg-type]
    if borderline is None or any(sentence.startswith(BORDERLINE_PREFIX) for sentence in sentences):
        return sentences
    return sentences + [borderline]


def warning_sentences(result: Verdict) -> list[str]:
    """Why the result may not hold for this image (not a knee, too small, colour, borderline, ...), one sentence each."""
    return with_borderline(result.warnings, result)


def person_name(value: object) -> str:
    """A DICOM person name (PN) as people write it: "Doe^John" -> "Doe, John".

    PN is ``family^given^middle^prefix^suffix``, in up to three groups split by ``=`` (alphabetic, ideographic,
    phonetic); the first group that is not empty is shown: "Doe^John^A^Dr^Jr" -> "Doe, Dr John A, Jr". A value
    without ``^`` (a raster file's name, a name already written out) is returned stripped, as it is.
    """
    raw = "" if value is None else str(value).strip()
    if "^" not in raw and "=" not in raw:
        return raw
    group = next((g for g in raw.split("=") if g.strip("^ ")), "")
    family, given, middle, prefix, suffix = ([part.strip() for part in group.split("^")] + [""] * 5)[:5]
    first = " ".join(part for part in (prefix, given, middle) if part)
    name = ", ".join(part for part in (family, first) if part)
    return f"{name}, {suffix}" if suffix and name else (name or suffix)


def dicom_date(value: object) -> str:
    """A DICOM date (DA, "20261202") as "2026-12-02"; anything else is returned as text, unchanged."""
    raw = "" if value is None else str(value).strip()
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}" if len(raw) == 8 and raw.isdigit() else raw


def warnings_line(warnings: list[str] | tuple[str, ...]) -> str:
    """Warnings as one line of plain text, for a table cell or a spreadsheet: "first warning; second warning"."""
    return "; ".join(str(warning) for warning in warnings)


def report_title(result: Verdict) -> str:
    """What a report is of, as its title: the screening of a knee radiograph only when the file was one (in scope);
    a file the scope gate declined is not called a knee report ("Screening: no result")."""
    return "Screening: no result" if out_of_scope(result) is not None else "Knee radiograph screening"


def report_lines(result: Verdict, positive_label: str, *, file_name: str, created: datetime,
                 patient: list[tuple[str, str]] | tuple[tuple[str, str], ...] = ()) -> list[tuple[str, str]]:
    """A report's text as (field, value) pairs in reading order, the result first: nothing, not even the patient's
    name, takes the headline's place. The reader's verdict (:data:`REPORT_READING_FIELD`), when the result has
    one, follows its knees. ``patient`` (given only when the user chose to include it: name, ID, study date) follows
    the result's numbers. A declined file's report has the "No result" headline and the model version,
    and no probability or threshold. No line says "confidence": see :func:`probability_line`."""
    if out_of_scope(result) is not None:
        lines = [("Result", result_headline(result, positive_label)), ("Model version", str(result.model_version))]
    else:
        lines = [("Result", verdict_headline(result, positive_label)),
                 ("Against the threshold", probability_line(result.probability, result.threshold, positive_label))]
        lines += result_facts(result, positive_label)
        knees = list(getattr(result, "knees", []))
        lines += list(zip(map(knee_title, knees),
                          knee_summaries(knees, positive_label, result.threshold, result.probability)))
        verdict = agreement_words(getattr(result, "reader_agreement", None))
        if verdict:  # marked with Shift+A / Shift+D or in the scan window: kept in the history with the result
            lines.append((REPORT_READING_FIELD, verdict))
    digest = getattr(result, "model_sha256", None)
    if digest:  # the exact model (card and files): a version string alone does not say which card was used
        lines.append(("Model SHA-256", str(digest)))
    lines += list(patient)
    lines += [("File", file_name), ("Date", created.strftime("%Y-%m-%d %H:%M"))]
    lines += [("Warning", warning) for warning in warning_sentences(result)]
    return lines


# The reader's verdict on a result (FileResult.reader_agreement, kept in the history: "agree", "disagree" or None),
# in the words every face uses: the scan table's Reading column, the history's "Your reading", the main window's line
# under the result and the PDF report.
AGREEMENT_WORDS = {"agree": "Agree", "disagree": "Disagree"}
READING_FIELD = "Your reading"
# The report is read by others than the reader who marked it: its field names whose reading it is.
REPORT_READING_FIELD = "Reader's verdict"


def agreement_words(agreement: str | None) -> str:
    """The reader's mark in words: "Agree", "Disagree", or "" when not marked (an unknown stored value as it is)."""
    return "" if agreement is None else AGREEMENT_WORDS.get(agreement, str(agreement))


def reading_line(agreement: str | None) -> str | None:
    """The line the main window shows under a result the reader has marked: "Your reading: Agree"; None unmarked."""
    words = agreement_words(agreement)
    return f"{READING_FIELD}: {words}" if words else None


def model_line(name: str, version: str, threshold: float) -> str:
    """Which model gave the results: "Model NAME VERSION (threshold 0.339)"."""
    return f"Model {name} {version} (threshold {threshold:.3f})"


def not_recorded(count: int, why: str | None) -> str:
    """A scan's results that the history could not keep (a full disk, say): shown, exported, but not remembered."""
    given = "results were" if count != 1 else "result was"
    return f"{count} {given} given but not recorded in the history: {why or 'unknown cause'}"


def scan_summary(done: int, failed: int, reused: int, elapsed_s: float, declined: int = 0) -> str:
    """One line on a finished scan: counts (results, out of scope, failed), reuse from the history, time and rate."""
    text = f"{done} file{'s' if done != 1 else ''}: {done - failed - declined} results, "
    if declined:
        text += f"{declined} out of scope (no result), "
    text += f"{failed} failed"
    if reused:
        text += f" ({reused} reused from the history)"
    if elapsed_s < 0.1:  # a rate over a few milliseconds ("238.0 files/s" for one failed file) says nothing
        return text + f", in {elapsed_s:.1f} s"
    return text + f", in {elapsed_s:.1f} s ({done / elapsed_s:.1f} files/s)"


# The annotated image's words (core.results.annotated_image): short enough to burn into a film beside its knees.

def knee_percent(probability: float, threshold: float) -> str:
    """A knee's probability as its tag beside the box gives it: a percentage with as few decimals as tell it from the
    threshold's ("39 %", "35.9 %" against 36.0 %), where two decimals drew 0.359 and 0.360 both as "0.36"; the box's
    colour gives the call."""
    return _percents(probability, threshold)[0]


def knee_mark(probability: float, threshold: float) -> str:
    """A knee's probability as burnt in beside its box, with its side of the threshold: "39 % above threshold",
    "35.9 % below threshold", "36 % at threshold". With as many decimals as tell it from the threshold
    (:func:`_percents`): two decimals gave 0.359 and 0.360 both as "0.36", which did not say on which side it fell."""
    return f"{knee_percent(probability, threshold)} {_where(probability, threshold)} threshold"


# The legend's words for the neutral colour: the borderline headline without its side (one colour stands for both
# sides; each knee's tag, knee_mark, says which side it fell).
BORDERLINE_KEY = "Borderline: read as undecided"


def call_key(label: str, positive_label: str, probability: float, threshold: float) -> str:
    """A call as a legend names its colour: :data:`BORDERLINE_KEY` within :data:`BORDERLINE_MARGIN` of the threshold,
    else the window's headline of a firm call ("Osteoporosis suspected", "No sign of osteoporosis")."""
    return BORDERLINE_KEY if is_borderline(probability, threshold) else headline(label, positive_label)


# What a declined file's image is, as the window captions it beside the film and the PDF report captions it on the
# page: the whole film as checked before any analysis, not a knee's model input (no knee was analysed).
DECLINED_TITLE = "Checked before analysis: no result"
