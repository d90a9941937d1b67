"""The per-knee development set: every knee box of the knee films, with its film's label, fold and T-score.

The manifest labels films, not knees. A film's label is given to each of its knees: in the QUS-labelled source the
T-score grades the patient (both knees alike), and the binary source gives no side. The folds are the manifest's,
so both knees of a film (and every merged copy of a radiograph) stay in one fold.

Boxes come from CSV files with the columns of ``annotations/knee_boxes.csv``. Only rows marked
``checked_by_eye = yes`` are used unless ``allow_unchecked`` is set (for development before the checked set exists).
Where a film has a full-size copy (``knee-xray-fullsize``), the knee is read from it and its box scaled by the width
ratio (or taken from a ``knee-xray-fullsize`` row of the same film, when one exists).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from osteo_desktop.training.dataset import NEGATIVE, POSITIVE, load_devset

log = logging.getLogger(__name__)

GRADES = {NEGATIVE: 0, "osteopenia": 1, POSITIVE: 2}


@dataclass(frozen=True)
class Knee:
    """One knee. ``film`` is the knee-xray manifest path; ``read_path``/``read_box`` what is actually read."""

    film: str
    position: str  # single / viewer-left / viewer-right
    knee_count: int
    box: tuple[float, float, float, float]  # in the knee-xray file's pixels
    read_path: Path
    read_box: tuple[float, float, float, float]
    label: str
    fold: int
    source: str
    t_score: float | None
    fullsize: bool

    @property
    def target(self) -> int:
        """1 osteoporosis, 0 normal, -1 osteopenia (not a binary training class)."""
        return {NEGATIVE: 0, POSITIVE: 1}.get(self.label, -1)

    @property
    def grade(self) -> int:
        return GRADES[self.label]


def read_box_rows(paths: list[Path], allow_unchecked: bool) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if allow_unchecked or row.get("checked_by_eye", "").strip().lower() == "yes":
                    rows.append(row)
    return rows


def load_knees(data_root: Path, fullsize_root: Path | None, box_files: list[Path], allow_unchecked: bool = False) -> list[Knee]:
    """Knees of every manifest film that has at least one box, in manifest order then left to right.

    Later box files override earlier ones for the same (source, file): a checked file listed after the proposals
    replaces the proposals of the films it covers.
    """
    devset = load_devset(data_root)
    by_film: dict[tuple[str, str], list[dict[str, str]]] = {}
    seen_in_file: dict[tuple[str, str], int] = {}
    for index, path in enumerate(box_files):
        for row in read_box_rows([path], allow_unchecked):
            key = (row["source"], row["file"])
            if seen_in_file.get(key, index) != index:
                by_film[key] = []  # a later file replaces an earlier file's boxes for this film
            seen_in_file[key] = index
            by_film.setdefault(key, []).append(row)
    fullsize: dict[str, tuple[str, int]] = {}
    if fullsize_root is not None and (fullsize_root / "manifest.csv").is_file():
        with open(fullsize_root / "manifest.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                fullsize[row["shared_file"]] = (row["file"], int(row["width"]))
    knees: list[Knee] = []
    for example in devset.examples:
        small = by_film.get(("knee-xray", example.file), [])
        if not small:
            continue
        width = _width(data_root, example.file)
        big_rows: list[dict[str, str]] = []
        read_path, ratio = data_root / example.file, 1.0
        if example.file in fullsize:
            big_file, big_width = fullsize[example.file]
            read_path, ratio = fullsize_root / big_file, big_width / width
            big_rows = by_film.get(("knee-xray-fullsize", big_file), [])
        big_by_position = {r["position"]: r for r in big_rows} if len(big_rows) == len(small) else {}
        for row in sorted(small, key=lambda r: float(r["x0"])):
            box = tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1"))
            big = big_by_position.get(row["position"])
            read_box = tuple(float(big[k]) for k in ("x0", "y0", "x1", "y1")) if big else tuple(v * ratio for v in box)
            knees.append(Knee(example.file, row["position"], int(row.get("knee_count") or len(small)), box, read_path,
                              read_box, example.label, example.fold, example.source, example.t_score, ratio != 1.0))
    missing = len(devset.examples) - len({k.film for k in knees})
    if missing:
        log.warning("%d of %d films have no usable knee box and are left out", missing, len(devset.examples))
    return knees


def _width(root: Path, file: str) -> int:
    from PIL import Image

    with Image.open(root / file) as image:
        return int(image.width)
