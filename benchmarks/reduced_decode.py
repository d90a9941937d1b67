#!/usr/bin/env python3
"""Would a reduced JPEG decode (DCT scaling, Pillow's draft mode) change the answer? (issue 13)

The issue allows reading a JPEG at a reduced scale only where the model's probability stays within 0.005 of the
full decode's. For every JPEG of ../shared/data/knee-xray-fullsize this analyses the film as the app does
(:func:`analyse_radiograph`: scope gate, knee detector, each knee's region, knee head; no explanation) from the
full decode and from decodes at 1/2 and 1/4 a side (the grey plane libjpeg gives at that scale, as the reader
would take it), and prints, per scale: the decode time saved, how many films changed scope decision or number of
knees, and the largest change of the file's probability and of any knee's probability.

    .venv/bin/python benchmarks/reduced_decode.py [--every 1] [--scales 2 4]

Writes benchmarks/results/reduced_decode.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_result  # noqa: E402

import numpy as np  # noqa: E402

FULLSIZE = SHARED / "data" / "knee-xray-fullsize"
BUDGET = 0.005


def reduced(path: Path, data: bytes, scale: int):
    """The film as the reader would return it from a decode at 1/``scale`` a side, and the decode's CPU ms."""
    from PIL import Image

    from osteo_desktop.core.reading.radiograph import Radiograph

    start = time.thread_time()
    with Image.open(io.BytesIO(data)) as image:
        mode = "YCbCr" if image.mode == "RGB" else image.mode
        image.draft(mode, (image.width // scale, image.height // scale))
        image.load()
        plane = image.getchannel(0) if image.mode != "L" else image
        grey = np.asarray(plane, dtype=np.float32) / np.float32(255.0)
    cpu_ms = (time.thread_time() - start) * 1000.0
    metadata = {"format": "JPEG", "width": grey.shape[1], "height": grey.shape[0], "bits_stored": 8}
    return Radiograph(path, grey, "jpeg", metadata, []), cpu_ms


def outcome(analysis) -> dict:
    return {"in_scope": not analysis.declined,
            "probability": None if analysis.prediction is None else float(analysis.prediction.probability),
            "knees": sorted(float(k.prediction.probability) for k in analysis.knees)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args()
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.analysis import analyse_radiograph
    from osteo_desktop.core.reading.reader import read_radiograph

    films = sorted(p for p in FULLSIZE.glob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:: args.every]
    if not films:
        print(f"no full-size JPEGs in {FULLSIZE}", file=sys.stderr)
        return 1
    classifier = Classifier.load()
    rows = []
    for path in films:
        data = path.read_bytes()
        start = time.thread_time()
        radiograph = read_radiograph(path, data=data)
        full_ms = (time.thread_time() - start) * 1000.0
        row = {"file": path.name, "megapixels": round(radiograph.width * radiograph.height / 1e6, 2),
               "full_read_cpu_ms": round(full_ms, 1), "full": outcome(analyse_radiograph(radiograph, classifier, explain=False))}
        for scale in args.scales:
            small, ms = reduced(path, data, scale)
            row[f"1/{scale}"] = {"decode_cpu_ms": round(ms, 1), **outcome(analyse_radiograph(small, classifier, explain=False))}
        rows.append(row)
    summary = {}
    for scale in args.scales:
        key = f"1/{scale}"
        changed_scope = [r["file"] for r in rows if r[key]["in_scope"] != r["full"]["in_scope"]]
        changed_knees = [r["file"] for r in rows if len(r[key]["knees"]) != len(r["full"]["knees"])]
        both = [r for r in rows if r["full"]["probability"] is not None and r[key]["probability"] is not None]
        file_moves = [abs(r[key]["probability"] - r["full"]["probability"]) for r in both]
        knee_moves = [abs(a - b) for r in both if len(r[key]["knees"]) == len(r["full"]["knees"])
                      for a, b in zip(r[key]["knees"], r["full"]["knees"])]
        summary[key] = {
            "films": len(rows), "scope_changed": changed_scope, "knee_count_changed": changed_knees,
            "file_probability_max_change": round(max(file_moves, default=0.0), 4),
            "file_probability_median_change": round(statistics.median(file_moves), 4) if file_moves else None,
            "films_over_budget": sum(m > BUDGET for m in file_moves),
            "knee_probability_max_change": round(max(knee_moves, default=0.0), 4),
            "read_cpu_ms_median": round(statistics.median(r[key]["decode_cpu_ms"] for r in rows), 1),
        }
        s = summary[key]
        print(f"decode at {key} a side, {len(rows)} JPEG films: file probability moved by up to "
              f"{s['file_probability_max_change']} (median {s['file_probability_median_change']}; "
              f"{s['films_over_budget']} of {len(file_moves)} over {BUDGET}), knees by up to {s['knee_probability_max_change']}; "
              f"scope changed on {len(changed_scope)}, knee count on {len(changed_knees)}; grey plane in "
              f"{s['read_cpu_ms_median']} ms CPU against {statistics.median(r['full_read_cpu_ms'] for r in rows):.1f} ms for the full read")
    verdict = all(s["file_probability_max_change"] <= BUDGET and s["knee_probability_max_change"] <= BUDGET
                  and not s["scope_changed"] and not s["knee_count_changed"] for s in summary.values())
    print("within the 0.005 budget at every scale" if verdict else "NOT within the 0.005 budget: reduced decoding stays off")
    write_result("reduced_decode", {"budget": BUDGET, "summary": summary, "files": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
