"""`osteo train` ships the scope gate (and knee files) of the reference model, unchanged, and refuses to when the
backbone was fine-tuned (the gate reads the frozen backbone's activations)."""

from __future__ import annotations

import hashlib
import json

import pytest

from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.training.companions import carry_companions, read_companions, refuse_stale


def test_the_reference_gate_is_copied_byte_for_byte_and_listed(tmp_path):
    reference = json.loads((default_model_dir() / "model_card.json").read_text())
    companions = read_companions(default_model_dir())
    files: dict[str, dict] = {"tflite": {"path": "x.tflite"}}
    carry_companions(companions, tmp_path, files, fine_tuned=False)
    assert "scope_gate" in files and files["tflite"] == {"path": "x.tflite"}
    for role, entry in files.items():
        if role == "tflite":
            continue
        copied = (tmp_path / entry["path"]).read_bytes()
        assert hashlib.sha256(copied).hexdigest() == reference["files"][role]["sha256"]


def test_a_fine_tuned_backbone_does_not_ship_the_frozen_backbone_gate(tmp_path):
    companions = read_companions(default_model_dir())
    with pytest.raises(SystemExit, match="fine-tuned"):
        refuse_stale(companions, fine_tuned=True)
    refuse_stale(companions, fine_tuned=False)
    assert not any(tmp_path.iterdir())
