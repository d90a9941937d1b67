"""A large true-colour raster's luma held compactly (core.reading.luma, issue 13): uint16 codes for a PNG, the TIFF's
own bytes for a TIFF, a strided view of the bytes for a grey film stored as an RGB TIFF, and the knee region made a
band at a time. Every value and every model input must be the plain read's, bit for bit.

The expected luma is worked out here from the samples (BT.601 weights over 255 in float32, the three products
summed in order, as Pillow's "L" weights but unrounded), and the consumers' answers are compared against the same
consumers given the plain float32 image.
"""

from __future__ import annotations

import mmap
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from osteo_desktop.core.model import knee_detector, preprocessing, side_markers
from osteo_desktop.core.model.preprocessing import KneeRegionConfig, PreprocessConfig, knee_region, preprocess_with_geometry
from osteo_desktop.core.model.scope import look
from osteo_desktop.core.reading import luma, png_bands, raster
from osteo_desktop.core.reading.reader import read_radiograph
import test_compact_pixels
from test_compact_pixels import _noisy, _png_file, _same_read

# The banded-read fixtures, shared with test_compact_pixels (bound here so that pytest finds them by name).
in_bands = test_compact_pixels.in_bands
tiff_in_bands = test_compact_pixels.tiff_in_bands

WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32) / np.float32(255)


def _expected(rgb: np.ndarray) -> np.ndarray:
    planes = rgb.astype(np.float32)
    return planes[..., 0] * WEIGHTS[0] + planes[..., 1] * WEIGHTS[1] + planes[..., 2] * WEIGHTS[2]


def _tinted(grey: np.ndarray) -> np.ndarray:
    return np.stack([grey, (grey * 0.85).astype(np.uint8), (grey * 0.65).astype(np.uint8)], axis=-1)


def _coded(rgb: np.ndarray) -> luma.CodedLuma:
    values = _expected(rgb)
    coder = luma.LumaCoder(np.zeros(0, np.float32))
    codes = np.empty(values.shape, np.uint16)
    assert coder.encode(values, codes)
    return luma.CodedLuma(codes, coder.table)


# --- the codes and the array-like ---------------------------------------------------------------------------------


def test_each_new_value_gets_the_next_code_and_too_many_are_refused(monkeypatch):
    coder = luma.LumaCoder(np.array([0.5, 0.25], np.float32))
    out = np.empty((2, 3), np.uint16)
    assert coder.encode(np.array([[0.25, 0.75, 0.5], [0.125, 0.75, 0.25]], np.float32), out)
    assert out.tolist() == [[1, 3, 0], [2, 3, 1]]  # the new values of a call take the next codes in increasing order
    assert coder.table.tolist() == [0.5, 0.25, 0.125, 0.75]
    assert coder.encode(np.array([0.125, 0.5], np.float32), out[0, :2]) and out[0, :2].tolist() == [2, 0]
    monkeypatch.setattr(luma, "MAX_CODES", 5)
    assert coder.encode(np.array([0.875, 0.5], np.float32), out[1, :2]) and coder.table.size == 5
    assert not coder.encode(np.array([0.0625, 0.03125], np.float32), out[1, :2])


@pytest.mark.parametrize("form", ["coded", "rgb"])
def test_any_part_taken_is_the_luma_of_the_same_pixels(form):
    rgb = _noisy((37, 23, 3), 255, 1, np.uint8)
    expected = _expected(rgb)
    pixels = _coded(rgb) if form == "coded" else luma.RgbLuma(rgb)
    assert pixels.shape == (37, 23) and pixels.size == 37 * 23 and len(pixels) == 37 and pixels.ndim == 2
    assert pixels.dtype == np.float32 and pixels.nbytes == rgb.size * (2 if form == "coded" else 3) // 3
    assert np.array_equal(np.asarray(pixels), expected) and np.asarray(pixels).dtype == np.float32
    part = pixels[5:30, 3:-2]
    assert isinstance(part, luma.LumaPixels) and part.shape == (25, 18)
    assert np.array_equal(np.asarray(part), expected[5:30, 3:-2])
    assert np.array_equal(np.asarray(pixels[::4, ::3]), expected[::4, ::3])
    assert type(pixels[7]) is np.ndarray and np.array_equal(pixels[7], expected[7])  # not a slice: the values
    assert not isinstance(pixels[7:8], np.ndarray)
    picked = (np.array([0, 36, 9]), np.array([22, 0, 4]))
    assert type(pixels[picked]) is np.ndarray and np.array_equal(pixels[picked], expected[picked])
    bands = list(pixels.bands(values=5 * 23))  # 5 rows a band
    assert [top for top, _ in bands] == list(range(0, 37, 5))
    assert np.array_equal(np.concatenate([band for _, band in bands]), expected)
    assert np.array_equal(pixels[4:9] > 0.4, expected[4:9] > 0.4)
    assert float(np.sum(pixels[4:9])) == float(np.sum(expected[4:9]))
    scratch = np.empty((5, 23), np.float32)
    np.subtract(pixels[4:9], np.float32(0.5), out=scratch)
    assert np.array_equal(scratch, expected[4:9] - np.float32(0.5))
    assert pixels.min() == expected.min() and pixels.max() == expected.max()
    assert np.array_equal(pixels.ravel(), expected.ravel()) and pixels.ravel().dtype == np.float32
    assert pixels.astype(np.float32, copy=False) is pixels
    copied = pixels.astype(np.float32)
    assert type(copied) is np.ndarray and copied.dtype == np.float32 and np.array_equal(copied, expected)
    for copy in (True, False):
        wider = pixels.astype(np.float64, copy=copy)
        assert wider.dtype == np.float64 and np.array_equal(wider, expected.astype(np.float64))
    assert luma.film_pixels(pixels) is pixels and luma.film_pixels([[1, 2]]).dtype.kind == "i"


def test_the_least_and_the_greatest_value_take_one_pass_over_the_bands():
    """min() and max() together convert each band once (262,144 values a band: 436 rows of 600), and give the
    least and the greatest value; an empty image gives NaN for both."""
    rgb = _noisy((1000, 600, 3), 255, 9, np.uint8)
    taken = []

    class Counted(luma.RgbLuma):
        def _values(self, part):
            taken.append(part.shape[0])
            return super()._values(part)

    pixels, expected = Counted(rgb), _expected(rgb)
    assert pixels.min() == expected.min() and pixels.max() == expected.max() and pixels.min() < pixels.max()
    assert taken == [436, 436, 128]
    empty = Counted(rgb[:0])
    assert np.isnan(empty.min()) and np.isnan(empty.max())


# --- the reads ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("colour_from", [0, 9, 24])
def test_a_colour_png_in_bands_holds_its_luma_as_codes(tmp_path, in_bands, colour_from):
    """Colour from the first band, or from the third (the grey rows before widened in place: code k is the luma
    of (k, k, k))."""
    grey = _noisy((25, 15), 255, 2, np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[colour_from:] = _tinted(grey[colour_from:])
    _, compact = _same_read(_png_file(tmp_path / "tinted.png", rgb), expect_levels=False)
    assert isinstance(compact.pixels, luma.CodedLuma) and compact.pixels.nbytes == 2 * grey.size
    assert np.array_equal(np.asarray(compact.pixels), _expected(rgb))
    codes = compact.pixels[:, :]._store
    assert np.array_equal(codes[:colour_from], grey[:colour_from])
    every = np.arange(256, dtype=np.uint8)
    assert np.array_equal(compact.pixels.table[:256], _expected(np.stack([every] * 3, axis=-1)))
    assert any("colour" in w for w in compact.warnings)


@pytest.mark.parametrize("colour_from", [0, 9, 24])
def test_a_colour_png_with_more_distinct_values_than_codes_is_decoded_where_it_is_taken(tmp_path, in_bands, monkeypatch, colour_from):
    """Room for 270 codes (256 for the grey levels): random colours from the first band, from the third (rows 0-8
    grey, coded first), or in the last band alone (1 row; the 24 rows before, 8 tinted values, coded until then).
    The codes cannot give back the samples of the rows already coded, so the PNG is passed over again, a checkpoint
    a band (7 bands of 4 rows), and its samples are decoded from the file's bytes wherever a part is taken."""
    monkeypatch.setattr(luma, "MAX_CODES", 270)
    grey = _noisy((25, 15), 255, 3, np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if colour_from == 24:
        few = grey[:24] % 8 * 30
        rgb[:24] = np.stack([few, few // 2, few // 2], axis=-1)
    rgb[colour_from:] = _noisy((25 - colour_from, 15, 3), 255, 4, np.uint8)
    path = _png_file(tmp_path / "photo.png", rgb)
    plain, compact = _same_read(path, expect_levels=False)
    # The first decode stops in the band where the codes run out (the first, third or seventh).
    assert in_bands == [colour_from // 4 + 1]
    samples = compact.pixels[:, :]._store
    assert type(compact.pixels) is luma.RgbLuma and type(samples) is png_bands.Rows
    assert compact.pixels.nbytes == path.stat().st_size  # the file's bytes, not 3 bytes a pixel
    assert [c.top for c in samples._checkpoints] == [0, 4, 8, 12, 16, 20, 24]
    expected = _expected(rgb)
    assert np.asarray(samples).dtype == np.uint8 and np.array_equal(np.asarray(samples), rgb)
    assert np.array_equal(np.asarray(samples[()]), rgb)
    as_float = np.asarray(samples[1:3], dtype=np.float32)
    assert as_float.dtype == np.float32 and np.array_equal(as_float, rgb[1:3].astype(np.float32))
    keys = [np.s_[3:17, 2:11], np.s_[::-3, ::-2], np.s_[23:], np.s_[5:5], np.s_[::7, 14:], np.s_[2:40:5, -4:-1], np.s_[1:20:2, 1::3]]
    for key in keys:
        assert np.array_equal(np.asarray(compact.pixels[key]), expected[key]), key
        assert np.array_equal(np.asarray(samples[key]), rgb[key]), key
    assert np.array_equal(compact.pixels[5], expected[5]) and np.array_equal(compact.pixels[[1, 20], 3], expected[[1, 20], 3])
    assert np.array_equal(samples[..., 1], rgb[..., 1])
    assert any("colour" in w for w in compact.warnings) and compact.warnings == plain.warnings


def test_the_samples_are_decoded_a_band_from_its_checkpoint_and_the_last_bands_kept(tmp_path, in_bands, monkeypatch):
    """Bands of 4 rows: rows 9-10 decode the band of rows 8-11 alone, again nothing (kept), rows 2-5 the two bands
    of rows 0-3 and 4-7."""
    monkeypatch.setattr(luma, "MAX_CODES", 270)
    rgb = _noisy((25, 15, 3), 255, 5, np.uint8)
    compact = read_radiograph(_png_file(tmp_path / "photo.png", rgb), compact=True)
    starts = []
    real = png_bands._decode
    monkeypatch.setattr(png_bands, "_decode", lambda *a, **k: starts.append(k["start"].top) or real(*a, **k))
    assert np.array_equal(np.asarray(compact.pixels[9:11]), _expected(rgb)[9:11]) and starts == [8]
    assert np.array_equal(np.asarray(compact.pixels[10:11, 3:4]), _expected(rgb)[10:11, 3:4]) and starts == [8]
    assert np.array_equal(np.asarray(compact.pixels[2:6]), _expected(rgb)[2:6]) and starts == [8, 0, 4]
    # Four bands kept, the least recently used dropped first: 12 and 16 push out 8; 4 is still kept.
    assert np.array_equal(np.asarray(compact.pixels[12:20]), _expected(rgb)[12:20]) and starts == [8, 0, 4, 12, 16]
    assert np.array_equal(np.asarray(compact.pixels[4:5]), _expected(rgb)[4:5]) and starts == [8, 0, 4, 12, 16]
    assert np.array_equal(np.asarray(compact.pixels[8:9]), _expected(rgb)[8:9]) and starts == [8, 0, 4, 12, 16, 8]
    kept, _ = compact.pixels[:, :]._store._kept
    assert {top: band.shape for top, band in kept.items()} == {top: (4, 15, 3) for top in (4, 12, 16, 8)}


def test_rows_columns_and_picked_samples_decode_no_more_than_a_band_at_once(tmp_path, in_bands, monkeypatch):
    """Bands of 4 rows (184 bytes of file rows: 4 rows of samples a band when picking): a row, a column, a pixel
    and a subsample picked over the whole image, each the file's samples, none decoding more than 4 rows at once."""
    monkeypatch.setattr(luma, "MAX_CODES", 270)
    rgb = _noisy((25, 15, 3), 255, 6, np.uint8)
    compact = read_radiograph(_png_file(tmp_path / "photo.png", rgb), compact=True)
    samples = compact.pixels[:, :]._store
    decoded = []
    real = png_bands.Rows.__array__
    monkeypatch.setattr(png_bands.Rows, "__array__", lambda self, *a, **k: decoded.append(len(self)) or real(self, *a, **k))
    picked = np.arange(0, 25 * 15, 7)
    rows, columns = picked // 15, picked % 15
    assert np.array_equal(samples[rows, columns], rgb[rows, columns]) and len(decoded) == 7 and max(decoded) == 4
    assert np.array_equal(compact.pixels[rows, columns], _expected(rgb)[rows, columns])
    decoded.clear()
    assert np.array_equal(samples[7], rgb[7]) and np.array_equal(samples[-1, 2:9], rgb[-1, 2:9]) and decoded == [1, 1]
    assert np.array_equal(samples[:, -3], rgb[:, -3]) and np.array_equal(samples[24, 14], rgb[24, 14])
    assert np.array_equal(samples[[3, 3, 21], [0, 14, 2]], rgb[[3, 3, 21], [0, 14, 2]])
    assert np.array_equal(samples[np.array([[1], [22]]), np.array([4, 5, 6])], rgb[np.array([[1], [22]]), np.array([4, 5, 6])])
    assert np.array_equal(samples[5, [1, 2]], rgb[5, [1, 2]]) and np.array_equal(samples[..., 2], rgb[..., 2])
    assert samples[rows, columns].dtype == np.uint8 and samples[7].dtype == np.uint8
    assert samples[3, 2, 1] == rgb[3, 2, 1] and np.array_equal(samples[2:5, 1:4, 1:], rgb[2:5, 1:4, 1:])
    with pytest.raises(IndexError):
        samples[25]


def test_the_codes_are_handed_back_before_the_second_pass(tmp_path, in_bands, monkeypatch):
    """When the codes run out, their store's pages are handed back (madvise) before the second pass starts."""
    monkeypatch.setattr(luma, "MAX_CODES", 270)
    events = []
    real_released, real_held = raster._released, raster._held_png
    monkeypatch.setattr(raster, "_released", lambda store: events.append(("released", len(store))) or real_released(store))
    monkeypatch.setattr(raster, "_held_png", lambda data, plan: events.append(("held", plan.height, plan.width)) or real_held(data, plan))
    rgb = _noisy((25, 15, 3), 255, 5, np.uint8)
    _same_read(_png_file(tmp_path / "photo.png", rgb), expect_levels=False)
    assert events == [("released", 2 * 25 * 15), ("held", 25, 15)]


def test_released_drops_the_pages_of_a_mapped_store():
    store = raster._scratch(3 * mmap.PAGESIZE)
    if not isinstance(store, mmap.mmap):
        pytest.skip("no madvise on this platform: the store is a plain array")
    view = np.frombuffer(store, dtype=np.uint8)
    view[:] = 7
    raster._released(store)
    assert not view.any()  # private anonymous pages, dropped: read back as zeros


def test_an_rgb_tiff_with_strips_out_of_order_and_more_values_than_codes_holds_its_samples(tmp_path, tiff_in_bands, monkeypatch):
    monkeypatch.setattr(luma, "MAX_CODES", 300)
    rgb = _noisy((60, 41, 3), 255, 7, np.uint8)
    path = _tiff_strips_reversed(tmp_path / "reversed.tif", rgb, 16)
    _, compact = _same_read(path, expect_levels=False)
    assert type(compact.pixels) is luma.RgbLuma and np.array_equal(compact.pixels[:, :]._store, rgb)
    assert compact.pixels.nbytes == rgb.nbytes and not compact.pixels[:, :]._store.flags.writeable
    assert np.array_equal(np.asarray(compact.pixels), _expected(rgb))


def test_an_rgb_tiff_is_read_from_its_own_bytes(tmp_path, tiff_in_bands):
    """Strips of 16 rows one after another; the file's bytes given with bytes after the image (ignored by TIFF
    readers); grey rows first, then tinted ones; a grey film stored as RGB; one whose blue alone differs."""
    grey = _noisy((120, 90), 255, 5, np.uint8)
    rgb = _tinted(grey)
    rgb[:40] = np.repeat(grey[:40, :, None], 3, axis=2)  # grey rows first: nothing made of them either
    blue = np.repeat(grey[..., None], 3, axis=2)
    blue[60:, :, 2] //= 2
    for name, samples in (("tinted.tif", rgb), ("grey.tif", np.repeat(grey[..., None], 3, axis=2)), ("blue.tif", blue)):
        path = tmp_path / name
        Image.fromarray(samples, "RGB").save(path, tiffinfo={278: 16})
        data = path.read_bytes() + bytes(7)
        plain, compact = read_radiograph(path), read_radiograph(path, data=data, compact=True)
        held = compact.pixels._store if isinstance(compact.pixels, luma.LumaPixels) else compact.pixels
        assert np.shares_memory(held, np.frombuffer(data, np.uint8))
        if name == "grey.tif":
            assert compact.pixels.dtype == np.uint8 and np.array_equal(compact.pixels, grey)
        else:
            assert isinstance(compact.pixels, luma.RgbLuma) and np.array_equal(np.asarray(compact.pixels), plain.pixels)
            assert np.array_equal(plain.pixels, _expected(samples))
        assert compact.warnings == plain.warnings and compact.metadata == plain.metadata
    assert len(tiff_in_bands) == 3


def test_the_colour_grid_of_a_tiff_read_in_place_is_the_whole_images(tmp_path, tiff_in_bands, monkeypatch):
    """A coloured row the whole image's grid (every 3rd row from row 0) does not sample, in a band that starts off
    the grid (rows 5-9): not colour, as the whole read sees it; row 6, which the grid samples, makes it colour."""
    from osteo_desktop.core.reading import colour

    monkeypatch.setattr(colour, "_SAMPLE_PIXELS", 1200)  # 120 x 90: a step of 3
    grey = np.repeat(_noisy((120, 90), 255, 8, np.uint8)[..., None], 3, axis=2)
    for row, expected in ((7, False), (6, True)):
        rgb = grey.copy()
        rgb[row] = (220, 30, 30)
        path = tmp_path / f"row{row}.tif"
        Image.fromarray(rgb, "RGB").save(path)
        _, compact = _same_read(path, expect_levels=False)
        assert isinstance(compact.pixels, luma.RgbLuma) and any("colour" in w for w in compact.warnings) == expected


def test_levels_are_widened_into_codes_in_place_from_the_last_band_up(monkeypatch):
    """7 rows of levels, in bands of 2 rows from the bottom (rows 5-6, 3-4, 1-2, then row 0 alone), into the codes
    that view the same bytes: the same numbers."""
    monkeypatch.setattr(raster, "_BAND_PIXELS", 2 * 11)
    store = bytearray(2 * 9 * 11)
    levels = np.frombuffer(store, np.uint8, count=99).reshape(9, 11)
    codes = np.frombuffer(store, np.uint16, count=99).reshape(9, 11)
    expected = _noisy((7, 11), 255, 9, np.uint8)
    levels[:7] = expected
    raster._widened_in_place(levels, codes, 7)
    assert np.array_equal(codes[:7], expected)


def _tiff_strips_reversed(path: Path, rgb: np.ndarray, rows_per_strip: int) -> Path:
    """A baseline RGB TIFF (little-endian, uncompressed) whose strips lie in the file last first."""
    height, width = rgb.shape[:2]
    strips = [rgb[top : top + rows_per_strip].tobytes() for top in range(0, height, rows_per_strip)]
    entries = 10
    ifd_size = 2 + entries * 12 + 4
    bits_at = 8 + ifd_size
    offsets_at = bits_at + 6
    counts_at = offsets_at + 4 * len(strips)
    data_at = counts_at + 4 * len(strips)
    offsets, at = [0] * len(strips), data_at
    for index in reversed(range(len(strips))):
        offsets[index], at = at, at + len(strips[index])
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, len(strips), offsets_at), (277, 3, 1, 3), (278, 4, 1, rows_per_strip),
            (279, 4, len(strips), counts_at), (284, 3, 1, 1)]
    out = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", entries)
    out += b"".join(struct.pack("<HHII", *tag) for tag in tags) + struct.pack("<I", 0)
    out += struct.pack("<3H", 8, 8, 8) + struct.pack(f"<{len(strips)}I", *offsets)
    out += struct.pack(f"<{len(strips)}I", *(len(s) for s in strips)) + b"".join(reversed(strips))
    path.write_bytes(out)
    return path


def test_an_rgb_tiff_whose_strips_are_out_of_order_is_coded(tmp_path, tiff_in_bands):
    rgb = _tinted(_noisy((60, 41), 255, 6, np.uint8))
    path = _tiff_strips_reversed(tmp_path / "reversed.tif", rgb, 16)
    with Image.open(path) as image:  # the writer's own check: Pillow reads back what was written
        assert np.array_equal(np.asarray(image), rgb)
    _, compact = _same_read(path, expect_levels=False)
    assert isinstance(compact.pixels, luma.CodedLuma) and np.array_equal(np.asarray(compact.pixels), _expected(rgb))
    assert tiff_in_bands[-1] is not None


# --- consumers ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tinted_phantoms():
    return [_tinted(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)) for image in test_compact_pixels.phantom_films()]


def test_consumers_give_the_same_answers_from_held_luma(tinted_phantoms):
    for rgb in tinted_phantoms:
        values = _expected(rgb)
        for pixels in (_coded(rgb), luma.RgbLuma(rgb)):
            test_compact_pixels.assert_same_film_inputs(pixels, values)
            assert preprocessing.film_background(pixels) == preprocessing.film_background(values)
            # Regions of 400 rows come in two bands of the resize: ones running off the top and off the bottom.
            height = rgb.shape[0]
            for box in ((100, 120, 420, 440), (-40, -30, 160, 170), (rgb.shape[1] - 90, 300, rgb.shape[1] + 60, 450),
                        (100, -200, 500, 200), (100, height - 350, 500, height + 50)):
                region, where = knee_region(pixels, box, KneeRegionConfig())
                region_values, where_values = knee_region(values, box, KneeRegionConfig())
                assert np.array_equal(region, region_values) and where == where_values
            a, b = look(pixels, {}), look(values, {})
            assert a.decided == b.decided is None and np.array_equal(a.statistics, b.statistics)
            for module in (knee_detector, side_markers):
                small, scale = module.working_copy(pixels)
                small_values, scale_values = module.working_copy(values)
                assert scale == scale_values and np.array_equal(small, small_values)


def test_a_knee_region_is_made_a_band_at_a_time(monkeypatch):
    """A knee's region at the film's resolution (3000 x 3000, 36 MB as float32) is never made whole: the memory
    traced while it is cut and resized stays under half of it. Same input as the region made whole here."""
    k = np.random.default_rng(7).integers(0, 256, size=(3200, 3100), dtype=np.uint8)
    box = (-500, 100, 2500, 3100)
    tracemalloc.start()
    try:
        region, _ = knee_region(k, box, KneeRegionConfig())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3000 * 3000 * 4 / 2
    from osteo_desktop.core.model.resampling import resize_bilinear

    background = preprocessing.film_background(k)
    whole = np.full((3000, 3000), background, np.float32)
    whole[:, 500:] = k[100:3100, 0:2500] / np.float32(255)
    content = np.clip(resize_bilinear(whole, 224, 224), 0.0, 1.0)
    picked = np.arange(0, 3000 * 2500, 3000 * 2500 // (1 << 18) + 1)
    sample = k[100:3100, 0:2500][picked // 2500, picked % 2500] / np.float32(255)
    expected = preprocessing._equalize_like(content, sample) * 2.0 - 1.0
    assert np.array_equal(region[..., 0], expected.astype(np.float32))


def test_the_model_gives_the_same_answers_for_a_tinted_film_read_compactly(tmp_path, monkeypatch, classifier, knee_png):
    from osteo_desktop.core.pipeline.film import judge_film, prepare_film, run_films

    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 0)
    with Image.open(knee_png) as image:
        rgb = _tinted(np.asarray(image.convert("L")))
    # A photograph-like film: the tint with independent noise of 0-31 levels in each channel, more distinct luma
    # values than codes (its samples are held, from a second decode).
    photo = np.minimum(rgb, 224) + np.random.default_rng(8).integers(0, 32, size=rgb.shape, dtype=np.uint8)
    assert np.unique(_expected(photo)).size > luma.MAX_CODES
    kinds = {"tinted.png": luma.CodedLuma, "tinted.tif": luma.RgbLuma, "photo.png": luma.RgbLuma}
    for name, kind in kinds.items():
        path = tmp_path / name
        Image.fromarray(photo if name.startswith("photo") else rgb, "RGB").save(path)
        plain, compact = read_radiograph(path), read_radiograph(path, compact=True)
        assert type(compact.pixels) is kind
        works = [prepare_film(plain, classifier), prepare_film(compact, classifier)]
        assert works[0].film_input is not None and np.array_equal(works[0].film_input, works[1].film_input)
        assert works[0].detected == works[1].detected and len(works[0].regions) == len(works[1].regions) > 0
        assert all(np.array_equal(a, b) for a, b in zip(works[0].regions, works[1].regions))
        verdicts = [judge_film(classifier, work, out) for work, out in zip(works, run_films(classifier, works))]
        assert verdicts[0].decision == verdicts[1].decision
        assert [k.probability for k in verdicts[0].knees] == [k.probability for k in verdicts[1].knees]


class _Counted(luma.CodedLuma):
    """Coded luma that records how many values each conversion made."""

    converted: list[int] = []

    def _values(self, part: np.ndarray) -> np.ndarray:
        _Counted.converted.append(int(part.size))
        return super()._values(part)

    def _like(self, store: np.ndarray) -> "_Counted":
        return _Counted(store, self.table)


def test_the_consumers_never_make_the_whole_float_image(tinted_phantoms):
    """The film input, the scope gate's look, both working copies, the background and a knee region convert the
    luma a band at a time: no conversion takes half the image (a consumer that took np.asarray would take all)."""
    rgb = tinted_phantoms[0]
    coded = _coded(rgb)
    pixels = _Counted(coded[:, :]._store, coded.table)
    _Counted.converted = []
    preprocess_with_geometry(pixels, PreprocessConfig())
    look(pixels, {})
    knee_detector.working_copy(pixels)
    side_markers.working_copy(pixels)
    knee_region(pixels, (100, 120, 420, 440), KneeRegionConfig())
    assert len(_Counted.converted) > 10 and max(_Counted.converted) < pixels.size / 2
    np.asarray(pixels)
    assert _Counted.converted[-1] == pixels.size  # the count sees a whole conversion
