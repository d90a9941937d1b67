"""Every result names the exact model (card and files): a card edited by hand is a different model (issue 12)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from osteo_desktop.core.model.card import CARD_FILENAME, load_model_card, model_sha256
from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.core.results.history import History


def _copy_model(target: Path, edit=None) -> Path:
    """The shipped model in ``target``: the card copied (and edited), the model files linked (they are large)."""
    source = default_model_dir()
    target.mkdir()
    card = json.loads((source / CARD_FILENAME).read_text())
    for entry in card["files"].values():
        (target / entry["path"]).symlink_to(source / entry["path"])
    if edit is not None:
        edit(card)
    (target / CARD_FILENAME).write_text(json.dumps(card, indent=2) + "\n")
    return target


def _threshold(card): card["knee_model"]["threshold"] = 0.9  # noqa: E704 - the threshold that decides (per knee)
def _labels(card): card["labels"] = {"negative": "osteoporosis", "positive": "normal"}  # noqa: E704
def _temperature(card): card["knee_model"]["temperature"] = 3.0  # noqa: E704


def test_the_digest_covers_the_card_and_every_file(tmp_path):
    original = load_model_card(_copy_model(tmp_path / "original"))
    digest = model_sha256(original)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert model_sha256(load_model_card(_copy_model(tmp_path / "same"))) == digest  # same bytes, same model
    # Independent expectation: not the card's own checksum of one file, nor the hash of the card alone.
    card_only = hashlib.sha256((tmp_path / "original" / CARD_FILENAME).read_bytes()).hexdigest()
    assert digest not in {card_only, *(entry["sha256"] for entry in original.files.values())}
    edited = {model_sha256(load_model_card(_copy_model(tmp_path / f.__name__, f))) for f in (_threshold, _labels, _temperature)}
    assert len(edited) == 3 and digest not in edited


def test_a_changed_model_file_changes_the_digest(tmp_path):
    directory = _copy_model(tmp_path / "m")
    card = load_model_card(directory)
    before = model_sha256(card)
    gate = directory / card.files["scope_gate"]["path"]
    data = gate.read_bytes()
    gate.unlink()
    gate.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert model_sha256(card) != before


def test_the_bundle_without_the_keras_file_is_the_same_model(tmp_path):
    """The standalone bundle ships every file but the Keras model (a training artefact): its digest must equal the
    checkout's, or a bundle could neither load nor reuse the history of the same model."""
    directory = _copy_model(tmp_path / "bundle")
    card = load_model_card(directory)
    before = model_sha256(card)
    (directory / card.files["keras"]["path"]).unlink()
    assert model_sha256(card) == before
    (directory / card.files["knee_head"]["path"]).unlink()  # a file the app loads: gone is an error, not a digest
    with pytest.raises(Exception, match="cannot be read"):
        model_sha256(card)


@pytest.mark.slow
def test_a_hand_edited_card_never_inherits_the_originals_history(tmp_path, classifier, knee_images):
    from osteo_desktop.core.model.runtime import Classifier

    paths = knee_images["normal"][:2]
    edited = Classifier(load_model_card(_copy_model(tmp_path / "edited", _threshold)))
    assert edited.version == classifier.version  # same free-text version: only the digest tells them apart
    assert edited.model_sha256 != classifier.model_sha256
    with History(tmp_path / "history.sqlite3") as history:
        first = list(scan_files(paths, classifier, history=history))
        second = list(scan_files(paths, edited, history=history))
        again = list(scan_files(paths, edited, history=history))
        assert history.count() == 2 * len(paths)  # one row per file and model, none overwritten
    assert all(row.ok and not row.from_history for row in first + second)
    assert all(row.from_history for row in again)  # the edited model reuses its own rows
    assert {row.to_dict()["model_sha256"] for row in first} == {classifier.model_sha256}
    assert {row.to_dict()["model_sha256"] for row in second + again} == {edited.model_sha256}
    assert all(row.threshold == 0.9 for row in second + again)
    assert {row.csv_record()["model_sha256"] for row in second} == {edited.model_sha256}
