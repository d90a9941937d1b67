"""A compact read (grey levels as uint8, issue 13) stands for exactly the float32 pixels of a plain read, and every
consumer on the model path (preprocessing, knee regions, the scope gate's look, the knee detector's working copy)
gives exactly the same answer from it: the same model inputs bit for bit, so the same probabilities.

The reference is the plain read (float32, the path the reader's own tests check against pydicom and Pillow) and the
float32 value of level k worked out independently (k / 255 in double, rounded once to float32: exact, since a
double holds the quotient of two small integers to far more than twice float32's precision).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from imaging_factories import dicom_bytes, gradient, make_dicom, write
from knee_phantom import one_knee_phantom, two_knee_phantom
from osteo_desktop.core.model import knee_detector, preprocessing
from osteo_desktop.core.model.preprocessing import KneeRegionConfig, PreprocessConfig, knee_region, preprocess_with_geometry
from osteo_desktop.core.model.resampling import resize_bilinear
from osteo_desktop.core.model.scope import look
from osteo_desktop.core.reading import levels, raster
from osteo_desktop.core.reading.reader import on_grey_levels, read_radiograph


def _reference_values(k: np.ndarray) -> np.ndarray:
    return (k.astype(np.float64) / 255.0).astype(np.float32)


def _as_levels(pixels: np.ndarray) -> np.ndarray:
    """Float pixels on the grid k / 255 as their levels, asserting they are on it (the test's own conversion)."""
    k = np.rint(pixels.astype(np.float64) * 255.0)
    assert np.array_equal(_reference_values(k), pixels), "a plain read gave pixels off the grey levels"
    return k.astype(np.uint8)


# --- the levels themselves --------------------------------------------------------------------------------------


def test_each_level_stands_for_k_over_255_rounded_once_to_float32():
    k = np.arange(256)
    assert levels.UNIT_VALUES.dtype == np.float32
    assert np.array_equal(levels.UNIT_VALUES, _reference_values(k))
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(levels.unit_values(image), _reference_values(image))
    out = np.full((16, 16), -1.0, np.float32)
    assert levels.unit_values(image, out=out) is out and np.array_equal(out, _reference_values(image))
    floats = np.linspace(0, 1, 7, dtype=np.float32)
    assert levels.unit_values(floats) is floats  # values stay themselves, uncopied


def test_to_levels_is_the_readers_rounding_onto_the_grid():
    values = np.random.default_rng(3).random((40, 50), dtype=np.float32)
    values[0, :4] = [0.0, 1.0, 0.5 / 255, 254.5 / 255]
    k = levels.to_levels(values)
    assert k.dtype == np.uint8
    assert np.array_equal(levels.unit_values(k), on_grey_levels(values.copy()))
    assert levels.to_levels(np.array([-0.2, 1.3], np.float32)).tolist() == [0, 255]


@pytest.mark.parametrize("threshold", [0.0, 0.06, 0.5, 16 / 255, 0.999, 1.0, -0.1])
def test_first_level_above_splits_the_levels_as_the_float_comparison_does(threshold):
    level = levels.first_level_above(threshold)
    k = np.arange(256)
    assert np.array_equal(k >= level, _reference_values(k) > np.float32(threshold))


# --- readers: compact against plain -------------------------------------------------------------------------------


def _same_read(path: Path, *, expect_levels: bool = True):
    plain, compact = read_radiograph(path), read_radiograph(path, compact=True)
    assert compact.pixels.dtype == (np.uint8 if expect_levels else np.float32)
    if expect_levels:
        assert np.array_equal(_reference_values(compact.pixels), plain.pixels)
    else:
        assert np.array_equal(compact.pixels, plain.pixels)
    assert compact.metadata == plain.metadata
    assert compact.warnings == plain.warnings
    assert compact.window == plain.window and compact.invert_for_display == plain.invert_for_display
    assert compact.patient == plain.patient and compact.dicom == plain.dicom
    assert compact.modality_values is None
    return plain, compact


def _film(seed: int = 0, shape: tuple[int, int] = (160, 140)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(gradient(*shape, maximum=255, dtype=np.float64) + rng.normal(0, 9, shape), 0, 255).astype(np.uint8)


def _png(tmp_path: Path, image: Image.Image, name: str = "film.png", **options) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def test_8_bit_grey_png_and_jpeg(tmp_path):
    film = _film()
    _same_read(_png(tmp_path, Image.fromarray(film, "L")))
    _same_read(_png(tmp_path, Image.fromarray(film, "L"), "film.jpg", quality=90))


def test_grey_stored_as_rgb_png_and_colour_stored_jpeg(tmp_path):
    rgb = Image.fromarray(np.repeat(_film(1)[..., None], 3, axis=2), "RGB")
    _same_read(_png(tmp_path, rgb))
    _, compact = _same_read(_png(tmp_path, rgb, "film.jpg", quality=90))
    assert not any("colour" in w for w in compact.warnings)


def test_colour_files_keep_their_float_luma_or_levels_as_the_plain_read(tmp_path):
    film = _film(2)
    colour = np.stack([film, np.roll(film, 9, axis=1), 255 - film], axis=-1)
    # A colour PNG's luma lies between the grey levels: it stays float32, the same values.
    _, compact = _same_read(_png(tmp_path, Image.fromarray(colour, "RGB")), expect_levels=False)
    assert any("colour" in w for w in compact.warnings)
    # A colour JPEG is read as its Y plane, which is on the levels.
    _, compact = _same_read(_png(tmp_path, Image.fromarray(colour, "RGB"), "film.jpg", quality=90))
    assert any("colour" in w for w in compact.warnings)
    rgba = np.dstack([colour, np.where(np.arange(140) < 70, 255, 90).astype(np.uint8)[None, :].repeat(160, 0)])
    _same_read(_png(tmp_path, Image.fromarray(rgba, "RGBA"), "alpha.png"), expect_levels=False)


def test_16_bit_and_1_bit_pngs(tmp_path):
    deep = gradient(90, 70, maximum=65535)
    _, compact = _same_read(_png(tmp_path, Image.frombuffer("I;16", (70, 90), deep.astype("<u2").tobytes(), "raw", "I;16", 0, 1)))
    assert compact.metadata["bits_stored"] == 16
    twelve = gradient(90, 70, maximum=4095)
    _same_read(_png(tmp_path, Image.frombuffer("I;16", (70, 90), twelve.astype("<u2").tobytes(), "raw", "I;16", 0, 1), "twelve.png"))
    shallow = gradient(90, 70, maximum=200)  # a 16-bit file holding 8-bit values: read as 8 bits, not rounded
    _, compact = _same_read(_png(tmp_path, Image.frombuffer("I;16", (70, 90), shallow.astype("<u2").tobytes(), "raw", "I;16", 0, 1), "shallow.png"))
    assert compact.metadata["bits_stored"] == 8
    _same_read(_png(tmp_path, Image.fromarray(_film(4) > 128), "bits.png"))


def test_16_bit_big_endian_tiff(tmp_path):
    deep = gradient(64, 48, maximum=40000)
    image = Image.frombuffer("I;16B", (48, 64), deep.astype(">u2").tobytes(), "raw", "I;16B", 0, 1)
    _same_read(_png(tmp_path, image, "film.tif"))


def test_a_large_colour_jpeg_reads_its_y_plane_alone_with_the_same_pixels_and_colour_check(tmp_path, monkeypatch):
    monkeypatch.setattr(raster, "LARGE_COLOUR_JPEG_PIXELS", 1000)
    film = _film(5, (160, 136))
    grey = _png(tmp_path, Image.fromarray(np.repeat(film[..., None], 3, axis=2), "RGB"), "grey.jpg", quality=90)
    _, compact = _same_read(grey)
    assert not compact.warnings
    colour = np.stack([film, np.roll(film, 30, axis=0), 255 - film], axis=-1)
    _, compact = _same_read(_png(tmp_path, Image.fromarray(colour, "RGB"), "colour.jpg", quality=90))
    assert compact.warnings == ["colour JPEG image (YCbCr) converted to greyscale; the model was trained on greyscale radiographs"]


def test_thin_coloured_lines_on_a_large_colour_jpeg_are_seen_as_the_full_size_read_sees_them(tmp_path, monkeypatch):
    """Red 1-pixel lines every 32 rows over a grey film (3 % of the rows): the plain read's full-size check calls
    it colour. The Y-plane read's check decodes the chroma at half scale, where a 4:2:0 JPEG's chroma is at its
    stored resolution; at 1/8 scale each line was averaged into 8 x 8 blocks, 1/8 of its colour, and read as grey."""
    monkeypatch.setattr(raster, "LARGE_COLOUR_JPEG_PIXELS", 1000)
    film = _film(7, (768, 1024))
    rgb = np.repeat(film[..., None], 3, axis=2)
    rgb[2::32] = (200, 60, 60)  # on rows the full-size check samples (its grid is every 4th row from row 2)
    path = _png(tmp_path, Image.fromarray(rgb, "RGB"), "lines.jpg", quality=90)
    plain, compact = _same_read(path)
    assert plain.warnings == ["colour JPEG image (YCbCr) converted to greyscale; the model was trained on greyscale radiographs"]
    with Image.open(path) as image:  # the check really took the Y-plane path: its own decode is the Y plane
        assert raster._decodes_large_in_colour(image)


def test_running_out_of_memory_in_the_colour_check_is_not_taken_for_a_jpeg_libjpeg_refuses(tmp_path, monkeypatch):
    """A MemoryError in the reduced decode must not send the read to the full YCbCr decode (4 bytes a pixel, more
    than the Y plane's 1): it propagates, and the reader refuses the file as too large for the memory available."""
    from osteo_desktop.core.errors import ImageTooLargeError

    monkeypatch.setattr(raster, "LARGE_COLOUR_JPEG_PIXELS", 1000)
    path = _png(tmp_path, Image.fromarray(np.repeat(_film(5, (160, 136))[..., None], 3, axis=2), "RGB"), "f.jpg")

    def out_of_memory(image):
        raise MemoryError

    monkeypatch.setattr(raster, "_ycbcr_is_colour", out_of_memory)
    with pytest.raises(ImageTooLargeError, match="not enough memory"):
        read_radiograph(path, compact=True)
    with pytest.raises(MemoryError):
        with Image.open(path) as image:
            raster._luma_only_jpeg(path, path.read_bytes(), image)


def test_running_out_of_memory_in_a_ycbcr_decode_does_not_decode_again_as_rgb(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    from osteo_desktop.core.errors import ImageTooLargeError

    path = _png(tmp_path, Image.fromarray(np.repeat(_film(5, (160, 136))[..., None], 3, axis=2), "RGB"), "f.jpg")
    opened = []
    real_open = raster._open
    monkeypatch.setattr(raster, "_open", lambda *args: opened.append(args) or real_open(*args))

    def out_of_memory(self):
        raise MemoryError

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", out_of_memory)
    with pytest.raises(ImageTooLargeError, match="not enough memory"):
        read_radiograph(path)
    assert len(opened) == 1  # not opened a second time to be decoded as RGB


def _dicom(tmp_path: Path, name: str, ds, **options) -> Path:
    return write(tmp_path / name, dicom_bytes(ds, **options))


def test_dicom_16_bit_with_a_percentile_window_and_a_rescale(tmp_path):
    values = gradient(120, 90, maximum=65535) ^ np.uint16(0x00A5)  # every bit used, not on any 8-bit grid
    path = _dicom(tmp_path, "deep.dcm", make_dicom(values))
    _, compact = _same_read(path)
    assert compact.metadata["window_source"].startswith("percentile")
    signed = (gradient(120, 90, maximum=30000).astype(np.int32) - 15000).astype(np.int16)
    _same_read(_dicom(tmp_path, "signed.dcm", make_dicom(signed, RescaleSlope=0.5, RescaleIntercept=-1024)))


def test_dicom_monochrome1_with_a_window_and_unused_high_bits(tmp_path):
    values = gradient(100, 80, maximum=4095)
    values[::7] |= np.uint16(0xF000)  # garbage above BitsStored, which pydicom clears before anything uses it
    ds = make_dicom(values, photometric="MONOCHROME1", window=(1800, 2400), BitsStored=12, HighBit=11)
    _, compact = _same_read(_dicom(tmp_path, "mono1.dcm", ds))
    assert compact.invert_for_display and compact.metadata["window_source"] == "window centre/width"
    signed = (gradient(100, 80, maximum=2000).astype(np.int16) - 1000)
    raw = signed.view(np.uint16).copy()
    raw[1::5] ^= np.uint16(0xC000)  # flip the two unused bits: a signed 14-bit value is sign-extended from bit 13
    ds = make_dicom(raw.view(np.int16), BitsStored=14, HighBit=13)
    _same_read(_dicom(tmp_path, "signed14.dcm", ds))


@pytest.mark.parametrize("function", ["SIGMOID", "LINEAR_EXACT"])
def test_dicom_voi_functions(tmp_path, function):
    ds = make_dicom(gradient(80, 70, maximum=4095), bits_stored=12, window=(2000, 1500), VOILUTFunction=function)
    _same_read(_dicom(tmp_path, f"{function}.dcm", ds))


def test_dicom_voi_lut_sequence_and_modality_lut(tmp_path):
    from pydicom.dataset import Dataset

    ds = make_dicom(gradient(80, 70, maximum=4095), bits_stored=12)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "US", (np.sqrt(np.arange(4096) / 4095.0) * 65535).astype(np.uint16).tolist())
    ds.VOILUTSequence = [item]
    _, compact = _same_read(_dicom(tmp_path, "voi.dcm", ds))
    assert compact.metadata["window_source"] == "VOI LUT sequence"
    ds = make_dicom(gradient(80, 70, maximum=1023), bits_stored=10)
    modality = Dataset()
    modality.LUTDescriptor = [1024, 0, 16]
    modality.add_new(0x00283006, "US", (np.arange(1024) ** 2 // 16).astype(np.uint16).tolist())
    modality.ModalityLUTType = "US"
    ds.ModalityLUTSequence = [modality]
    _same_read(_dicom(tmp_path, "modality.dcm", ds))


def test_dicom_8_bit_colour_and_other_encodings(tmp_path):
    film = _film(6)
    _same_read(_dicom(tmp_path, "eight.dcm", make_dicom(film)))
    colour = np.stack([film, np.roll(film, 5, axis=1), 255 - film], axis=-1)
    _same_read(_dicom(tmp_path, "rgb.dcm", make_dicom(colour, photometric="RGB")))
    values = gradient(64, 48, maximum=4095)
    for syntax in (ImplicitVRLittleEndian, ExplicitVRBigEndian):
        ds = make_dicom(values, bits_stored=12)
        ds.file_meta.TransferSyntaxUID = syntax
        path = tmp_path / f"{syntax.name}.dcm".replace(" ", "_")
        ds.save_as(path, implicit_vr=syntax.is_implicit_VR, little_endian=syntax.is_little_endian, enforce_file_format=True)
        _same_read(path)
    _same_read(_dicom(tmp_path, "bare.dcm", make_dicom(values, bits_stored=12), bare=True))
    _same_read(_dicom(tmp_path, "rle.dcm", make_dicom(values, bits_stored=12, compress_to=RLELossless)))
    try:
        j2k = make_dicom(values, bits_stored=12, compress_to=JPEG2000Lossless)
    except Exception:  # noqa: BLE001 - no JPEG 2000 encoder installed: the other encodings still ran
        return
    _same_read(_dicom(tmp_path, "j2k.dcm", j2k))


def test_compact_dicom_pixel_data_is_a_view_of_the_files_bytes(tmp_path):
    """Not copied by the parser nor by the decoder: the levels are the only full-size array made."""
    from osteo_desktop.core.reading import dicom

    values = gradient(2000, 600, maximum=65535)  # 2.4 MB of pixel data: above the size left in place
    data = dicom_bytes(make_dicom(values))
    ds = dicom._parse(tmp_path / "x.dcm", data, share_pixels=True)
    frame, unused = dicom._decode_first_frame(tmp_path / "x.dcm", ds, [], view=True)
    assert unused == 0 and np.array_equal(frame, values)
    assert np.shares_memory(frame, np.frombuffer(data, np.uint8))


def test_truncated_dicom_reads_as_the_plain_read_refuses_it(tmp_path):
    data = dicom_bytes(make_dicom(gradient(2000, 600, maximum=65535)))
    path = write(tmp_path / "cut.dcm", data[: len(data) - 5000])
    with pytest.raises(Exception) as plain:
        read_radiograph(path)
    with pytest.raises(type(plain.value)) as compact:
        read_radiograph(path, compact=True)
    assert str(compact.value) == str(plain.value)


def test_shared_dicom_samples(dicom_dir):
    from osteo_desktop.core.errors import ImageReadError

    read = 0
    for path in sorted(p for p in dicom_dir.rglob("*") if p.is_file()):
        try:
            plain = read_radiograph(path)
        except ImageReadError as exc:
            with pytest.raises(type(exc)):
                read_radiograph(path, compact=True)
            continue
        _same_read(path, expect_levels=plain.pixels.dtype == np.float32 and _on_grid(plain.pixels))
        read += 1
    assert read >= 5


def _on_grid(pixels: np.ndarray) -> bool:
    return bool(np.array_equal(_reference_values(np.rint(pixels.astype(np.float64) * 255.0)), pixels))


# --- consumers: levels against the float image --------------------------------------------------------------------


def phantom_films() -> tuple[np.ndarray, np.ndarray]:
    """A two-knee film with black borders (so that trimming them is part of what is compared) and a one-knee film."""
    two, _ = two_knee_phantom(900, 700)
    one, _ = one_knee_phantom(300, 640)
    bordered = np.zeros((760, 980), np.float32)
    bordered[30:730, 40:940] = two
    return bordered, one


@pytest.fixture(scope="module")
def phantoms():
    return [_as_levels(on_grey_levels(image)) for image in phantom_films()]


def test_resize_of_levels_is_the_resize_of_their_values(phantoms):
    for k in phantoms:
        values = levels.unit_values(k)
        for size, gap in (((224, 180), None), ((256, 199), 2.0), ((k.shape[1], k.shape[0]), None), ((31, 500), None)):
            assert np.array_equal(resize_bilinear(k, *size, reducing_gap=gap), resize_bilinear(values, *size, reducing_gap=gap))
        crop = k[17:401, 33:250]  # not contiguous
        assert np.array_equal(resize_bilinear(crop, 100, 120), resize_bilinear(levels.unit_values(crop), 100, 120))


def assert_same_film_inputs(pixels, values) -> None:
    """The film's content box, model input and geometry (letterboxed and squashed) from ``pixels`` (a compact form)
    are those from ``values`` (the float image it stands for), bit for bit."""
    assert preprocessing.content_box(pixels, 0.06, 0.02) == preprocessing.content_box(values, 0.06, 0.02)
    film, geometry = preprocess_with_geometry(pixels, PreprocessConfig())
    film_values, geometry_values = preprocess_with_geometry(values, PreprocessConfig())
    assert np.array_equal(film, film_values) and geometry == geometry_values
    squash = PreprocessConfig(aspect="squash", contrast="none", knee_crop_aspect=1.2)
    assert np.array_equal(preprocess_with_geometry(pixels, squash)[0], preprocess_with_geometry(values, squash)[0])


def test_model_inputs_geometry_and_knee_regions_are_the_same_bit_for_bit(phantoms):
    for k in phantoms:
        values = levels.unit_values(k)
        assert_same_film_inputs(k, values)
        for box in ((100, 120, 420, 440), (-40, -30, 160, 170), (k.shape[1] - 90, 300, k.shape[1] + 60, 450)):
            region_levels, where_levels = knee_region(k, box, KneeRegionConfig())
            region_values, where_values = knee_region(values, box, KneeRegionConfig())
            assert np.array_equal(region_levels, region_values) and where_levels == where_values


def test_scope_look_and_working_copy_are_the_same(phantoms):
    for k in phantoms:
        values = levels.unit_values(k)
        a, b = look(k, {}), look(values, {})
        assert a.decided == b.decided and np.array_equal(a.statistics, b.statistics)
        small_levels, scale_levels = knee_detector.working_copy(k)
        small_values, scale_values = knee_detector.working_copy(values)
        assert scale_levels == scale_values and np.array_equal(small_levels, small_values)
    blank = np.full((400, 300), 77, np.uint8)
    assert look(blank, {}).decided == look(levels.unit_values(blank), {}).decided
    assert look(blank, {}).decided is not None


def _stored_forms(tmp_path: Path, film: Path) -> list[Path]:
    """A real film as a clinic might send it: 16-bit PNG, 12-bit MONOCHROME1 DICOM with a window, 16-bit DICOM."""
    with Image.open(film) as image:
        grey = np.asarray(image.convert("L"))
    deep = grey.astype(np.uint16) * np.uint16(257)
    forms = [_png(tmp_path, Image.frombuffer("I;16", grey.shape[::-1], deep.astype("<u2").tobytes(), "raw", "I;16", 0, 1), "deep.png")]
    twelve = np.rint((255 - grey.astype(np.float64)) * 4095 / 255).astype(np.uint16)
    forms.append(_dicom(tmp_path, "mono1.dcm", make_dicom(twelve, photometric="MONOCHROME1", bits_stored=12, window=(2047.5, 4096))))
    forms.append(_dicom(tmp_path, "deep.dcm", make_dicom(deep + np.uint16(100))))
    return forms


def test_the_model_sees_the_same_inputs_and_gives_the_same_probabilities(tmp_path, classifier, knee_png, knee_jpeg):
    from osteo_desktop.core.pipeline.film import judge_film, prepare_film, run_films

    for path in [knee_png, knee_jpeg, *_stored_forms(tmp_path, knee_jpeg)]:
        plain, compact = read_radiograph(path), read_radiograph(path, compact=True)
        assert compact.pixels.dtype == np.uint8
        works = [prepare_film(plain, classifier), prepare_film(compact, classifier)]
        assert works[0].film_input is not None
        assert np.array_equal(works[0].film_input, works[1].film_input)
        assert works[0].detected == works[1].detected and len(works[0].regions) == len(works[1].regions) > 0
        assert all(np.array_equal(a, b) for a, b in zip(works[0].regions, works[1].regions))
        verdicts = [judge_film(classifier, work, out) for work, out in zip(works, run_films(classifier, works))]
        assert verdicts[0].decision == verdicts[1].decision
        assert [k.probability for k in verdicts[0].knees] == [k.probability for k in verdicts[1].knees]


def _dicom32(values: np.ndarray, **tags):
    ds = make_dicom(np.zeros(values.shape, np.uint16), **tags)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelData = values.astype("<u4").tobytes()
    return ds


def test_dicom_32_bit_pixels_window_in_bands(tmp_path):
    """Pixels too deep for the table of every stored value take the banded float steps: the same levels."""
    values = (gradient(120, 90, maximum=65535).astype(np.uint32) * np.uint32(1000)) + np.uint32(7)
    _, compact = _same_read(_dicom(tmp_path, "deep32.dcm", _dicom32(values, RescaleSlope=0.001, RescaleIntercept=5)))
    assert compact.metadata["bits_stored"] == 32


def test_a_rescale_beyond_float32_is_refused_alike(tmp_path):
    from osteo_desktop.core.errors import ImageReadError

    stored = gradient(64, 48, maximum=4095)
    for ds, name in ((make_dicom(stored, RescaleSlope=1e36), "sixteen.dcm"), (_dicom32(stored, RescaleSlope=1e36), "deep32.dcm")):
        path = _dicom(tmp_path, name, ds)
        with pytest.raises(ImageReadError) as plain:
            read_radiograph(path)
        with pytest.raises(ImageReadError) as compact:
            read_radiograph(path, compact=True)
        assert str(compact.value) == str(plain.value) and "out of range" in str(plain.value)


def test_a_rescale_whose_table_overflows_but_whose_pixels_do_not_is_read_alike(tmp_path):
    # 4095 x 1e34 fits float32; 65535 x 1e34 (a value the table holds, not the image) does not.
    _same_read(_dicom(tmp_path, "steep.dcm", make_dicom(gradient(64, 48, maximum=4095), RescaleSlope=1e34)))


# --- large PNGs decoded a band of rows at a time (raster._png_in_bands) --------------------------------------------
#
# The files are written here, filter by filter (PNG's five row filters, computed from the raw samples as the
# specification defines them), so that every filter meets a band boundary; the reference is Pillow's whole decode
# (the plain read), and Pillow reading back the samples the test wrote checks the writer.


def _chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(rows: np.ndarray, bpp: int, filters: tuple[int, ...]) -> bytes:
    """The scanlines of ``rows`` (bytes, one row each), row y filtered by filters[y % len(filters)]."""
    x = rows.astype(np.int32)
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]  # the byte bpp to the left
    b = np.zeros_like(x)
    b[1:] = x[:-1]  # the byte above
    c = np.zeros_like(x)
    c[1:, bpp:] = x[:-1, :-bpp]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictions = [np.zeros_like(x), a, b, (a + b) // 2, paeth]
    out = []
    for y in range(x.shape[0]):
        kind = filters[y % len(filters)]
        out.append(bytes([kind]) + ((x[y] - predictions[kind][y]) % 256).astype(np.uint8).tobytes())
    return b"".join(out)


def _png_file(path: Path, samples: np.ndarray, *, filters: tuple[int, ...] = (0, 1, 2, 3, 4), idat: int = 97,
              before: bytes = b"", stream: bytes | None = None) -> Path:
    """A PNG of ``samples`` ((h, w) uint8 or uint16 grey, (h, w, 3) uint8 RGB), its zlib stream cut into IDAT chunks
    of ``idat`` bytes (one of them empty); ``before``: chunks put before the image data."""
    import zlib

    height, width = samples.shape[:2]
    deep = samples.dtype == np.uint16
    rows = samples.astype(">u2" if deep else np.uint8).reshape(height, -1).view(np.uint8)
    channels = 3 if samples.ndim == 3 else 1
    header = np.array([width, height], ">u4").tobytes() + bytes([16 if deep else 8, 2 if channels == 3 else 0, 0, 0, 0])
    stream = zlib.compress(_filtered(rows, channels * (2 if deep else 1), filters), 9) if stream is None else stream
    pieces = [stream[at : at + idat] for at in range(0, len(stream), idat)]
    pieces.insert(1, b"")
    body = b"".join(_chunk(b"IDAT", piece) for piece in pieces)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + before + body + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def in_bands(monkeypatch):
    """Every PNG of the compact read decoded in bands of 4 rows (not a multiple of the colour grid's step), and the
    levels made in place or the luma of earlier rows 2 rows at a time; the bands each read counts."""
    from osteo_desktop.core.reading import png_bands

    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 0)
    counts = []
    real_decode = png_bands.decode

    def decode(data, plan):
        monkeypatch.setattr(png_bands, "_BAND_BYTES", 4 * (1 + plan.width * plan.sample_bytes))
        monkeypatch.setattr(raster, "_BAND_PIXELS", 2 * plan.width)
        counts.append(0)
        for band in real_decode(data, plan):
            counts[-1] += 1
            yield band

    monkeypatch.setattr(png_bands, "decode", decode)
    return counts


def _written(path: Path, samples: np.ndarray) -> None:
    with Image.open(path) as image:  # the writer's own check: Pillow reads back what was written
        assert np.array_equal(np.asarray(image), samples)


def _noisy(shape: tuple[int, ...], high: int, seed: int, dtype=np.uint16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high + 1, size=shape).astype(dtype)


def test_a_16_bit_png_in_bands_gives_the_whole_reads_levels(tmp_path, in_bands):
    samples = _noisy((23, 17), 65535, 1)
    samples[0, 0] = 65535  # 16 bits from the first band on: each band goes straight to levels
    path = _png_file(tmp_path / "deep.png", samples)
    _written(path, samples)
    _, compact = _same_read(path)
    assert compact.metadata["bits_stored"] == 16 and in_bands == [6]
    # Levels worked out here: k = rint(v x 255 / 65535), the float32 steps of the reader (v / 65535, then x 255).
    expected = np.rint((samples.astype(np.float32) / np.float32(65535)) * np.float32(255)).astype(np.uint8)
    assert np.array_equal(compact.pixels, expected)


@pytest.mark.parametrize("late_row, bits", [(20, 16), (None, 12), (None, 8)])
def test_a_16_bit_png_whose_depth_is_known_late_or_never_reaches_16_bits(tmp_path, in_bands, late_row, bits):
    """Values gathered until one needs 16 bits (here in the sixth and last band), or to the end (12 and 8 bits): the
    scale is that of the largest value, as in the whole read."""
    samples = _noisy((22, 19), 2**bits - 1 if late_row is None else 4000, 2)
    if late_row is not None:
        samples[late_row, 5] = 50000
    path = _png_file(tmp_path / "late.png", samples)
    _written(path, samples)
    _, compact = _same_read(path)
    assert compact.metadata["bits_stored"] == bits and in_bands == [6]


def test_a_16_bit_png_without_madvise_copies_its_levels_out(tmp_path, in_bands, monkeypatch):
    import mmap

    monkeypatch.delattr(mmap, "MADV_DONTNEED")
    samples = _noisy((21, 16), 65535, 3)
    _, compact = _same_read(_png_file(tmp_path / "deep.png", samples))
    assert compact.pixels.base is None or not isinstance(compact.pixels.base, mmap.mmap)


def _resident_pages(address: int, length: int) -> int:
    """How many pages of [address, address + length) are in memory (Linux's mincore)."""
    import ctypes
    import mmap

    first = address - address % mmap.PAGESIZE
    pages = -(-(address + length - first) // mmap.PAGESIZE)
    flags = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mincore(ctypes.c_void_p(first), ctypes.c_size_t(pages * mmap.PAGESIZE), flags) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return sum(flag & 1 for flag in flags)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memory check asks Linux which pages are resident")
def test_a_16_bit_png_in_bands_hands_back_the_half_its_levels_do_not_use(tmp_path, in_bands):
    """12-bit values: every band is gathered as 16-bit values (2 bytes a pixel) before the depth is known, then
    turned into levels in place at the start of that store: afterwards the pages past the levels are no longer in
    memory (handed back), and the store is private memory, so handing them back frees them."""
    import mmap

    samples = _noisy((400, 600), 4095, 14)
    _, compact = _same_read(_png_file(tmp_path / "twelve.png", samples, idat=8192))
    store = compact.pixels
    while not isinstance(store, mmap.mmap):  # the levels' array, the store's, a memoryview of the store
        store = store.obj if isinstance(store, memoryview) else store.base
    levels_end = -(-compact.pixels.nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
    assert len(store) == 2 * samples.size
    address = compact.pixels.ctypes.data
    assert _resident_pages(address, levels_end) == levels_end // mmap.PAGESIZE
    assert _resident_pages(address + levels_end, len(store) - levels_end) == 0
    maps = [line.split() for line in Path("/proc/self/maps").read_text().splitlines()]
    perms = [fields[1] for fields in maps if int(fields[0].split("-")[0], 16) <= address < int(fields[0].split("-")[1], 16)]
    assert perms == ["rw-p"]


@pytest.mark.parametrize("colour_from", [0, 11, None])
def test_an_rgb_png_in_bands_gives_the_whole_reads_luma_or_levels_and_colour_check(tmp_path, in_bands, colour_from):
    """Grey rows stored as RGB, in colour from the first band, from the third band (the grey rows before then
    given their float luma), or never (grey levels)."""
    grey = _noisy((25, 14), 255, 4, np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if colour_from is not None:
        rgb[colour_from:, :, 1] //= 2
        rgb[colour_from:, :, 2] = 255 - rgb[colour_from:, :, 2]
    path = _png_file(tmp_path / "rgb.png", rgb)
    _written(path, rgb)
    _, compact = _same_read(path, expect_levels=colour_from is None)
    assert in_bands == [7]
    assert any("colour" in w for w in compact.warnings) == (colour_from is not None)
    if colour_from is not None:  # the luma worked out here: BT.601 weights over 255, in float32, summed in order
        weights = np.array([0.299, 0.587, 0.114], np.float32) / np.float32(255)
        planes = rgb.astype(np.float32)
        expected = planes[..., 0] * weights[0] + planes[..., 1] * weights[1] + planes[..., 2] * weights[2]
        assert np.array_equal(compact.pixels, expected)


def test_an_rgb_png_that_differs_only_off_the_colour_grid_is_luma_but_not_colour(tmp_path, in_bands, monkeypatch):
    """Channels unequal at one pixel the colour check's grid does not sample: the luma (not levels), no warning."""
    from osteo_desktop.core.reading import colour

    monkeypatch.setattr(colour, "_SAMPLE_PIXELS", 50)  # a grid of every 3rd row and column of this image
    rgb = np.repeat(_noisy((24, 15), 255, 5, np.uint8)[..., None], 3, axis=2)
    rgb[13, 4] = (10, 200, 40)
    _, compact = _same_read(_png_file(tmp_path / "speck.png", rgb), expect_levels=False)
    assert not any("colour" in w for w in compact.warnings)


def test_the_colour_grid_of_a_png_in_bands_is_the_whole_images(tmp_path, in_bands, monkeypatch):
    """A coloured row the whole image's grid (every 3rd row from row 0) does not sample, in a band that starts off
    the grid (rows 4-7): not colour, as the whole read sees it; row 6, which the grid samples, makes it colour."""
    from osteo_desktop.core.reading import colour

    monkeypatch.setattr(colour, "_SAMPLE_PIXELS", 50)
    grey = np.repeat(_noisy((24, 15), 255, 13, np.uint8)[..., None], 3, axis=2)
    for row, expected in ((5, False), (6, True)):
        rgb = grey.copy()
        rgb[row] = (220, 30, 30)
        _, compact = _same_read(_png_file(tmp_path / f"row{row}.png", rgb), expect_levels=False)
        assert any("colour" in w for w in compact.warnings) == expected


def test_other_png_forms_are_read_whole(tmp_path, in_bands):
    """Palette, grey with alpha, RGBA and 1-bit PNGs: not read in bands, the same pixels as the whole read."""
    film = _film(9)
    _same_read(_png(tmp_path, Image.fromarray(film, "L").convert("P"), "palette.png"), expect_levels=False)
    _same_read(_png(tmp_path, Image.fromarray(film, "L").convert("LA"), "la.png"), expect_levels=False)
    rgba = np.dstack([film, film // 2, 255 - film, np.full_like(film, 200)])
    _same_read(_png(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png"), expect_levels=False)
    _same_read(_png(tmp_path, Image.fromarray(film > 100), "bits.png"))
    assert in_bands == []


def test_an_8_bit_grey_png_in_bands(tmp_path, in_bands):
    samples = _noisy((20, 33), 255, 6, np.uint8)
    path = _png_file(tmp_path / "grey.png", samples, idat=5)
    _written(path, samples)
    _, compact = _same_read(path)
    assert np.array_equal(compact.pixels, samples) and in_bands == [5]


def test_pngs_pillow_writes_read_in_bands_as_whole(tmp_path, in_bands):
    """Pillow's own encoder (its filter choice, one IDAT chunk), for the three forms read in bands."""
    deep = gradient(90, 70, maximum=65535)
    _same_read(_png(tmp_path, Image.frombuffer("I;16", (70, 90), deep.astype("<u2").tobytes(), "raw", "I;16", 0, 1)))
    film = _film(8)
    _same_read(_png(tmp_path, Image.fromarray(film, "L"), "grey.png"))
    colour = np.stack([film, np.roll(film, 9, axis=1), 255 - film], axis=-1)
    _same_read(_png(tmp_path, Image.fromarray(colour, "RGB"), "colour.png"), expect_levels=False)
    assert len(in_bands) == 3 and min(in_bands) > 1


def test_a_png_turned_upright_by_exif_or_xmp_is_read_whole_and_turned(tmp_path, in_bands):
    """Pillow takes an orientation from an eXIf chunk or from XMP in an iTXt chunk: the whole read then turns the
    image, and so must the compact read, which reads it whole."""
    samples = _noisy((12, 20), 65535, 7)
    exif = Image.Exif()
    exif[0x0112] = 6
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    other_text = _chunk(b"tEXt", b"Comment\0" + b"an ordinary comment, long enough to move what follows on " * 2)
    for name, chunk in (("exif.png", _chunk(b"eXIf", exif.tobytes())),
                        ("xmp.png", _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))):
        plain, _ = _same_read(_png_file(tmp_path / name, samples, before=other_text + chunk))
        assert plain.pixels.shape == (20, 12)
    _same_read(_png_file(tmp_path / "text.png", samples, before=other_text))
    assert in_bands == [3]  # only the file with an ordinary text chunk was read in bands


def test_an_interlaced_png_is_read_whole(tmp_path, in_bands):
    """Adam7: seven passes of sub-images, written here with filter type 0; only Pillow's whole decode reads it."""
    import zlib

    samples = _noisy((11, 13), 255, 9, np.uint8)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    scanlines = b"".join(b"\0" + row.tobytes() for x0, y0, dx, dy in passes for row in samples[y0::dy, x0::dx] if row.size)
    path = _png_file(tmp_path / "adam7.png", samples, stream=zlib.compress(scanlines))
    data = bytearray(path.read_bytes())
    data[28] = 1  # IHDR's interlace method
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    _written(path, samples)
    _same_read(path)
    assert in_bands == []


@pytest.mark.parametrize("damage", ["corrupt", "short stream", "cut stream", "truncated file", "bad filter", "no IEND",
                                    "huge chunk"])
def test_damaged_png_data_is_read_or_refused_as_the_whole_read_does(tmp_path, in_bands, damage):
    import zlib

    from osteo_desktop.core.errors import ImageReadError

    samples = _noisy((30, 16), 65535, 10)
    rows = samples.astype(">u2").reshape(30, -1).view(np.uint8)
    stream = None
    if damage == "corrupt":  # the zlib stream garbled in its middle, the chunks intact
        stream = zlib.compress(_filtered(rows, 2, (0, 1, 2, 3, 4)))
        at = len(stream) // 2
        stream = stream[:at] + bytes(b ^ 0x5A for b in stream[at : at + 40]) + stream[at + 40 :]
    elif damage == "short stream":  # a complete zlib stream of half the rows: Pillow leaves the rest black
        stream = zlib.compress(_filtered(rows[:15], 2, (0, 1, 2, 3, 4)))
    elif damage == "cut stream":  # the chunks intact, the zlib stream stopping in the middle of a row
        stream = zlib.compress(_filtered(rows, 2, (0, 1, 2, 3, 4)))[:300]
    elif damage == "bad filter":
        scanlines = bytearray(_filtered(rows, 2, (0, 1, 2, 3, 4)))
        scanlines[20 * 33] = 7  # row 20's filter type: no such filter
        stream = zlib.compress(bytes(scanlines))
    path = _png_file(tmp_path / "damaged.png", samples, stream=stream)
    data = path.read_bytes()
    if damage == "truncated file":
        path.write_bytes(data[:-300])
    elif damage == "no IEND":  # and a few stray bytes where it was: fewer than a chunk header
        path.write_bytes(data[:-12] + b"\0\0\0")
    elif damage == "huge chunk":  # a chunk before the image data claiming 4 GB (the top bit set)
        text = _chunk(b"tEXt", b"Comment\0x")
        path = _png_file(path, samples, before=b"\xff\xff\xff\xf0" + text[4:])
    try:
        plain = read_radiograph(path)
    except ImageReadError as exc:
        with pytest.raises(ImageReadError) as compact:
            read_radiograph(path, compact=True)
        assert str(compact.value) == str(exc)
    else:
        compact = read_radiograph(path, compact=True)
        assert np.array_equal(_reference_values(compact.pixels), plain.pixels)
    # Damage inside the image data: the band decode tried, then gave way; damage to the chunks: not tried.
    assert bool(in_bands) == (damage in ("corrupt", "short stream", "cut stream", "bad filter"))


def test_running_out_of_memory_in_a_band_decode_is_a_refusal(tmp_path, in_bands, monkeypatch):
    from osteo_desktop.core.errors import ImageTooLargeError

    def out_of_memory(size):
        raise MemoryError

    monkeypatch.setattr(raster, "_scratch", out_of_memory)
    with pytest.raises(ImageTooLargeError) as refused:
        read_radiograph(_png_file(tmp_path / "deep.png", _noisy((9, 9), 65535, 11)), compact=True)
    assert refused.value.cause == "not enough memory to decode the PNG image"


def test_only_pngs_above_the_large_size_are_read_in_bands(tmp_path, monkeypatch):
    from osteo_desktop.core.reading import png_bands

    calls = []
    real_plan = png_bands.plan
    monkeypatch.setattr(png_bands, "plan", lambda image, data: calls.append(image.size) or real_plan(image, data))
    path = _png_file(tmp_path / "deep.png", _noisy((10, 12), 65535, 12))
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 120)
    read_radiograph(path, compact=True)
    read_radiograph(path)  # a plain read never
    assert calls == []
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 119)
    read_radiograph(path, compact=True)
    assert calls == [(12, 10)]


# --- large uncompressed TIFFs read from the file's bytes (raster._tiff_in_bands) -----------------------------------


@pytest.fixture
def tiff_in_bands(monkeypatch):
    """Every TIFF of the compact read taken from its bytes 5 rows at a time; what each read gave (None: read whole)."""
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 0)
    monkeypatch.setattr(raster, "_BAND_PIXELS", 5 * 90)
    outcomes = []
    real = raster._tiff_in_bands
    monkeypatch.setattr(raster, "_tiff_in_bands", lambda data, image: outcomes.append(real(data, image)) or outcomes[-1])
    return outcomes


def _tiff(tmp_path: Path, name: str, image: Image.Image, **options) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def _sixteen(samples: np.ndarray, mode: str = "I;16") -> Image.Image:
    return Image.frombuffer(mode, samples.shape[::-1], samples.astype("<u2" if mode == "I;16" else ">u2").tobytes(), "raw", mode, 0, 1)


@pytest.mark.parametrize("high, bits", [(65535, 16), (4095, 12), (255, 8)])
def test_a_16_bit_tiff_in_strips_gives_the_whole_reads_levels(tmp_path, tiff_in_bands, high, bits):
    """Strips of 16 rows, read 5 rows at a time (bands across strip ends); little- and big-endian samples."""
    samples = _noisy((120, 90), high, 20)
    _, compact = _same_read(_tiff(tmp_path, "deep.tif", _sixteen(samples), tiffinfo={278: 16}))
    assert compact.metadata["bits_stored"] == bits
    _same_read(_tiff(tmp_path, "big_endian.tif", _sixteen(samples, "I;16B")))
    assert len(tiff_in_bands) == 2 and all(outcome is not None for outcome in tiff_in_bands)
    with Image.open(tmp_path / "deep.tif") as image:
        assert len(image.tile) == 8


@pytest.mark.parametrize("colour_from", [0, 33, None])
def test_an_rgb_and_an_8_bit_tiff_in_strips(tmp_path, tiff_in_bands, colour_from):
    grey = _noisy((120, 90), 255, 21, np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    if colour_from is not None:
        rgb[colour_from:, :, 0] //= 3
    _, compact = _same_read(_tiff(tmp_path, "rgb.tif", Image.fromarray(rgb, "RGB"), tiffinfo={278: 16}),
                            expect_levels=colour_from is None)
    assert any("colour" in w for w in compact.warnings) == (colour_from is not None)
    _, compact = _same_read(_tiff(tmp_path, "grey.tif", Image.fromarray(grey, "L"), tiffinfo={278: 7}))
    assert np.array_equal(compact.pixels, grey)
    assert len(tiff_in_bands) == 2 and all(outcome is not None for outcome in tiff_in_bands)


def test_tiffs_that_are_not_plain_strips_are_read_whole(tmp_path, tiff_in_bands):
    """Compressed (LZW), turned by an EXIF orientation, several frames, strips cut short by the file's end."""
    samples = _noisy((120, 90), 65535, 22)
    _same_read(_tiff(tmp_path, "lzw.tif", _sixteen(samples), compression="tiff_lzw"))
    # Orientation 6 (a quarter turn: Pillow gives the turned size) and 3 (a half turn: the stored size).
    plain, _ = _same_read(_tiff(tmp_path, "quarter.tif", _sixteen(samples), tiffinfo={274: 6}))
    assert plain.pixels.shape == (90, 120)
    plain, _ = _same_read(_tiff(tmp_path, "half.tif", _sixteen(samples), tiffinfo={274: 3}))
    assert plain.pixels.shape == (120, 90)
    frames = _tiff(tmp_path, "frames.tif", _sixteen(samples), save_all=True, append_images=[_sixteen(samples // 2)])
    _same_read(frames)
    assert len(tiff_in_bands) == 4 and all(outcome is None for outcome in tiff_in_bands)
    from osteo_desktop.core.errors import ImageReadError

    for name, image in (("cut16.tif", _sixteen(samples)), ("cutrgb.tif", Image.fromarray(_noisy((120, 90, 3), 255, 23, np.uint8)))):
        cut = tmp_path / name
        cut.write_bytes(_tiff(tmp_path, "whole.tif", image).read_bytes()[:-500])
        with pytest.raises(ImageReadError) as plain_error:
            read_radiograph(cut)
        with pytest.raises(ImageReadError) as compact_error:
            read_radiograph(cut, compact=True)
        assert str(compact_error.value) == str(plain_error.value) and tiff_in_bands[-1] is None


def test_only_tiffs_above_the_large_size_are_read_in_bands(tmp_path, monkeypatch):
    path = _tiff(tmp_path, "deep.tif", _sixteen(_noisy((10, 12), 65535, 24)))
    outcomes = []
    real = raster._tiff_strips
    monkeypatch.setattr(raster, "_tiff_strips", lambda data, image: outcomes.append(real(data, image)) or outcomes[-1])
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 120)
    _same_read(path)
    assert outcomes == []
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", 119)
    _same_read(path)
    assert len(outcomes) == 1 and outcomes[0] is not None
