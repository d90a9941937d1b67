#!/usr/bin/env python3
"""Folder-scan throughput on the shared knee radiographs, against a naive loop, in the same run.

- the app's scan: :func:`osteo_desktop.core.pipeline.scanning.scan_files` (decoding and preprocessing in a thread pool,
  overlapped with batched LiteRT inference), over every PNG/JPEG of ../shared/data/knee-xray (288 files);
- the naive loop: for each file, a full-size decode, the same preprocessing, and Keras ``model.predict`` on that one
  image (TensorFlow from the venv, run in a child process so it never shares a process with LiteRT), over the first
  ``--naive-files`` files. Its network is the same MobileNetV2 + head (ImageNet backbone, the shipped head), so the
  arithmetic per image is the same.

Targets: at least 40 images/s, and at least 10x the naive loop.

    .venv/bin/python benchmarks/scan_throughput.py [--naive-files 40] [--skip-naive]

Writes benchmarks/results/scan_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IMAGENET_WEIGHTS, REPO, knee_images, write_result  # noqa: E402 - before NumPy: sets its thread count


def scan_rate(paths: list[Path]) -> dict:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.scanning import scan_files

    classifier = Classifier.load()
    list(scan_files(paths[:8], classifier))  # warm-up: first allocations, page cache
    start = time.perf_counter()
    rows = list(scan_files(paths, classifier))
    elapsed = time.perf_counter() - start
    failed = sum(row.error is not None for row in rows)
    return {"files": len(rows), "failed": failed, "seconds": round(elapsed, 2),
            "images_per_s": round(len(rows) / elapsed, 1), "model_version": classifier.version}


def naive_rate(paths: list[Path]) -> dict:
    """Run in a child process: TensorFlow is imported only there."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from osteo_desktop.core.model.explain import HeadWeights
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.core.model.card import load_model_card
    from osteo_desktop.core.paths import default_model_dir
    from osteo_desktop.core.model.preprocessing import preprocess
    from osteo_desktop.training.architecture import build_backbone, build_head, build_inference_model

    card = load_model_card(default_model_dir())
    head_weights = HeadWeights.load(card.verified_path("head"))
    backbone = build_backbone(card.preprocessing.input_size, imagenet_weights=IMAGENET_WEIGHTS)
    head = build_head()
    head.set_weights([head_weights.w1[0], head_weights.b1[0], head_weights.w2[0], head_weights.b2[0],
                      head_weights.w3[0][:, None], head_weights.b3[:1]])
    model = build_inference_model(backbone, [head])

    def one(path: Path) -> float:
        radiograph = read_radiograph(path)  # full-size decode
        model_input = preprocess(radiograph.pixels, card.preprocessing)
        _, logit = model.predict(model_input[None], verbose=0)
        return float(np.asarray(logit).reshape(-1)[0])

    one(paths[0])  # warm-up: graph tracing
    start = time.perf_counter()
    for path in paths:
        one(path)
    elapsed = time.perf_counter() - start
    return {"files": len(paths), "seconds": round(elapsed, 2), "images_per_s": round(len(paths) / elapsed, 2),
            "keras": keras.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-files", type=int, default=40)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--naive-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = knee_images()
    if not paths:
        print("no shared knee images (../shared/data/knee-xray); nothing to measure", file=sys.stderr)
        return 1
    if args.naive_child:
        args.naive_child.write_text(json.dumps(naive_rate(paths[: args.naive_files])))
        return 0

    scan = scan_rate(paths)
    print(f"scan (core.scanning): {scan['files']} files in {scan['seconds']} s = {scan['images_per_s']} images/s "
          f"({scan['failed']} failed)")
    naive = None
    if not args.skip_naive:
        out = REPO / "benchmarks" / "results" / ".naive.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        child = subprocess.run([sys.executable, __file__, "--naive-child", str(out), "--naive-files", str(args.naive_files)],
                               capture_output=True, text=True)
        if child.returncode == 0:
            naive = json.loads(out.read_text())
            out.unlink()
            print(f"naive loop (full decode + Keras predict per image): {naive['files']} files in {naive['seconds']} s "
                  f"= {naive['images_per_s']} images/s")
        else:
            print(f"naive loop failed (TensorFlow missing?):\n{child.stderr[-2000:]}", file=sys.stderr)
    speedup = round(scan["images_per_s"] / naive["images_per_s"], 1) if naive else None
    if speedup:
        print(f"speed-up: {speedup}x (target >= 10x); throughput target >= 40 images/s: "
              f"{'met' if scan['images_per_s'] >= 40 else 'NOT met'}")
    write_result("scan_throughput", {"scan": scan, "naive": naive, "speedup": speedup,
                                     "targets": {"images_per_s": 40, "speedup": 10}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
