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


def _card(**extra):
    card = {"name": "m", "version": "9.9.9", "date": "2026-01-01", "status": "s", "intended_use": "use it carefully",
            "recipe": {"backbone": "b", "head": "h"}, "preprocessing": {"input_size": 224}, "hflip_tta": False,
            "training_data": {"manifest_sha256": "0", "counts": {}, "binary_images_used": 1}, "threshold": 0.5,
            "threshold_rule": "r", "calibration": {"temperature": 1.0, "method": "none"},
            "limitations": ["the new limit"], "files": {"tflite": {"path": "x.tflite", "sha256": "ab"}}}
    return {**card, **extra}


OLD_CARD = """# Model card: m 9.9.8

Date: 2025. Status: old.

## At a glance
the knees answer

## Intended use
old use

## Model (whole-film head, kept for comparison)
old model

## Scope gate
gate words

### A subsection of the gate
more gate words

## Knee detector
detector words

## Limitations
- the old limit

## Files
- old files
"""


def test_a_retrained_card_keeps_the_hand_written_sections_and_takes_the_new_generated_ones():
    from osteo_desktop.training.companions import hand_written_sections
    from osteo_desktop.training.shipping import card_markdown

    before, after = hand_written_sections(OLD_CARD)
    text = card_markdown(_card(knee_model={}), before, after)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Model card: m 9.9.9 (per-knee results; whole-film head kept for comparison)",
                        "## At a glance", "## Intended use", "## Model (whole-film head, kept for comparison)",
                        "## Training data", "## Recipe",
                        "## Decision threshold and calibration (whole-film head, kept for comparison)",
                        "## Scope gate", "### A subsection of the gate", "## Knee detector", "## Limitations", "## Files"]
    for words in ("the knees answer", "more gate words", "detector words", "use it carefully", "- the new limit"):
        assert text.count(words) == 1, words
    for stale in ("old use", "old model", "the old limit", "old files", "9.9.8"):
        assert stale not in text, stale
    # Without a knee model the film head is the model: no "kept for comparison" in its headings.
    plain = card_markdown(_card())
    assert "## Model\n" in plain and "kept for comparison" not in plain


def test_the_shipped_markdown_card_is_what_training_would_write_from_the_json_card():
    from osteo_desktop.training.companions import hand_written_sections
    from osteo_desktop.training.shipping import card_markdown

    shipped = (default_model_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    card = json.loads((default_model_dir() / "model_card.json").read_text())
    assert card_markdown(card, *hand_written_sections(shipped)) == shipped


def test_the_reference_limitations_and_card_sections_are_carried():
    reference = json.loads((default_model_dir() / "model_card.json").read_text())
    companions = read_companions(default_model_dir())
    assert companions.sections["limitations"] == reference["limitations"]
    assert companions.sections["knee_model"] == reference["knee_model"]
    headings = [section.split("\n", 1)[0] for section in companions.markdown_before + companions.markdown_after]
    assert "## Scope gate" in headings and "## Knee detector" in headings
    assert any(h.startswith("## Per-knee model") for h in headings)
