"""The DICOM Body Part Examined (0018,0015) values a knee radiograph may be filed under.

Declared once: the reader warns when a header names another body part, and the scope gate asks the pixels for a
wider margin before overruling such a header. Modalities file knees under the joint itself and under the limb
around it (PS3.16 CID 4031 gives KNEE, LEG, LOWER LIMB, EXTREMITY; vendors write LOWERLIMB, LOW_EXM and the bones).
"""

from __future__ import annotations

import re

KNEE_BODY_PARTS = frozenset({"KNEE", "LEG", "LOWER LIMB", "LOWERLIMB", "LOW_EXM", "EXTREMITY", "TIBIA", "FEMUR", "PATELLA"})


def may_show_a_knee(body_part: str) -> bool:
    """Whether a Body Part Examined value is compatible with a knee radiograph (empty: nothing said, so yes)."""
    value = body_part.strip().upper()
    return not value or value in KNEE_BODY_PARTS or "KNEE" in value


# Body parts under which a header files the kinds of film the scope gate names (PS3.16 CID 4031 and vendor spellings).
# A gate reason naming one of these kinds ("looks like a hand or wrist radiograph") is only given when the header
# does not name another body part: a header saying EXTREMITY over a distal tibia makes "hand" a wrong guess.
CATEGORY_BODY_PARTS = {
    "chest": frozenset({"CHEST", "THORAX", "LUNG", "RIBS", "STERNUM", "HEART"}),
    "hand": frozenset({"HAND", "WRIST", "FINGER", "THUMB", "CARPUS", "UPPER LIMB", "UPPEREXM", "UP_EXM", "ARM"}),
    "dental-skull": frozenset({"HEAD", "SKULL", "JAW", "MANDIBLE", "MAXILLA", "TMJ", "FACE", "SINUS", "TOOTH", "TEETH"}),
}


def contradicts(category: str, body_part: str) -> bool:
    """Whether a header's Body Part Examined names another body part than the kind of film ``category`` names
    (False when the header says nothing, or for a category without body parts of its own)."""
    value = body_part.strip().upper()
    parts = CATEGORY_BODY_PARTS.get(category)
    if not value or parts is None:
        return False
    # Vendors add a side or a view ("CHEST PA", "L HAND", "WRIST_RIGHT"): any word of the value may name the part.
    words = {value, *re.split(r"[\s_^,/\\-]+", value)}
    return not words & parts
