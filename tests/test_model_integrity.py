"""A damaged, tampered or missing model gives a clear error, never predictions; nothing executable is loaded."""

from __future__ import annotations

import json
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.core.model.runtime import Classifier


@pytest.fixture
def model_copy(tmp_path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(default_model_dir(), target)
    return target


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _card(model_dir: Path) -> dict:
    return json.loads((model_dir / "model_card.json").read_text())


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _predict_via_cli(capsys, model_dir: Path, image: Path) -> tuple[int, str, str]:
    code = main(["predict", "--json", "--model-dir", str(model_dir), str(image)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("role", ["tflite", "head", "scope_gate", "knee_detector", "knee_head"])
def test_a_single_flipped_byte_is_refused(model_copy, role, capsys, knee_png):
    name = _card(model_copy)["files"][role]["path"]
    _flip_one_byte(model_copy / name)
    with pytest.raises(ModelIntegrityError) as error:
        Classifier.load(model_copy)
    assert name in str(error.value) and "checksum" in str(error.value)
    code, out, err = _predict_via_cli(capsys, model_copy, knee_png)
    assert code == 1 and out == ""
    assert err.startswith("osteo: error: cannot use the model") and name in err and "checksum" in err


@pytest.mark.parametrize("role", ["tflite", "head", "scope_gate", "knee_detector", "knee_head"])
def test_a_missing_model_file_is_refused(model_copy, role, capsys, knee_png):
    name = _card(model_copy)["files"][role]["path"]
    (model_copy / name).unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        Classifier.load(model_copy)
    code, out, err = _predict_via_cli(capsys, model_copy, knee_png)
    assert code == 1 and out == "" and "missing" in err and name in err


def test_a_missing_or_garbled_card_is_refused(model_copy, capsys, knee_png):
    (model_copy / "model_card.json").write_text("{ not json")
    with pytest.raises(ModelFormatError):
        Classifier.load(model_copy)
    (model_copy / "model_card.json").unlink()
    with pytest.raises(ModelIntegrityError, match="model card"):
        Classifier.load(model_copy)
    code, out, err = _predict_via_cli(capsys, model_copy, knee_png)
    assert code == 1 and out == "" and "model card" in err


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_inside_the_head_weights_is_never_executed(model_copy, tmp_path, capsys, knee_png):
    """Even with a matching checksum (an attacker who can rewrite the card), a pickled object is not loaded."""
    marker = tmp_path / "code_ran"
    _Payload.marker = marker
    head = model_copy / _card(model_copy)["files"]["head"]["path"]
    with np.load(head, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload()
    arrays["w1"] = evil
    with open(head, "wb") as handle:
        np.savez(handle, **arrays)
    assert pickle.dumps(_Payload())  # the payload really is a working pickle
    card = _card(model_copy)
    card["files"]["head"]["sha256"] = sha256_of(head)
    (model_copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFormatError) as error:
        Classifier.load(model_copy)
    assert "pickle" in str(error.value).lower()
    code, out, err = _predict_via_cli(capsys, model_copy, knee_png)
    assert code == 1 and out == "" and err.startswith("osteo: error: cannot use the model")
    assert not marker.exists()


def test_the_shipped_model_passes_its_own_checks(classifier):
    card = classifier.card
    for role in ("tflite", "head", "scope_gate"):
        assert sha256_of(card.file_path(role)) == card.files[role]["sha256"]


def test_an_unreadable_model_file_is_an_integrity_error(model_copy, monkeypatch):
    from osteo_desktop.core.model import card as model_card

    def unreadable(path, chunk_size=1 << 20):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(model_card, "sha256_of", unreadable)
    with pytest.raises(ModelIntegrityError, match="cannot be read to check it: Permission denied"):
        Classifier.load(model_copy)


def test_a_tflite_that_litert_cannot_load_is_a_format_error(model_copy):
    tflite = model_copy / _card(model_copy)["files"]["tflite"]["path"]
    tflite.write_bytes(b"not a flatbuffer at all" * 100)
    card = _card(model_copy)
    card["files"]["tflite"]["sha256"] = sha256_of(tflite)
    (model_copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFormatError, match="cannot be loaded by LiteRT"):
        Classifier.load(model_copy)


def test_a_pickle_inside_the_scope_gate_is_refused_not_executed(model_copy, tmp_path):
    """The gate is loaded like the head: NumPy arrays only, whatever the card's checksum says."""
    marker = tmp_path / "gate_code_ran"
    _Payload.marker = marker
    gate = model_copy / _card(model_copy)["files"]["scope_gate"]["path"]
    with np.load(gate, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload()
    arrays["weights"] = evil
    with open(gate, "wb") as handle:
        np.savez(handle, **arrays)
    card = _card(model_copy)
    card["files"]["scope_gate"]["sha256"] = sha256_of(gate)
    (model_copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFormatError, match="scope gate") as error:
        Classifier.load(model_copy)
    assert "pickle" in str(error.value).lower()
    assert not marker.exists()


def test_a_card_without_a_scope_gate_is_refused(model_copy):
    """No gate, no results: without it every readable image would get a call (issue 11)."""
    card = _card(model_copy)
    del card["files"]["scope_gate"]
    (model_copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFormatError, match="scope_gate"):
        Classifier.load(model_copy)


@pytest.mark.parametrize("part", ["knee_detector", "knee_model"])
def test_a_card_without_the_knee_detector_or_knee_model_is_refused(model_copy, part):
    """Results are per knee (issue 11): a model without its knee detector or knee head gives none at all."""
    card = _card(model_copy)
    if part == "knee_detector":
        del card["files"]["knee_detector"]
    else:
        del card["knee_model"]
    (model_copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFormatError, match=part):
        Classifier.load(model_copy)
