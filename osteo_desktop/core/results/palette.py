"""The colours of a result, declared once: the window, the scan table and the annotated DICOM image all draw a call
in the same colour, so a reader who learnt one face reads the others.

Hex strings (Qt and Pillow both take them); no Qt here, so the DICOM writer in core can use them.
"""

from __future__ import annotations

from osteo_desktop.core.results import text

POSITIVE_COLOUR = "#e8873a"  # a suspected finding: orange, not alarm red (a screening estimate, not a diagnosis)
NEGATIVE_COLOUR = "#4caf7a"
ERROR_COLOUR = "#e05a5a"
NO_RESULT_COLOUR = "#9aa3ad"  # neutral: neither a finding nor a failure
BORDERLINE_COLOUR = "#c8ccd2"  # neutral too, lighter than "no result": a result, but not a call either way


def call_colour(probability: float, threshold: float, positive: bool) -> str:
    """The colour of a call: neutral when borderline (text.is_borderline), else orange for positive, green for not."""
    if text.is_borderline(probability, threshold):
        return BORDERLINE_COLOUR
    return POSITIVE_COLOUR if positive else NEGATIVE_COLOUR
