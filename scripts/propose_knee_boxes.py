"""Propose knee boxes by a simple heuristic and render contact sheets for review by eye.

Why a heuristic: it gives first proposals that a person then checks and corrects in annotations/knee_boxes.csv;
it is NOT the detector. Legs are found as bright column bands; in each band the knee is the row where the bright
bone is widest (femoral condyles / tibial plateau). Boxes are in the stored file's pixel coordinates.

Usage: python scripts/propose_knee_boxes.py OUT_CSV SHEET_DIR
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHARED = Path("/work/shared/data")
SETS = {"knee-xray": SHARED / "knee-xray", "knee-xray-fullsize": SHARED / "knee-xray-fullsize", "knee-other": SHARED / "scope" / "knee-other"}
WORK_WIDTH = 256


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    kernel = np.ones(max(1, width)) / max(1, width)
    return np.convolve(values, kernel, mode="same")


def propose(gray: np.ndarray) -> list[tuple[float, float, float, float, str]]:
    """Boxes [x0, y0, x1, y1] in the given array's coordinates with a position label."""
    height, width = gray.shape
    columns = _smooth(gray.mean(axis=0), max(3, width // 40))
    level = columns.min() + 0.5 * (columns.max() - columns.min())
    bright = columns > level
    bands, start = [], None
    for x, on in enumerate(list(bright) + [False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            if x - start > 0.12 * width:
                bands.append((start, x))
            start = None
    bands = sorted(bands, key=lambda band: band[0])[:2] or [(0, width)]
    boxes = []
    for a, b in bands:
        strip = gray[:, a:b]
        threshold = np.percentile(strip, 60)
        row_width = _smooth((strip > threshold).sum(axis=1).astype(float), max(3, height // 30))
        lo, hi = int(0.1 * height), int(0.9 * height)
        y = lo + int(np.argmax(row_width[lo:hi]))
        # The widest bone is the femoral condyles; the joint line is the dark gap just below them.
        core = _smooth(strip[:, (b - a) // 4:max((b - a) // 4 + 1, 3 * (b - a) // 4)].mean(axis=1), 3)
        below_lo, below_hi = y, min(hi, y + int(0.5 * (b - a)) + 1)
        if below_hi - below_lo > 3:
            y = below_lo + int(np.argmin(core[below_lo:below_hi]))
        centre_x = (a + b) / 2
        side = min(max(b - a, 0.3 * min(width, height) if len(bands) == 1 else 0), width / len(bands)) * 1.05
        boxes.append((centre_x - side / 2, y - side / 2, centre_x + side / 2, y + side / 2))
    positions = ["single"] if len(boxes) == 1 else ["viewer-left", "viewer-right"]
    return [(max(0, x0), max(0, y0), min(width, x1), min(height, y1), pos) for (x0, y0, x1, y1), pos in zip(boxes, positions)]


def main(out_csv: str, sheet_dir: str) -> None:
    rows = []
    for source, root in SETS.items():
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"}):
            image = Image.open(path).convert("L")
            scale = min(1.0, WORK_WIDTH / image.width)
            small = np.asarray(image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale)))), dtype=np.float32) / 255
            found = propose(small)
            for x0, y0, x1, y1, position in found:
                rows.append({"source": source, "file": str(path.relative_to(root)), "width": image.width, "height": image.height,
                             "knee_count": len(found), "position": position,
                             "x0": round(x0 / scale), "y0": round(y0 / scale), "x1": round(x1 / scale), "y1": round(y1 / scale),
                             "checked_by_eye": "no", "note": "heuristic proposal"})
    rows = _map_fullsize(rows)
    with open(out_csv, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    render_sheets(rows, Path(sheet_dir))


def _map_fullsize(rows: list[dict]) -> list[dict]:
    """Full-size films are the same radiographs as knee-xray files: their boxes are those boxes scaled by the size ratio."""
    with open(SETS["knee-xray-fullsize"] / "manifest.csv", newline="") as handle:
        shared_name = {row["file"]: row["shared_file"] for row in csv.DictReader(handle)}
    small = {}
    for row in rows:
        if row["source"] == "knee-xray":
            small.setdefault(row["file"], []).append(row)
    mapped = [row for row in rows if row["source"] != "knee-xray-fullsize"]
    for film in dict.fromkeys(row["file"] for row in rows if row["source"] == "knee-xray-fullsize"):
        size = next(row for row in rows if row["source"] == "knee-xray-fullsize" and row["file"] == film)
        for box in small[shared_name[film]]:
            sx, sy = size["width"] / box["width"], size["height"] / box["height"]
            mapped.append({**box, "source": "knee-xray-fullsize", "file": film, "width": size["width"], "height": size["height"],
                           "x0": round(box["x0"] * sx), "y0": round(box["y0"] * sy), "x1": round(box["x1"] * sx), "y1": round(box["y1"] * sy),
                           "note": f"scaled from {shared_name[film]}"})
    return mapped


def render_sheets(rows: list[dict], sheet_dir: Path, per_sheet: int = 16, cell: int = 200) -> None:
    """4x4 thumbnails with boxes and file ids, one PNG per 16 films."""
    sheet_dir.mkdir(parents=True, exist_ok=True)
    films: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        films.setdefault((row["source"], row["file"]), []).append(row)
    keys = list(films)
    for start in range(0, len(keys), per_sheet):
        sheet = Image.new("RGB", (4 * cell, 4 * (cell + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, key in enumerate(keys[start:start + per_sheet]):
            image = Image.open(SETS[key[0]] / key[1]).convert("RGB")
            scale = min(cell / image.width, cell / image.height)
            image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
            thumb = ImageDraw.Draw(image)
            for row in films[key]:
                thumb.rectangle([row["x0"] * scale, row["y0"] * scale, row["x1"] * scale, row["y1"] * scale], outline="red", width=2)
            ox, oy = (i % 4) * cell, (i // 4) * (cell + 14)
            sheet.paste(image, (ox, oy + 14))
            draw.text((ox + 2, oy), f"{start + i} {Path(key[1]).stem[:22]}", fill="black")
        sheet.save(sheet_dir / f"sheet_{start // per_sheet:03d}.png")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
