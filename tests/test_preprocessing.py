"""The one preprocessing function: shape, scaling, border trimming, aspect handling, geometry and the preview."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import (
    PreprocessConfig,
    content_box,
    equalize_histogram,
    map_to_original,
    model_input_to_preview,
    preprocess,
    preprocess_with_geometry,
)


def _framed_image(height: int = 300, width: int = 200, border: int = 40) -> np.ndarray:
    """A bright gradient 'radiograph' inside a black frame."""
    image = np.zeros((height, width), np.float32)
    inner = np.linspace(0.2, 0.9, (height - 2 * border) * (width - 2 * border), dtype=np.float32)
    image[border:-border, border:-border] = inner.reshape(height - 2 * border, width - 2 * border)
    return image


def test_output_shape_range_and_channels_identical():
    out = preprocess(_framed_image(), PreprocessConfig())
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])


def test_content_box_finds_the_frame():
    assert content_box(_framed_image(), 0.06, 0.02) == (40, 260, 40, 160)


def test_all_dark_image_is_not_trimmed_to_nothing():
    dark = np.zeros((50, 80), np.float32)
    assert content_box(dark, 0.06, 0.02) == (0, 50, 0, 80)
    assert preprocess(dark).shape == (224, 224, 3)


def test_pad_keeps_aspect_and_squash_fills_square():
    config_pad = PreprocessConfig(contrast="none")
    out, geometry = preprocess_with_geometry(_framed_image(), config_pad)
    top, left, height, width = geometry.placed
    # trimmed content is 220 x 120: taller than wide, so it fills the height and is centred horizontally
    assert height == 224 and width == round(120 * 224 / 220)
    assert np.all(out[:, : left - 1, 0] == -1.0) and np.all(out[:, left + width + 1 :, 0] == -1.0)
    squashed = preprocess(_framed_image(), PreprocessConfig(aspect="squash", contrast="none"))
    assert squashed[:, 0, 0].max() > -1.0  # content reaches the left edge


def test_trimming_makes_input_independent_of_border_width():
    narrow = preprocess(_framed_image(border=10, height=240, width=140))
    wide = preprocess(_framed_image(border=60, height=340, width=240))
    assert np.abs(narrow - wide).mean() < 0.02


def test_equalisation_spreads_a_narrow_histogram():
    rng = np.random.default_rng(0)
    narrow = rng.uniform(0.4, 0.5, (64, 64)).astype(np.float32)
    equalised = equalize_histogram(narrow)
    assert equalised.min() == pytest.approx(0.0, abs=1e-6) and equalised.max() == pytest.approx(1.0, abs=1e-6)
    # order preserving
    flat_in, flat_out = narrow.ravel(), equalised.ravel()
    order = np.argsort(flat_in)
    assert np.all(np.diff(flat_out[order]) >= -1e-6)


def test_preview_is_the_model_input_itself(knee_png):
    out = preprocess(read_radiograph(knee_png).pixels)
    preview = model_input_to_preview(out)
    assert preview.dtype == np.uint8 and preview.shape == (224, 224)
    # round trip back to the model's scale is exact to 8-bit quantisation
    assert np.abs(preview.astype(np.float32) / 127.5 - 1.0 - out[..., 0]).max() <= 1.0 / 127.5


def test_map_to_original_lands_on_the_content():
    image = _framed_image()
    _, geometry = preprocess_with_geometry(image, PreprocessConfig())
    ones = np.ones((7, 7), np.float32)
    back = map_to_original(ones, geometry)
    assert back.shape == image.shape
    assert back[100, 100] == pytest.approx(1.0)
    assert back[:40].max() == 0.0 and back[:, :40].max() == 0.0  # trimmed border gets nothing


def test_config_round_trip_and_rejects_unknown_settings():
    config = PreprocessConfig(input_size=256, aspect="squash", contrast="none")
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown preprocessing settings"):
        PreprocessConfig.from_dict({**config.to_dict(), "sharpen": True})
    with pytest.raises(ValueError):
        PreprocessConfig.from_dict({**config.to_dict(), "aspect": "stretch"})


def test_rejects_non_greyscale_input():
    with pytest.raises(ValueError):
        preprocess(np.zeros((10, 10, 3), np.float32))
