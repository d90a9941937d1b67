"""What the DICOM-result tests read back out of a Structured Report: its SOP classes and its numeric measurements."""

from __future__ import annotations

from typing import Any

SR_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.22"}  # Comprehensive 3D SR, Enhanced SR


def sr_numbers(dataset: Any) -> list[float]:
    """Every NUM content item's value, depth first, so a test can look for a probability among them."""
    found = []
    for item in getattr(dataset, "ContentSequence", []):
        if getattr(item, "ValueType", "") == "NUM" and "MeasuredValueSequence" in item:
            found.append(float(item.MeasuredValueSequence[0].NumericValue))
        found += sr_numbers(item)
    return found
