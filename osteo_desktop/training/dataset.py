"""The development set: a folder laid out by class with ``manifest.csv``, read through the app's own reader and
preprocessing so that training sees exactly what inference sees."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.model.preprocessing import PreprocessConfig, preprocess

log = logging.getLogger(__name__)

NEGATIVE, POSITIVE, INTERMEDIATE = "normal", "osteoporosis", "osteopenia"
MANIFEST = "manifest.csv"
# Bumped when the knee-window code changes what a given configuration produces, so stale caches are not reused.
KNEE_WINDOW_REVISION = 2


def config_identity(config: PreprocessConfig) -> dict:
    identity = config.to_dict()
    if config.knee_crop_aspect:
        identity["knee_window_revision"] = KNEE_WINDOW_REVISION
    return identity


@dataclass(frozen=True)
class Example:
    """One manifest row. ``target`` is 1 for osteoporosis, 0 for normal, -1 for osteopenia (not a training class)."""

    file: str
    label: str
    fold: int
    source: str
    t_score: float | None
    aspect: float = 1.0  # width / height of the stored image, for the framing-shortcut check

    @property
    def target(self) -> int:
        return {NEGATIVE: 0, POSITIVE: 1}.get(self.label, -1)


@dataclass
class DevSet:
    root: Path
    examples: list[Example]
    manifest_sha256: str

    @property
    def targets(self) -> np.ndarray:
        return np.array([e.target for e in self.examples], dtype=np.int64)

    @property
    def folds(self) -> np.ndarray:
        return np.array([e.fold for e in self.examples], dtype=np.int64)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.examples:
            counts[e.label] = counts.get(e.label, 0) + 1
        return counts

    def subset(self, indices: np.ndarray) -> "DevSet":
        return DevSet(self.root, [self.examples[i] for i in indices], self.manifest_sha256)


def load_devset(root: Path) -> DevSet:
    """Read the manifest; every listed file must exist (a missing one is named)."""
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"no {MANIFEST} in {root}: expected a folder laid out by class with a manifest")
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    examples = []
    for row in rows:
        if not (root / row["file"]).is_file():
            raise FileNotFoundError(f"{root / row['file']} is listed in {manifest} but missing")
        t_score = row.get("qus_t_score", "").strip()
        examples.append(
            Example(
                row["file"], row["label"], int(row.get("fold", 0) or 0), row.get("source_repo", ""),
                float(t_score) if t_score else None, _aspect(row),
            )
        )
    return DevSet(root, examples, sha256_of(manifest))


def _aspect(row: dict[str, str]) -> float:
    try:
        return int(row["width"]) / int(row["height"])
    except (KeyError, ValueError, ZeroDivisionError):
        return float("nan")


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_inputs(devset: DevSet, config: PreprocessConfig, cache_dir: Path | None) -> np.ndarray:
    """Preprocessed model inputs, one grey channel per image, (N, S, S) float32 in [-1, 1].

    The three channels ``preprocess`` returns are identical, so one is kept; :func:`to_rgb` restores them.
    """
    key = cache_key("inputs", devset.manifest_sha256, [e.file for e in devset.examples], config_identity(config))
    path = cache_dir / f"inputs-{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    start = time.perf_counter()
    inputs = np.empty((len(devset.examples), config.input_size, config.input_size), np.float32)
    for i, example in enumerate(devset.examples):
        radiograph = read_radiograph(devset.root / example.file, target_size=config.input_size)
        inputs[i] = preprocess(radiograph.pixels, config)[:, :, 0]
    log.info("preprocessed %d images at %d px in %.1f s", len(inputs), config.input_size, time.perf_counter() - start)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, inputs)
    return inputs


def to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)
