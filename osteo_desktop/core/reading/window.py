"""Grey values of a monochrome DICOM: modality LUT or rescale, then VOI LUT, window centre/width or a percentile window.

Kept apart from the reader so the viewer can re-window with exactly the mapping the reader used (:func:`apply_window`).
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut

from osteo_desktop.core.reading.limits import brief

PERCENTILE_WINDOW = (0.5, 99.5)


def modality_values(ds: Dataset, frame: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Stored values to modality units (float32): the modality LUT if usable, else rescale slope and intercept."""
    if lut_item(ds, "ModalityLUTSequence") is not None:
        try:
            return apply_modality_lut(frame, ds).astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - a malformed table is ignored, not fatal
            warnings.append(f"DICOM modality LUT could not be applied ({brief(exc)}); stored values used")
    values = frame.astype(np.float32)
    try:
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
    except (TypeError, ValueError):
        warnings.append("DICOM rescale slope/intercept invalid; stored values used")
        return values
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        warnings.append("DICOM rescale slope/intercept not finite; stored values used")
        return values
    if slope != 1.0 or intercept != 0.0:
        values = values * np.float32(slope) + np.float32(intercept)
    return values


def lut_item(ds: Dataset, sequence: str) -> Dataset | None:
    """The first item of a LUT sequence if it holds a usable descriptor and data (some files carry empty items)."""
    try:
        items = ds.get(sequence)
        item = items[0] if items else None
        if item is None or not item.get("LUTData") or len(item.get("LUTDescriptor") or []) != 3:
            return None
        return item
    except Exception:  # noqa: BLE001 - treated as absent
        return None


def voi_lut(ds: Dataset, warnings: list[str]) -> tuple[int, np.ndarray] | None:
    """(first mapped value, table entries) of the first usable VOI LUT, or None."""
    item = lut_item(ds, "VOILUTSequence")
    if item is None:
        if ds.get("VOILUTSequence"):
            warnings.append("DICOM VOI LUT sequence is empty; ignored")
        return None
    try:
        entries, first_map, _bits = (int(v) for v in item.LUTDescriptor)
        raw = item.LUTData
        if isinstance(raw, (bytes, bytearray)):
            little = ds.original_encoding[1] is not False
            lut = np.frombuffer(bytes(raw)[: len(raw) // 2 * 2], dtype="<u2" if little else ">u2")
        else:
            lut = np.asarray(list(raw) if not isinstance(raw, int) else [raw], dtype=np.float64)
        lut = lut[: entries or 65536].astype(np.float32)
    except Exception as exc:  # noqa: BLE001
        warnings.append(f"DICOM VOI LUT could not be read ({brief(exc)}); ignored")
        return None
    if lut.size < 2:
        warnings.append("DICOM VOI LUT has fewer than two entries; ignored")
        return None
    return first_map, lut


def choose_window(ds: Dataset, values: np.ndarray, warnings: list[str], *, sampled: bool = False) -> tuple[tuple[float, float], str, str]:
    """(centre, width), VOI LUT function and where the window came from.

    ``sampled``: ``values`` are already the even grid :func:`sample_step` picks from the whole image's values (a
    compact read windows in bands and never holds them all), so they are used as they are.
    """
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        function = "LINEAR"
    centre, width = _first_number(ds, "WindowCenter"), _first_number(ds, "WindowWidth")
    if centre is not None and width is not None:
        if width < (1.0 if function == "LINEAR" else np.finfo(np.float32).tiny):
            warnings.append(f"DICOM window width {width:g} is invalid; a percentile window was used")
        elif _covers_too_little(values if sampled else _sample(values), centre, width):
            warnings.append(
                f"DICOM window (centre {centre:g}, width {width:g}) misses almost all pixel values; a percentile window was used"
            )
        else:
            return (centre, width), function, "window centre/width"
    sample = values if sampled else _sample(values)
    low, high = (float(v) for v in np.percentile(sample, PERCENTILE_WINDOW))
    width = max(high - low, 1e-6)
    return ((low + high) / 2.0, width), "LINEAR_EXACT", f"percentile {PERCENTILE_WINDOW[0]}-{PERCENTILE_WINDOW[1]}"


def apply_window(values: np.ndarray, window: tuple[float, float], function: str = "LINEAR") -> np.ndarray:
    """Map modality values to [0, 1] with a DICOM window (PS3.3 C.11.2.1.2). Used by the viewer to re-window too."""
    centre, width = window
    values = np.asarray(values, dtype=np.float32)
    if function == "SIGMOID":
        with np.errstate(over="ignore"):  # exp overflows to inf far outside the window, which gives exactly 0
            return (1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))).astype(np.float32)
    # One new array, then in place: the same arithmetic in the same order as the plain expression, without its
    # three full-size temporaries (a 6-megapixel film is 23 MB of float32 each).
    if function == "LINEAR_EXACT":
        scaled = np.subtract(values, np.float32(centre - width / 2.0), dtype=np.float32)
        scaled /= np.float32(width)
    else:
        scaled = np.subtract(values, np.float32(centre - 0.5), dtype=np.float32)
        scaled /= np.float32(max(width - 1.0, 1e-6))
        scaled += np.float32(0.5)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def window_to_uint8(values: np.ndarray, centre: float, width: float, *, invert: bool = False,
                    function: str = "LINEAR_EXACT") -> np.ndarray:
    """Modality values through a window (centre, width) to display grey levels (uint8, contiguous).

    The viewer's window/level: the same mapping as :func:`apply_window` (``LINEAR_EXACT`` by default: the window's
    edges map exactly to black and white, as a user dragging the level expects). ``invert`` flips it (MONOCHROME1,
    or the user's choice). A width of zero or less is treated as the narrowest window, never a division by zero.
    """
    grey = apply_window(values, (float(centre), max(float(width), 1e-6)), function)
    if invert:
        grey = 1.0 - grey
    return np.ascontiguousarray(np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8))


def _covers_too_little(sample: np.ndarray, centre: float, width: float) -> bool:
    inside = np.count_nonzero((sample > centre - width / 2.0) & (sample < centre + width / 2.0))
    return inside < 0.01 * sample.size


def sample_step(size: int, target: int = 1 << 18) -> int:
    """The step of the even grid of about ``target`` values the window is chosen on, for an image of ``size`` pixels.

    About 262,000 values: a 0.5 % tail is still 1,300 of them, and the partition behind the percentiles costs a
    quarter of what a million cost (the largest step in reading an uncompressed film).
    """
    return max(1, int(np.sqrt(size / target)))


def _sample(values: np.ndarray, target: int = 1 << 18) -> np.ndarray:
    step = sample_step(values.size, target)
    return values[::step, ::step]


def _first_number(ds: Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        if isinstance(value, (MultiValue, list, tuple)):
            value = value[0]
        number = float(value)
        return number if np.isfinite(number) else None
    except Exception:  # noqa: BLE001 - an unreadable window is treated as absent
        return None
