"""Preprocessing on hand-built images whose right answer is worked out here (issue 15): where the borders are, where
the content lands on the square canvas, what equalisation makes of a known histogram, the scaling to [-1, 1].
"""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.model.preprocessing import (InputGeometry, PreprocessConfig, content_box, equalize_histogram,
                                                    knee_window, map_to_original, model_input_to_preview, preprocess,
                                                    preprocess_with_geometry)

PLAIN = dict(trim_borders=False, contrast="none")


def test_content_box_by_hand():
    image = np.zeros((10, 12), np.float32)
    image[2:6, 3:9] = 1.0
    assert content_box(image, 0.06, 0.02) == (2, 6, 3, 9)
    # Strictly brighter than the threshold counts; a value at the threshold is border.
    image[7, :] = 0.06
    assert content_box(image, 0.06, 0.02) == (2, 6, 3, 9)
    # A row counts when more than min_fraction of it is bright: 1 of 12 pixels is 0.083.
    image[8, 0] = 1.0
    assert content_box(image, 0.06, 0.1) == (2, 6, 3, 9)
    assert content_box(image, 0.06, 0.08) == (2, 9, 0, 9)  # and column 0 then holds 1 of 10: 0.1 > 0.08
    assert content_box(np.zeros((4, 5), np.float32), 0.06, 0.02) == (0, 4, 0, 5)  # all dark: the whole image


def test_knee_window_by_hand():
    short = np.zeros((50, 40), np.float32)
    assert knee_window(short, 1.5) == (0, 50)  # not taller than 1.5 widths: whole
    tall = np.full((200, 40), 0.2, np.float32)
    tall[120:130, :] = 1.0  # the widest bright band: the joint
    top, bottom = knee_window(tall, 1.0)
    assert bottom - top == 40 and top <= 125 - 15 and bottom >= 125 + 15
    assert abs((top + bottom) / 2 - 125) <= 2
    tall_top = np.full((200, 40), 0.2, np.float32)
    tall_top[0:6, :] = 1.0
    assert knee_window(tall_top, 1.0) == (0, 40)  # clipped to the image
    tall_bottom = np.full((200, 40), 0.2, np.float32)
    tall_bottom[195:, :] = 1.0
    assert knee_window(tall_bottom, 1.0) == (160, 200)


def test_equalisation_by_hand():
    values = np.array([[0.0, 0.5], [0.5, 1.0]], np.float32)
    # Bins 0, 128 and 255 hold 1, 2 and 1 values: cdf 1, 3, 4; (cdf - 1) / 3 gives 0, 2/3, 1.
    np.testing.assert_allclose(equalize_histogram(values), [[0.0, 2 / 3], [2 / 3, 1.0]], atol=1e-6)
    assert equalize_histogram(values).dtype == np.float32
    np.testing.assert_array_equal(equalize_histogram(np.full((3, 3), 0.4, np.float32)), np.zeros((3, 3)))
    np.testing.assert_allclose(equalize_histogram(np.array([[-1.0, 2.0]], np.float32)), [[0.0, 1.0]])  # clipped first
    np.testing.assert_allclose(equalize_histogram(np.array([[0.0, 1.0]], np.float32), bins=2), [[0.0, 1.0]])
    assert equalize_histogram(np.zeros((0, 3), np.float32)).shape == (0, 3)


def test_pad_places_the_content_in_the_middle():
    image = np.ones((100, 50), np.float32)  # tall and white
    model_input, geometry = preprocess_with_geometry(image, PreprocessConfig(input_size=32, **PLAIN))
    assert model_input.shape == (32, 32, 3) and model_input.dtype == np.float32
    assert geometry == InputGeometry((100, 50), (0, 100, 0, 50), (0, 8, 32, 16), 32)
    channel = model_input[:, :, 0]
    np.testing.assert_allclose(channel[:, 8:24], 1.0, atol=1e-6)  # white content: +1
    np.testing.assert_array_equal(channel[:, :8], -1.0)  # the padding: black, -1
    np.testing.assert_array_equal(channel[:, 24:], -1.0)
    np.testing.assert_array_equal(model_input[:, :, 0], model_input[:, :, 2])
    wide, geometry = preprocess_with_geometry(np.full((10, 40), 0.5, np.float32), PreprocessConfig(input_size=32, **PLAIN))
    assert geometry.placed == (12, 0, 8, 32)
    np.testing.assert_allclose(wide[12:20, :, 1], 0.0, atol=1e-6)  # grey 0.5 -> 0


def test_squash_fills_the_square_and_values_are_clipped():
    image = np.full((100, 50), 1.7, np.float32)  # brighter than white: clipped to 1
    model_input, geometry = preprocess_with_geometry(image, PreprocessConfig(input_size=32, aspect="squash", **PLAIN))
    assert geometry.placed == (0, 0, 32, 32)
    np.testing.assert_allclose(model_input, 1.0, atol=1e-6)
    dark = preprocess(np.full((20, 20), -3.0, np.float32), PreprocessConfig(input_size=32, **PLAIN))
    np.testing.assert_array_equal(dark, -1.0)


def test_trimming_and_the_knee_window_are_recorded_in_the_geometry():
    image = np.zeros((300, 100), np.float32)
    image[10:290, 5:95] = 0.3
    image[200:210, 5:95] = 1.0
    config = PreprocessConfig(input_size=32, contrast="none", knee_crop_aspect=1.0)
    _, geometry = preprocess_with_geometry(image, config)
    top, bottom, left, right = geometry.crop
    assert (left, right) == (5, 95) and bottom - top == 90
    assert top >= 10 and bottom <= 290 and top <= 205 <= bottom
    _, untrimmed = preprocess_with_geometry(image, PreprocessConfig(input_size=32, trim_borders=False, contrast="none"))
    assert untrimmed.crop == (0, 300, 0, 100)
    _, trimmed = preprocess_with_geometry(image, PreprocessConfig(input_size=32, contrast="none"))
    assert trimmed.crop == (10, 290, 5, 95)


def test_map_to_original_by_hand():
    geometry = InputGeometry((40, 20), (0, 40, 0, 20), (0, 8, 32, 16), 32)
    values = np.zeros((32, 32), np.float32)
    values[:, 8:24] = 1.0
    mapped = map_to_original(values, geometry)
    assert mapped.shape == (40, 20)
    np.testing.assert_allclose(mapped, 1.0, atol=1e-6)
    trimmed = InputGeometry((50, 30), (5, 45, 5, 25), (0, 8, 32, 16), 32)
    out = map_to_original(np.ones((8, 8), np.float32), trimmed)  # a coarser map is resized to the input first
    assert out.shape == (50, 30)
    np.testing.assert_allclose(out[5:45, 5:25], 1.0, atol=1e-6)
    assert out[:5].sum() == 0 and out[45:].sum() == 0 and out[:, :5].sum() == 0 and out[:, 25:].sum() == 0


def test_preview_is_the_inverse_of_the_scaling():
    model_input = np.stack([np.array([[-1.0, 0.0], [1.0, 1.5]], np.float32)] * 3, axis=2)
    np.testing.assert_array_equal(model_input_to_preview(model_input), [[0, 128], [255, 255]])
    assert model_input_to_preview(model_input).dtype == np.uint8
    with pytest.raises(ValueError, match=r"expected a \(size, size, 3\) model input, got shape \(2, 2\)"):
        model_input_to_preview(model_input[:, :, 0])
    with pytest.raises(ValueError, match="got shape"):
        model_input_to_preview(np.zeros((2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"expected a 2-D greyscale image, got shape \(2, 2, 3\)"):
        preprocess(model_input)


@pytest.mark.parametrize("settings, message", [
    ({"input_size": 31}, "input size 31 out of range"),
    ({"input_size": 1025}, "input size 1025 out of range"),
    ({"aspect": "stretch"}, "unknown aspect mode 'stretch'"),
    ({"contrast": "clahe"}, "unknown contrast mode 'clahe'"),
    ({"knee_crop_aspect": 0.49}, r"knee crop aspect 0.49 out of range \(0 or 0.5-4\)"),
    ({"knee_crop_aspect": 4.01}, "knee crop aspect 4.01 out of range"),
    ({"sharpen": True}, r"unknown preprocessing settings: \['sharpen'\]"),
])
def test_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        PreprocessConfig.from_dict(settings)


@pytest.mark.parametrize("settings", [{"input_size": 32}, {"input_size": 1024}, {"knee_crop_aspect": 0.5},
                                      {"knee_crop_aspect": 4.0}, {"knee_crop_aspect": 0}, {"aspect": "squash"},
                                      {"contrast": "none"}])
def test_settings_at_the_edges_are_accepted(settings):
    config = PreprocessConfig.from_dict(settings)
    assert config.to_dict() == dict(PreprocessConfig().to_dict(), **settings)


def test_the_defaults_are_the_documented_ones():
    assert PreprocessConfig().to_dict() == {"input_size": 224, "trim_borders": True, "border_threshold": 0.06,
                                            "border_min_fraction": 0.02, "aspect": "pad", "contrast": "equalize",
                                            "knee_crop_aspect": 0.0}


def test_content_box_edges_by_hand():
    image = np.zeros((10, 12), np.float32)
    image[4, 0:3] = 1.0  # 3 of 12 = 0.25 of a row: not more than 0.25
    image[2:6, 5:9] = 1.0
    assert content_box(image, 0.06, 0.25)[0:2] == (2, 6)  # row 4 has 7 of 12 > 0.25; rows 2,3,5 have 4 of 12 > 0.25
    edge = np.zeros((10, 12), np.float32)
    edge[1, 0:3] = 1.0
    edge[2:6, 5:9] = 1.0
    assert content_box(edge, 0.06, 0.25)[0] == 2  # row 1: exactly 0.25, not more: border
    column = np.zeros((10, 12), np.float32)
    column[3, 0] = 1.0
    column[2:6, 5:9] = 1.0
    assert content_box(column, 0.06, 0.09) == (2, 6, 0, 9)  # column 0: 1 of 10 (its height) = 0.1 > 0.09
    line = np.zeros((10, 12), np.float32)
    line[5, :] = 1.0
    assert content_box(line, 0.06, 0.05) == (5, 6, 0, 12)  # a single bright row is the content
    assert content_box(line, 0.06, 0.2) == (0, 10, 0, 12)  # rows found but no column: the whole image
    assert content_box(line.T.copy(), 0.06, 0.05) == (0, 12, 5, 6)


def test_knee_window_with_an_odd_height():
    tall = np.full((200, 41), 0.2, np.float32)
    tall[60:70, :] = 1.0
    top, bottom = knee_window(tall, 1.0)
    assert bottom - top == 41 and isinstance(top, int) and top == int(top)


def test_equalisation_edges():
    # With 256 bins 0.5 and 0.502 share bin 128: two levels, so 0 and 1.
    np.testing.assert_allclose(equalize_histogram(np.array([[0.0, 0.5, 0.502]], np.float32)), [[0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(equalize_histogram(np.ones((2, 2), np.float32)), np.zeros((2, 2)))  # all in one bin
    assert equalize_histogram(np.zeros((0, 3), np.float32)).dtype == np.float32
    assert equalize_histogram(np.full((3, 3), 0.4, np.float64)).dtype == np.float32


def test_equalised_contrast_by_default():
    image = np.full((40, 40), 0.2, np.float32)
    image[:, 20:] = 0.6
    config = PreprocessConfig(input_size=32, trim_borders=False, aspect="squash")  # contrast: equalize
    channel = preprocess(image, config)[:, :, 0]
    assert channel.min() == -1.0 and channel.max() == 1.0  # the darkest level to black, the brightest to white


def test_a_sliver_keeps_one_pixel_and_maps_back_as_float32():
    _, tall = preprocess_with_geometry(np.ones((1000, 2), np.float32), PreprocessConfig(input_size=32, **PLAIN))
    assert tall.placed == (0, 15, 32, 1)
    _, wide = preprocess_with_geometry(np.ones((2, 1000), np.float32), PreprocessConfig(input_size=32, **PLAIN))
    assert wide.placed == (15, 0, 1, 32)
    geometry = InputGeometry((32, 24), (0, 32, 0, 24), (0, 4, 32, 24), 32)
    values = np.zeros((32, 32), np.float32)
    values[:, 4:28] = np.linspace(0.0, 1.0, 24)[None, :]
    mapped = map_to_original(values, geometry)
    assert mapped.dtype == np.float32
    assert mapped[:, 0].max() < 0.1 and mapped[:, -1].min() > 0.9  # the whole gradient, left to right


def test_preview_of_values_below_black():
    model_input = np.full((2, 2, 3), -1.5, np.float32)
    np.testing.assert_array_equal(model_input_to_preview(model_input), np.zeros((2, 2)))


def test_knee_window_exactly_where_the_rule_puts_it():
    """The window's rows worked out by hand from the rule (bone: above the 85th percentile; profile smoothed over
    max(3, height // 8) rows, np.convolve "same"; centre: the middle of the flat top, rounded half to even)."""
    # 200 x 41, bone rows 120..129 (5 % of the film: the 85th percentile is the background 0.2). Span 25 (odd): row
    # i averages rows i-12..i+12, all ten bone rows for i in 117..132; middle 124.5 -> 124. Window 41 rows: 124 - 20.
    tall = np.full((200, 41), 0.2, np.float32)
    tall[120:130, :] = 1.0
    assert knee_window(tall, 1.0) == (104, 145)
    # 24 x 8, bone rows 10 and 11: span max(3, 24 // 8 = 3) = 3, both bone rows in i-1..i+1 for i = 10, 11; middle
    # 10.5 -> 10; window 8: 10 - 4 = 6.
    short = np.full((24, 8), 0.2, np.float32)
    short[10:12, :] = 1.0
    assert knee_window(short, 1.0) == (6, 14)
    # 100 x 20: 85 rows 0.2, 14 rows 1.0 (50..63), one row 0.6 (64). Sorted, the 85th percentile sits at index
    # 0.85 x 99 = 84.15, between 0.2 (index 84) and 0.6 (index 85): 0.26, so the 0.6 row is bone too: rows 50..64.
    # Span 12 (even): row i averages rows i-6..i+5, all bone for i in 56..59; middle 57.5 -> 58; window 20: 58 - 10.
    graded = np.full((100, 20), 0.2, np.float32)
    graded[50:64, :] = 1.0
    graded[64, :] = 0.6
    assert knee_window(graded, 1.0) == (48, 68)


def test_out_of_range_values_are_clipped_before_resizing():
    """The input is clipped to [0, 1] before it is resized: a film with values outside the range gives the model
    exactly what the same film clipped gives (were it resized first, 3.0 next to 0.0 would blend to 1.5, clipped to
    1, where the clipped film blends to 0.5)."""
    config = PreprocessConfig(input_size=32, aspect="squash", **PLAIN)
    for bright, dark in ((3.0, 0.0), (1.5, 0.0), (1.0, -2.0), (2.5, -0.5)):
        film = np.full((64, 64), dark, np.float32)
        film[:, 31:] = bright  # an odd split: its edge falls inside an input pixel, which blends both sides
        expected = preprocess(np.clip(film, 0.0, 1.0), config)
        np.testing.assert_allclose(preprocess(film, config), expected, atol=1e-6)
        assert 0.0 < (expected[0, 15, 0] + 1.0) / 2.0 < 1.0  # the edge pixel is a blend: the check can see a change


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # 0 / 0 rows: no content
def test_an_empty_image_gives_a_black_input():
    np.testing.assert_array_equal(preprocess(np.zeros((0, 5), np.float32), PreprocessConfig(input_size=32)), -1.0)


def test_resizing_is_bilinear():
    """Upscaling two pixels, 0 and 1, to four: the new pixel centres fall at -0.25, 0.25, 0.75 and 1.25 in the old
    pixels' coordinates; linear interpolation (the edge pixel held beyond the edge) gives 0, 0.25, 0.75, 1. A cubic
    filter would give other values between."""
    geometry = InputGeometry((1, 4), (0, 1, 0, 4), (0, 0, 2, 2), 2)
    mapped = map_to_original(np.array([[0.0, 1.0], [0.0, 1.0]], np.float32), geometry)
    np.testing.assert_allclose(mapped, [[0.0, 0.25, 0.75, 1.0]], atol=1e-6)


def test_a_large_trimmed_film_is_read_whole():
    """A trimmed film is a view, not a copy; it is handed to the resize in bands of rows (issue 13). Every band must
    land in its place: a 680 x 680 white film inside a black border gives an all-white input."""
    film = np.zeros((700, 700), np.float32)
    film[10:690, 10:690] = 1.0
    model_input, geometry = preprocess_with_geometry(film, PreprocessConfig(input_size=32, contrast="none"))
    assert geometry.crop == (10, 690, 10, 690)
    np.testing.assert_allclose(model_input, 1.0, atol=1e-6)
    gradient = np.zeros((700, 700), np.float32)
    gradient[10:690, 10:690] = np.linspace(0.1, 0.9, 680, dtype=np.float32)[:, None]  # brighter downwards
    channel = preprocess(gradient, PreprocessConfig(input_size=32, contrast="none"))[:, :, 0]
    rows = (channel.mean(axis=1) + 1.0) / 2.0
    assert np.all(np.diff(rows) > 0) and abs(rows[0] - 0.1125) < 0.01 and abs(rows[-1] - 0.8875) < 0.01
