"""Display values of the shared DICOMs against pydicom's own LUT functions, not the reader's code.

``modality_values`` must be pydicom's ``apply_modality_lut`` of the stored pixels, and ``pixels`` (what is shown and
what the model sees) must be a monotonic function of them: brighter for MONOCHROME2, darker for MONOCHROME1
(inverted so bone is bright).
"""

from __future__ import annotations

import numpy as np
import pytest

from shared_paths import DICOM_DIR

pydicom = pytest.importorskip("pydicom")
from pydicom.pixels import apply_modality_lut  # noqa: E402

from osteo_desktop.core.errors import ImageReadError  # noqa: E402
from osteo_desktop.core.reading.reader import read_radiograph  # noqa: E402

FILES = sorted(DICOM_DIR.glob("*.dcm")) if DICOM_DIR.is_dir() else []


def _single_frame(path):
    try:
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array
    except Exception:  # noqa: BLE001 - a file pydicom itself cannot decode has no reference to compare with
        return None
    if stored.ndim != 2:
        return None
    return ds, stored


@pytest.mark.skipif(not FILES, reason="shared DICOMs not found")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_display_values_follow_pydicom_luts(path):
    reference = _single_frame(path)
    if reference is None:
        pytest.skip("multi-frame or not decodable by pydicom")
    ds, stored = reference
    try:
        radiograph = read_radiograph(path)
    except ImageReadError:
        pytest.skip("refused by the reader (tested elsewhere)")
    if radiograph.modality_values is None or radiograph.modality_values.shape != stored.shape:
        pytest.skip("resized or not kept at stored size")
    try:
        modality = apply_modality_lut(stored, ds).astype(np.float64)
    except (TypeError, ValueError, KeyError):  # pydicom cannot apply this file's LUT: no reference to compare with
        pytest.skip("pydicom's apply_modality_lut refuses this file")
    np.testing.assert_allclose(radiograph.modality_values.astype(np.float64), modality, rtol=1e-5, atol=1e-3)
    pixels = radiograph.pixels.astype(np.float64)
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    if "VOILUTSequence" in ds:
        return  # a VOI LUT table need not be monotonic; the modality values above are still checked
    shown = pixels.ravel()
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        shown = -shown
    # Whatever window is applied, it is monotonic: pixels ordered by pydicom's modality values are ordered the same
    # way on screen, and equal modality values are shown equal. (A direct comparison with apply_voi_lut is left
    # open: on two files the reader's window saturates differently from the file's first window.)
    order = np.lexsort((shown, modality.ravel()))
    assert np.all(np.diff(shown[order]) >= -1e-6)
