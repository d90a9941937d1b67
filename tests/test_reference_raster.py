"""The raster reader against answers worked out here, on images made here with Pillow (no shared data, fast).

Every expected grey value is computed in the test with numpy from the pixel values written (v / 255, v / (2^bits - 1),
the BT.601 luma 0.299 R + 0.587 G + 0.114 B, grey x alpha / 255, orientations as numpy flips and rotations), not
by the reader's code. ``read_raster`` is called on the bytes directly, so the values are the reader's own (before
:func:`reader.on_grey_levels` rounds deeper-than-8-bit images onto the 256 grey levels); a few cases go through
``read_radiograph`` for that rounding too.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading import raster
from osteo_desktop.core.reading.raster import grey_from_rgb8, read_raster
from osteo_desktop.core.reading.reader import read_radiograph

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601
PATH = Path("film.img")
# Non-square, and no side a multiple of the sampling grids, so a swapped width/height or an off-by-one shows.
HEIGHT, WIDTH = 150, 170


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _read(image: Image.Image, image_format: str = "PNG", **options):
    return read_raster(PATH, _encode(image, image_format, **options), image_format)


def _random(shape, high=256, dtype=np.uint8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(dtype)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float64) @ LUMA / 255.0


# --- 8-bit grey, bilevel, metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "TIFF", "BMP"])
def test_8_bit_grey_is_value_over_255_exactly(image_format):
    values = _random((HEIGHT, WIDTH))
    radiograph = _read(Image.fromarray(values), image_format)
    assert radiograph.pixels.dtype == np.float32 and radiograph.pixels.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(radiograph.pixels, (values / np.float32(255.0)).astype(np.float32))
    assert radiograph.source_format == image_format.lower() and radiograph.warnings == []
    assert radiograph.modality_values is None and radiograph.window is None and radiograph.dicom is None
    assert radiograph.metadata == {
        "format": image_format, "mode": "L", "original_width": WIDTH, "original_height": HEIGHT,
        "width": WIDTH, "height": HEIGHT, "bits_stored": 8, "window_source": "full range",
    }


@pytest.mark.parametrize("width", [17_000, 270_000])
def test_a_wide_8_bit_image_is_read_whole_in_its_row_bands(width):
    # Wider than 16,384 pixels: a row is more than 64 KiB, so each of the raw encoder's chunks holds one row
    # (270,000 pixels: a row is more than 4 x 64 KiB).
    values = _random((2, width), seed=1)
    radiograph = _read(Image.fromarray(values))
    np.testing.assert_array_equal(radiograph.pixels, values.astype(np.float32) / np.float32(255.0))


def test_8_bit_grey_without_pillows_raw_encoder_gives_the_same_pixels(monkeypatch):
    values = _random((HEIGHT, WIDTH), seed=2)
    data = _encode(Image.fromarray(values), "PNG")
    real = raster.Image._getencoder

    def refusing(mode, name, args, *rest):
        # The reader asks for the raw encoder with a bare raw mode; Pillow's own tobytes passes a tuple.
        if isinstance(args, str):
            raise OSError("encoder raw not available")
        return real(mode, name, args, *rest)

    monkeypatch.setattr(raster.Image, "_getencoder", refusing)
    radiograph = read_raster(PATH, data, "PNG")
    np.testing.assert_array_equal(radiograph.pixels, values.astype(np.float32) / np.float32(255.0))


def test_bilevel_image_is_zero_and_one():
    bits = _random((HEIGHT, WIDTH), high=2, seed=3).astype(bool)
    radiograph = _read(Image.fromarray(bits))
    assert radiograph.metadata["mode"] == "1" and radiograph.metadata["bits_stored"] == 1
    np.testing.assert_array_equal(radiograph.pixels, bits.astype(np.float32))
    assert radiograph.pixels.dtype == np.float32 and radiograph.warnings == []


# --- deeper than 8 bits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "bits"),
    [(255, 8), (256, 10), (1023, 10), (1024, 12), (4095, 12), (4096, 14), (16383, 14), (16384, 16), (65535, 16)],
)
def test_16_bit_grey_is_scaled_by_the_smallest_usual_depth_holding_its_largest_value(top, bits):
    values = np.linspace(0, top, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.uint16)
    assert values.max() == top
    radiograph = _read(Image.fromarray(values))
    assert radiograph.metadata["mode"].startswith("I;16")
    assert radiograph.metadata["bits_stored"] == bits
    np.testing.assert_allclose(radiograph.pixels, values / (2.0**bits - 1.0), rtol=0, atol=1e-6)
    assert radiograph.pixels.dtype == np.float32 and radiograph.warnings == []


def test_16_bit_big_endian_tiff_reads_as_the_same_values():
    values = np.linspace(0, 4000, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.uint16)
    image = Image.frombytes("I;16B", (WIDTH, HEIGHT), values.astype(">u2").tobytes())
    radiograph = _read(image, "TIFF")
    assert radiograph.metadata["mode"] == "I;16B" and radiograph.metadata["bits_stored"] == 12
    np.testing.assert_allclose(radiograph.pixels, values / 4095.0, rtol=0, atol=1e-6)


def test_32_bit_integer_tiff_beyond_16_bits_uses_the_32_bit_range():
    values = np.linspace(0, 70_000, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.int32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    assert radiograph.metadata["mode"] == "I" and radiograph.metadata["bits_stored"] == 32
    np.testing.assert_allclose(radiograph.pixels, values / (2.0**32 - 1.0), rtol=0, atol=1e-7)


def test_32_bit_integer_tiff_within_12_bits():
    values = np.linspace(0, 3000, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.int32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    assert radiograph.metadata["mode"] == "I" and radiograph.metadata["bits_stored"] == 12
    np.testing.assert_allclose(radiograph.pixels, values / 4095.0, rtol=0, atol=1e-6)


def test_negative_integer_values_are_stretched_from_their_minimum_to_their_maximum():
    values = np.linspace(-300, 700, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.int32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    np.testing.assert_allclose(radiograph.pixels, (values + 300.0) / 1000.0, rtol=0, atol=1e-6)
    assert radiograph.pixels.min() == 0.0 and radiograph.pixels.max() == pytest.approx(1.0, abs=1e-6)


def test_a_constant_negative_image_is_black_not_nan():
    radiograph = _read(Image.fromarray(np.full((HEIGHT, WIDTH), -40, dtype=np.int32)), "TIFF")
    np.testing.assert_array_equal(radiograph.pixels, np.zeros((HEIGHT, WIDTH), dtype=np.float32))


def test_an_image_from_zero_up_is_scaled_by_depth_not_stretched():
    # Minimum 0 and maximum 1000: scaled by 2^10 - 1 (not by 1000, which stretching would use).
    values = np.linspace(0, 1000, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.int32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    np.testing.assert_allclose(radiograph.pixels, values / 1023.0, rtol=0, atol=1e-6)


def test_16_bit_grey_goes_onto_the_256_grey_levels_through_read_radiograph(tmp_path):
    values = np.linspace(0, 4095, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.uint16)
    path = tmp_path / "k12.png"
    Image.fromarray(values).save(path)
    pixels = read_radiograph(path).pixels
    np.testing.assert_allclose(pixels, np.rint(values / 4095.0 * 255.0) / 255.0, rtol=0, atol=1e-6)


# --- 32-bit float -----------------------------------------------------------------------------------------------


def test_float_values_within_0_1_are_kept():
    values = np.random.default_rng(4).random((HEIGHT, WIDTH)).astype(np.float32)
    values[0, 0], values[0, 1] = 0.0, 1.0
    radiograph = _read(Image.fromarray(values), "TIFF")
    assert radiograph.metadata["mode"] == "F" and radiograph.metadata["bits_stored"] == 32
    np.testing.assert_array_equal(radiograph.pixels, values)


@pytest.mark.parametrize(("low", "high"), [(-2.0, 0.5), (0.25, 6.0), (-1.0, 3.0)])
def test_float_values_outside_0_1_are_stretched(low, high):
    values = np.linspace(low, high, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.float32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    expected = (values.astype(np.float64) - low) / (high - low)
    np.testing.assert_allclose(radiograph.pixels, expected, rtol=0, atol=1e-6)


def test_float_nan_reads_as_zero_and_a_flat_float_image_outside_0_1_as_black():
    values = np.full((HEIGHT, WIDTH), 0.5, dtype=np.float32)
    values[:10] = np.nan
    pixels = _read(Image.fromarray(values), "TIFF").pixels
    assert (pixels[:10] == 0.0).all() and (pixels[10:] == 0.5).all()
    flat = _read(Image.fromarray(np.full((HEIGHT, WIDTH), 7.0, dtype=np.float32)), "TIFF").pixels
    np.testing.assert_array_equal(flat, np.zeros((HEIGHT, WIDTH), dtype=np.float32))


# --- RGB, RGBA, palette, grey with alpha ------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "TIFF", "BMP"])
def test_grey_stored_as_rgb_is_its_one_channel_without_a_warning(image_format):
    grey = _random((HEIGHT, WIDTH), seed=5)
    radiograph = _read(Image.fromarray(np.repeat(grey[..., None], 3, axis=2)), image_format)
    np.testing.assert_array_equal(radiograph.pixels, grey.astype(np.float32) / np.float32(255.0))
    assert radiograph.warnings == [] and radiograph.metadata["mode"] == "RGB" and radiograph.metadata["bits_stored"] == 8


def test_rgb_that_is_grey_on_the_sampling_grid_only_is_weighed_as_colour():
    # 300 x 300 is sampled every second pixel; one pixel off the grid differs, so the channels are not identical.
    grey = _random((300, 300), seed=6)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[1, 1] = (200, 10, 60)
    pixels = _read(Image.fromarray(rgb)).pixels
    np.testing.assert_allclose(pixels, _luma(rgb), rtol=0, atol=1e-6)
    assert pixels[1, 1] == pytest.approx((0.299 * 200 + 0.587 * 10 + 0.114 * 60) / 255, abs=1e-6)


@pytest.mark.parametrize("shape", [(HEIGHT, WIDTH), (520, 301)])  # the second spans several bands of rows
def test_colour_rgb_is_the_bt601_luma_with_a_warning(shape):
    rgb = _random((*shape, 3), seed=7)
    radiograph = _read(Image.fromarray(rgb))
    np.testing.assert_allclose(radiograph.pixels, _luma(rgb), rtol=0, atol=1e-6)
    assert radiograph.pixels.dtype == np.float32
    assert radiograph.warnings == [
        "colour PNG image (RGB) converted to greyscale; the model was trained on greyscale radiographs"
    ]


def test_grey_rgb_with_a_few_levels_of_channel_noise_is_weighed_but_not_called_colour():
    grey = _random((HEIGHT, WIDTH), high=200, seed=8).astype(np.int16) + 20
    noise = np.random.default_rng(9).integers(-3, 4, size=(HEIGHT, WIDTH, 3))
    rgb = (grey[..., None] + noise).astype(np.uint8)
    radiograph = _read(Image.fromarray(rgb))
    np.testing.assert_allclose(radiograph.pixels, _luma(rgb), rtol=0, atol=1e-6)
    assert radiograph.warnings == []


def test_rgba_is_luma_times_alpha_with_a_transparency_warning():
    rgba = _random((HEIGHT, WIDTH, 4), seed=10)
    radiograph = _read(Image.fromarray(rgba, "RGBA"))
    expected = _luma(rgba) * rgba[..., 3] / 255.0
    np.testing.assert_allclose(radiograph.pixels, expected, rtol=0, atol=1e-6)
    assert radiograph.warnings == [
        "colour PNG image (RGBA) converted to greyscale; the model was trained on greyscale radiographs",
        "transparent areas of the image are shown as black",
    ]


def test_opaque_grey_rgba_is_the_grey_exactly_and_has_no_warning():
    grey = _random((HEIGHT, WIDTH), seed=11)
    rgba = np.concatenate([np.repeat(grey[..., None], 3, axis=2), np.full((HEIGHT, WIDTH, 1), 255, np.uint8)], axis=2)
    radiograph = _read(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_array_equal(radiograph.pixels, grey.astype(np.float32) / np.float32(255.0))
    assert radiograph.warnings == []


def test_a_single_pixel_of_alpha_254_counts_as_transparent():
    grey = np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)
    rgba = np.stack([grey, grey, grey, grey], axis=2)
    rgba[7, 9, 3] = 254
    radiograph = _read(Image.fromarray(rgba, "RGBA"))
    assert radiograph.warnings == ["transparent areas of the image are shown as black"]
    assert radiograph.pixels[7, 9] == pytest.approx(254 / 255, abs=1e-6) and radiograph.pixels[0, 0] == 1.0


def test_grey_with_alpha_is_grey_times_alpha():
    la = _random((HEIGHT, WIDTH, 2), seed=12)
    radiograph = _read(Image.fromarray(la, "LA"))
    expected = la[..., 0] / 255.0 * la[..., 1] / 255.0
    np.testing.assert_allclose(radiograph.pixels, expected, rtol=0, atol=1e-6)
    assert radiograph.warnings == ["transparent areas of the image are shown as black"]


def test_grey_palette_is_the_grey_and_colour_palette_the_luma():
    index = _random((HEIGHT, WIDTH), high=4, seed=13)
    grey_palette = [0, 0, 0, 90, 90, 90, 180, 180, 180, 255, 255, 255]
    image = Image.fromarray(index, "P")
    image.putpalette(grey_palette)
    radiograph = _read(image)
    assert radiograph.metadata["mode"] == "P" and radiograph.warnings == []
    np.testing.assert_allclose(radiograph.pixels, np.array([0, 90, 180, 255])[index] / 255.0, rtol=0, atol=1e-7)

    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 200, 40], [30, 60, 250]])
    image = Image.fromarray(index, "P")
    image.putpalette(colours.astype(np.uint8).ravel().tolist())
    radiograph = _read(image)
    np.testing.assert_allclose(radiograph.pixels, _luma(colours[index]), rtol=0, atol=1e-6)
    assert radiograph.warnings == [
        "colour PNG image (P) converted to greyscale; the model was trained on greyscale radiographs"
    ]


def test_palette_with_a_transparent_entry():
    index = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    index[:, WIDTH // 2 :] = 1
    image = Image.fromarray(index, "P")
    image.putpalette([120, 120, 120, 200, 200, 200])
    radiograph = _read(image, transparency=0)
    assert (radiograph.pixels[:, : WIDTH // 2] == 0.0).all()
    np.testing.assert_allclose(radiograph.pixels[:, WIDTH // 2 :], 200 / 255, rtol=0, atol=1e-7)
    assert radiograph.warnings == ["transparent areas of the image are shown as black"]


def test_grey_from_rgb8_by_hand():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 10, 10]]], dtype=np.uint8)
    grey, is_colour = grey_from_rgb8(rgb)
    np.testing.assert_allclose(grey, [[0.299, 0.587, 0.114, 10 / 255 * 1.0]], rtol=0, atol=1e-6)
    assert is_colour and grey.dtype == np.float32
    same = np.repeat(np.array([[0, 51, 255]], dtype=np.uint8)[..., None], 3, axis=2)
    grey, is_colour = grey_from_rgb8(same)
    np.testing.assert_array_equal(grey, np.array([[0, 51, 255]], dtype=np.float32) / np.float32(255.0))
    assert not is_colour


# --- JPEG -------------------------------------------------------------------------------------------------------


def _pillow_decode(data: bytes, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert(mode), dtype=np.float64)


def test_grey_jpeg_is_its_decoded_values_over_255():
    values = np.clip(np.add.outer(np.arange(HEIGHT), np.arange(WIDTH)), 0, 255).astype(np.uint8)
    data = _encode(Image.fromarray(values), "JPEG", quality=90)
    radiograph = read_raster(PATH, data, "JPEG")
    np.testing.assert_array_equal(radiograph.pixels, (_pillow_decode(data, "L") / 255.0).astype(np.float32))
    assert radiograph.metadata["mode"] == "L" and radiograph.warnings == []


def test_colour_jpeg_is_read_as_its_luma_plane():
    """The Y plane libjpeg decodes (Pillow's draft to YCbCr, the documented way to ask for it), not the RGB decode."""
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[..., 0] = np.linspace(0, 255, WIDTH, dtype=np.uint8)[None, :]
    rgb[..., 2] = 255 - rgb[..., 0]
    rgb[..., 1] = np.linspace(0, 255, HEIGHT, dtype=np.uint8)[:, None]
    data = _encode(Image.fromarray(rgb), "JPEG", quality=90)
    with Image.open(io.BytesIO(data)) as image:
        image.draft("YCbCr", None)
        assert image.mode == "YCbCr"
        luma_plane = np.asarray(image, dtype=np.float64)[..., 0] / 255.0
    radiograph = read_raster(PATH, data, "JPEG")
    np.testing.assert_array_equal(radiograph.pixels, luma_plane.astype(np.float32))
    # And within about a grey level of the luma of the RGB decode.
    assert np.abs(radiograph.pixels - _luma(_pillow_decode(data, "RGB"))).mean() < 1.0 / 255.0
    assert radiograph.metadata["mode"] == "RGB" and radiograph.metadata["bits_stored"] == 8
    assert radiograph.warnings == [
        "colour JPEG image (YCbCr) converted to greyscale; the model was trained on greyscale radiographs"
    ]


def test_grey_jpeg_stored_as_rgb_reads_as_its_luma_plane_without_a_colour_warning():
    grey = np.clip(np.add.outer(np.arange(HEIGHT), np.arange(WIDTH)) // 2, 0, 255).astype(np.uint8)
    data = _encode(Image.fromarray(grey).convert("RGB"), "JPEG", quality=90)
    radiograph = read_raster(PATH, data, "JPEG")
    with Image.open(io.BytesIO(data)) as image:
        image.draft("YCbCr", None)
        luma_plane = np.asarray(image, dtype=np.float64)[..., 0] / 255.0
    np.testing.assert_array_equal(radiograph.pixels, luma_plane.astype(np.float32))
    assert radiograph.warnings == []


def test_jpeg_with_rgb_coded_components_is_the_luma_of_its_rgb_decode():
    rgb = _random((HEIGHT, WIDTH, 3), seed=14)
    data = _encode(Image.fromarray(rgb), "JPEG", quality=95, keep_rgb=True)
    radiograph = read_raster(PATH, data, "JPEG")
    np.testing.assert_allclose(radiograph.pixels, _luma(_pillow_decode(data, "RGB")), rtol=0, atol=1e-6)
    assert radiograph.warnings[0].startswith("colour JPEG image (RGB)")


def test_cmyk_jpeg_is_converted_through_rgb():
    cmyk = _random((HEIGHT, WIDTH, 4), seed=15)
    data = _encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    radiograph = read_raster(PATH, data, "JPEG")
    np.testing.assert_allclose(radiograph.pixels, _luma(_pillow_decode(data, "RGB")), rtol=0, atol=1e-6)
    assert radiograph.metadata["mode"] == "CMYK" and radiograph.warnings[0].startswith("colour JPEG image (CMYK)")


# --- EXIF orientation -------------------------------------------------------------------------------------------


# Orientation tag value -> the stored image turned upright, by hand (EXIF 2.3, table of Orientation).
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # turned 180 degrees
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.T,  # transposed
    6: lambda a: np.rot90(a, -1),  # stored turned 90 degrees anticlockwise: turn it clockwise
    7: lambda a: a[::-1, ::-1].T,  # transversed
    8: lambda a: np.rot90(a, 1),
}


def _with_orientation(values: np.ndarray, orientation: int, image_format: str = "PNG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(Image.fromarray(values), image_format, exif=exif)


@pytest.mark.parametrize("orientation", sorted(UPRIGHT))
def test_exif_orientation_turns_the_image_upright(orientation):
    values = _random((HEIGHT, WIDTH), seed=16)
    radiograph = read_raster(PATH, _with_orientation(values, orientation), "PNG")
    expected = UPRIGHT[orientation](values)
    np.testing.assert_array_equal(radiograph.pixels, expected.astype(np.float32) / np.float32(255.0))
    assert (radiograph.metadata["width"], radiograph.metadata["height"]) == (expected.shape[1], expected.shape[0])
    # The original size is the stored one, before turning.
    assert (radiograph.metadata["original_width"], radiograph.metadata["original_height"]) == (WIDTH, HEIGHT)
    assert radiograph.metadata.get("exif_orientation") == (None if orientation == 1 else orientation)
    assert radiograph.warnings == []


def test_exif_orientation_zero_is_taken_as_upright():
    values = _random((HEIGHT, WIDTH), seed=17)
    radiograph = read_raster(PATH, _with_orientation(values, 0), "PNG")
    np.testing.assert_array_equal(radiograph.pixels, values.astype(np.float32) / np.float32(255.0))
    assert "exif_orientation" not in radiograph.metadata and radiograph.warnings == []


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_unreadable_exif_is_ignored_with_a_warning():
    values = _random((HEIGHT, WIDTH), seed=18)
    data = _encode(Image.fromarray(values), "PNG")
    damaged = data[:33] + _png_chunk(b"eXIf", b"not a TIFF header at all") + data[33:]  # after IHDR
    radiograph = read_raster(PATH, damaged, "PNG")
    np.testing.assert_array_equal(radiograph.pixels, values.astype(np.float32) / np.float32(255.0))
    assert radiograph.warnings == ["EXIF data could not be read; orientation taken as stored"]
    assert "exif_orientation" not in radiograph.metadata


def test_an_orientation_that_cannot_be_applied_leaves_the_image_as_stored_with_a_warning(monkeypatch):
    values = _random((HEIGHT, WIDTH), seed=19)

    def failing(image):
        raise ValueError("cannot turn")

    monkeypatch.setattr(raster.ImageOps, "exif_transpose", failing)
    radiograph = read_raster(PATH, _with_orientation(values, 6), "PNG")
    np.testing.assert_array_equal(radiograph.pixels, values.astype(np.float32) / np.float32(255.0))
    assert radiograph.metadata["exif_orientation"] == 6
    assert radiograph.warnings == ["EXIF orientation 6 could not be applied (cannot turn); shown as stored"]


# --- several images, damage, limits -----------------------------------------------------------------------------


def test_animated_png_reads_its_first_frame_with_a_warning():
    first, second = np.full((HEIGHT, WIDTH), 30, np.uint8), np.full((HEIGHT, WIDTH), 220, np.uint8)
    data = _encode(Image.fromarray(first), "PNG", save_all=True, append_images=[Image.fromarray(second)])
    radiograph = read_raster(PATH, data, "PNG")
    np.testing.assert_array_equal(radiograph.pixels, first / np.float32(255.0))
    assert radiograph.warnings == ["PNG file holds several images; only the first is read"]


def test_a_damaged_header_names_the_format():
    data = _encode(Image.fromarray(_random((HEIGHT, WIDTH))), "PNG")
    damaged = data[:16] + b"\xff\xff" + data[18:]  # the width's top bytes: the IHDR checksum no longer matches
    with pytest.raises(Exception) as pillow:  # Pillow's own words for the damage, quoted in the cause
        Image.open(io.BytesIO(damaged), formats=["PNG"])
    with pytest.raises(ImageReadError) as caught:
        read_raster(PATH, damaged, "PNG")
    # Pillow names the stream object by its address, which differs between the two opens.
    expected = f"damaged PNG header ({' '.join(str(pillow.value).split())})"
    assert re.sub(r"0x[0-9a-f]+", "ADDRESS", caught.value.cause) == re.sub(r"0x[0-9a-f]+", "ADDRESS", expected)
    assert not isinstance(caught.value, ImageTooLargeError) and str(pillow.value)
    assert caught.value.path == str(PATH)


def test_data_cut_short_names_the_format():
    data = _encode(Image.fromarray(_random((HEIGHT, WIDTH))), "TIFF")
    with pytest.raises(Exception) as pillow:
        with Image.open(io.BytesIO(data[: len(data) // 2])) as image:
            image.load()
    with pytest.raises(ImageReadError) as caught:
        read_raster(PATH, data[: len(data) // 2], "TIFF")
    assert caught.value.cause == f"truncated or damaged TIFF data ({' '.join(str(pillow.value).split())})"
    assert str(pillow.value)
    assert not isinstance(caught.value, (ImageTooLargeError, NotAnImageError))


def _png_header_only(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))


def test_a_declared_size_over_50_megapixels_is_refused_in_words():
    with pytest.raises(ImageTooLargeError) as caught:
        read_raster(PATH, _png_header_only(8000, 7000), "PNG")  # 56 megapixels: under Pillow's own bomb limit
    assert caught.value.cause == (
        "PNG image declares 8000 x 7000 pixels (56 megapixels), more than the 50 megapixels this reader "
        "decodes; refused before decoding"
    )


def test_a_declared_size_beyond_pillows_bomb_limit_is_refused_in_words():
    with pytest.raises(ImageTooLargeError) as caught:
        read_raster(PATH, _png_header_only(20_000, 20_000), "PNG")  # 400 megapixels: Pillow refuses to open it
    assert caught.value.cause == "PNG image declares more than 50 megapixels; refused"


def test_exactly_50_megapixels_is_allowed_by_the_size_check():
    # Not decoded (it would take seconds): the size check passes and the cut-short data is what fails.
    with pytest.raises(ImageReadError) as caught:
        read_raster(PATH, _png_header_only(10_000, 5_000), "PNG")
    assert not isinstance(caught.value, ImageTooLargeError)
    assert caught.value.cause.startswith("truncated or damaged PNG data")


# --- channel checks that only the full comparison can settle ----------------------------------------------------


def _off_grid(mode: str, pixel: tuple[int, ...]) -> np.ndarray:
    """A 512 x 512 grey image (sampled every second pixel by the quick checks) with one pixel off that grid changed."""
    grey = _random((512, 512), seed=20)
    channels = 4 if mode == "RGBA" else 3
    image = np.repeat(grey[..., None], channels, axis=2)
    if channels == 4:
        image[..., 3] = 255
    image[1, 1, : len(pixel)] = pixel
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("pixel", [(90, 90, 200), (200, 90, 90), (90, 200, 90)])  # two channels alike, one not
def test_one_pixel_off_the_sampling_grid_with_one_channel_apart_is_weighed(mode, pixel):
    image = _off_grid(mode, pixel)
    radiograph = _read(Image.fromarray(image, mode))
    np.testing.assert_allclose(radiograph.pixels, _luma(image), rtol=0, atol=1e-6)
    assert radiograph.pixels[1, 1] == pytest.approx(float(np.dot(pixel, LUMA)) / 255, abs=1e-6)
    assert radiograph.warnings == []  # one pixel is not a colour image


def test_rgba_grey_with_channel_noise_is_not_called_colour():
    grey = _random((HEIGHT, WIDTH), high=200, seed=22).astype(np.int16) + 20
    noise = np.random.default_rng(23).integers(-3, 4, size=(HEIGHT, WIDTH, 3))
    rgba = np.concatenate([(grey[..., None] + noise), np.full((HEIGHT, WIDTH, 1), 255)], axis=2).astype(np.uint8)
    radiograph = _read(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_allclose(radiograph.pixels, _luma(rgba), rtol=0, atol=1e-6)
    assert radiograph.warnings == []


@pytest.mark.parametrize("rows", [slice(0, None, 3), slice(1, None, 3), slice(0, None, 1)])
def test_the_rgb_colour_verdict_is_that_of_the_colour_module(rows):
    """The RGB reader's quick colour check is documented as colour.is_colour on the same grid: same verdict."""
    from osteo_desktop.core.reading import colour

    rgb = np.repeat(_random((600, 600), seed=24)[..., None], 3, axis=2)
    rgb[rows, :, 0] = 255  # red rows: on the grid colour.is_colour samples (every third), off it, or everywhere
    rgb[rows, :, 1:] = 0
    radiograph = _read(Image.fromarray(rgb))
    assert bool(radiograph.warnings) == colour.is_colour(rgb)
    np.testing.assert_allclose(radiograph.pixels, _luma(rgb), rtol=0, atol=1e-6)


def test_integer_values_one_apart_with_a_negative_are_stretched_to_black_and_white():
    values = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
    values[:, : WIDTH // 2] = -1
    pixels = _read(Image.fromarray(values), "TIFF").pixels
    assert (pixels[:, : WIDTH // 2] == 0.0).all() and (pixels[:, WIDTH // 2 :] == 1.0).all()


def test_a_fine_colour_pattern_in_a_jpeg_is_still_colour():
    # A red/cyan checkerboard, one pixel a square: any even grid of pixels sees colour; an average would see grey.
    yy, xx = np.mgrid[0:512, 0:512]
    red = (yy + xx) % 2 == 0
    rgb = np.where(red[..., None], np.array([230, 20, 20], np.uint8), np.array([20, 230, 230], np.uint8))
    data = _encode(Image.fromarray(rgb.astype(np.uint8)), "JPEG", quality=100, subsampling=0)
    radiograph = read_raster(PATH, data, "JPEG")
    assert radiograph.warnings[0].startswith("colour JPEG image")


@pytest.mark.parametrize(("low", "high"), [(0.6, 1.4), (0.2, 1.5)])
def test_float_values_a_little_over_1_are_stretched_too(low, high):
    values = np.linspace(low, high, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.float32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    np.testing.assert_allclose(radiograph.pixels, (values.astype(np.float64) - low) / (high - low), rtol=0, atol=1e-6)
    assert radiograph.warnings == []


def test_float_values_up_to_exactly_1_are_kept_as_they_are():
    values = np.linspace(0.2, 1.0, HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(np.float32)
    radiograph = _read(Image.fromarray(values), "TIFF")
    np.testing.assert_array_equal(radiograph.pixels, values)
    assert radiograph.warnings == []  # a float image is neither colour nor transparent


def test_running_out_of_memory_while_decoding_is_too_large(monkeypatch):
    data = _encode(Image.fromarray(_random((HEIGHT, WIDTH))), "PNG")

    def exhausted(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(raster.Image.Image, "load", exhausted)
    monkeypatch.setattr(ImageFile.ImageFile, "load", exhausted)
    with pytest.raises(ImageTooLargeError) as caught:
        read_raster(PATH, data, "PNG")
    assert caught.value.path == str(PATH) and caught.value.cause == "not enough memory to decode the PNG image"
