"""Scope gate: hand-made inputs whose answer is known independently of the gate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.model.preprocessing import preprocess
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.model.scope import ScopeGate, decide_from_tags
from osteo_desktop.core.reading.reader import read_radiograph
from tests.shared_paths import KNEE_DIR, SHARED

MODEL_DIR = Path(__file__).resolve().parents[1] / "model_weights"
needs_knees = pytest.mark.skipif(not KNEE_DIR.is_dir(), reason="shared knee set not found (OSTEO_SHARED_DIR)")


@pytest.fixture(scope="module")
def judge():
    classifier, gate = Classifier.load(MODEL_DIR), ScopeGate.load(MODEL_DIR)

    def decide(path: Path, metadata: dict | None = None):
        radiograph = read_radiograph(path)
        _, activations = classifier.run(preprocess(radiograph.pixels, classifier.card.preprocessing)[None])
        return gate.decide(radiograph.pixels, {**radiograph.metadata, **(metadata or {})}, activations[0])

    return decide


def test_gate_file_is_integrity_checked():
    card = load_model_card(MODEL_DIR)
    assert card.verified_path("scope_gate").name == "scope_gate.npz"


def test_colour_bars_are_declined_as_not_a_radiograph(judge, tmp_path):
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]])
    image = np.repeat(bars, 100, axis=0)[None].repeat(480, axis=0).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "bars.png")
    decision = judge(tmp_path / "bars.png")
    assert not decision.in_scope and decision.reason.startswith("not a radiograph")


def test_blank_image_is_declined(judge, tmp_path):
    Image.new("L", (400, 400), 128).save(tmp_path / "blank.png")
    decision = judge(tmp_path / "blank.png")
    assert not decision.in_scope and decision.reason == "not a radiograph: the image is blank"


def test_text_page_is_declined(judge, tmp_path):
    page = Image.new("L", (600, 800), 255)
    draw = ImageDraw.Draw(page)
    for y in range(20, 780, 18):
        draw.text((20, y), "The quick brown fox jumps over the lazy dog. " * 2, fill=0)
    page.save(tmp_path / "page.png")
    decision = judge(tmp_path / "page.png")
    assert not decision.in_scope and decision.reason.startswith("not a radiograph")


def test_photograph_like_image_is_declined(judge, tmp_path):
    # A smooth sky over a textured green field with a red disc: natural-image statistics, no film.
    rng = np.random.default_rng(1)
    image = np.zeros((480, 640, 3), np.uint8)
    image[:240] = np.linspace([90, 150, 230], [200, 220, 250], 240)[:, None, :].astype(np.uint8)
    image[240:] = np.clip(rng.normal([60, 140, 50], 25, (240, 640, 3)), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:480, :640]
    image[(yy - 300) ** 2 + (xx - 420) ** 2 < 60**2] = [200, 30, 30]
    Image.fromarray(image).save(tmp_path / "photo.png")
    decision = judge(tmp_path / "photo.png")
    assert not decision.in_scope and decision.reason.startswith("not a ")


@needs_knees
def test_knee_film_is_accepted(judge):
    film = sorted((KNEE_DIR / "normal").glob("*"))[0]
    decision = judge(film)
    assert decision.in_scope and decision.reason is None


def test_mr_modality_is_declined_whatever_the_pixels():
    decision = decide_from_tags({"modality": "MR"})
    assert not decision.in_scope and decision.reason == "not a radiograph: MR image"


def test_lateral_view_tag_is_declined():
    decision = decide_from_tags({"modality": "CR", "body_part": "KNEE", "view_position": "LATERAL"})
    assert decision.reason == "lateral knee view: the model reads frontal views"


@needs_knees
def test_wrong_chest_tag_on_knee_pixels_is_overruled_by_the_pixels(judge):
    # Exports often carry a default body part; a clear knee film is still a knee (documented in reports/scope_gate.md).
    film = sorted((KNEE_DIR / "osteoporosis").glob("*"))[0]
    assert judge(film, {"modality": "CR", "body_part": "CHEST"}).in_scope


@pytest.mark.parametrize("path", sorted((SHARED / "data" / "dicom").glob("*.dcm")), ids=lambda p: p.name)
def test_shared_non_knee_dicoms_are_declined(judge, path):
    try:
        decision = judge(path)
    except Exception:
        return  # unreadable files never reach the gate: the reader answers with an error
    assert not decision.in_scope
