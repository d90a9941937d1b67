"""The model card: what a shipped model is, how to run it, and how it was evaluated.

The card (``model_card.json`` beside the model files) is the single record of the preprocessing a model was trained
with, its decision threshold and calibration, and the SHA-256 of every file it needs. Files are verified against
those checksums before anything is loaded; no pickle or other code-executing format is ever read.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osteo_desktop.core.atomic import atomic_write_text
from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.preprocessing import PreprocessConfig

CARD_FILENAME = "model_card.json"
CARD_FORMAT = "osteo-desktop-model/1"


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelCard:
    """The parsed card. ``raw`` keeps every field, including the evaluation, for display."""

    directory: Path
    name: str
    version: str
    date: str
    preprocessing: PreprocessConfig
    threshold: float
    threshold_rule: str
    temperature: float
    hflip_tta: bool
    labels: tuple[str, str]
    files: dict[str, dict[str, str]]
    raw: dict[str, Any] = field(default_factory=dict)
    card_bytes: bytes = field(default=b"", repr=False)  # the card file as read: what model_sha256 covers

    def file_path(self, role: str) -> Path:
        try:
            return self.directory / self.files[role]["path"]
        except KeyError as exc:
            raise ModelFormatError(f"the model card lists no '{role}' file") from exc

    def verified_path(self, role: str) -> Path:
        """Path of a model file after checking it exists and matches the card's checksum."""
        path = self.file_path(role)
        if not path.is_file():
            raise ModelIntegrityError(f"model file missing: {path}")
        expected = self.files[role].get("sha256", "")
        try:
            actual = sha256_of(path)
        except OSError as exc:  # e.g. no read permission: still a model that cannot be trusted, not a crash
            raise ModelIntegrityError(f"model file {path} cannot be read to check it: {exc.strerror or exc}") from exc
        if actual != expected:
            raise ModelIntegrityError(
                f"model file {path.name} does not match its checksum in the model card "
                f"(expected {expected[:12]}…, found {actual[:12]}…); it may be damaged or tampered with"
            )
        return path

    @property
    def summary_metrics(self) -> dict[str, Any]:
        return dict(self.raw.get("metrics", {}).get("shipped", {}))


def load_model_card(directory: Path) -> ModelCard:
    """Read and validate ``model_card.json`` in ``directory``."""
    path = Path(directory) / CARD_FILENAME
    if not path.is_file():
        raise ModelIntegrityError(f"no model card at {path}; the model is missing")
    try:
        card_bytes = path.read_bytes()
        raw = json.loads(card_bytes.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"the model card {path} cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelFormatError(f"the model card {path} is not a JSON object")
    if raw.get("format") != CARD_FORMAT:
        raise ModelFormatError(f"model card format {raw.get('format')!r} is not {CARD_FORMAT!r}")
    try:
        labels = raw["labels"]
        card = ModelCard(
            directory=Path(directory),
            name=str(raw["name"]),
            version=str(raw["version"]),
            date=str(raw["date"]),
            preprocessing=PreprocessConfig.from_dict(raw["preprocessing"]),
            threshold=float(raw["threshold"]),
            threshold_rule=str(raw.get("threshold_rule", "")),
            temperature=float(raw.get("calibration", {}).get("temperature", 1.0)),
            hflip_tta=bool(raw.get("hflip_tta", False)),
            labels=(str(labels["negative"]), str(labels["positive"])),
            files={str(k): dict(v) for k, v in raw["files"].items()},
            raw=raw,
            card_bytes=card_bytes,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # AttributeError: e.g. a list where an object belongs
        raise ModelFormatError(f"the model card {path} is incomplete or invalid: {exc}") from exc
    # Checked here because a zero or NaN temperature or threshold gives every image a meaningless label, silently.
    if not (math.isfinite(card.temperature) and card.temperature > 0):
        raise ModelFormatError(f"the model card {path} has an invalid calibration temperature {card.temperature!r}")
    if not 0.0 <= card.threshold <= 1.0:
        raise ModelFormatError(f"the model card {path} has a threshold {card.threshold!r} outside [0, 1]")
    return card


# Files the card lists for training and reproduction but the app never opens (the Keras model, ~17 MB): the bundle
# leaves them out, and the model digest names them through the card's own checksum of them (the card's bytes are in
# the digest), so a bundle and a checkout of the same model give the same digest.
TRAINING_ONLY_ROLES = frozenset({"keras"})


def model_sha256(card: ModelCard) -> str:
    """The exact model: SHA-256 over the card's bytes and the content of every model file the app loads.

    Any change to the card (threshold, labels, temperature, preprocessing, even a space) or to a file gives another
    digest, so a hand-edited card is simply a different model: results are keyed on this digest (the history never
    hands one model's rows to another) and every output names it. Each file is hashed as it is on disk now, not as
    the card claims; the card's own checksums are checked separately (:meth:`ModelCard.verified_path`).
    """
    digest = hashlib.sha256()
    digest.update(b"osteo-desktop-model-sha256/1\0")
    digest.update(len(card.card_bytes).to_bytes(8, "big") + card.card_bytes)
    for role in sorted(set(card.files) - TRAINING_ONLY_ROLES):
        path = card.file_path(role)
        try:
            file_digest = sha256_of(path)
        except OSError as exc:
            raise ModelIntegrityError(f"model file {path} cannot be read: {exc.strerror or exc}") from exc
        digest.update(f"{role}\0{card.files[role].get('path', '')}\0{file_digest}\0".encode("utf-8"))
    return digest.hexdigest()


def write_model_card(directory: Path, card: dict[str, Any]) -> Path:
    """Write a card dict (used by training) atomically, filling in the checksum and size of each listed file.

    The checksums are written into the caller's ``card["files"]`` entries too: training quotes them in MODEL_CARD.md.
    """
    directory = Path(directory)
    card = dict(card)
    card["format"] = CARD_FORMAT
    for entry in card["files"].values():
        entry["sha256"] = sha256_of(directory / entry["path"])
        entry["bytes"] = (directory / entry["path"]).stat().st_size
    return atomic_write_text(directory / CARD_FILENAME, json.dumps(card, indent=2, sort_keys=False) + "\n")


def list_model_file(directory: Path, role: str, filename: str) -> Path:
    """List ``filename`` (in ``directory``) in the card's files under ``role`` with its checksum and size; nothing
    else in the card changes (a component trained on its own, the knee detector or the side-marker reader)."""
    card_path = Path(directory) / CARD_FILENAME
    card = json.loads(card_path.read_text(encoding="utf-8"))
    path = Path(directory) / filename
    card["files"][role] = {"path": filename, "sha256": sha256_of(path), "bytes": path.stat().st_size}
    return atomic_write_text(card_path, json.dumps(card, indent=2, sort_keys=False) + "\n")
