"""A knee PNG wrapped into DICOM here gives the same prediction as the PNG itself."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import JPEG2000Lossless

from imaging_factories import dicom_bytes, make_dicom, write
from osteo_desktop.core.pipeline.analysis import analyse_file

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _wrap_as_monochrome1_12_bit(png, path, *, compress: bool):
    with Image.open(png) as image:
        eight = np.asarray(image.convert("L"), dtype=np.float64)
    twelve = np.rint(eight * 4095.0 / 255.0).astype(np.uint16)
    # MONOCHROME1 stores bone dark; the window spans the 12-bit range (LINEAR: centre 2048, width 4096 -> x / 4095).
    ds = make_dicom(
        4095 - twelve, photometric="MONOCHROME1", bits_stored=12, modality="CR", body_part="KNEE",
        window=(2048, 4096), compress_to=JPEG2000Lossless if compress else None,
    )
    return write(path, dicom_bytes(ds))


@pytest.mark.parametrize("compress", [False, True], ids=["uncompressed", "jpeg2000"])
def test_wrapped_knee_gives_the_png_probability(knee_images, classifier, tmp_path, compress):
    pngs = [p for paths in knee_images.values() for p in paths if p.suffix == ".png"]
    assert pngs
    for index, png in enumerate(pngs):
        dicom = _wrap_as_monochrome1_12_bit(png, tmp_path / f"knee{index}.dcm", compress=compress)
        from_png = analyse_file(png, classifier, explain=False)
        from_dicom = analyse_file(dicom, classifier, explain=False)
        assert from_dicom.radiograph.invert_for_display and from_dicom.radiograph.metadata["format"] == "DICOM"
        assert from_dicom.prediction.warnings == []
        assert abs(from_dicom.prediction.probability - from_png.prediction.probability) < 0.02, png.name
