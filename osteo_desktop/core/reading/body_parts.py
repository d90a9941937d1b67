"""The DICOM Body Part Examined (0018,0015) values a knee radiograph may be filed under.

Declared once: the reader warns when a header names another body part, and the scope gate asks the pixels for a
wider margin before overruling such a header. Modalities file knees under the joint itself and under the limb
around it (PS3.16 CID 4031 gives KNEE, LEG, LOWER LIMB, EXTREMITY; vendors write LOWERLIMB, LOW_EXM and the bones).
"""

from __future__ import annotations

KNEE_BODY_PARTS = frozenset({"KNEE", "LEG", "LOWER LIMB", "LOWERLIMB", "LOW_EXM", "EXTREMITY", "TIBIA", "FEMUR", "PATELLA"})


def may_show_a_knee(body_part: str) -> bool:
    """Whether a Body Part Examined value is compatible with a knee radiograph (empty: nothing said, so yes)."""
    value = body_part.strip().upper()
    return not value or value in KNEE_BODY_PARTS or "KNEE" in value
