"""Which knee is the patient's right and which the left: from the DICOM header's geometry, never from a guess.

DICOM PS3.3 C.7.6.1.1.1: Patient Orientation (0020,0020) holds two values, the anatomical direction of the positive
row axis (left to right across the image: "the direction of the last pixel in the first row from the first pixel in
that row") and of the positive column axis (top to bottom). "L" means towards the patient's left, "R" towards the
patient's right (A/P anterior/posterior, H/F head/foot; oblique directions combine letters, e.g. "LF").

So on a frontal film whose first value is "L", x grows towards the patient's left: the knee nearer x = 0 (the
viewer's left) is the patient's RIGHT knee. That is also how frontal radiographs are hung by convention, so with no
Patient Orientation at all (PNG/JPEG exports) the same is assumed for two knees. A first value "R" (a film stored
mirrored, or viewed from behind) turns it round. When the rows carry no R/L component but the columns do (a film
rotated by 90 degrees), the knees are ordered top to bottom instead.

A lone knee has no partner to be left or right of: its side comes only from Image Laterality (0020,0062) "R" or "L";
otherwise it is "unknown". Lateral views do not order knees left to right, so there only Image Laterality can tell.

Burnt-in R/L markers (:mod:`side_markers`) come after the header and before the hanging convention: when the header
says anything about sides (Patient Orientation or Image Laterality), it decides and a marker that disagrees is only
logged. Otherwise a lone knee is "right" when every marker read is an R ("left" for L; "unknown" when R and L are
both read), and of two knees the one a marker clearly lies nearer (see :func:`sides_from_markers`) takes the
marker's side, the other the opposite one; markers that contradict each other leave the hanging convention.

Every side says where it came from (:func:`sides_with_sources`, issue 11): :data:`DICOM_HEADER` (Image Laterality
or Patient Orientation decided), :data:`FILM_MARKER` (burnt-in markers decided, including markers that confirm the
hanging convention), :data:`HANGING_CONVENTION` (two knees on a film with no Patient Orientation and no marker
read: viewer's left = patient's right), or None for an "unknown" side. These values are part of the public result
contract (the ``side_source`` of each knee in JSON and CSV): declared here, once.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

log = logging.getLogger(__name__)

RIGHT, LEFT, UNKNOWN = "right", "left", "unknown"
# Where a knee's side came from (the result's ``side_source``; None when the side is unknown). New values go at the
# end: consumers of the JSON/CSV may switch on them.
DICOM_HEADER, FILM_MARKER, HANGING_CONVENTION = "dicom_header", "film_marker", "hanging_convention"
SIDE_SOURCES = (DICOM_HEADER, FILM_MARKER, HANGING_CONVENTION)
# View Position values that are not frontal (AP/PA): the geometry says nothing about sides there.
NON_FRONTAL_VIEWS = {"LAT", "LATERAL", "LL", "RL", "RLD", "LLD", "XTABLE", "CROSS-TABLE LATERAL", "OBL", "LAO", "RAO",
                     "LPO", "RPO"}


def orientation_from_identity(identity: Any | None) -> dict[str, str | None]:
    """The ``orientation`` dict :meth:`KneeDetector.detect` takes, from a reader's ``DicomIdentity`` (None for raster).

    Keys (each the header's text, or None when absent):
    - ``patient_orientation``: PatientOrientation (0020,0020), values joined by a backslash, e.g. ``"L\\F"``;
    - ``image_laterality``: ImageLaterality (0020,0062): ``"R"``, ``"L"``, ``"B"`` (both) or ``"U"`` (unpaired);
    - ``view_position``: ViewPosition (0018,5101), e.g. ``"AP"``, ``"PA"``, ``"LAT"``.
    """
    if identity is None:
        return {"patient_orientation": None, "image_laterality": None, "view_position": None}
    return {
        "patient_orientation": getattr(identity, "patient_orientation", None),
        "image_laterality": getattr(identity, "image_laterality", None),
        "view_position": getattr(identity, "view_position", None),
    }


def _text(orientation: dict | None, key: str) -> str:
    return str((orientation or {}).get(key) or "").strip().upper()


def _lateral_axis(patient_orientation: str) -> tuple[int, str] | None:
    """(axis, direction) of the image axis that runs along the patient's left-right line.

    axis 0 = x (the row direction, first value), 1 = y (the column direction, second value); direction "L" means
    the coordinate grows towards the patient's left. None when neither value has an R or L component, or when the
    text cannot be read. With no Patient Orientation at all, the hanging convention applies: (0, "L").
    """
    if not patient_orientation:
        return 0, "L"
    values = [v.strip() for v in patient_orientation.split("\\")]
    if len(values) != 2:
        return None
    for axis, value in enumerate(values):
        has_l, has_r = "L" in value, "R" in value
        if has_l != has_r:  # exactly one of them: a usable direction
            return axis, "L" if has_l else "R"
    return None


# A marker names a knee of a pair only when it lies clearly on that knee's side of the midline between the two
# knees: at least this fraction of the knees' distance away from the midline (markers between the legs say little).
MIDLINE_MARGIN = 0.25


def sides_from_markers(centres: Sequence[tuple[float, float]],
                       markers: Sequence[tuple[str, float, float]]) -> list[str] | None:
    """The sides the markers alone give, or None when they give none or contradict each other.

    ``markers``: (letter "R"/"L", x, y) of each marker read, in the same pixels as ``centres``. One knee: every
    marker's letter must agree. Two knees: each marker clearly nearer one knee (horizontally, beyond
    :data:`MIDLINE_MARGIN`) gives that knee its letter's side and the other knee the opposite; all such votes must
    agree. More than two knees: None.
    """
    letters = {str(letter).upper() for letter, _, _ in markers}
    if not markers or not letters <= {"R", "L"}:
        return None
    if len(centres) == 1:
        return [RIGHT if letters == {"R"} else LEFT] if len(letters) == 1 else None
    if len(centres) != 2:
        return None
    (xa, _), (xb, _) = centres
    distance = abs(xb - xa)
    if distance <= 0:
        return None
    middle = (xa + xb) / 2
    votes = set()
    for letter, x, _ in markers:
        if abs(x - middle) < MIDLINE_MARGIN * distance:
            continue
        nearer = 0 if abs(x - xa) < abs(x - xb) else 1
        named = RIGHT if str(letter).upper() == "R" else LEFT
        other = LEFT if named == RIGHT else RIGHT
        votes.add((named, other) if nearer == 0 else (other, named))
    return list(votes.pop()) if len(votes) == 1 else None


def assign_sides(centres: list[tuple[float, float]], orientation: dict | None,
                 markers: Sequence[tuple[str, float, float]] | None = None) -> list[str]:
    """The patient's side of each knee, given its box centre (x, y) in the image's pixels, in the same order.

    See the module docstring for the rules; ``orientation`` is the dict of :func:`orientation_from_identity`
    (None or missing keys for a raster file); ``markers`` the burnt-in markers read, as (letter, x, y) in the same
    pixels (None or empty: no marker, the rules of the header and the hanging convention alone).
    """
    return [side for side, _ in sides_with_sources(centres, orientation, markers)]


def sides_with_sources(centres: list[tuple[float, float]], orientation: dict | None,
                       markers: Sequence[tuple[str, float, float]] | None = None) -> list[tuple[str, str | None]]:
    """(side, source) of each knee, in the order of ``centres``: :func:`assign_sides`' side and where it came from,
    one of :data:`SIDE_SOURCES`, or None for an "unknown" side (arguments as for :func:`assign_sides`)."""
    if not centres:
        return []
    from_header = _with_header_source(_from_header(centres, orientation), orientation)
    if not markers:
        return from_header
    from_markers = sides_from_markers(centres, markers)
    if len(centres) > 1 and _text(orientation, "view_position") in NON_FRONTAL_VIEWS:
        return from_header  # a lateral view does not put the knees side by side: nearness says nothing
    if header_decides(orientation, len(centres)):
        if from_markers is not None and from_markers != [side for side, _ in from_header]:
            log.info("burnt-in markers say %s, the DICOM header %s: the header decides", from_markers, from_header)
        return from_header
    if from_markers is None:
        return from_header
    if from_markers != [side for side, _ in from_header] and len(centres) == 2:
        log.info("burnt-in markers turn the hanging convention round: %s instead of %s", from_markers, from_header)
    # Markers that agree with the hanging convention still decide: the film says it, not only how films are hung.
    return [(side, FILM_MARKER) for side in from_markers]


def _with_header_source(sides: list[str], orientation: dict | None) -> list[tuple[str, str | None]]:
    """The header's sides with their source: the header itself when it decides, else (two knees, no Patient
    Orientation) the hanging convention; None for every "unknown" side."""
    source = DICOM_HEADER if header_decides(orientation, len(sides)) else HANGING_CONVENTION
    return [(side, None if side == UNKNOWN else source) for side in sides]


def contradicting_laterality(orientation: dict | None, knees: int) -> str | None:
    """The header's Image Laterality ("R" or "L": one knee) when the film shows more than one knee, else None."""
    laterality = _text(orientation, "image_laterality")
    return laterality if knees > 1 and laterality in ("R", "L") else None


def header_decides(orientation: dict | None, knees: int) -> bool:
    """Whether the header decides the sides: for a lone knee an Image Laterality of R or L; for two or more a Patient
    Orientation whose rows or columns run along the patient's left-right line. (A lone knee's Patient Orientation
    says how the image lies, not which knee it is, so a marker still names it.)"""
    if knees == 1:
        return _text(orientation, "image_laterality") in ("R", "L")
    orientation_text = _text(orientation, "patient_orientation")
    return bool(orientation_text) and _lateral_axis(orientation_text) is not None


def _from_header(centres: list[tuple[float, float]], orientation: dict | None) -> list[str]:
    """The sides from the header's geometry, or the hanging convention (the rules before markers were read)."""
    laterality = _text(orientation, "image_laterality")
    view = _text(orientation, "view_position")
    if len(centres) == 1:
        return [{"R": RIGHT, "L": LEFT}.get(laterality, UNKNOWN)]
    if view in NON_FRONTAL_VIEWS:
        return [UNKNOWN] * len(centres)
    found = _lateral_axis(_text(orientation, "patient_orientation"))
    if found is None:
        return [UNKNOWN] * len(centres)
    axis, direction = found
    order = sorted(range(len(centres)), key=lambda i: centres[i][axis])
    sides = [UNKNOWN] * len(centres)
    # The lowest coordinate lies towards the patient's right when the axis grows towards the left.
    first, last = (RIGHT, LEFT) if direction == "L" else (LEFT, RIGHT)
    sides[order[0]], sides[order[-1]] = first, last  # with more than two, the middle ones stay unknown
    return sides
