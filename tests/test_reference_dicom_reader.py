"""The DICOM reader (core/reading/dicom.py) on small datasets built here with pydicom, answers worked out by hand.

Each dataset is a few pixels whose stored values, rescale, window or table are written in the test; the expected
grey values are computed here from PS3.3 (or with pydicom's own ``apply_modality_lut`` / ``apply_color_lut``), never
read from the reader. Refusals are checked by their exact words. ``read_dicom`` is called directly (not through
``read_radiograph``, which puts DICOM pixels on 256 grey levels afterwards), so the values are the reader's own.
No shared data: every test runs in milliseconds.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    BasicTextSRStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MPEG2MPML,
    RLELossless,
    generate_uid,
)

from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading import dicom
from osteo_desktop.core.reading.dicom import read_dicom, read_dicom_patient

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the deliberately odd values

PATH = Path("film.dcm")
DX = DigitalXRayImageStorageForPresentation
LUMA = np.array([0.299, 0.587, 0.114])


def _dataset(pixels: np.ndarray | None = None, *, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
             syntax: UID = ExplicitVRLittleEndian, sop_class: UID | None = DX, **tags) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if sop_class is not None:
        ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    if pixels is not None:
        ds.set_pixel_data(pixels, photometric, bits_stored or 8 * pixels.dtype.itemsize)
    ds.file_meta.TransferSyntaxUID = syntax  # after the pixels: set_pixel_data accepts only syntaxes it can encode
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


def _bytes(ds: Dataset, *, little_endian: bool = True, implicit: bool = False, enforce: bool = True) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=implicit, little_endian=little_endian, enforce_file_format=enforce)
    return buffer.getvalue()


def _read(ds: Dataset, **kwargs):
    return read_dicom(PATH, _bytes(ds, **kwargs))


def _refusal(data: bytes, kind: type = ImageReadError) -> ImageReadError:
    with pytest.raises(kind) as caught:
        read_dicom(PATH, data)
    assert caught.value.path == str(PATH) and str(caught.value) == f"film.dcm: {caught.value.cause}"
    return caught.value


def _encapsulated(syntax: UID, pixel_data: bytes, pixels: np.ndarray | None = None) -> Dataset:
    ds = _dataset(np.zeros((8, 8), np.uint8) if pixels is None else pixels, syntax=syntax)
    ds.PixelData = pixel_data
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


# --- grey values of monochrome films ----------------------------------------------------------------------------


def test_an_8_bit_film_with_a_window_by_hand():
    stored = np.array([[0, 50, 100], [150, 200, 250]], dtype=np.uint8)
    radiograph = _read(_dataset(stored, WindowCenter=100, WindowWidth=101, Modality="DX", BodyPartExamined="KNEE"))
    # Linear window (centre 100, width 101): (x - 99.5) / 100 + 0.5, clipped.
    expected = np.clip((stored - 99.5) / 100.0 + 0.5, 0.0, 1.0)
    assert radiograph.pixels.dtype == np.float32 and radiograph.pixels.shape == (2, 3)
    np.testing.assert_allclose(radiograph.pixels, expected, atol=1e-6)
    assert radiograph.modality_values.tolist() == stored.tolist()
    assert radiograph.window == (100.0, 101.0) and radiograph.invert_for_display is False
    assert radiograph.source_format == "dicom" and radiograph.path == PATH
    assert radiograph.warnings == []
    meta = radiograph.metadata
    assert meta["window_source"] == "window centre/width" and meta["voi_lut_function"] == "LINEAR"
    assert (meta["window_center"], meta["window_width"]) == (100.0, 101.0)
    assert (meta["width"], meta["height"], meta["original_width"], meta["original_height"]) == (3, 2, 3, 2)
    assert (meta["bits_allocated"], meta["bits_stored"], meta["frames"], meta["signed"]) == (8, 8, 1, False)
    assert meta["format"] == "DICOM" and meta["photometric"] == "MONOCHROME2"
    assert meta["transfer_syntax"] == "Explicit VR Little Endian"
    assert meta["sop_class"] == "Digital X-Ray Image Storage - For Presentation"
    assert meta["modality"] == "DX" and meta["body_part"] == "KNEE"
    assert "rescale_slope" not in meta and "rescale_intercept" not in meta


def test_a_12_bit_film_in_16_bits_with_a_linear_exact_window():
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], dtype=np.uint16)
    ds = _dataset(stored, bits_stored=12, WindowCenter=2000, WindowWidth=2000, VOILUTFunction="LINEAR_EXACT")
    radiograph = _read(ds)
    np.testing.assert_allclose(radiograph.pixels, [[0, 0, 0.5], [1, 1, 1]], atol=1e-6)
    meta = radiograph.metadata
    assert (meta["bits_allocated"], meta["bits_stored"]) == (16, 12) and meta["voi_lut_function"] == "LINEAR_EXACT"


def test_a_signed_film_with_a_rescale():
    # CT-like: signed stored values, slope 2, intercept -1000: modality values 2 * x - 1000.
    stored = np.array([[-500, -1, 0], [1, 250, 700]], dtype=np.int16)
    ds = _dataset(stored, bits_stored=16, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=-500, WindowWidth=1000,
                  VOILUTFunction="LINEAR_EXACT")
    radiograph = _read(ds)
    modality = stored.astype(np.float64) * 2 - 1000
    assert radiograph.modality_values.tolist() == modality.tolist()
    np.testing.assert_allclose(radiograph.pixels, np.clip((modality + 1000) / 1000, 0, 1), atol=1e-6)
    meta = radiograph.metadata
    assert meta["signed"] is True and meta["rescale_slope"] == 2.0 and meta["rescale_intercept"] == -1000.0


def test_an_intercept_alone_is_reported_with_slope_one():
    radiograph = _read(_dataset(np.array([[0, 10]], dtype=np.uint8), RescaleIntercept=5))
    assert radiograph.metadata["rescale_slope"] == 1.0 and radiograph.metadata["rescale_intercept"] == 5.0
    assert radiograph.modality_values.tolist() == [[5.0, 15.0]]


def test_a_slope_alone_is_reported_with_intercept_zero():
    radiograph = _read(_dataset(np.array([[1, 10]], dtype=np.uint8), RescaleSlope=3))
    assert radiograph.metadata["rescale_slope"] == 3.0 and radiograph.metadata["rescale_intercept"] == 0.0


def test_monochrome1_is_inverted():
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], dtype=np.uint16)
    ds = _dataset(stored, photometric="MONOCHROME1", bits_stored=12, WindowCenter=2000, WindowWidth=2000,
                  VOILUTFunction="LINEAR_EXACT")
    radiograph = _read(ds)
    np.testing.assert_allclose(radiograph.pixels, [[1, 1, 0.5], [0, 0, 0]], atol=1e-6)
    assert radiograph.invert_for_display is True and radiograph.metadata["photometric"] == "MONOCHROME1"
    assert radiograph.pixels.dtype == np.float32
    # The modality values are not inverted: the viewer inverts after re-windowing.
    assert radiograph.modality_values.tolist() == stored.tolist()


def test_the_percentile_window_when_the_file_has_none():
    stored = np.arange(1000, dtype=np.uint16).reshape(10, 100)
    radiograph = _read(_dataset(stored))
    # 0.5 and 99.5 percentiles of 0..999: 4.995 and 994.005 (linear interpolation, by hand).
    centre, width = radiograph.window
    assert centre == pytest.approx(499.5) and width == pytest.approx(989.01)
    meta = radiograph.metadata
    assert meta["window_source"] == "percentile 0.5-99.5" and meta["voi_lut_function"] == "LINEAR_EXACT"
    assert meta["window_center"] == 499.5 and meta["window_width"] == 989.01  # rounded to 3 decimals
    expected = np.clip((stored - 4.995) / 989.01, 0, 1)
    np.testing.assert_allclose(radiograph.pixels, expected, atol=1e-5)


def test_window_figures_in_the_metadata_are_rounded_to_three_decimals():
    stored = np.arange(100, dtype=np.uint8).reshape(10, 10)
    radiograph = _read(_dataset(stored, WindowCenter="50.123456", WindowWidth="60.98765"))
    assert radiograph.window == (50.123456, 60.98765)
    assert radiograph.metadata["window_center"] == 50.123 and radiograph.metadata["window_width"] == 60.988


def _voi(descriptor, data) -> Sequence:
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.add_new(0x00283006, "US", data)  # LUTData as a list of words (ambiguous US or OW: said here)
    return Sequence([item])


def test_a_voi_lut_table_by_hand():
    # Table of 4 entries from stored value 10: 10 -> 0, 11 -> 100, 12 -> 300, 13 -> 400. Below 10 the first entry,
    # above 13 the last. Normalised by the table's own range (0 .. 400).
    stored = np.array([[0, 10, 11], [12, 13, 200]], dtype=np.uint8)
    ds = _dataset(stored, VOILUTSequence=_voi([4, 10, 16], [0, 100, 300, 400]), WindowCenter=1, WindowWidth=1)
    radiograph = _read(ds)
    np.testing.assert_allclose(radiograph.pixels, [[0, 0, 0.25], [0.75, 1, 1]], atol=1e-7)
    meta = radiograph.metadata
    assert meta["window_source"] == "VOI LUT sequence" and "voi_lut_function" not in meta
    # The window reported for the viewer spans the table: centre first + entries / 2, width the entries.
    assert radiograph.window == (12.0, 4.0) and (meta["window_center"], meta["window_width"]) == (12.0, 4.0)


def test_a_voi_lut_table_not_starting_at_zero_is_normalised_by_its_range():
    stored = np.array([[0, 1, 2]], dtype=np.uint8)
    ds = _dataset(stored, VOILUTSequence=_voi([3, 0, 16], [1000, 1500, 3000]))
    np.testing.assert_allclose(_read(ds).pixels, [[0, 0.25, 1]], atol=1e-7)


def test_a_voi_lut_of_range_one_is_not_stretched():
    # The table's range is 1: divided by max(1, 1). A flat table gives 0 everywhere, never a division by zero.
    stored = np.array([[0, 1, 2]], dtype=np.uint8)
    np.testing.assert_allclose(_read(_dataset(stored, VOILUTSequence=_voi([3, 0, 16], [5, 6, 6]))).pixels,
                               [[0, 1, 1]], atol=1e-7)
    flat = _read(_dataset(stored, VOILUTSequence=_voi([3, 0, 16], [7, 7, 7])))
    assert flat.pixels.tolist() == [[0, 0, 0]]


def test_a_voi_lut_is_indexed_by_the_rounded_modality_value():
    # Rescale 0.6: stored 0, 1, 2, 3, 4 -> 0, 0.6, 1.2, 1.8, 2.4 -> rounded 0, 1, 1, 2, 2.
    stored = np.array([[0, 1, 2, 3, 4]], dtype=np.uint8)
    ds = _dataset(stored, RescaleSlope="0.6", VOILUTSequence=_voi([3, 0, 16], [0, 10, 20]))
    np.testing.assert_allclose(_read(ds).pixels, [[0, 0.5, 0.5, 1, 1]], atol=1e-7)


def test_a_voi_lut_with_monochrome1_is_inverted():
    stored = np.array([[0, 1, 2]], dtype=np.uint8)
    ds = _dataset(stored, photometric="MONOCHROME1", VOILUTSequence=_voi([3, 0, 16], [0, 50, 200]))
    np.testing.assert_allclose(_read(ds).pixels, [[1, 0.75, 0]], atol=1e-7)


def test_a_modality_lut_then_a_window():
    item = Dataset()
    item.LUTDescriptor, item.ModalityLUTType = [3, 0, 16], "US"
    item.add_new(0x00283006, "US", [100, 200, 300])
    stored = np.array([[0, 1, 2, 5]], dtype=np.uint8)
    ds = _dataset(stored, ModalityLUTSequence=Sequence([item]), WindowCenter=200, WindowWidth=200,
                  VOILUTFunction="LINEAR_EXACT")
    radiograph = _read(ds)
    assert radiograph.modality_values.tolist() == [[100, 200, 300, 300]]
    np.testing.assert_allclose(radiograph.pixels, [[0, 0.5, 1, 1]], atol=1e-7)


def test_sigmoid_window_of_a_film():
    stored = np.array([[90, 100, 110]], dtype=np.uint8)
    radiograph = _read(_dataset(stored, WindowCenter=100, WindowWidth=20, VOILUTFunction="SIGMOID"))
    np.testing.assert_allclose(radiograph.pixels, [[1 / (1 + np.exp(2)), 0.5, 1 / (1 + np.exp(-2))]], atol=1e-6)
    assert radiograph.metadata["voi_lut_function"] == "SIGMOID"


# --- colour -----------------------------------------------------------------------------------------------------


def _colour_ramp(rows: int = 20, columns: int = 24) -> np.ndarray:
    """A smooth colour image: red rises along the rows, green along the columns, blue constant."""
    rgb = np.zeros((rows, columns, 3), dtype=np.uint8)
    rgb[..., 0] = (np.arange(rows) * 10)[:, None]
    rgb[..., 1] = (np.arange(columns) * 10)[None, :]
    rgb[..., 2] = 60
    return rgb


def test_an_rgb_film_is_converted_with_the_luma_weights_and_a_warning():
    rgb = _colour_ramp()
    radiograph = _read(_dataset(rgb, photometric="RGB", PlanarConfiguration=0))
    expected = (rgb / 255.0) @ LUMA
    np.testing.assert_allclose(radiograph.pixels, expected, atol=1e-6)
    assert radiograph.pixels.dtype == np.float32 and radiograph.pixels.shape == (20, 24)
    assert radiograph.warnings == [
        "colour DICOM (RGB) converted to greyscale; the model was trained on greyscale radiographs"]
    assert radiograph.metadata["window_source"] == "none (colour image)"
    assert radiograph.modality_values is None and radiograph.window is None and not radiograph.invert_for_display
    assert (radiograph.metadata["width"], radiograph.metadata["height"]) == (24, 20)


def test_a_grey_film_stored_as_rgb_is_its_grey_without_a_warning():
    grey = 5 * np.arange(20)[:, None] + np.arange(24)[None, :]  # smooth: 0 .. 118
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.uint8)
    radiograph = _read(_dataset(rgb, photometric="RGB", PlanarConfiguration=0))
    np.testing.assert_allclose(radiograph.pixels, grey / 255.0, atol=1e-7)
    assert radiograph.warnings == []


def test_a_nearly_grey_rgb_film_is_weighted_but_not_called_colour():
    # Channels a level or two apart (as lossy compression leaves them): the luma weights, but no colour warning.
    grey = np.tile(np.arange(0, 200, 10, dtype=np.int32), (20, 1))
    rgb = np.stack([grey, grey + 1, grey + 2], axis=-1).astype(np.uint8)
    radiograph = _read(_dataset(rgb, photometric="RGB", PlanarConfiguration=0))
    np.testing.assert_allclose(radiograph.pixels, (rgb / 255.0) @ LUMA, atol=1e-6)
    assert radiograph.warnings == []


def test_a_16_bit_rgb_film_is_scaled_by_its_bits_stored():
    rgb = (_colour_ramp().astype(np.uint16) * 16)  # up to 3680 of 4095
    ds = _dataset(rgb, photometric="RGB", bits_stored=12, PlanarConfiguration=0)
    radiograph = _read(ds)
    np.testing.assert_allclose(radiograph.pixels, (rgb / 4095.0) @ LUMA, atol=1e-6)


def test_a_colour_film_with_one_plane_per_colour():
    rgb = _colour_ramp()
    ds = _dataset(rgb, photometric="RGB", PlanarConfiguration=0)
    ds.PlanarConfiguration = 1
    ds.PixelData = rgb.transpose(2, 0, 1).tobytes()
    np.testing.assert_allclose(_read(ds).pixels, (rgb / 255.0) @ LUMA, atol=1e-6)


def test_ybr_full_is_read_as_its_luma():
    # Y rises, Cb = Cr = 128 (no chroma): the grey is Y itself.
    ybr = np.zeros((20, 20, 3), dtype=np.uint8)
    ybr[..., 0] = (np.arange(20) * 12)[None, :]
    ybr[..., 1:] = 128
    radiograph = _read(_dataset(ybr, photometric="YBR_FULL", PlanarConfiguration=0))
    np.testing.assert_allclose(radiograph.pixels, ybr[..., 0] / 255.0, atol=1.5 / 255)
    assert radiograph.warnings == []


def _palette(stored: np.ndarray, red, green, blue, bits: int = 16) -> Dataset:
    ds = _dataset(stored, photometric="PALETTE COLOR")
    for colour, values in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [len(values), 0, bits])
        data = np.asarray(values, dtype="<u2")  # entries are 16-bit words whatever the bits they use
        ds.add_new(getattr(pydicom.datadict, "tag_for_keyword")(f"{colour}PaletteColorLookupTableData"), "OW",
                   data.tobytes())
    return ds


def test_a_palette_colour_film_against_pydicoms_colour_lut():
    stored = np.array([[0, 1, 2, 3]] * 4, dtype=np.uint8)
    red, green, blue = [0, 65535, 0, 32768], [0, 0, 65535, 32768], [0, 0, 0, 32768]
    ds = _palette(stored, red, green, blue)
    radiograph = _read(ds)
    # by hand: entry 1 is pure red (0.299), 2 pure green (0.587), 3 half grey, 0 black
    np.testing.assert_allclose(radiograph.pixels[0], [0, 0.299, 0.587, 32768 / 65535], atol=1e-6)
    reference = (apply_color_lut(stored, ds) / 65535.0) @ LUMA
    np.testing.assert_allclose(radiograph.pixels, reference, atol=1e-6)
    assert radiograph.warnings == [
        "colour DICOM (PALETTE COLOR) converted to greyscale; the model was trained on greyscale radiographs"]
    assert radiograph.metadata["window_source"] == "none (colour image)"


def test_a_grey_palette_is_its_grey_without_a_warning():
    stored = np.array([[0, 1, 2]], dtype=np.uint8)
    grey = [0, 1000, 65535]
    radiograph = _read(_palette(stored, grey, grey, grey))
    np.testing.assert_allclose(radiograph.pixels, [[0, 1000 / 65535, 1]], atol=1e-7)
    assert radiograph.warnings == []


def test_an_8_bit_palette_is_scaled_by_255():
    stored = np.array([[0, 1, 2]], dtype=np.uint8)
    radiograph = _read(_palette(stored, [0, 255, 51], [0, 0, 51], [0, 0, 51], bits=8))
    np.testing.assert_allclose(radiograph.pixels, [[0, 0.299, 0.2]], atol=1e-6)


@pytest.mark.parametrize("channels", [(40, 40, 90), (90, 40, 40), (40, 90, 90)], ids=["R=G", "G=B", "R!=G=B"])
def test_two_equal_channels_are_not_grey(channels):
    # Only three equal channels make the grey one channel; two equal and one different are weighted.
    rgb = np.zeros((20, 20, 3), dtype=np.uint8)
    rgb[...] = channels
    rgb[..., :] += np.arange(20, dtype=np.uint8)[:, None, None]  # smooth, so the layout check passes
    radiograph = _read(_dataset(rgb, photometric="RGB", PlanarConfiguration=0))
    np.testing.assert_allclose(radiograph.pixels, (rgb / 255.0) @ LUMA, atol=1e-6)


def test_a_palette_without_its_tables_is_refused():
    ds = _dataset(np.zeros((4, 4), np.uint8), photometric="PALETTE COLOR")
    error = _refusal(_bytes(ds))
    assert error.cause.startswith("DICOM colour (PALETTE COLOR) could not be converted (")


# --- planar configuration ---------------------------------------------------------------------------------------


def _planar(rgb: np.ndarray, declared: int, laid_out: int) -> bytes:
    ds = _dataset(rgb, photometric="RGB", PlanarConfiguration=0)
    ds.PlanarConfiguration = declared
    ds.PixelData = rgb.tobytes() if laid_out == 0 else rgb.transpose(2, 0, 1).tobytes()
    return _bytes(ds)


@pytest.mark.parametrize(("declared", "laid_out", "words"), [
    (0, 1, "(0: interleaved); the data is laid out one plane per colour"),
    (1, 0, "(1: one plane per colour); the data is laid out interleaved"),
])
def test_a_planar_configuration_that_does_not_match_the_data_is_refused(declared, laid_out, words):
    error = _refusal(_planar(_colour_ramp(40, 48), declared, laid_out))
    assert error.cause == (f"DICOM colour pixel data does not match its PlanarConfiguration {words}, so the image "
                           "would be scrambled; not read")


def test_a_16_bit_colour_film_with_the_wrong_planar_configuration_is_refused():
    rgb = _colour_ramp(40, 48).astype(np.uint16) * 200
    ds = _dataset(rgb, photometric="RGB", PlanarConfiguration=0)
    ds.PixelData = rgb.transpose(2, 0, 1).tobytes()
    assert "does not match its PlanarConfiguration" in _refusal(_bytes(ds)).cause


def test_a_tiny_colour_image_is_not_checked_for_its_layout():
    # Under 16 rows or columns the roughness is not measured: read as declared, scrambled or not.
    rgb = _colour_ramp(15, 40)
    assert _read_bytes(_planar(rgb, 0, 1)).pixels.shape == (15, 40)
    rgb = _colour_ramp(40, 15)
    assert _read_bytes(_planar(rgb, 0, 1)).pixels.shape == (40, 15)
    # 16 x 16 is checked
    with pytest.raises(ImageReadError, match="PlanarConfiguration"):
        _read_bytes(_planar(_colour_ramp(16, 16), 0, 1))


def _read_bytes(data: bytes):
    return read_dicom(PATH, data)


def test_a_planar_configuration_outside_0_and_1_is_left_to_pydicom():
    # Not measured (neither layout is declared): pydicom's own refusal, not the layout check's.
    rgb = _colour_ramp(40, 48)
    ds = _dataset(rgb, photometric="RGB", PlanarConfiguration=0)
    ds.add_new(0x00280006, "US", 2)
    error = _refusal(_bytes(ds))
    assert error.cause.startswith("DICOM pixel data could not be decoded (Explicit VR Little Endian): ")
    assert "Planar Configuration" in error.cause


def test_an_unreadable_planar_configuration_is_taken_as_interleaved():
    rgb = _colour_ramp(40, 48)
    ds = _dataset(rgb, photometric="RGB", PlanarConfiguration=0)
    ds.PixelData = rgb.transpose(2, 0, 1).tobytes()  # one plane per colour, which the text does not say
    ds.add_new(0x00280006, "LO", "planes")
    with pytest.raises(ImageReadError, match=r"PlanarConfiguration \(0: interleaved\)"):
        dicom._check_planar_configuration(PATH, ds, ds.PixelData, 40, 48, 8)


def test_roughness_by_hand():
    image = np.array([[0, 2], [4, 10]], dtype=np.uint8)
    # rows: |4 - 0|, |10 - 2| -> mean 6; columns: |2 - 0|, |10 - 4| -> mean 4
    assert dicom._roughness(image) == 10.0
    # No wrap-around for unsigned values (0 - 5 is -5, not 251): rows 5, 5 -> 5; columns 5, 5 -> 5.
    assert dicom._roughness(np.array([[5, 0], [0, 5]], dtype=np.uint8)) == 10.0
    # All channels count: a (1 x 2 x 2) image whose second channel jumps by 8: columns (0 + 8) / 2 = 4, no rows
    assert dicom._roughness(np.array([[[1, 0], [1, 8]], [[1, 0], [1, 8]]], dtype=np.uint8)) == 4.0


# --- frames and sizes -------------------------------------------------------------------------------------------


def test_the_first_frame_of_a_multi_frame_film_is_read_with_a_warning():
    frames = np.stack([np.full((4, 5), 10 * (k + 1), dtype=np.uint8) for k in range(3)])
    frames[0, 0, 0] = 0
    radiograph = _read(_dataset(frames, WindowCenter=10, WindowWidth=30, VOILUTFunction="LINEAR_EXACT"))
    assert radiograph.pixels.shape == (4, 5)
    assert radiograph.modality_values[0, 0] == 0 and radiograph.modality_values[1, 1] == 10
    assert radiograph.warnings == ["multi-frame DICOM (3 frames): only the first frame is shown and analysed"]
    assert radiograph.metadata["frames"] == 3


def test_fewer_frames_than_declared_are_read_with_a_warning():
    frames = np.stack([np.full((4, 5), 10 * (k + 1), dtype=np.uint8) for k in range(3)])
    ds = _dataset(frames)
    ds.PixelData = ds.PixelData[: 4 * 5 * 2 + 7]  # two whole frames and a bit
    radiograph = _read(ds)
    assert radiograph.warnings == ["DICOM pixel data holds fewer frames than the 3 declared",
                                   "multi-frame DICOM (2 frames): only the first frame is shown and analysed"]
    assert radiograph.metadata["frames"] == 2 and radiograph.modality_values.tolist() == [[10] * 5] * 4


def test_one_whole_frame_of_several_declared_is_a_single_frame():
    frames = np.stack([np.full((4, 5), 10 * (k + 1), dtype=np.uint8) for k in range(3)])
    ds = _dataset(frames)
    ds.PixelData = ds.PixelData[:20]
    radiograph = _read(ds)
    assert radiograph.warnings == ["DICOM pixel data holds fewer frames than the 3 declared"]
    assert radiograph.metadata["frames"] == 1


def test_a_truncated_first_frame_is_refused_with_the_byte_counts():
    ds = _dataset(np.zeros((8, 8), np.uint16), bits_stored=12)
    ds.PixelData = ds.PixelData[:100]
    assert _refusal(_bytes(ds)).cause == (
        "DICOM pixel data is truncated: 100 of the 128 bytes of the first frame are present")


def test_a_one_bit_frame_needs_its_bytes_rounded_up():
    # 7 x 7 one-bit pixels need ceil(49 / 8) = 7 bytes; 6 are too few, 7 (padded to 8 in the file) are read.
    ds = _dataset(np.zeros((7, 7), np.uint8))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    ds.PixelData = b"\xff" * 7
    assert _read(ds).modality_values.tolist() == [[1] * 7] * 7
    ds.PixelData = b"\xff" * 6
    assert _refusal(_bytes(ds)).cause == (
        "DICOM pixel data is truncated: 6 of the 7 bytes of the first frame are present")


def test_an_exact_first_frame_is_enough():
    ds = _dataset(np.arange(16, dtype=np.uint8).reshape(4, 4))
    assert len(ds.PixelData) == 16
    assert _read(ds).modality_values.tolist() == np.arange(16).reshape(4, 4).tolist()


def test_an_empty_size_is_refused():
    ds = _dataset(np.zeros((4, 4), np.uint8))
    ds.Rows = 0
    assert _refusal(_bytes(ds)).cause == "DICOM image declares an empty size (4 x 0 pixels)"


def test_an_absurd_size_is_refused_before_decoding():
    ds = _dataset(np.zeros((4, 4), np.uint8))
    ds.Rows, ds.Columns = 10000, 6000
    error = _refusal(_bytes(ds), ImageTooLargeError)
    assert error.cause.startswith("DICOM image declares 6000 x 10000 pixels (60 megapixels)")


@pytest.mark.parametrize(("tags", "words"), [
    ({"SamplesPerPixel": 2}, "(2 samples per pixel, 8 bits allocated, 1 frames)"),
    ({"SamplesPerPixel": 4}, "(4 samples per pixel, 8 bits allocated, 1 frames)"),
    ({"BitsAllocated": 12}, "(1 samples per pixel, 12 bits allocated, 1 frames)"),
    ({"BitsAllocated": 24}, "(1 samples per pixel, 24 bits allocated, 1 frames)"),
    ({"NumberOfFrames": -1}, "(1 samples per pixel, 8 bits allocated, -1 frames)"),
])
def test_an_unsupported_layout_is_refused_with_its_figures(tags, words):
    ds = _dataset(np.zeros((4, 4), np.uint8), **tags)
    assert _refusal(_bytes(ds)).cause == f"unsupported DICOM pixel layout {words}"


def test_zero_or_empty_samples_and_frames_mean_one():
    ds = _dataset(np.arange(16, dtype=np.uint8).reshape(4, 4))
    ds.add_new(0x00280008, "IS", "")  # NumberOfFrames empty
    radiograph = _read(ds)
    assert radiograph.pixels.shape == (4, 4) and radiograph.warnings == []


def test_64_bits_allocated_are_read():
    stored = np.arange(16).reshape(4, 4) + 7
    ds = _dataset(stored.astype(np.uint16))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 64, 64, 63
    ds.PixelData = stored.astype("<u8").tobytes()
    assert _read(ds).modality_values.tolist() == stored.tolist()


def test_16_and_32_bits_allocated_are_read():
    stored = np.arange(16).reshape(4, 4) * 1000
    assert _read(_dataset(stored.astype(np.uint16))).modality_values.tolist() == stored.tolist()
    ds = _dataset(stored.astype(np.uint16))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelData = (stored + 100000).astype("<u4").tobytes()
    assert _read(ds).modality_values.tolist() == (stored + 100000).tolist()


@pytest.mark.parametrize("missing", ["Rows", "Columns", "BitsAllocated", "PixelData"])
def test_a_missing_pixel_attribute_is_refused(missing):
    ds = _dataset(np.zeros((4, 4), np.uint8))
    delattr(ds, missing)
    if missing == "PixelData":
        return  # no pixel data at all: see the SOP class tests
    error = _refusal(_bytes(ds))
    assert error.cause.startswith("DICOM image attributes missing or invalid (") and missing in error.cause


def test_an_empty_pixel_data_element_is_refused():
    ds = _dataset(np.zeros((4, 4), np.uint8))
    ds.PixelData = b""
    assert _refusal(_bytes(ds)).cause == "DICOM pixel data element is empty (0 bytes)"


class _Decoder:
    is_available = False


def test_a_syntax_whose_decoder_is_not_installed_is_refused(monkeypatch):
    monkeypatch.setattr(dicom, "get_decoder", lambda syntax: _Decoder())
    ds = _dataset(np.zeros((4, 4), np.uint8))
    assert _refusal(_bytes(ds)).cause == "no decoder installed for Explicit VR Little Endian (install the pylibjpeg plugins)"


def test_running_out_of_memory_while_decoding_is_too_large(monkeypatch):
    def no_memory(ds, index):
        assert index == 0  # the first frame only
        raise MemoryError

    monkeypatch.setattr(dicom, "pixel_array", no_memory)
    error = _refusal(_bytes(_dataset(np.zeros((4, 4), np.uint8))), ImageTooLargeError)
    assert error.cause == "not enough memory to decode the DICOM pixel data"


@pytest.mark.parametrize("shape", [(4, 5), (5, 4), (4,), (4, 4, 3, 1)])
def test_a_decoded_frame_of_the_wrong_shape_is_refused(monkeypatch, shape):
    monkeypatch.setattr(dicom, "pixel_array", lambda ds, index: np.zeros(shape, np.uint8))
    error = _refusal(_bytes(_dataset(np.zeros((4, 4), np.uint8))))
    assert error.cause == f"decoded DICOM frame has shape {shape}, expected 4 x 4"


def test_a_decoded_colour_frame_of_the_right_size_is_accepted(monkeypatch):
    monkeypatch.setattr(dicom, "pixel_array", lambda ds, index: np.full((4, 4, 3), 255, np.uint8))
    assert _read(_dataset(np.zeros((4, 4), np.uint8))).pixels.tolist() == [[1.0] * 4] * 4


def test_not_a_number_in_the_grey_values_becomes_black(monkeypatch):
    # No stored integer gives NaN, but a float image or a broken window might: NaN never reaches the model.
    def windowed(values, window, function):
        return np.array([[np.nan, 0.25], [0.5, np.nan]], dtype=np.float32)

    monkeypatch.setattr(dicom, "apply_window", windowed)
    stored = np.zeros((2, 2), np.uint8)
    assert _read(_dataset(stored)).pixels.tolist() == [[0.0, 0.25], [0.5, 0.0]]
    assert _read(_dataset(stored, photometric="MONOCHROME1")).pixels.tolist() == [[0.0, 0.75], [0.5, 0.0]]


# --- transfer syntaxes and compressed data ----------------------------------------------------------------------


def test_an_unknown_transfer_syntax_is_refused():
    ds = _dataset(np.zeros((4, 4), np.uint8), syntax=UID("1.2.3.4"))
    assert _refusal(_bytes(ds)).cause == "DICOM transfer syntax '1.2.3.4' is not a known transfer syntax"


def test_a_long_unknown_transfer_syntax_is_cut_in_the_message():
    uid = "1.2." + "3" * 60
    ds = _dataset(np.zeros((4, 4), np.uint8), syntax=UID(uid))
    assert _refusal(_bytes(ds)).cause == f"DICOM transfer syntax {uid[:64]!r} is not a known transfer syntax"


def test_a_transfer_syntax_without_a_decoder_is_refused():
    ds = _encapsulated(MPEG2MPML, encapsulate([b"not a video"]))
    assert _refusal(_bytes(ds)).cause == "DICOM transfer syntax MPEG2 Main Profile / Main Level is not supported"


def test_undecodable_compressed_data_is_refused_with_the_codec():
    ds = _encapsulated(RLELossless, encapsulate([b"\x01\x00\x00\x00" + b"\x40\x00\x00\x00" + b"\x00" * 56 + b"junk"]))
    assert _refusal(_bytes(ds)).cause.startswith("DICOM pixel data could not be decoded (RLE Lossless): ")


def test_encapsulated_data_without_fragments_is_refused():
    ds = _encapsulated(RLELossless, b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    assert _refusal(_bytes(ds)).cause == "DICOM encapsulated pixel data holds no fragments"


def test_encapsulated_data_with_only_empty_fragments_is_refused():
    ds = _encapsulated(RLELossless, b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * 2
                       + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    assert _refusal(_bytes(ds)).cause == "DICOM encapsulated pixel data holds no fragments"


def test_malformed_encapsulation_is_refused():
    ds = _encapsulated(RLELossless, b"\xfe\xff\x00\xe0\x00\x00\x00\x00\x12\x34\x00\xe0\x04\x00\x00\x00abcd")
    assert _refusal(_bytes(ds)).cause.startswith("DICOM encapsulated pixel data is malformed (Unexpected tag")


def test_rle_compressed_film_reads_as_the_stored_values():
    stored = (np.arange(64).reshape(8, 8) * 3).astype(np.uint8)
    ds = _dataset(stored)
    ds.compress(RLELossless)
    radiograph = _read(ds)
    assert radiograph.modality_values.tolist() == stored.tolist()
    assert radiograph.metadata["transfer_syntax"] == "RLE Lossless"


def _j2k_siz(width: int, height: int, x_offset: int = 0, y_offset: int = 0) -> bytes:
    # SOC, SIZ marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz (ISO 15444-1 A.5.1)
    return b"\xff\x4f\xff\x51" + struct.pack(">HHIIII", 41, 0, width, height, x_offset, y_offset) + b"\x00" * 20


def _jpeg_sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    dht = b"\xff\xc4" + struct.pack(">H", 4) + b"\x00\x00"
    sof = bytes([0xFF, marker]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + dht + sof


def test_a_jpeg_2000_codestream_declaring_an_empty_size_is_refused():
    ds = _encapsulated(JPEG2000Lossless, encapsulate([_j2k_siz(10, 50, x_offset=10)]))
    assert _refusal(_bytes(ds)).cause == "JPEG 2000 Image Compression (Lossless Only) codestream declares an empty size (0 x 50 pixels)"


def test_a_jpeg_2000_codestream_declaring_too_many_pixels_is_refused():
    ds = _encapsulated(JPEG2000Lossless, encapsulate([b"\x00" * 10 + _j2k_siz(20000, 5000, 2000, 500)]))
    error = _refusal(_bytes(ds), ImageTooLargeError)
    assert error.cause.startswith("JPEG 2000 Image Compression (Lossless Only) codestream declares 18000 x 4500 pixels (81 megapixels)")


def test_a_jpeg_codestream_declaring_too_many_pixels_is_refused():
    ds = _encapsulated(JPEGBaseline8Bit, encapsulate([_jpeg_sof(60000, 1000)]))
    error = _refusal(_bytes(ds), ImageTooLargeError)
    assert error.cause.startswith("JPEG Baseline (Process 1) codestream declares 60000 x 1000 pixels")


def test_the_first_non_empty_fragment_is_the_codestream():
    fragments = b"".join(b"\xfe\xff\x00\xe0" + struct.pack("<I", len(f)) + f for f in (b"", _jpeg_sof(0, 7)))
    ds = _encapsulated(JPEGBaseline8Bit, b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + fragments + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    assert _refusal(_bytes(ds)).cause == "JPEG Baseline (Process 1) codestream declares an empty size (0 x 7 pixels)"


@pytest.mark.parametrize("marker", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7])
def test_codestream_size_from_every_start_of_frame(marker):
    assert dicom._codestream_size(_jpeg_sof(640, 480, marker)) == (640, 480)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC, 0xDB, 0xD0])
def test_markers_that_are_not_a_start_of_frame_are_skipped(marker):
    head = _jpeg_sof(640, 480, marker)
    assert dicom._codestream_size(head) is None
    assert dicom._codestream_size(head + _jpeg_sof(30, 20)[2:]) == (30, 20)  # the real SOF after it


def test_codestream_size_of_jpeg_2000():
    assert dicom._codestream_size(_j2k_siz(1000, 800)) == (1000, 800)
    assert dicom._codestream_size(b"junk" + _j2k_siz(1000, 800, 100, 50)) == (900, 750)
    assert dicom._codestream_size(_j2k_siz(10, 10, 20, 30)) == (0, 0)  # offsets beyond the size: empty
    # The SIZ must be whole: 4 + 4 bytes of marker and header, then four 4-byte sizes.
    whole = _j2k_siz(7, 9)
    assert dicom._codestream_size(whole[:24]) == (7, 9)
    assert dicom._codestream_size(whole[:23]) is None


def test_codestream_size_of_unknown_or_cut_data():
    assert dicom._codestream_size(b"") is None
    assert dicom._codestream_size(b"\x00" * 40) is None
    assert dicom._codestream_size(b"\xff\xd8") is None
    head = _jpeg_sof(640, 480)
    # The SOF is 13 bytes; its first 9 (marker, length, precision, height, width) are enough.
    assert dicom._codestream_size(head[:-5]) is None
    assert dicom._codestream_size(head[:-4]) == (640, 480)
    assert dicom._codestream_size(b"\xff\xd8\x00\xe0" + head[2:]) is None  # not a marker where one must be


# --- parsing and what is not an image ---------------------------------------------------------------------------


def test_a_structured_report_is_not_an_image():
    ds = _dataset(sop_class=BasicTextSRStorage, Modality="SR")
    error = _refusal(_bytes(ds), NotAnImageError)
    assert error.cause == "DICOM file without pixel data (Basic Text SR Storage), not an image"


def test_an_image_class_without_pixels_is_damaged():
    ds = _dataset(Modality="DX")
    error = _refusal(_bytes(ds))
    assert not isinstance(error, NotAnImageError)
    assert error.cause == ("DICOM image (Digital X-Ray Image Storage - For Presentation) has no pixel data: the file "
                           "is truncated or damaged")


def test_the_sop_class_of_the_file_meta_is_used_when_the_dataset_has_none():
    ds = _dataset(sop_class=BasicTextSRStorage)
    del ds.SOPClassUID
    assert _refusal(_bytes(ds), NotAnImageError).cause == "DICOM file without pixel data (Basic Text SR Storage), not an image"


def test_no_pixels_and_no_sop_class_is_damaged():
    ds = _dataset(sop_class=None, Modality="DX")
    error = _refusal(_bytes(ds, enforce=False))
    assert not isinstance(error, NotAnImageError)
    assert error.cause == "DICOM file with neither pixel data nor a SOP class: damaged, or not an image"


def test_an_unknown_sop_class_without_pixels_is_not_an_image():
    ds = _dataset(sop_class=UID("1.2.3.4.5"))
    assert _refusal(_bytes(ds), NotAnImageError).cause == "DICOM file without pixel data (1.2.3.4.5), not an image"


def test_a_damaged_header_is_refused():
    data = _bytes(_dataset(np.zeros((4, 4), np.uint8)))
    # An element after the file meta claims to be longer than the file.
    start = data.index(b"\x08\x00\x16\x00")  # (0008,0016) SOPClassUID
    broken = data[:start] + b"\x08\x00\x16\x00UI\xff\xff" + b"1.2"
    error = _refusal(broken)
    assert error.cause.startswith("damaged DICOM header (") or error.cause.startswith("DICOM")


@pytest.mark.parametrize(("implicit", "little", "name"), [
    (True, True, "Implicit VR Little Endian"), (False, True, "Explicit VR Little Endian"),
    (False, False, "Explicit VR Big Endian"),
])
def test_a_bare_dataset_gets_the_transfer_syntax_it_was_written_in(implicit, little, name):
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], dtype=np.uint16)
    ds = _dataset(stored, bits_stored=12, WindowCenter=2000, WindowWidth=2000, VOILUTFunction="LINEAR_EXACT")
    buffer = io.BytesIO()
    bare = ds.copy()
    del bare.file_meta
    bare.preamble = None
    if not little:
        bare.PixelData = stored.astype(">u2").tobytes()  # words in the file's byte order
    pydicom.dcmwrite(buffer, bare, implicit_vr=implicit, little_endian=little, enforce_file_format=False)
    radiograph = read_dicom(PATH, buffer.getvalue())
    assert radiograph.metadata["transfer_syntax"] == name
    assert radiograph.modality_values.tolist() == stored.tolist()
    np.testing.assert_allclose(radiograph.pixels, [[0, 0, 0.5], [1, 1, 1]], atol=1e-6)


def test_a_big_endian_file_reads_the_same_values():
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], dtype=np.uint16)
    ds = _dataset(stored, bits_stored=12, syntax=ExplicitVRBigEndian)
    ds.PixelData = stored.astype(">u2").tobytes()
    radiograph = _read(ds, little_endian=False)
    assert radiograph.modality_values.tolist() == stored.tolist()
    assert radiograph.metadata["transfer_syntax"] == "Explicit VR Big Endian"


def test_an_implicit_vr_file_reads_the_same_values():
    stored = np.array([[0, 1000, 2000], [3000, 4000, 4095]], dtype=np.uint16)
    ds = _dataset(stored, bits_stored=12, syntax=ImplicitVRLittleEndian)
    radiograph = _read(ds, implicit=True)
    assert radiograph.modality_values.tolist() == stored.tolist()
    assert radiograph.metadata["transfer_syntax"] == "Implicit VR Little Endian"


# --- deflated datasets ------------------------------------------------------------------------------------------


def _deflated(stored: np.ndarray) -> bytes:
    ds = _dataset(stored, syntax=DeflatedExplicitVRLittleEndian, WindowCenter=100, WindowWidth=200,
                  VOILUTFunction="LINEAR_EXACT")
    return _bytes(ds)


def test_a_deflated_file_is_read():
    stored = np.arange(100, dtype=np.uint8).reshape(10, 10) * 2
    radiograph = read_dicom(PATH, _deflated(stored))
    assert radiograph.modality_values.tolist() == stored.tolist()
    assert radiograph.metadata["transfer_syntax"] == "Deflated Explicit VR Little Endian"


def _inflated_size(data: bytes) -> int:
    start = dicom._end_of_file_meta(data)
    return len(zlib.decompress(data[start:], -zlib.MAX_WBITS))


def test_the_inflated_size_limit_is_exact(monkeypatch):
    data = _deflated(np.zeros((64, 64), dtype=np.uint8))
    size = _inflated_size(data)
    assert size > 4096
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", size)
    assert read_dicom(PATH, data).pixels.shape == (64, 64)  # exactly at the limit: read
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", size - 1)
    error = _refusal(data, ImageTooLargeError)
    assert error.cause == "deflated DICOM inflates to more than 0 MiB; refused"


def test_the_inflated_size_limit_is_counted_in_mebibytes_in_the_message(monkeypatch):
    data = _deflated(np.zeros((64, 64), dtype=np.uint8))
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", 3 * 2**20 - 1)
    monkeypatch.setattr(dicom.zlib, "decompressobj", lambda wbits: _Endless())
    error = _refusal(data, ImageTooLargeError)
    assert error.cause == "deflated DICOM inflates to more than 2 MiB; refused"


class _Endless:
    """An inflater that always gives another mebibyte (a zip bomb without the zip)."""

    eof = False
    unconsumed_tail = b"x"

    def decompress(self, data, limit):
        assert limit == 1 << 20  # inflated a mebibyte at a time, never whole
        return b"\0" * limit


def test_the_size_of_a_large_deflated_file_is_counted_chunk_by_chunk(monkeypatch):
    # 3 MiB of zeros inflate in more than one chunk of 1 MiB; the limit between 2 and 3 MiB refuses it.
    stored = np.zeros((1536, 1024), dtype=np.uint16)
    data = _deflated(stored)
    assert len(data) < 2**20 // 10
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", 5 * 2**19)
    with pytest.raises(ImageTooLargeError):
        read_dicom(PATH, data)
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", 4 * 2**20)
    assert read_dicom(PATH, data).pixels.shape == (1536, 1024)


def test_corrupt_deflated_data_is_refused():
    data = _deflated(np.zeros((8, 8), dtype=np.uint8))
    start = dicom._end_of_file_meta(data)
    corrupt = data[:start] + b"\xff\xff\xff\xff" + data[start + 4:]
    error = _refusal(corrupt)
    assert error.cause.startswith("deflated DICOM data is corrupt (") and not isinstance(error, ImageTooLargeError)


def test_the_end_of_the_file_meta():
    data = _bytes(_dataset(np.zeros((4, 4), np.uint8)))
    start = dicom._end_of_file_meta(data)
    # What follows the meta group is the dataset's first element, group 0x0008; the meta group length says where.
    group_length = struct.unpack_from("<I", data, 132 + 8)[0]
    assert start == 132 + 12 + group_length
    assert struct.unpack_from("<H", data, start)[0] == 0x0008
    # Without the preamble the meta starts at 0.
    assert dicom._end_of_file_meta(data[128:].replace(b"DICM", b"", 1)) == start - 132
    # A file that ends inside the meta has no end of it.
    assert dicom._end_of_file_meta(data[: start - 1]) is None
    assert dicom._end_of_file_meta(data[:140]) is None


# PS3.5 7.1.2: the VRs whose explicit-VR element header is 12 bytes (2 reserved bytes, then a 4-byte length).
LONG_VRS = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]


@pytest.mark.parametrize("vr", LONG_VRS)
def test_a_file_meta_element_with_a_long_header(vr):
    element = b"\x02\x00\x02\x01" + vr.encode() + b"\x00\x00" + struct.pack("<I", 6) + b"abcdef"
    after = b"\x08\x00\x05\x00CS\x02\x00ab"
    assert dicom._end_of_file_meta(element + after) == 12 + 6


@pytest.mark.parametrize("vr", ["UI", "UL", "SH", "AE", "CS"])
def test_a_file_meta_element_with_a_short_header(vr):
    element = b"\x02\x00\x10\x00" + vr.encode() + struct.pack("<H", 6) + b"abcdef"
    after = b"\x08\x00\x05\x00CS\x02\x00ab"
    assert dicom._end_of_file_meta(element + after) == 8 + 6


def test_the_end_of_a_file_meta_with_a_long_element_cut_short():
    # (0002,0001) OB: a long VR needs 12 header bytes; with 11 present there is no end.
    head = b"\x02\x00\x01\x00OB\x00\x00\x02\x00\x00"
    assert dicom._end_of_file_meta(head) is None
    assert dicom._end_of_file_meta(head + b"\x00" + b"\x00\x01" + b"\x08\x00\x05\x00CS\x00\x00") == 14


def test_a_file_that_only_mentions_deflate_late_is_not_inflated(monkeypatch):
    # The deflate UID is looked for in the first 4096 bytes only (the file meta); later, it is just text.
    monkeypatch.setattr(dicom, "MAX_INFLATED_BYTES", 0)
    uid = str(DeflatedExplicitVRLittleEndian)
    ds = _dataset(np.zeros((4, 4), np.uint8), PatientComments="x" * 5000, ImageComments=uid)
    data = _bytes(ds)
    assert data.index(uid.encode()) > 4096
    assert read_dicom(PATH, data).pixels.shape == (4, 4)


# --- patient, identity, metadata, warnings ----------------------------------------------------------------------


def test_patient_identifiers_are_read_as_text():
    ds = _dataset(np.zeros((4, 4), np.uint8), PatientName="Doe^Jane", PatientID="PID-1", PatientBirthDate="19470312",
                  PatientSex="F", PatientAge="079Y", AccessionNumber="ACC9", InstitutionName="Clinic")
    expected = {"name": "Doe^Jane", "id": "PID-1", "birth_date": "19470312", "sex": "F", "age": "079Y",
                "accession_number": "ACC9", "institution": "Clinic"}
    data = _bytes(ds)
    assert read_dicom_patient(PATH, data) == expected
    radiograph = read_dicom(PATH, data)
    assert radiograph.patient == expected
    assert not set(expected.values()) & {str(v) for v in radiograph.metadata.values()}


def test_absent_and_empty_patient_identifiers_are_left_out():
    ds = _dataset(np.zeros((4, 4), np.uint8), PatientID="", PatientName="Roe^Rick")
    assert read_dicom_patient(PATH, _bytes(ds)) == {"name": "Roe^Rick"}
    assert read_dicom_patient(PATH, _bytes(_dataset(np.zeros((4, 4), np.uint8)))) == {}


def test_the_patient_of_an_unreadable_file_is_refused():
    with pytest.raises(ImageReadError):
        read_dicom_patient(PATH, b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff")


def test_the_dicom_identity_of_the_header():
    ds = _dataset(np.zeros((4, 4), np.uint8), StudyInstanceUID="1.2.3", SeriesInstanceUID=" 1.2.3.4 ",
                  Modality="CR", BodyPartExamined="KNEE", ViewPosition="AP", ImageLaterality="L",
                  PatientOrientation=["A", "F"], PatientName="Doe^Jane", PatientSex="F", StudyID="")
    identity = _read(ds).dicom
    assert identity.study_instance_uid == "1.2.3" and identity.series_instance_uid == "1.2.3.4"
    assert identity.sop_class_uid == str(DX) and identity.sop_instance_uid == ds.SOPInstanceUID
    assert (identity.modality, identity.body_part_examined, identity.view_position, identity.image_laterality) == (
        "CR", "KNEE", "AP", "L")
    assert identity.patient_orientation == "A\\F"
    assert identity.study_id is None and identity.accession_number is None and identity.study_date is None
    assert identity.patient.name == "Doe^Jane" and identity.patient.sex == "F" and identity.patient.id is None


def test_descriptive_metadata_of_the_header():
    ds = _dataset(np.zeros((4, 4), np.uint8), Modality=" CR ", BodyPartExamined="KNEE", ViewPosition="PA",
                  ImageLaterality="R", StudyDate="20260101", Manufacturer="Acme", ManufacturerModelName="X1",
                  PixelSpacing=["0.1", "0.125"], ImagerPixelSpacing=[0.2, 0.25], PatientName="Doe^Jane")
    meta = _read(ds).metadata
    assert (meta["modality"], meta["body_part"], meta["view_position"], meta["laterality"]) == ("CR", "KNEE", "PA", "R")
    assert (meta["study_date"], meta["manufacturer"], meta["manufacturer_model"]) == ("20260101", "Acme", "X1")
    assert meta["pixel_spacing"] == [0.1, 0.125] and meta["imager_pixel_spacing"] == [0.2, 0.25]
    assert all(type(v) is float for v in meta["pixel_spacing"])


def test_absent_or_unreadable_descriptive_tags_are_left_out():
    ds = _dataset(np.zeros((4, 4), np.uint8), Manufacturer="")
    ds.add_new(0x00280030, "LO", ["x", "y"])  # PixelSpacing that is no number
    meta = _read(ds).metadata
    assert "pixel_spacing" not in meta and "manufacturer" not in meta and "modality" not in meta


def test_unreadable_bit_depths_are_left_out():
    ds = _dataset(np.zeros((4, 4), np.uint8))
    ds.add_new(0x00280101, "LO", "twelve")  # BitsStored as text
    meta = dicom._metadata(ds)
    assert "bits_stored" not in meta and meta["bits_allocated"] == 8


def test_unreadable_pixel_representation_leaves_out_signedness():
    ds = _dataset(np.zeros((4, 4), np.uint8), RescaleSlope=2)
    meta = dicom._metadata(ds)
    assert meta["signed"] is False and meta["rescale_slope"] == 2.0
    ds.add_new(0x00280103, "LO", "unsigned")
    meta = dicom._metadata(ds)
    assert "signed" not in meta and "rescale_slope" not in meta


def test_metadata_defaults_of_a_minimal_dataset():
    meta = dicom._metadata(Dataset())
    assert meta == {"format": "DICOM", "transfer_syntax": "unknown", "sop_class": "unknown SOP class",
                    "photometric": "MONOCHROME2", "bits_allocated": 0, "bits_stored": 0, "frames": 1,
                    "original_width": 0, "original_height": 0, "signed": False}


def test_the_photometric_interpretation_is_upper_case_and_stripped():
    ds = Dataset()
    ds.PhotometricInterpretation = "monochrome1 "
    assert dicom._metadata(ds)["photometric"] == "MONOCHROME1"
    ds.PhotometricInterpretation = ""
    assert dicom._metadata(ds)["photometric"] == "MONOCHROME2"


@pytest.mark.parametrize(("modality", "body_part", "warnings"), [
    ("CR", "KNEE", []), ("DX", "LEFT KNEE", []), ("DR", "knee", []), ("RG", None, []), ("OT", None, []), ("SC", None, []),
    (None, None, []),
    ("MR", "KNEE", ["Not a plain X-ray: the DICOM modality is MR; the model was trained on knee X-rays (CR/DX) only"]),
    ("us", None, ["Not a plain X-ray: the DICOM modality is US; the model was trained on knee X-rays (CR/DX) only"]),
    ("CR", "CHEST", ["Not a knee: the DICOM body part is CHEST; the model was trained on knee radiographs only"]),
    ("CT", "Hand", ["Not a plain X-ray: the DICOM modality is CT; the model was trained on knee X-rays (CR/DX) only",
                    "Not a knee: the DICOM body part is Hand; the model was trained on knee radiographs only"]),
])
def test_content_warnings(modality, body_part, warnings):
    tags = {k: v for k, v in (("Modality", modality), ("BodyPartExamined", body_part)) if v is not None}
    assert _read(_dataset(np.zeros((4, 4), np.uint8), **tags)).warnings == warnings


def test_content_warnings_come_after_the_reading_warnings():
    frames = np.zeros((2, 4, 4), dtype=np.uint8)
    radiograph = _read(_dataset(frames, Modality="MR"))
    assert radiograph.warnings == [
        "multi-frame DICOM (2 frames): only the first frame is shown and analysed",
        "Not a plain X-ray: the DICOM modality is MR; the model was trained on knee X-rays (CR/DX) only"]


def test_radiograph_modalities():
    assert dicom.RADIOGRAPH_MODALITIES == {"CR", "DX", "DR", "RG", "OT", "SC"}
