"""The banded bilinear resize against Pillow itself (the reference it replicates without a full-size copy).

Pillow's own calls are the expectation: the two single-axis resizes in a row (horizontal, then vertical) must be
matched bit for bit; Pillow's one-shot resize, which since version 13 may go vertical first, within float32
rounding; and with ``reducing_gap`` (block averaging first) Pillow's one-shot call bit for bit. The shapes include
bands that do not divide the height, blocks that do not divide the bands or the image, one-pixel images, upscaling
and a crop that is not contiguous. The memory saved is measured in benchmarks/read_steps.py, not here.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from osteo_desktop.core.model import resampling
from osteo_desktop.core.model.resampling import resize_bilinear

BILINEAR = Image.Resampling.BILINEAR
SHAPES = [(1, 1), (1, 9), (9, 1), (7, 5), (100, 37), (517, 1031), (3001, 160), (160, 3001), (1200, 900)]


def _pillow(pixels: np.ndarray, width: int, height: int, reducing_gap: float | None = None) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(image.resize((width, height), BILINEAR, reducing_gap=reducing_gap), dtype=np.float32)


def _pillow_horizontal_then_vertical(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    narrow = _pillow(pixels, width, pixels.shape[0])
    return _pillow(narrow, width, height)


def _targets(rows: int, columns: int) -> list[tuple[int, int]]:
    return [(1, 1), (224, 224), (max(1, columns // 3), max(1, rows // 5)), (columns * 2, rows + 3), (17, 400)]


@pytest.mark.parametrize("shape", SHAPES)
def test_same_values_as_pillows_two_passes_and_within_rounding_of_its_one_shot_resize(shape):
    pixels = np.random.default_rng(sum(shape)).random(shape, dtype=np.float32)
    for width, height in _targets(*shape):
        got = resize_bilinear(pixels, width, height)
        assert got.dtype == np.float32 and got.shape == (height, width)
        assert np.array_equal(got, _pillow_horizontal_then_vertical(pixels, width, height)), (shape, width, height)
        np.testing.assert_allclose(got, _pillow(pixels, width, height), rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gap", [2.0, 3.0])
def test_with_a_reducing_gap_same_values_as_pillows_own_call(shape, gap):
    pixels = np.random.default_rng(7 * sum(shape)).random(shape, dtype=np.float32)
    for width, height in _targets(*shape):
        # Pillow averages blocks only when the image shrinks by at least twice the gap along a side.
        reduces = shape[1] / width >= 2 * gap or shape[0] / height >= 2 * gap
        expected = _pillow(pixels, width, height, gap) if reduces else _pillow_horizontal_then_vertical(pixels, width, height)
        assert np.array_equal(resize_bilinear(pixels, width, height, gap), expected), (shape, width, height, gap)


def test_bands_smaller_than_the_blocks_and_many_bands(monkeypatch):
    # Tiny bands: every band boundary falls inside the image, and the band height is rounded to the block height.
    monkeypatch.setattr(resampling, "_BAND_BYTES", 4 * 37 * 3)
    pixels = np.random.default_rng(3).random((203, 37), dtype=np.float32)
    for gap in (None, 2.0):
        for width, height in [(5, 11), (36, 202), (74, 13)]:
            reduces = gap is not None and (37 / width >= 2 * gap or 203 / height >= 2 * gap)
            expected = _pillow(pixels, width, height, gap) if reduces else _pillow_horizontal_then_vertical(
                pixels, width, height)
            assert np.array_equal(resize_bilinear(pixels, width, height, gap), expected), (width, height, gap)


def test_a_crop_that_is_not_contiguous_and_float64_give_the_values_of_their_float32_copy():
    film = np.random.default_rng(4).random((400, 300))
    crop = film[17:390, 5:280]
    assert not crop.flags.c_contiguous
    expected = _pillow_horizontal_then_vertical(crop.astype(np.float32), 64, 80)
    assert np.array_equal(resize_bilinear(crop, 64, 80), expected)


def test_the_same_size_is_a_float32_copy_not_the_caller_array():
    pixels = np.random.default_rng(5).random((6, 4), dtype=np.float32)
    got = resize_bilinear(pixels, 4, 6)
    assert np.array_equal(got, pixels) and got is not pixels
    got[0, 0] = -1.0
    assert pixels[0, 0] != -1.0
    assert resize_bilinear(pixels.astype(np.float64), 4, 6).dtype == np.float32


def test_an_empty_image_gives_zeros_as_pillow_does():
    for shape in [(0, 5), (5, 0), (0, 0)]:
        got = resize_bilinear(np.zeros(shape), 7, 3)  # float64 in: float32 out, as from Pillow
        assert np.array_equal(got, _pillow(np.zeros(shape, np.float32), 7, 3)) and got.shape == (3, 7), shape
        assert got.dtype == np.float32


def test_a_constant_image_stays_constant_and_a_linear_ramp_keeps_its_mean():
    # Independent of Pillow: the filter's weights are normalised, so a constant stays that constant, and a ramp
    # shrunk by an integer factor averages to the ramp's mean.
    constant = np.full((300, 200), 0.375, np.float32)
    for gap in (None, 2.0):
        np.testing.assert_array_equal(resize_bilinear(constant, 37, 53, gap), np.full((53, 37), 0.375, np.float32))
    ramp = np.tile(np.linspace(0.0, 1.0, 400, dtype=np.float32), (40, 1))
    small = resize_bilinear(ramp, 100, 10)
    assert small.mean() == pytest.approx(float(ramp.mean()), abs=1e-6)
    assert np.all(np.diff(small[0]) > 0)
