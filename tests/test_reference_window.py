"""Grey values of a monochrome DICOM (core/reading/window.py) against pydicom's own LUT functions and by hand.

Datasets are built in the test with pydicom (no file, no shared data); the references are pydicom's
``apply_modality_lut`` / ``apply_windowing`` / ``apply_voi_lut`` and windows worked out in the test from PS3.3
C.11.2.1.2 (linear, linear-exact, sigmoid). Every test runs in milliseconds.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing
from pydicom.sequence import Sequence
from pydicom.valuerep import DSfloat

from osteo_desktop.core.reading import window
from osteo_desktop.core.reading.window import (
    PERCENTILE_WINDOW,
    apply_window,
    choose_window,
    lut_item,
    modality_values,
    voi_lut,
    window_to_uint8,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the deliberately bad values

STORED = np.array([[0, 1, 2, 3], [100, 1000, 2047, 4095]], dtype=np.uint16)


def _ds(**tags) -> Dataset:
    ds = Dataset()
    ds.BitsStored, ds.BitsAllocated, ds.PixelRepresentation = 12, 16, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


def _lut_item(descriptor, data, **tags) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.LUTData = data
    for keyword, value in tags.items():
        setattr(item, keyword, value)
    return item


# --- modality values --------------------------------------------------------------------------------------------


def test_stored_values_without_rescale_are_returned_as_float32():
    notes: list[str] = []
    values = modality_values(_ds(), STORED, notes)
    assert values.dtype == np.float32 and values.tolist() == STORED.tolist() and notes == []


@pytest.mark.parametrize(("slope", "intercept"), [(2, -100), (0.5, 0), (1, -1024), ("1.5", "7.25"), (-1, 4095)])
def test_rescale_matches_pydicom(slope, intercept):
    ds = _ds(RescaleSlope=slope, RescaleIntercept=intercept)
    notes: list[str] = []
    values = modality_values(ds, STORED, notes)
    assert values.dtype == np.float32 and notes == []
    np.testing.assert_allclose(values, apply_modality_lut(STORED, ds), rtol=1e-6)
    # and by hand
    np.testing.assert_allclose(values, STORED * float(slope) + float(intercept), rtol=1e-6)


def test_slope_alone_or_intercept_alone():
    notes: list[str] = []
    assert modality_values(_ds(RescaleSlope=3), STORED, notes).tolist() == (STORED * 3.0).tolist()
    assert modality_values(_ds(RescaleIntercept=-5), STORED, notes).tolist() == (STORED - 5.0).tolist()
    assert modality_values(_ds(RescaleIntercept=1), STORED, notes).tolist() == (STORED + 1.0).tolist()
    assert modality_values(_ds(RescaleSlope=1, RescaleIntercept=1), STORED, notes).tolist() == (STORED + 1.0).tolist()
    assert notes == []


def test_empty_rescale_tags_are_the_identity():
    # An empty slope is no slope (1), an empty intercept no intercept (0); a zero slope would blank the image.
    ds = _ds()
    ds.add_new(0x00281053, "DS", "")
    ds.add_new(0x00281052, "DS", "")
    notes: list[str] = []
    assert modality_values(ds, STORED, notes).tolist() == STORED.tolist() and notes == []
    zero = _ds(RescaleSlope=0, RescaleIntercept=0)
    assert modality_values(zero, STORED, notes).tolist() == STORED.tolist() and notes == []


def test_unreadable_rescale_is_ignored_with_a_warning():
    ds = _ds()
    ds.add_new(0x00281053, "LO", "abc")  # RescaleSlope as text that is no number
    notes: list[str] = []
    values = modality_values(ds, STORED, notes)
    assert values.dtype == np.float32 and values.tolist() == STORED.tolist()
    assert notes == ["DICOM rescale slope/intercept invalid; stored values used"]
    bad_intercept = _ds(RescaleSlope=2)
    bad_intercept.add_new(0x00281052, "LO", "minus ten")
    notes = []
    assert modality_values(bad_intercept, STORED, notes).tolist() == STORED.tolist()
    assert notes == ["DICOM rescale slope/intercept invalid; stored values used"]


@pytest.mark.parametrize(("slope", "intercept"), [("nan", "0"), ("1", "inf"), ("-inf", "3"), ("2", "nan")])
def test_non_finite_rescale_is_ignored_with_a_warning(slope, intercept):
    ds = _ds(RescaleSlope=slope, RescaleIntercept=intercept)
    notes: list[str] = []
    values = modality_values(ds, STORED, notes)
    assert values.tolist() == STORED.tolist()
    assert notes == ["DICOM rescale slope/intercept not finite; stored values used"]


def test_modality_lut_sequence_matches_pydicom():
    item = _lut_item([4, 1, 16], [10, 20, 30, 40], ModalityLUTType="US")
    ds = _ds(ModalityLUTSequence=Sequence([item]), RescaleSlope=100, RescaleIntercept=5)
    frame = np.array([[0, 1, 2], [3, 4, 9]], dtype=np.uint16)
    notes: list[str] = []
    values = modality_values(ds, frame, notes)
    assert values.dtype == np.float32 and notes == []
    # by hand: first mapped value 1; below it the first entry, above the table the last entry; the rescale unused
    assert values.tolist() == [[10, 10, 20], [30, 40, 40]]
    np.testing.assert_array_equal(values, apply_modality_lut(frame, ds))


def test_a_malformed_modality_lut_falls_back_to_the_rescale_with_a_warning():
    # Four entries declared, two present: pydicom's table look-up fails.
    item = _lut_item([4, 0, 16], [10, 20], ModalityLUTType="US")
    ds = _ds(ModalityLUTSequence=Sequence([item]), RescaleSlope=2, RescaleIntercept=1)
    frame = np.array([[0, 1, 2, 3]], dtype=np.uint16)
    notes: list[str] = []
    values = modality_values(ds, frame, notes)
    assert values.tolist() == [[1, 3, 5, 7]]
    with pytest.raises(Exception) as pydicoms:  # what pydicom itself says about this table, quoted in the warning
        apply_modality_lut(frame, ds)
    assert notes == [f"DICOM modality LUT could not be applied ({pydicoms.value}); stored values used"]


def test_an_empty_modality_lut_item_is_ignored_silently():
    ds = _ds(ModalityLUTSequence=Sequence([Dataset()]), RescaleSlope=2)
    notes: list[str] = []
    assert modality_values(ds, STORED, notes).tolist() == (STORED * 2.0).tolist() and notes == []


# --- LUT items --------------------------------------------------------------------------------------------------


def test_lut_item_is_the_first_usable_item():
    first = _lut_item([2, 0, 16], [1, 2])
    second = _lut_item([2, 0, 16], [3, 4])
    ds = _ds(VOILUTSequence=Sequence([first, second]))
    assert lut_item(ds, "VOILUTSequence") is first


@pytest.mark.parametrize("item", [
    Dataset(),  # empty
    _lut_item([2, 0, 16], []),  # no data
    _lut_item([2, 0], [1, 2]),  # a descriptor of two values
    _lut_item([2, 0, 16, 1], [1, 2]),  # of four
], ids=["empty", "no-data", "short-descriptor", "long-descriptor"])
def test_lut_item_without_usable_data_is_none(item):
    assert lut_item(_ds(VOILUTSequence=Sequence([item])), "VOILUTSequence") is None


def test_lut_item_of_a_missing_or_empty_sequence_is_none():
    assert lut_item(_ds(), "VOILUTSequence") is None
    assert lut_item(_ds(VOILUTSequence=Sequence([])), "VOILUTSequence") is None
    broken = _ds()
    broken.add_new(0x00283010, "LO", "not a sequence")  # VOILUTSequence's tag holding text
    assert lut_item(broken, "VOILUTSequence") is None


def test_a_lut_item_without_a_descriptor_is_none():
    item = Dataset()
    item.LUTData = [1, 2, 3]
    assert lut_item(_ds(VOILUTSequence=Sequence([item])), "VOILUTSequence") is None


# --- VOI LUT ----------------------------------------------------------------------------------------------------


def test_voi_lut_as_a_list_of_entries():
    ds = _ds(VOILUTSequence=Sequence([_lut_item([4, 7, 16], [0, 100, 200, 4000])]))
    notes: list[str] = []
    first, lut = voi_lut(ds, notes)
    assert first == 7 and type(first) is int
    assert lut.dtype == np.float32 and lut.tolist() == [0, 100, 200, 4000] and notes == []


def test_voi_lut_is_cut_to_the_declared_number_of_entries():
    ds = _ds(VOILUTSequence=Sequence([_lut_item([3, 0, 16], [5, 6, 7, 8, 9])]))
    assert voi_lut(ds, [])[1].tolist() == [5, 6, 7]


def test_voi_lut_of_zero_entries_means_65536():
    # PS3.3 C.11.1.1: 0 entries in the descriptor means 2^16; the whole table is used.
    ds = _ds(VOILUTSequence=Sequence([_lut_item([0, 0, 16], [5, 6, 7, 8, 9])]))
    assert voi_lut(ds, [])[1].tolist() == [5, 6, 7, 8, 9]
    big = _ds(VOILUTSequence=Sequence([_lut_item([0, 0, 16], list(range(65536)) + [1, 2])]))
    assert voi_lut(big, [])[1].size == 65536


def test_voi_lut_as_little_endian_words():
    item = Dataset()
    item.LUTDescriptor = [3, 2, 16]
    item.add_new(0x00283006, "OW", np.array([1, 513, 65535], dtype="<u2").tobytes() + b"\x07")  # an odd byte dropped
    ds = _ds(VOILUTSequence=Sequence([item]))
    first, lut = voi_lut(ds, [])
    assert first == 2 and lut.tolist() == [1, 513, 65535]


def test_voi_lut_as_big_endian_words_from_a_big_endian_file():
    item = Dataset()
    item.LUTDescriptor = [3, 0, 16]
    item.add_new(0x00283006, "OW", np.array([1, 513, 4000], dtype=">u2").tobytes())
    ds = _ds(VOILUTSequence=Sequence([item]))
    ds._read_little = False  # what pydicom records for a dataset read from an explicit VR big endian file
    assert ds.original_encoding[1] is False
    assert voi_lut(ds, [])[1].tolist() == [1, 513, 4000]


def test_a_single_entry_voi_lut_is_ignored_with_a_warning():
    ds = _ds(VOILUTSequence=Sequence([_lut_item([1, 0, 16], 42)]))
    notes: list[str] = []
    assert voi_lut(ds, notes) is None
    assert notes == ["DICOM VOI LUT has fewer than two entries; ignored"]
    two = _ds(VOILUTSequence=Sequence([_lut_item([2, 0, 16], [3, 4])]))
    assert voi_lut(two, [])[1].tolist() == [3, 4]


def test_an_unusable_voi_lut_item_is_ignored_with_a_warning():
    ds = _ds(VOILUTSequence=Sequence([Dataset()]))
    notes: list[str] = []
    assert voi_lut(ds, notes) is None
    assert notes == ["DICOM VOI LUT sequence is empty; ignored"]


def test_no_voi_lut_is_no_warning():
    notes: list[str] = []
    assert voi_lut(_ds(), notes) is None and notes == []
    assert voi_lut(_ds(VOILUTSequence=Sequence([])), notes) is None and notes == []


def test_an_unreadable_voi_lut_descriptor_is_ignored_with_a_warning():
    item = Dataset()
    item.add_new(0x00283002, "LO", ["a", "b", "c"])  # three values, none a number
    item.LUTData = [1, 2, 3]
    notes: list[str] = []
    assert voi_lut(_ds(VOILUTSequence=Sequence([item])), notes) is None
    assert len(notes) == 1
    with pytest.raises(ValueError) as reason:
        int("a")
    assert notes == [f"DICOM VOI LUT could not be read ({reason.value}); ignored"]


def test_the_voi_lut_table_agrees_with_pydicom():
    # A 12-bit table over stored values 1000..1003, mapped on (value - first) and clipped at both ends.
    lut_values = [0, 1000, 3000, 4095]
    ds = _ds(VOILUTSequence=Sequence([_lut_item([4, 1000, 12], lut_values)]))
    first, lut = voi_lut(ds, [])
    stored = np.array([[990, 1000, 1001], [1002, 1003, 2000]], dtype=np.uint16)
    index = np.clip(stored.astype(np.int64) - first, 0, lut.size - 1)
    np.testing.assert_array_equal(lut[index], apply_voi_lut(stored, ds))


# --- choosing the window ----------------------------------------------------------------------------------------


VALUES = np.arange(1000, dtype=np.float32).reshape(10, 100)  # 0 .. 999


def test_the_files_window_is_used():
    notes: list[str] = []
    assert choose_window(_ds(WindowCenter=500, WindowWidth=300), VALUES, notes) == (
        (500.0, 300.0), "LINEAR", "window centre/width")
    assert notes == []


def test_the_first_of_several_windows_is_used():
    ds = _ds(WindowCenter=[400, 900], WindowWidth=[200, 50])
    assert isinstance(ds.WindowCenter, MultiValue)
    assert choose_window(ds, VALUES, [])[0] == (400.0, 200.0)
    listed = _ds()
    listed.add_new(0x00281050, "LO", "x")  # a window centre that is no number: treated as absent
    listed.WindowWidth = 200
    assert choose_window(listed, VALUES, [])[2].startswith("percentile")


@pytest.mark.parametrize(("function", "expected"), [
    ("LINEAR", "LINEAR"), ("LINEAR_EXACT", "LINEAR_EXACT"), ("SIGMOID", "SIGMOID"),
    ("sigmoid ", "SIGMOID"), (" linear_exact", "LINEAR_EXACT"), ("", "LINEAR"), ("GAMMA", "LINEAR"),
])
def test_the_voi_function_is_read_and_unknown_ones_are_linear(function, expected):
    ds = _ds(WindowCenter=500, WindowWidth=300)
    ds.add_new(0x00281056, "CS", function)
    assert choose_window(ds, VALUES, [])[1] == expected


@pytest.mark.parametrize(("function", "width", "valid"), [
    ("LINEAR", 1.0, True), ("LINEAR", 0.99, False), ("LINEAR", 0.0, False), ("LINEAR", -5.0, False),
    ("LINEAR_EXACT", 0.5, True), ("LINEAR_EXACT", 0.0, False), ("SIGMOID", 1e-3, True), ("SIGMOID", -1.0, False),
    # Below float32's smallest normal number (1.2e-38) a width is no width: the window is computed in float32.
    ("SIGMOID", 1e-37, True), ("SIGMOID", 1e-300, False), ("LINEAR_EXACT", 1e-300, False),
])
def test_window_width_validity(function, width, valid):
    # The values all sit at the centre, 0, so that even the narrowest window covers them.
    values = np.zeros((10, 10), dtype=np.float32)
    notes: list[str] = []
    ds = _ds(WindowCenter=0, WindowWidth=width, VOILUTFunction=function)
    (centre, chosen_width), chosen_function, source = choose_window(ds, values, notes)
    if valid:
        assert (centre, chosen_width, chosen_function, source) == (0.0, width, function, "window centre/width")
        assert notes == []
    else:
        assert source == "percentile 0.5-99.5" and chosen_function == "LINEAR_EXACT"
        assert notes == [f"DICOM window width {width:g} is invalid; a percentile window was used"]


def test_a_window_that_misses_the_values_falls_back_to_the_percentiles():
    notes: list[str] = []
    (centre, width), function, source = choose_window(_ds(WindowCenter=5000, WindowWidth=100), VALUES, notes)
    assert notes == ["DICOM window (centre 5000, width 100) misses almost all pixel values; a percentile window was used"]
    # The percentiles of 0..999, interpolated by hand: 0.005 * 999 = 4.995 and 0.995 * 999 = 994.005.
    assert centre == pytest.approx(499.5) and width == pytest.approx(989.01)
    assert (function, source) == ("LINEAR_EXACT", "percentile 0.5-99.5")
    assert PERCENTILE_WINDOW == (0.5, 99.5)


def test_one_percent_of_the_values_inside_the_window_is_enough():
    # 1 % of 1000 values is 10. Window (104.5, 9) spans (100, 109): 101..108 strictly inside, 8 -> too few;
    # (105.5, 11) spans (100, 111): 101..110, 10 -> used.
    notes: list[str] = []
    assert choose_window(_ds(WindowCenter=104.5, WindowWidth=9), VALUES, notes)[2].startswith("percentile")
    assert choose_window(_ds(WindowCenter=105.5, WindowWidth=11), VALUES, [])[2] == "window centre/width"
    # Values exactly on the window's edges are not inside: (105, 10) has 100 and 110 on its edges, 101..109 (9) inside.
    assert choose_window(_ds(WindowCenter=105, WindowWidth=10), VALUES, [])[2].startswith("percentile")


def test_a_missing_width_or_centre_gives_the_percentile_window_without_a_warning():
    for tags in ({"WindowCenter": 500}, {"WindowWidth": 300}, {}):
        notes: list[str] = []
        assert choose_window(_ds(**tags), VALUES, notes)[2] == "percentile 0.5-99.5" and notes == []


def test_a_non_finite_window_is_treated_as_absent():
    ds = _ds(WindowCenter="nan", WindowWidth=300)
    notes: list[str] = []
    assert choose_window(ds, VALUES, notes)[2].startswith("percentile") and notes == []
    ds = _ds(WindowCenter=500, WindowWidth="inf")
    assert choose_window(ds, VALUES, [])[2].startswith("percentile")


def test_an_empty_window_centre_is_treated_as_absent():
    ds = _ds(WindowWidth=300)
    ds.add_new(0x00281050, "DS", "")
    assert window._first_number(ds, "WindowCenter") is None
    assert choose_window(ds, VALUES, [])[2].startswith("percentile")


def test_first_number_of_lists_and_values():
    ds = _ds(WindowCenter=DSfloat("12.5"), WindowWidth=[7, 8])
    assert window._first_number(ds, "WindowCenter") == 12.5
    assert window._first_number(ds, "WindowWidth") == 7.0
    assert window._first_number(ds, "RescaleSlope") is None
    listed = Dataset()
    listed.add_new(0x00281050, "LO", ["3", "4"])
    assert window._first_number(listed, "WindowCenter") == 3.0


def test_the_percentile_window_of_a_constant_image_is_the_narrowest():
    values = np.full((30, 30), 42.0, dtype=np.float32)
    (centre, width), function, source = choose_window(_ds(), values, [])
    assert centre == 42.0 and width == 1e-6 and function == "LINEAR_EXACT"


def test_the_percentiles_are_taken_on_an_even_grid_of_a_large_image():
    # 1024 x 1024 = 4 x 2^18 values: the grid takes every 2nd row and column (step sqrt(4) = 2). The grid's
    # values are 0 .. 262143; every other pixel is 10^6, which the percentiles must not see.
    values = np.full((1024, 1024), 1e6, dtype=np.float32)
    values[::2, ::2] = np.arange(512 * 512, dtype=np.float32).reshape(512, 512)
    (centre, width), _, _ = choose_window(_ds(), values, [])
    low, high = 0.005 * 262143, 0.995 * 262143
    assert centre == pytest.approx((low + high) / 2, rel=1e-6) and width == pytest.approx(high - low, rel=1e-6)


def test_the_sample_of_a_small_image_is_the_whole_image():
    values = np.arange(12.0).reshape(3, 4)
    assert window._sample(values).tolist() == values.tolist()
    # 3 x 2^18 values: step int(sqrt(3)) = 1; 9 x 2^18: step 3.
    assert window._sample(np.zeros((768, 1024)), ).shape == (768, 1024)
    assert window._sample(np.zeros((1536, 1536))).shape == (512, 512)
    assert window._sample(np.zeros((100, 100)), target=100).shape == (10, 10)


# --- applying the window ----------------------------------------------------------------------------------------


MODALITY = np.array([[0, 1499, 1499.5, 1500, 1750, 2000, 2499, 2500, 2500.5, 4095]], dtype=np.float32)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_apply_window_matches_pydicoms_windowing(function):
    ds = _ds(WindowCenter=2000, WindowWidth=1000, VOILUTFunction=function)
    reference = apply_windowing(MODALITY.astype(np.float64), ds) / 4095.0  # 12-bit unsigned output range
    got = apply_window(MODALITY, (2000.0, 1000.0), function)
    assert got.dtype == np.float32 and got.shape == MODALITY.shape
    np.testing.assert_allclose(got, reference, atol=2e-6)


def test_apply_window_matches_pydicom_with_a_rescale():
    # pydicom's output range follows the rescale: [intercept, 4095 * slope + intercept].
    ds = _ds(WindowCenter=300, WindowWidth=801, RescaleSlope=0.5, RescaleIntercept=-1000)
    modality = apply_modality_lut(STORED, ds)
    low, high = -1000.0, 4095 * 0.5 - 1000.0
    reference = (apply_windowing(modality, ds) - low) / (high - low)
    np.testing.assert_allclose(apply_window(modality.astype(np.float32), (300.0, 801.0)), reference, atol=2e-6)


def test_linear_window_by_hand():
    # PS3.3 C.11.2.1.2.1: ((x - (c - 0.5)) / (w - 1) + 0.5), clipped. Centre 10.5, width 5: 8 -> 0, 13 -> 1.
    values = np.array([7, 8, 9, 10, 10.5, 11, 12, 13, 14], dtype=np.float32)
    expected = [0, 0, 0.25, 0.5, 0.625, 0.75, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(apply_window(values, (10.5, 5.0)), expected, atol=1e-7)
    np.testing.assert_allclose(apply_window(values, (10.5, 5.0), "LINEAR"), expected, atol=1e-7)


def test_linear_window_of_width_one_is_a_threshold():
    # Width 1: (x - (c - 0.5)) / 1e-6 + 0.5 -> every value below c - 0.5 is 0, at or above c is 1.
    values = np.array([99, 99.4, 100, 100.5, 101], dtype=np.float32)
    assert apply_window(values, (100.0, 1.0)).tolist() == [0, 0, 1, 1, 1]


def test_linear_exact_window_by_hand():
    # (x - (c - w / 2)) / w, clipped: centre 10, width 4 maps 8 -> 0, 12 -> 1.
    values = np.array([7, 8, 9, 10, 11, 12, 13], dtype=np.float32)
    np.testing.assert_allclose(apply_window(values, (10.0, 4.0), "LINEAR_EXACT"), [0, 0, 0.25, 0.5, 0.75, 1, 1],
                               atol=1e-7)


def test_sigmoid_window_by_hand():
    values = np.array([-1e6, 90, 100, 110, 1e6], dtype=np.float32)
    expected = [0.0, 1 / (1 + math.exp(2.0)), 0.5, 1 / (1 + math.exp(-2.0)), 1.0]  # -4 * (x - 100) / 20
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow of exp far below the window is expected, not reported
        got = apply_window(values, (100.0, 20.0), "SIGMOID")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert got[0] == 0.0 and got[-1] == 1.0


def test_apply_window_leaves_its_input_alone_and_accepts_integers():
    values = np.array([[0, 50, 100]], dtype=np.int32)
    got = apply_window(values, (50.0, 100.0), "LINEAR_EXACT")
    assert got.tolist() == [[0.0, 0.5, 1.0]] and got.dtype == np.float32
    assert values.tolist() == [[0, 50, 100]]
    floats = np.array([0.0, 50.0, 100.0], dtype=np.float32)
    assert apply_window(floats, (50.0, 100.0), "LINEAR_EXACT") is not floats
    assert floats.tolist() == [0.0, 50.0, 100.0]


def test_window_to_uint8_by_hand():
    values = np.array([[0, 50, 100, 150, 200, 250]], dtype=np.float32)
    # LINEAR_EXACT by default: centre 100, width 200 maps 0 -> 0 and 200 -> 255; 50 -> 63.75 -> 64.
    assert window_to_uint8(values, 100, 200).tolist() == [[0, 64, 128, 191, 255, 255]]
    assert window_to_uint8(values, 100, 200, invert=True).tolist() == [[255, 191, 128, 64, 0, 0]]
    # The DICOM linear window instead: (x - 99.5) / 199 + 0.5 -> 50 -> 0.2513 -> 64, 150 -> 0.7538 -> 192.
    assert window_to_uint8(values, 100, 200, function="LINEAR").tolist() == [[0, 64, 128, 192, 255, 255]]
    assert window_to_uint8(values, 100, 200, function="SIGMOID").tolist()[0][2] == 128


def test_window_to_uint8_with_no_width_is_a_threshold():
    values = np.array([[99, 100, 101]], dtype=np.float32)
    for width in (0, -10):
        shown = window_to_uint8(values, 100, width)
        # The narrowest window (1e-6) starts at the centre in float32 (100 - 5e-7 rounds to 100): the centre is black.
        assert shown.tolist() == [[0, 0, 255]]


def test_window_to_uint8_is_contiguous_uint8():
    values = np.arange(12, dtype=np.float32).reshape(3, 4).T  # a transposed view, not C-contiguous
    shown = window_to_uint8(values, 5.5, 11.0)
    assert shown.dtype == np.uint8 and shown.flags["C_CONTIGUOUS"]
    assert shown.tolist() == np.rint(np.clip((values.astype(np.float64) - 0.0) / 11.0, 0, 1) * 255).astype(int).tolist()
