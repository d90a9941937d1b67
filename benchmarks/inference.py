#!/usr/bin/env python3
"""Model inference per image with LiteRT, batch of 1 and of 32, against the floor this CPU allows.

The floor is the model's arithmetic (about 0.6 GFLOP per 224x224 image for MobileNetV2) divided by the float32
throughput of a large NumPy matrix product on the same number of threads, measured in the same run, interleaved
with the model's runs (so a busy machine slows both alike). Target: LiteRT within 1.6x of the floor.

    .venv/bin/python benchmarks/inference.py [--threads 2] [--rounds 8]

Writes benchmarks/results/inference.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# BLAS threads are fixed at import time, so set them before NumPy loads: the floor uses the cores LiteRT gets.
if __name__ == "__main__":
    _threads = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--threads=")), None)
    if _threads is None and "--threads" in sys.argv:
        _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads or "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import summary_ms, time_repeated, write_result  # noqa: E402

# MobileNetV2 (alpha 1.0) at 224x224: 300 M multiply-adds in the backbone; the dense head adds ~2 M.
MODEL_GFLOP_AT_224 = 0.60


def model_gflop(input_size: int) -> float:
    return MODEL_GFLOP_AT_224 * (input_size / 224.0) ** 2


def bench(threads: int, rounds: int, matmul_size: int = 2048) -> dict:
    """Alternate short blocks of the floor's matmul and of the model's runs, round after round, so that both see
    the same machine (on a shared machine the free cores come and go). Each figure's minimum is its undisturbed
    value."""
    from ai_edge_litert.interpreter import Interpreter

    from osteo_desktop.core.model.runtime import MICRO_BATCH, Classifier

    classifier = Classifier.load(num_threads=threads)
    size = classifier.input_size
    rng = np.random.default_rng(1)
    a = rng.standard_normal((matmul_size, matmul_size), dtype=np.float32)
    b = rng.standard_normal((matmul_size, matmul_size), dtype=np.float32)
    one = rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    many = rng.uniform(-1, 1, (32, size, size, 3)).astype(np.float32)
    # For comparison: 32 images in one interpreter call (what Classifier did before micro-batching).
    raw = Interpreter(model_path=str(classifier.card.verified_path("tflite")), num_threads=threads)
    index = raw.get_input_details()[0]["index"]
    raw.resize_tensor_input(index, [32, size, size, 3], strict=False)
    raw.allocate_tensors()

    def single_call() -> None:
        raw.set_tensor(index, many)
        raw.invoke()

    # run() is one forward pass; logits() doubles it when the card asks for flip averaging.
    measures = {
        "matmul": (lambda: a @ b, 1),
        "batch1": (lambda: classifier.run(one), 1),
        "batch32": (lambda: classifier.run(many), 32),
        "batch32_single_call": (single_call, 32),
    }
    times: dict[str, list[float]] = {name: [] for name in measures}
    for name, (fn, _) in measures.items():
        time_repeated(fn, repeats=0, warmup=2)
    for _ in range(rounds):
        times["matmul"] += time_repeated(measures["matmul"][0], repeats=3, warmup=0)
        # OpenBLAS's threads keep spinning for a while after a product and would steal the cores from LiteRT.
        time.sleep(0.3)
        for name, (fn, batch) in measures.items():
            if name != "matmul":
                times[name] += [t / batch for t in time_repeated(fn, repeats=5 if batch == 1 else 1, warmup=0)]
    gflops = 2.0 * matmul_size**3 / (min(times["matmul"]) / 1000.0) / 1e9
    result = {"model_version": classifier.version, "input_size": size, "threads": threads, "micro_batch": MICRO_BATCH,
              "hflip_tta": bool(classifier.card.hflip_tta), "matmul_gflops": round(gflops, 1),
              "matmul_gflops_median": round(2.0 * matmul_size**3 / (statistics.median(times["matmul"]) / 1000.0) / 1e9, 1)}
    for name in ("batch1", "batch32", "batch32_single_call"):
        result[f"{name}_ms_per_image"] = summary_ms(times[name])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    litert = bench(args.threads, args.rounds)
    gflops = litert["matmul_gflops"]
    floor_ms = model_gflop(litert["input_size"]) / gflops * 1000.0
    # On a shared machine the median carries other processes' load; the minimum is the undisturbed figure, and it
    # is compared with the best matmul run, measured in the same rounds.
    ratios = {f"batch{b}": round(litert[f"batch{b}_ms_per_image"]["median"] / floor_ms, 2) for b in (1, 32)}
    ratios_min = {f"batch{b}": round(litert[f"batch{b}_ms_per_image"]["min"] / floor_ms, 2) for b in (1, 32)}
    best = min(litert["batch1_ms_per_image"]["min"], litert["batch32_ms_per_image"]["min"])
    result = {
        "matmul_gflops": gflops,
        "model_gflop_per_image": round(model_gflop(litert["input_size"]), 3),
        "floor_ms_per_image": round(floor_ms, 2),
        "litert": litert,
        "ratio_to_floor_median": ratios,
        "ratio_to_floor_min": ratios_min,
        "micro_batch": litert["micro_batch"],
        "target_ratio": 1.6,
        "meets_target": best / floor_ms <= 1.6,
    }
    print(f"float32 matmul on {args.threads} threads: {gflops:.0f} GFLOP/s best (median {litert['matmul_gflops_median']:.0f}) "
          f"-> floor {floor_ms:.2f} ms/image ({result['model_gflop_per_image']} GFLOP)")
    for batch in (1, 32):
        stats = litert[f"batch{batch}_ms_per_image"]
        print(f"LiteRT batch {batch:2d}: {stats['min']:.2f} ms/image best ({ratios_min[f'batch{batch}']:.2f}x the floor), "
              f"median {stats['median']:.2f} ({ratios[f'batch{batch}']:.2f}x)")
    single = litert["batch32_single_call_ms_per_image"]
    print(f"  (32 images in one interpreter call instead of micro-batches of {result['micro_batch']}: "
          f"{single['min']:.2f} ms/image best, median {single['median']:.2f})")
    print(f"target: within 1.6x of the floor (best case) -> {'met' if result['meets_target'] else 'NOT met'}")
    write_result("inference", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
