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
otherwise it is "unknown". Burnt-in R/L markers are NOT read (yet). Lateral views do not order knees left to right,
so there only Image Laterality can tell.
"""

from __future__ import annotations

from typing import Any

RIGHT, LEFT, UNKNOWN = "right", "left", "unknown"
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


def assign_sides(centres: list[tuple[float, float]], orientation: dict | None) -> list[str]:
    """The patient's side of each knee, given its box centre (x, y) in the image's pixels, in the same order.

    See the module docstring for the rules; ``orientation`` is the dict of :func:`orientation_from_identity`
    (None or missing keys for a raster file).
    """
    if not centres:
        return []
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
