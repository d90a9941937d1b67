"""The optional knee-joint crop in preprocessing: off by default, finds the widest bone, maps back exactly."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.preprocessing import PreprocessConfig, knee_window, map_to_original, preprocess, preprocess_with_geometry


def _long_leg(height: int = 900, width: int = 300, joint_row: int = 250) -> np.ndarray:
    """Dark background, a narrow bright 'shaft' down the middle and a wide bright 'joint' around ``joint_row``."""
    image = np.full((height, width), 0.1, np.float32)
    image[:, width // 2 - 30 : width // 2 + 30] = 0.8
    image[joint_row - 40 : joint_row + 40, 40:-40] = 0.9
    return image


def test_window_is_centred_on_the_widest_bone():
    top, bottom = knee_window(_long_leg(joint_row=250), aspect=1.0)
    assert bottom - top == 300
    assert abs((top + bottom) / 2 - 250) <= 15


def test_window_is_clamped_inside_the_image():
    top, bottom = knee_window(_long_leg(joint_row=60), aspect=1.0)
    assert (top, bottom) == (0, 300)


def test_square_image_is_left_whole():
    assert knee_window(np.random.default_rng(0).random((200, 200)).astype(np.float32), aspect=1.0) == (0, 200)


def test_off_by_default_and_unchanged_output(knee_images):
    pixels = read_radiograph(knee_images["normal"][0]).pixels
    assert PreprocessConfig().knee_crop_aspect == 0.0
    legacy = PreprocessConfig.from_dict({k: v for k, v in PreprocessConfig().to_dict().items() if k != "knee_crop_aspect"})
    assert np.array_equal(preprocess(pixels, legacy), preprocess(pixels, PreprocessConfig()))


def test_crop_geometry_maps_back_onto_the_joint():
    image = _long_leg(joint_row=250)
    config = PreprocessConfig(knee_crop_aspect=1.0, trim_borders=False, contrast="none")
    model_input, geometry = preprocess_with_geometry(image, config)
    top, bottom, left, right = geometry.crop
    assert bottom - top == 300 and (left, right) == (0, 300)
    back = map_to_original(np.ones((config.input_size, config.input_size), np.float32), geometry)
    assert back[top:bottom].min() > 0.99 and back[:top].max() == 0 and back[bottom:].max() == 0
    # The joint band now spans most of the input's width, not a third of it.
    assert (model_input[:, :, 0] > 0.7).any(axis=0).mean() > 0.6


def test_tall_real_radiograph_gets_a_square_input_without_padding(knee_manifest):
    from shared_paths import KNEE_DIR

    row = next(r for r in knee_manifest if int(r["height"]) > 2 * int(r["width"]))
    config = PreprocessConfig(knee_crop_aspect=1.0)
    _, geometry = preprocess_with_geometry(read_radiograph(KNEE_DIR / row["file"]).pixels, config)
    _, _, height, width = geometry.placed
    assert abs(height - width) <= 2


@pytest.mark.parametrize("bad", [-1.0, 0.2, 9.0])
def test_out_of_range_aspect_is_refused(bad):
    with pytest.raises(ValueError, match="knee crop"):
        PreprocessConfig.from_dict({"knee_crop_aspect": bad})
