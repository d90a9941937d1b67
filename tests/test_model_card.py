"""Model card parsing and checksum verification of the shipped model."""

from __future__ import annotations

import json
import shutil

import pytest

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.core.model.runtime import Classifier


def test_shipped_card_loads_and_every_file_verifies():
    card = load_model_card(default_model_dir())
    assert card.labels == ("normal", "osteoporosis")
    assert 0.0 < card.threshold < 1.0 and card.temperature > 0
    for role in card.files:
        assert card.verified_path(role).is_file()


def test_card_with_unknown_format_is_refused(tmp_path):
    shutil.copytree(default_model_dir(), tmp_path / "m")
    card_path = tmp_path / "m" / "model_card.json"
    raw = json.loads(card_path.read_text())
    raw["format"] = "something-else/9"
    card_path.write_text(json.dumps(raw))
    with pytest.raises(ModelFormatError):
        load_model_card(tmp_path / "m")


def test_missing_card_is_a_clear_integrity_error(tmp_path):
    with pytest.raises(ModelIntegrityError, match="model card"):
        Classifier.load(tmp_path)


@pytest.mark.parametrize("change", [
    lambda raw: [raw],  # an array instead of an object
    lambda raw: dict(raw, calibration=[2.25]),
    lambda raw: dict(raw, files=[raw["files"]]),
    lambda raw: dict(raw, preprocessing=[raw["preprocessing"]]),
])
def test_a_card_with_the_wrong_json_shapes_is_a_format_error(tmp_path, change):
    shutil.copytree(default_model_dir(), tmp_path / "m")
    card_path = tmp_path / "m" / "model_card.json"
    card_path.write_text(json.dumps(change(json.loads(card_path.read_text()))))
    with pytest.raises(ModelFormatError, match="model_card.json"):
        load_model_card(tmp_path / "m")


@pytest.mark.parametrize("change, message", [
    (lambda raw: dict(raw, calibration={"temperature": 0}), "temperature"),
    (lambda raw: dict(raw, calibration={"temperature": "nan"}), "temperature"),
    (lambda raw: dict(raw, threshold=1.5), "threshold"),
    (lambda raw: dict(raw, threshold="nan"), "threshold"),
])
def test_a_card_with_an_unusable_temperature_or_threshold_is_refused(tmp_path, change, message):
    shutil.copytree(default_model_dir(), tmp_path / "m")
    card_path = tmp_path / "m" / "model_card.json"
    card_path.write_text(json.dumps(change(json.loads(card_path.read_text()))))
    with pytest.raises(ModelFormatError, match=message):
        load_model_card(tmp_path / "m")


def test_a_component_is_listed_in_the_card_with_its_checksum_and_nothing_else_changes(tmp_path):
    """list_model_file (the knee detector and side-marker commands): the new entry's SHA-256 and size worked out
    here with hashlib, every other byte of the card's content as it was."""
    import hashlib
    import json

    from osteo_desktop.core.model.card import CARD_FILENAME, list_model_file

    original = {"name": "m", "version": "9", "files": {"tflite": {"path": "m.tflite", "sha256": "ab", "bytes": 2}},
                "threshold": 0.4}
    (tmp_path / CARD_FILENAME).write_text(json.dumps(original), encoding="utf-8")
    (tmp_path / "reader.npz").write_bytes(b"twelve bytes")
    list_model_file(tmp_path, "side_markers", "reader.npz")
    card = json.loads((tmp_path / CARD_FILENAME).read_text(encoding="utf-8"))
    assert card["files"].pop("side_markers") == {"path": "reader.npz",
                                                 "sha256": hashlib.sha256(b"twelve bytes").hexdigest(), "bytes": 12}
    assert card == original
