"""The files a film model ships with that `osteo train` does not fit: carried over from a reference model.

The scope gate (and, with model 2.0, the knee detector and the knee head) are fitted by their own commands. The
gate and the knee head read only the backbone's ``out_relu`` activations; the detector reads no network at all. A
film model trained with the backbone frozen (the shipped recipe) computes exactly the reference model's
activations, so these files stay valid and are copied over with their card sections. A fine-tuned backbone changes
the activations: copying the gate then would ship a gate that reads features it never saw, so training stops and
says so before it starts.

The companions' words travel with them: the card's ``limitations`` (they describe the per-knee results, which a new
film head does not change) and the sections of ``MODEL_CARD.md`` that :func:`shipping.card_markdown` does not write
(the scope gate, knee detector and knee model sections, written by hand around their reports). Without them a
retrained film head would ship a card that no longer describes what gives the results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osteo_desktop.core.model.card import load_model_card

log = logging.getLogger(__name__)

# Card file roles and card sections that belong to the companions, not to the film model.
COMPANION_ROLES = ("scope_gate", "knee_detector", "knee_head")
COMPANION_SECTIONS = ("knee_model", "limitations")
CARD_MARKDOWN = "MODEL_CARD.md"
# Roles whose weights read the backbone's activations (invalid once the backbone is fine-tuned).
READS_BACKBONE = ("scope_gate", "knee_head")


@dataclass
class Companions:
    """The companion files (bytes, read before the export may overwrite the reference folder) and card sections."""

    source: Path
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # role -> (file name, content)
    sections: dict[str, Any] = field(default_factory=dict)
    # MODEL_CARD.md's hand-written sections: (heading line, text), in order; "before" ones precede "## Intended use".
    markdown_before: list[str] = field(default_factory=list)
    markdown_after: list[str] = field(default_factory=list)


def read_companions(reference_dir: Path) -> Companions:
    """The companions listed in the reference model's card; checksums verified as the app verifies them."""
    card = load_model_card(reference_dir)
    companions = Companions(Path(reference_dir))
    for role in COMPANION_ROLES:
        if role in card.raw.get("files", {}):
            path = card.verified_path(role)
            companions.files[role] = (path.name, path.read_bytes())
    companions.sections = {name: card.raw[name] for name in COMPANION_SECTIONS if name in card.raw}
    markdown = Path(reference_dir) / CARD_MARKDOWN
    if markdown.is_file():
        companions.markdown_before, companions.markdown_after = hand_written_sections(markdown.read_text(encoding="utf-8"))
    return companions


def hand_written_sections(markdown: str) -> tuple[list[str], list[str]]:
    """The ``## `` sections of a model card that ``card_markdown`` does not generate (each with its ``###``
    subsections), split into those before the generated "Intended use" section and those after it."""
    from osteo_desktop.training.shipping import GENERATED_SECTIONS

    before: list[str] = []
    after: list[str] = []
    seen_generated = False
    for chunk in markdown.split("\n## ")[1:]:  # the title and date line come before the first section
        heading = chunk.split("\n", 1)[0].strip()
        if heading in GENERATED_SECTIONS:
            seen_generated = True
            continue
        (after if seen_generated else before).append("## " + chunk.rstrip("\n") + "\n")
    return before, after


def refuse_stale(companions: Companions, fine_tuned: bool) -> None:
    """SystemExit when the backbone is fine-tuned and a companion reads its activations (checked before training)."""
    stale = [role for role in companions.files if role in READS_BACKBONE]
    if fine_tuned and stale:
        raise SystemExit(
            f"a fine-tuned backbone cannot ship yet: the {' and '.join(stale)} of {companions.source} were fitted on "
            "the frozen backbone's activations and would read features they never saw; fine-tuning is measured "
            "(not shipped) by 'osteo evaluate --levers'"
        )


def carry_companions(companions: Companions, out_dir: Path, files: dict[str, dict], fine_tuned: bool) -> dict[str, Any]:
    """Write the companions into ``out_dir`` and list them in ``files`` (the new card's entry); returns the card
    sections to add."""
    refuse_stale(companions, fine_tuned)
    for role, (name, content) in companions.files.items():
        (Path(out_dir) / name).write_bytes(content)
        files[role] = {"path": name}
        log.info("carried %s (%s) over from %s", role, name, companions.source)
    return dict(companions.sections)
