"""A rescale that pushes the modality values beyond float32 is refused in words, not read as an all-black film.

Before the fix, RescaleSlope 1e36 gave inf/NaN modality values, a NaN window and an all-zero image, with no warning:
a radiologist would see a black film and the model would score it. The datasets are built here with pydicom; the
expected values come from numpy in float64, not from the reader.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from imaging_factories import dicom_bytes, gradient, make_dicom, write
from osteo_desktop.core.errors import ImageReadError, NotAnImageError
from osteo_desktop.core.reading.reader import describe_radiograph, read_radiograph

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _refusal(path) -> ImageReadError:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow noise on the way to the refusal
        with pytest.raises(ImageReadError) as caught:
            read_radiograph(path)
    error = caught.value
    assert not isinstance(error, NotAnImageError)  # it is DICOM, just not a usable one
    assert path.name in str(error) and "\n" not in str(error)
    assert "out of range after rescale" in error.cause
    return error


@pytest.mark.parametrize(
    ("slope", "intercept"),
    [
        ("1e36", "0"),  # 4095 x 1e36 overflows float32
        ("-1e36", "0"),  # to -inf
        ("1e39", "0"),  # the slope itself is beyond float32 (0 x inf is NaN)
        ("1", "1e39"),  # the intercept alone
    ],
)
def test_a_rescale_that_overflows_float32_is_refused(tmp_path, slope, intercept):
    pixels = gradient()  # 0..4095
    assert max(abs(float(slope)) * 4095, abs(float(intercept))) > FLOAT32_MAX  # the premise, in float64
    ds = make_dicom(pixels, bits_stored=12, RescaleSlope=slope, RescaleIntercept=intercept)
    error = _refusal(write(tmp_path / "overflow.dcm", dicom_bytes(ds)))
    assert f"RescaleSlope {slope}" in error.cause or f"RescaleSlope {float(slope):g}" in error.cause


def test_finite_values_whose_span_overflows_float32_are_refused(tmp_path):
    # Signed pixels -2000..2000 times 1e35: each value (+-2e38) fits in float32, their span (4e38) does not, and a
    # window over that span is inf wide (everything black again).
    pixels = np.linspace(-2000, 2000, 160 * 200).reshape(160, 200).astype(np.int16)
    ends = np.array([pixels.min(), pixels.max()], dtype=np.float64) * 1e35
    assert np.all(np.abs(ends) < FLOAT32_MAX) and ends[1] - ends[0] > FLOAT32_MAX
    ds = make_dicom(pixels, bits_stored=16, RescaleSlope="1e35", RescaleIntercept="0")
    _refusal(write(tmp_path / "span.dcm", dicom_bytes(ds)))


def test_a_large_rescale_that_fits_float32_is_still_read(tmp_path):
    # 4095 x 1e30 = 4.1e33: odd, but representable; read with a finite window and the exact modality values.
    pixels = gradient()
    ds = make_dicom(pixels, bits_stored=12, RescaleSlope="1e30", RescaleIntercept="-5e29")
    radiograph = read_radiograph(write(tmp_path / "large.dcm", dicom_bytes(ds)))
    expected = pixels.astype(np.float64) * 1e30 - 5e29
    np.testing.assert_allclose(radiograph.modality_values.astype(np.float64), expected, rtol=1e-6, atol=1e24)
    centre, width = radiograph.window
    assert np.isfinite(centre) and np.isfinite(width) and width > 0
    assert np.isfinite(radiograph.pixels).all() and radiograph.pixels.std() > 0.1  # not a black film
    summary = describe_radiograph(radiograph)
    assert np.isfinite(summary["window"]["center"]) and np.isfinite(summary["window"]["width"])
