"""The per-knee region (model 2.0.0 and later) on hand-built films whose right answer is worked out here (issue 15):
the square around a knee's box, the film's background that pads a region running off the film, the cut at the
film's own resolution, the equalisation from the film's pixels only, and the map back onto the film.

Sizes are chosen so that the region's side equals the model input's (the resize is then the identity) wherever the
expected pixels are written out; nothing is compared with the output of the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.model.preprocessing import (KneeGeometry, KneeRegionConfig, _equalize_like, film_background,
                                                    knee_map_to_original, knee_region, knee_square)

PLAIN = KneeRegionConfig(input_size=32, contrast="none")


# --- the square around a box ----------------------------------------------------------------------------------


@pytest.mark.parametrize("box, margin, square", [
    # 20 x 10: side 20 (the longer side), same centre (20, 25): corner (20 - 10, 25 - 10).
    ((10, 20, 30, 30), 0.0, (10, 15, 30, 35)),
    # 21 x 10: side 21; x0 + x1 = 41 is odd like 21, so the corner is whole: (41 - 21) / 2 = 10, (50 - 21) / 2 = 14.5
    # rounds half up to 15.
    ((10, 20, 31, 30), 0.0, (10, 15, 31, 36)),
    # 10 x 15: side 15, but x0 + x1 = 30 is even: side 16 keeps the corner whole, (30 - 16) / 2 = 7, (15 - 16) / 2
    # = -0.5 rounds half up to 0.
    ((10, 0, 20, 15), 0.0, (7, 0, 23, 16)),
    # Its mirror image about x = 20 (a 40-wide film): the mirrored region, x -> 40 - x.
    ((20, 0, 30, 15), 0.0, (17, 0, 33, 16)),
    # Margin 0.25: side 10 * 1.5 = 15, made 16 (x0 + x1 = 10 is even): corner (10 - 16) / 2 = -3, off the film.
    ((0, 0, 10, 10), 0.25, (-3, -3, 13, 13)),
    # Margin 0.1: side 12, even like 10: corner -1.
    ((0, 0, 10, 10), 0.1, (-1, -1, 11, 11)),
    # Fractional edges: no parity rule (the centre is not on a half pixel anyway); side 11, corner 0.25 + 0.5 -> 0.
    ((0.25, 0, 11.25, 10), 0.0, (0, 0, 11, 11)),
    # Half-pixel edges whose sum is whole (0.5 + 10.5 = 11, odd): side 10 made 11, corner (11 - 11) / 2 = 0.
    ((0.5, 0, 10.5, 10), 0.0, (0, 0, 11, 11)),
    # A box under a pixel wide still gets a one-pixel region.
    ((0, 0, 0.2, 0.2), 0.0, (0, 0, 1, 1)),
])
def test_knee_square_by_hand(box, margin, square):
    assert knee_square(box, margin) == square
    assert all(isinstance(v, int) for v in knee_square(box, margin))


@pytest.mark.parametrize("box", [(5, 0, 5, 10), (0, 5, 10, 5), (6, 0, 5, 10), (0, 6, 10, 5)])
def test_an_empty_box_is_refused(box):
    with pytest.raises(ValueError, match=r"empty knee box"):
        knee_square(box, 0.0)


# --- the film's background ------------------------------------------------------------------------------------


def _stripes() -> np.ndarray:
    """10 x 10, each row one value: 0.1, 0.9, 0.5 x 6, 0.9, 0.1 from the top."""
    rows = np.array([0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 0.1], np.float32)
    return np.repeat(rows[:, None], 10, axis=1)


def test_film_background_is_the_median_of_the_outer_frame():
    # A one-pixel frame (1 % of 10 rounds to 0, at least 1): the top and bottom rows (20 x 0.1) and both columns
    # (each 2 x 0.1, 2 x 0.9, 6 x 0.5): 24 x 0.1 of 40, so the median is 0.1.
    assert film_background(_stripes()) == pytest.approx(0.1)
    # A two-pixel frame (20 % of 10): 28 x 0.1, 24 x 0.5, 28 x 0.9 of 80: the middle two are 0.5.
    assert film_background(_stripes(), edge_fraction=0.2) == pytest.approx(0.5)
    # Each side of a one-pixel frame its own value, corners the rows': top 0.1 (10), bottom 0.2 (10), left 0.3 and
    # right 0.4 (8 each, plus the corners 0.1 and 0.2): 12 x 0.1, 12 x 0.2, 8 x 0.3, 8 x 0.4; the middle two 0.2.
    frame = np.ones((10, 10), np.float32)
    frame[:, 0], frame[:, -1] = 0.3, 0.4
    frame[0, :], frame[-1, :] = 0.1, 0.2
    assert film_background(frame) == pytest.approx(0.2)
    # Only the frame counts: a bright knee inside does not move it.
    assert film_background(np.pad(np.ones((8, 8), np.float32), 1, constant_values=0.25)) == pytest.approx(0.25)
    assert isinstance(film_background(frame), float)


def test_film_background_is_clipped_to_the_valid_range():
    assert film_background(np.full((6, 6), 1.7, np.float32)) == 1.0
    assert film_background(np.full((6, 6), -0.5, np.float32)) == 0.0


# --- the region -----------------------------------------------------------------------------------------------


def test_a_region_inside_the_film_is_its_pixels_scaled_to_minus_one_one():
    rng = np.random.default_rng(7)
    film = rng.random((64, 64), dtype=np.float32)
    model_input, geometry = knee_region(film, (16, 16, 48, 48), PLAIN)
    assert model_input.shape == (32, 32, 3) and model_input.dtype == np.float32
    np.testing.assert_allclose(model_input[:, :, 0], film[16:48, 16:48] * 2.0 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(model_input[:, :, 1], model_input[:, :, 0])
    np.testing.assert_array_equal(model_input[:, :, 2], model_input[:, :, 0])
    assert geometry.original_shape == (64, 64) and geometry.region == (16, 16, 48, 48) and geometry.input_size == 32
    # A non-square box is made square about its centre: 32 x 16 at (16..48, 24..40) -> rows 16..48.
    tall, tall_geometry = knee_region(film, (16, 24, 48, 40), PLAIN)
    assert tall_geometry.region == (16, 16, 48, 48)
    np.testing.assert_allclose(tall[:, :, 0], film[16:48, 16:48] * 2.0 - 1.0, atol=1e-6)


def test_a_region_off_the_film_is_padded_with_the_films_background():
    film = np.full((40, 40), 0.3, np.float32)
    film[30:, 30:] = 0.8  # beyond the first region: not in it
    film[0, :] = film[-1, :] = film[:, 0] = film[:, -1] = 0.1  # the frame: the background is 0.1
    model_input, geometry = knee_region(film, (-8, -8, 24, 24), PLAIN)
    assert geometry.region == (-8, -8, 24, 24) and geometry.background == pytest.approx(0.1)
    expected = np.full((32, 32), 0.1, np.float32)  # eight rows and columns off the film: padding
    expected[9:, 9:] = 0.3  # film row 0 and column 0 (the frame, 0.1) are region row and column 8
    np.testing.assert_allclose(model_input[:, :, 0], expected * 2.0 - 1.0, atol=1e-6)
    # Off the bottom-right corner: the film's rows and columns 24..40 sit at the region's top-left, the frame (0.1)
    # in its row and column 15, the bright block (film 30..39) in 6..15.
    corner, corner_geometry = knee_region(film, (24, 24, 56, 56), PLAIN)
    expected = np.full((32, 32), 0.1, np.float32)
    expected[:15, :15] = 0.3
    expected[6:15, 6:15] = 0.8
    np.testing.assert_allclose(corner[:, :, 0], expected * 2.0 - 1.0, atol=1e-6)
    assert corner_geometry.original_shape == (40, 40)


def test_pixels_brighter_than_white_are_clipped_in_the_region():
    film = np.full((32, 32), 0.5, np.float32)
    film[8:16, 8:16] = 1.6
    film[20:24, 20:24] = -0.4
    model_input, _ = knee_region(film, (0, 0, 32, 32), PLAIN)
    channel = model_input[:, :, 0]
    np.testing.assert_allclose(channel[8:16, 8:16], 1.0, atol=1e-6)
    np.testing.assert_allclose(channel[20:24, 20:24], -1.0, atol=1e-6)
    np.testing.assert_allclose(channel[0:8, 0:8], 0.0, atol=1e-6)


def test_a_region_is_resized_to_the_model_input():
    film = np.zeros((64, 64), np.float32)
    film[:, 32:] = 1.0  # left half black, right half white
    config = KneeRegionConfig(input_size=32, contrast="none")
    model_input, geometry = knee_region(film, (0, 0, 64, 64), config)  # 64 -> 32: halved
    channel = model_input[:, :, 0]
    assert channel.shape == (32, 32) and geometry.region == (0, 0, 64, 64)
    np.testing.assert_allclose(channel[:, :15], -1.0, atol=1e-6)  # away from the edge between the halves
    np.testing.assert_allclose(channel[:, 17:], 1.0, atol=1e-6)
    assert channel.min() >= -1.0 and channel.max() <= 1.0


@pytest.mark.parametrize("box", [(50, 0, 60, 10), (40, 0, 50, 10), (0, 40, 10, 50), (-20, 0, -10, 10), (0, -12, 10, -2)])
def test_a_box_off_the_film_is_refused(box):
    with pytest.raises(ValueError, match=r"lies outside the 40x40 image"):
        knee_region(np.zeros((40, 40), np.float32), box, PLAIN)


def test_the_background_frame_is_the_configured_width():
    # The stripes film (see above): a one-pixel frame is 0.1, a two-pixel frame (edge_fraction 0.2) is 0.5.
    _, thin = knee_region(_stripes(), (2, 2, 8, 8), KneeRegionConfig(input_size=32, contrast="none"))
    _, wide = knee_region(_stripes(), (2, 2, 8, 8), KneeRegionConfig(input_size=32, contrast="none", edge_fraction=0.2))
    assert thin.background == pytest.approx(0.1) and wide.background == pytest.approx(0.5)


@pytest.mark.parametrize("outside", [-0.5, 2.5])
def test_out_of_range_film_pixels_are_clipped_before_the_table_is_made(outside):
    """Film values outside [0, 1] count as black or white in the equalisation table: half 0.6 and half ``outside``
    are two levels, black and white (left out of the table instead, the film would have one level: all black)."""
    film = np.full((32, 32), 0.6, np.float32)
    film[:, :16] = outside
    channel = knee_region(film, (0, 0, 32, 32), KneeRegionConfig(input_size=32))[0][:, :, 0]
    low, high = (channel[:, :16], channel[:, 16:]) if outside < 0 else (channel[:, 16:], channel[:, :16])
    np.testing.assert_array_equal(low, -1.0)
    np.testing.assert_array_equal(high, 1.0)


def test_the_equalisation_table_has_256_bins():
    """0.5 and 0.503 share bin 128 of 256 (0.503 x 256 = 128.8) but not of 257 (129.3): one level, white."""
    film = np.full((32, 32), 0.25, np.float32)
    film[:, 10:20] = 0.5
    film[:, 20:] = 0.503
    channel = knee_region(film, (0, 0, 32, 32), KneeRegionConfig(input_size=32))[0][:, :, 0]
    np.testing.assert_array_equal(channel[:, :10], -1.0)
    np.testing.assert_array_equal(channel[:, 10:], 1.0)


def test_one_bright_pixel_is_white():
    """One pixel above a uniform film: the table spans a single pixel's count (1), and that pixel maps to white."""
    film = np.full((32, 32), 0.25, np.float32)
    film[5, 7] = 0.75
    channel = knee_region(film, (0, 0, 32, 32), KneeRegionConfig(input_size=32))[0][:, :, 0]
    assert channel[5, 7] == 1.0
    channel[5, 7] = -1.0
    np.testing.assert_array_equal(channel, -1.0)


def test_a_colour_image_is_refused():
    with pytest.raises(ValueError, match=r"expected a 2-D greyscale image, got shape \(8, 8, 3\)"):
        knee_region(np.zeros((8, 8, 3), np.float32), (0, 0, 4, 4))


# --- equalisation from the film's pixels only -----------------------------------------------------------------


def test_equalisation_uses_the_films_pixels_in_the_region_only():
    # Two levels on the film, 0.25 and 0.75, in equal parts: bins 64 and 192 hold half each, so the table maps 0.25
    # to (N/2 - N/2) / (N/2) = 0 and 0.75 to 1.
    film = np.full((32, 32), 0.25, np.float32)
    film[:, 16:] = 0.75
    config = KneeRegionConfig(input_size=32)  # contrast: equalize (the default)
    model_input, _ = knee_region(film, (0, 0, 32, 32), config)
    channel = model_input[:, :, 0]
    np.testing.assert_array_equal(channel[:, :16], -1.0)
    np.testing.assert_array_equal(channel[:, 16:], 1.0)


def test_equalisation_table_from_the_region_not_the_padding():
    """The padding takes the film's background; were it counted in the table, a film half off the region would look
    different from the same knee in the middle of a film. Three levels tell the two tables apart (with two, any table
    maps them to black and white)."""
    film = np.full((64, 64), 0.5, np.float32)  # frame and background 0.5
    film[1:8, 1:33] = 0.25
    film[8:16, 1:33] = 0.75
    config = KneeRegionConfig(input_size=32)
    # Region rows -16..16, columns 0..32: film rows 0..16. Its film pixels (512): 0.5 in row 0 and column 0 (32 + 15
    # = 47), 0.25 in rows 1..8 (7 x 31 = 217), 0.75 in rows 8..16 (8 x 31 = 248). cdf: 217, 264, 512; table
    # (cdf - 217) / 295: 0.25 -> 0, 0.5 -> 47 / 295, 0.75 -> 1. With the 512 padding pixels (0.5) in the table, 0.5
    # would map to 559 / 807 instead.
    model_input, geometry = knee_region(film, (0, -16, 32, 16), config)
    assert geometry.region == (0, -16, 32, 16) and geometry.background == 0.5
    channel = model_input[:, :, 0]
    grey = 2.0 * 47 / 295 - 1.0
    np.testing.assert_allclose(channel[:16], grey, atol=1e-6)  # the padding
    np.testing.assert_allclose(channel[16], grey, atol=1e-6)  # the frame row
    np.testing.assert_allclose(channel[17:, 0], grey, atol=1e-6)  # the frame column
    np.testing.assert_array_equal(channel[17:24, 1:], -1.0)  # 0.25
    np.testing.assert_array_equal(channel[24:, 1:], 1.0)  # 0.75


def test_a_region_of_one_level_is_black_when_equalised():
    film = np.full((32, 32), 0.4, np.float32)
    model_input, _ = knee_region(film, (0, 0, 32, 32), KneeRegionConfig(input_size=32))
    np.testing.assert_array_equal(model_input, -1.0)
    assert model_input.dtype == np.float32


def test_white_falls_in_the_last_bin():
    # 1.0 * 256 = 256 is past the last bin (255): it is counted in that bin, not an error; black and white halves.
    film = np.zeros((32, 32), np.float32)
    film[:, 16:] = 1.0
    model_input, _ = knee_region(film, (0, 0, 32, 32), KneeRegionConfig(input_size=32))
    np.testing.assert_array_equal(model_input[:, :16, 0], -1.0)
    np.testing.assert_array_equal(model_input[:, 16:, 0], 1.0)


def test_equalisation_table_of_a_large_region_is_taken_from_a_subsample():
    """Over 2**18 film pixels, the table is taken from every n-th pixel (n = size // 2**18 + 1): the same table to
    within a bin for a film, and much faster. Checked on a pattern that tells the two apart: columns alternating
    0.25 and 0.75 on a 600 x 600 region (360 000 pixels, n = 2): every second pixel is a 0.25 one, so the table
    has one level and the whole region is black; the full table would map 0.75 to white."""
    film = np.full((600, 600), 0.25, np.float32)
    film[:, 1::2] = 0.75
    # The input the region's own size (600: no resize), so each film pixel keeps its level.
    model_input, _ = knee_region(film, (0, 0, 600, 600), KneeRegionConfig(input_size=600))
    np.testing.assert_array_equal(model_input, -1.0)
    # 512 x 512 = 2**18 exactly: no subsample, two levels, black and white.
    small = film[:512, :512].copy()
    model_input, _ = knee_region(small, (0, 0, 512, 512), KneeRegionConfig(input_size=512, contrast="equalize"))
    np.testing.assert_array_equal(model_input[:, 0::2, 0], -1.0)
    np.testing.assert_array_equal(model_input[:, 1::2, 0], 1.0)


def test_equalise_like_an_empty_reference_leaves_the_values():
    values = np.array([[0.2, 0.7]], np.float64)
    out = _equalize_like(values, np.zeros((0,), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.2, 0.7]], atol=1e-7)


# --- back onto the film ---------------------------------------------------------------------------------------


def test_to_original_by_hand():
    geometry = KneeGeometry((100, 100), (10, 20, 42, 52), 16, 0.0)  # 32 film pixels over 16 input pixels: scale 2
    assert geometry.to_original(0, 0) == (10, 20)
    assert geometry.to_original(16, 16) == (42, 52)
    assert geometry.to_original(3, 5) == (16, 30)
    assert geometry.to_original(2.5, 0.5) == (15.0, 21.0)


def test_knee_map_to_original_by_hand():
    values = np.arange(16 * 16, dtype=np.float32).reshape(16, 16)  # value 16 v + u at input row v, column u
    geometry = KneeGeometry((20, 30), (-4, -4, 12, 12), 16, 0.0)  # side 16: the map is not resized
    out = knee_map_to_original(values, geometry)
    assert out.shape == (20, 30) and out.dtype == np.float32
    assert out[0, 0] == 16 * 4 + 4  # film (0, 0) is the region's (4, 4): the part off the film is dropped
    assert out[11, 11] == 16 * 15 + 15 and out[0, 11] == 16 * 4 + 15 and out[11, 0] == 16 * 15 + 4
    assert out[12:].sum() == 0 and out[:, 12:].sum() == 0  # outside the region: 0
    inside = KneeGeometry((20, 30), (10, 2, 26, 18), 16, 0.0)
    out = knee_map_to_original(values, inside)
    np.testing.assert_array_equal(out[2:18, 10:26], values)
    assert out.sum() == values.sum()
    # A coarser map is resized to the region's side: a constant stays constant.
    coarse = knee_map_to_original(np.full((4, 4), 0.5, np.float32), inside)
    np.testing.assert_allclose(coarse[2:18, 10:26], 0.5, atol=1e-6)
    assert coarse.sum() == pytest.approx(0.5 * 16 * 16)


@pytest.mark.parametrize("region", [(30, 0, 46, 16), (40, 0, 56, 16), (0, 20, 16, 36), (-20, 0, -4, 16), (0, -16, 16, 0)])
def test_a_region_off_the_film_maps_to_nothing(region):
    out = knee_map_to_original(np.ones((16, 16), np.float32), KneeGeometry((20, 30), region, 16, 0.0))
    assert out.shape == (20, 30) and out.dtype == np.float32 and out.sum() == 0


# --- the settings ---------------------------------------------------------------------------------------------


def test_knee_region_defaults_are_the_documented_ones():
    assert KneeRegionConfig().to_dict() == {"input_size": 224, "margin": 0.0, "contrast": "equalize",
                                            "edge_fraction": 0.01}
    assert KneeRegionConfig.from_dict({}) == KneeRegionConfig()


@pytest.mark.parametrize("settings, message", [
    ({"input_size": 31}, "input size 31 out of range"),
    ({"input_size": 1025}, "input size 1025 out of range"),
    ({"contrast": "clahe"}, "unknown contrast mode 'clahe'"),
    ({"margin": -0.01}, r"knee-region margin -0.01 out of range \(0-1\)"),
    ({"margin": 1.01}, r"knee-region margin 1.01 out of range \(0-1\)"),
    ({"padding": 3, "zoom": 1}, r"unknown knee-region settings: \['padding', 'zoom'\]"),
])
def test_knee_region_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        KneeRegionConfig.from_dict(settings)


@pytest.mark.parametrize("settings", [{"input_size": 32}, {"input_size": 1024}, {"margin": 0.0}, {"margin": 1.0},
                                      {"contrast": "none"}, {"edge_fraction": 0.05}])
def test_knee_region_settings_at_the_edges_are_accepted(settings):
    assert KneeRegionConfig.from_dict(settings).to_dict() == dict(KneeRegionConfig().to_dict(), **settings)
