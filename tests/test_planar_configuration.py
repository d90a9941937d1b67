"""Uncompressed colour DICOM whose PlanarConfiguration does not match its pixel data is refused (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hostile_files import CR_SOP_CLASS, _dicom_base
from osteo_desktop.core.errors import ImageReadError
from osteo_desktop.core.reading.reader import read_radiograph


def _rgb_knee(knee_png) -> np.ndarray:
    grey = np.asarray(Image.open(knee_png).convert("L"))
    # A colour rendering of the film (as a viewer's screenshot would be): channels differ, structure shared.
    return np.stack([grey, np.clip(grey.astype(int) + 20, 0, 255), grey // 2], axis=-1).astype(np.uint8)


def _write(path, rgb: np.ndarray, declared: int, laid_out: int):
    data = rgb.tobytes() if laid_out == 0 else rgb.transpose(2, 0, 1).tobytes()
    _dicom_base(path, CR_SOP_CLASS, Modality="CR", BodyPartExamined="KNEE", Rows=rgb.shape[0], Columns=rgb.shape[1],
                SamplesPerPixel=3, PhotometricInterpretation="RGB", PlanarConfiguration=declared, BitsAllocated=8,
                BitsStored=8, HighBit=7, PixelRepresentation=0, PixelData=data)
    return path


@pytest.mark.parametrize("layout", [0, 1])
def test_a_matching_planar_configuration_reads_as_the_image(tmp_path, knee_png, layout):
    rgb = _rgb_knee(knee_png)
    radiograph = read_radiograph(_write(tmp_path / "ok.dcm", rgb, layout, layout))
    expected = (rgb.astype(np.float32) / 255.0) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert radiograph.pixels.shape == rgb.shape[:2]
    # The very image, either layout (DICOM pixels are read onto the 256 grey levels: within half a level).
    assert np.abs(radiograph.pixels - expected).max() <= 0.5 / 255 + 1e-5


@pytest.mark.parametrize("declared, laid_out", [(0, 1), (1, 0)])
def test_a_planar_configuration_that_does_not_match_the_data_is_refused(tmp_path, knee_png, declared, laid_out):
    path = _write(tmp_path / "mismatch.dcm", _rgb_knee(knee_png), declared, laid_out)
    with pytest.raises(ImageReadError, match="PlanarConfiguration"):
        read_radiograph(path)


def test_grey_film_stored_as_rgb_with_the_wrong_planar_configuration_is_refused(tmp_path, knee_png):
    grey = np.asarray(Image.open(knee_png).convert("L"))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    read_radiograph(_write(tmp_path / "ok.dcm", rgb, 0, 0))
    with pytest.raises(ImageReadError, match="PlanarConfiguration"):
        read_radiograph(_write(tmp_path / "bad.dcm", rgb, 1, 0))
    with pytest.raises(ImageReadError, match="PlanarConfiguration"):
        read_radiograph(_write(tmp_path / "bad2.dcm", rgb, 0, 1))
