"""The per-knee path: knee regions (geometry, padding, mirroring, borders), the knee head's exact encoding, and
framing invariance of the shipped knee model on shared films with hand-checked boxes.

The hand-checked boxes are read from annotations/knee_boxes.csv (rows with checked_by_eye = yes), or from the
files named in OSTEO_KNEE_BOXES (os.pathsep-separated); the invariance tests skip with a reason when there are
none, or no shared data. They use the boxes a person drew, not the detector, so they test the model alone.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.model.explain import HeadWeights, grad_cam
from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_map_to_original, knee_region, knee_square
from shared_paths import KNEE_DIR, REPO_ROOT


def _film(height: int = 400, width: int = 600, seed: int = 0) -> np.ndarray:
    """Dark background with two bright textured 'knees' (so equalisation and resizing have something to work on)."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width), 0.05, np.float32)
    for cx in (width // 4, 3 * width // 4):
        image[height // 4 : 3 * height // 4, cx - 60 : cx + 60] = 0.5 + 0.3 * rng.random((height // 2, 120))
    return image


# --- knee_region ----------------------------------------------------------------------------------------------


def test_region_is_square_around_the_box_with_the_margin():
    _, geometry = knee_region(_film(), (100, 100, 200, 200), KneeRegionConfig(margin=0.1))
    x0, y0, x1, y1 = geometry.region
    assert x1 - x0 == y1 - y0 == 120
    assert (x0 + x1) / 2 == 150 and (y0 + y1) / 2 == 150


def test_input_shape_range_and_identical_channels():
    model_input, _ = knee_region(_film(), (100, 100, 200, 200))
    assert model_input.shape == (224, 224, 3) and model_input.dtype == np.float32
    assert model_input.min() >= -1.0 and model_input.max() <= 1.0
    assert np.array_equal(model_input[..., 0], model_input[..., 2])


def test_mirrored_film_gives_exactly_the_mirrored_input():
    film = _film(width=601)  # odd width: the mirrored box's edges are not the original's shifted by a whole half
    width = film.shape[1]
    for box in [(100, 100, 201, 201), (90, 100, 250, 260), (0, 50, 80, 130)]:
        original, _ = knee_region(film, box)
        mirrored, _ = knee_region(np.ascontiguousarray(film[:, ::-1]), (width - box[2], box[1], width - box[0], box[3]))
        assert np.array_equal(original[:, ::-1], mirrored), box


def test_added_borders_change_nothing_when_the_region_is_inside_the_film():
    film = _film()
    box = (100, 100, 200, 200)
    for value in (0.0, 0.5, 1.0):
        framed = np.full((film.shape[0] + 80, film.shape[1] + 120), value, np.float32)
        framed[40:-40, 60:-60] = film
        original, _ = knee_region(film, box)
        shifted, _ = knee_region(framed, (box[0] + 60, box[1] + 40, box[2] + 60, box[3] + 40))
        assert np.array_equal(original, shifted), value


def test_region_running_off_the_film_is_padded_with_its_background_not_equalised_by_it():
    film = _film()
    config = KneeRegionConfig(margin=0.1, contrast="none")
    model_input, geometry = knee_region(film, (-50, 150, 100, 300), config)
    assert geometry.region[0] < 0
    # The part left of the film (about a third of the region) is the film's background, 0.05, scaled to [-1, 1].
    assert np.allclose(model_input[:, :60, 0], 0.05 * 2 - 1, atol=1e-5)
    # With equalisation, the padding does not shift the knee's own contrast: the in-film part is the same whether
    # the padding is the film's background or the film continues with more background.
    wider = np.full((film.shape[0], film.shape[1] + 200), 0.05, np.float32)
    wider[:, 200:] = film
    padded, _ = knee_region(film, (-50, 150, 100, 300))
    continued, _ = knee_region(wider, (150, 150, 300, 300))
    assert np.abs(padded - continued).max() < 1e-5


def test_geometry_maps_the_input_back_onto_the_film():
    film = _film()
    _, geometry = knee_region(film, (100, 120, 220, 240))
    x0, y0, x1, y1 = geometry.region
    assert geometry.to_original(0, 0) == (x0, y0)
    assert geometry.to_original(224, 224) == pytest.approx((x1, y1))
    heat = np.zeros((7, 7), np.float32)
    heat[3, 3] = 1.0  # the middle cell
    placed = knee_map_to_original(heat, geometry)
    assert placed.shape == film.shape
    assert placed[: y0 - 1].max() == 0 and placed[:, x1 + 1 :].max() == 0  # nothing outside the region
    peak_y, peak_x = np.unravel_index(np.argmax(placed), placed.shape)
    assert abs(peak_x - (x0 + x1) / 2) <= 3 and abs(peak_y - (y0 + y1) / 2) <= 3


def test_empty_or_outside_boxes_are_refused():
    with pytest.raises(ValueError):
        knee_region(_film(), (100, 100, 100, 200))
    with pytest.raises(ValueError):
        knee_region(_film(), (1000, 1000, 1100, 1100))


def test_knee_square_centre_is_the_box_centre():
    assert knee_square((10, 20, 30, 40), 0.0) == (10, 20, 30, 40)
    assert knee_square((10, 20, 30, 60), 0.0) == (0, 20, 40, 60)  # square on the longer side


# --- the knee head's HeadWeights encoding -----------------------------------------------------------------------


def test_linear_head_encoding_is_exact_and_gives_its_gradient():
    from osteo_desktop.training.knee_head import LinearKneeHead, linear_head_arrays

    rng = np.random.default_rng(3)
    head = LinearKneeHead(rng.random(1280), rng.random(1280) + 0.5, rng.standard_normal(1280) * 0.05, -0.3, 1.0, "binary")
    arrays = linear_head_arrays(head)
    weights = HeadWeights(**arrays)
    for _ in range(5):
        pooled = rng.random(1280).astype(np.float32) * 2
        logit, gradient = weights.logit_and_gradient(pooled)
        assert logit == pytest.approx(float(head.logits(pooled[None].astype(np.float64))[0]), abs=1e-3)
        assert np.allclose(gradient, head.weights / head.scale, atol=1e-5)
    features = rng.random((7, 7, 1280)).astype(np.float32)
    cam = grad_cam(features, weights)
    expected = np.maximum(features @ (head.weights / head.scale), 0)
    assert np.allclose(cam, expected / expected.max(), atol=1e-4)


# --- the shipped knee model on shared films -----------------------------------------------------------------------


def _checked_boxes() -> dict[str, list[tuple[float, float, float, float]]]:
    names = os.environ.get("OSTEO_KNEE_BOXES")
    paths = [Path(p) for p in names.split(os.pathsep)] if names else [REPO_ROOT / "annotations" / "knee_boxes.csv"]
    boxes: dict[str, list] = {}
    for path in paths:
        if not path.is_file():
            continue
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["source"] == "knee-xray" and row.get("checked_by_eye", "").lower() == "yes":
                    boxes.setdefault(row["file"], []).append(tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1")))
    return boxes


@pytest.fixture(scope="module")
def knee_model(classifier):
    from osteo_desktop.core.model.knee_model import KneeHead

    if "knee_head" not in classifier.card.files:
        pytest.skip("the shipped model has no knee head")
    return KneeHead.from_card(classifier.card)


@pytest.fixture(scope="module")
def checked_films(knee_manifest):
    boxes = _checked_boxes()
    if not boxes:
        pytest.skip("no hand-checked knee boxes (annotations/knee_boxes.csv rows with checked_by_eye = yes)")
    from osteo_desktop.core.reading.reader import read_radiograph

    # Deterministic choice: the first films of fold 0 with two knees, and with one knee.
    rows = [r for r in knee_manifest if r["fold"] == "0" and r["file"] in boxes]
    two = [r["file"] for r in rows if len(boxes[r["file"]]) == 2][:8]
    one = [r["file"] for r in rows if len(boxes[r["file"]]) == 1][:8]
    if len(two) < 4 or len(one) < 4:
        pytest.skip("too few hand-checked films in fold 0")
    films = {f: (read_radiograph(KNEE_DIR / f).pixels, sorted(boxes[f])) for f in two + one}
    return films, two, one


def _probabilities(classifier, knee_model, pixels, boxes) -> list[float]:
    from osteo_desktop.core.model.knee_model import analyse_film

    return [k.probability for k in analyse_film(classifier, knee_model, pixels, boxes).knees]


@pytest.mark.slow
def test_halves_of_two_knee_films_score_like_the_whole(classifier, knee_model, checked_films):
    films, two, _ = checked_films
    changes = []
    for name in two:
        pixels, boxes = films[name]
        whole = _probabilities(classifier, knee_model, pixels, boxes)
        middle = pixels.shape[1] // 2
        left_box, right_box = boxes
        left = _probabilities(classifier, knee_model, pixels[:, :middle], [(left_box[0], left_box[1], min(left_box[2], middle), left_box[3])])
        right = _probabilities(classifier, knee_model, pixels[:, middle:],
                               [(max(right_box[0], middle) - middle, right_box[1], right_box[2] - middle, right_box[3])])
        changes += [abs(left[0] - whole[0]), abs(right[0] - whole[1])]
    assert np.median(changes) <= 0.05, changes


@pytest.mark.slow
def test_mirrored_films_score_the_same(classifier, knee_model, checked_films):
    films, two, one = checked_films
    changes = []
    for name in two + one:
        pixels, boxes = films[name]
        width = pixels.shape[1]
        mirrored_boxes = [(width - b[2], b[1], width - b[0], b[3]) for b in boxes]
        original = _probabilities(classifier, knee_model, pixels, boxes)
        mirrored = _probabilities(classifier, knee_model, np.ascontiguousarray(pixels[:, ::-1]), mirrored_boxes)
        changes += [abs(a - b) for a, b in zip(original, mirrored)]
    assert np.median(changes) <= 0.02, changes


@pytest.mark.slow
def test_added_borders_and_padding_do_not_change_the_knees(classifier, knee_model, checked_films):
    films, two, one = checked_films
    changes = []
    for name in two[:4] + one[:4]:
        pixels, boxes = films[name]
        original = _probabilities(classifier, knee_model, pixels, boxes)
        height, width = pixels.shape
        for value, pad in ((0.0, 0.1), (0.5, 0.2), (1.0, 0.05)):
            dy, dx = int(pad * height), int(pad * width)
            framed = np.full((height + 2 * dy, width + 2 * dx), value, np.float32)
            framed[dy : dy + height, dx : dx + width] = pixels
            moved = [(b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy) for b in boxes]
            changes += [abs(a - b) for a, b in zip(original, _probabilities(classifier, knee_model, framed, moved))]
    assert np.median(changes) <= 0.02, changes


@pytest.mark.slow
def test_a_tighter_or_looser_box_scores_the_knee_about_the_same(classifier, knee_model, checked_films):
    # Issue 11 item 3: the detector sizes its boxes within about +-10 % of a hand-drawn one, so drawing the box 15 %
    # smaller or larger about the same centre must not decide the result (model 2.0.0 moved by a median 0.09).
    films, two, one = checked_films
    changes = []
    for name in two + one:
        pixels, boxes = films[name]
        original = _probabilities(classifier, knee_model, pixels, boxes)
        for scale in (0.85, 1.15):
            scaled = []
            for x0, y0, x1, y1 in boxes:
                cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, scale * (x1 - x0) / 2, scale * (y1 - y0) / 2
                scaled.append((cx - hw, cy - hh, cx + hw, cy + hh))
            changes += [abs(a - b) for a, b in zip(original, _probabilities(classifier, knee_model, pixels, scaled))]
    assert len(changes) == 2 * (2 * len(two) + len(one))
    assert np.median(changes) <= 0.05, f"median {np.median(changes):.3f}: " + " ".join(f"{c:.3f}" for c in sorted(changes))


@pytest.mark.slow
def test_knee_heat_map_lies_on_its_knee(classifier, knee_model, checked_films):
    from osteo_desktop.core.model.knee_model import analyse_film, knee_heat_map

    films, two, _ = checked_films
    pixels, boxes = films[two[0]]
    analysis = analyse_film(classifier, knee_model, pixels, boxes)
    for knee in analysis.knees:
        heat = knee_heat_map(knee, knee_model)
        x0, y0, x1, y1 = knee.geometry.region
        outside = heat.copy()
        outside[max(0, y0) : y1, max(0, x0) : x1] = 0
        assert heat.shape == pixels.shape and heat.max() > 0 and outside.max() == 0


@pytest.mark.slow
@pytest.mark.tensorflow
def test_tensorflow_backbone_gives_the_tflite_knee_features(classifier, keras_model, knee_images):
    # The knee head is trained on LiteRT features; the Keras model it was exported from must agree on knee regions
    # (here a square in the middle of real films, cut at their own resolution: a region, not a whole film).
    from osteo_desktop.core.reading.reader import read_radiograph

    inputs = []
    for path in [p for label in sorted(knee_images) for p in knee_images[label][:2]]:
        pixels = read_radiograph(path).pixels
        height, width = pixels.shape
        side = min(height, width) // 2
        inputs.append(knee_region(pixels, ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2))[0])
    inputs = np.stack(inputs)
    keras_features = np.asarray(keras_model(inputs, training=False)[0]).mean(axis=(1, 2))
    _, tflite_features = classifier.run(inputs)
    assert np.allclose(tflite_features.mean(axis=(1, 2)), keras_features, atol=1e-3)
