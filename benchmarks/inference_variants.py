#!/usr/bin/env python3
"""Per-image inference time of the backbone by precision, threads and batching, against the float32 matmul floor.

Measured, all in the same rounds (interleaved, so a busy machine slows them alike; the minimum over rounds is the
undisturbed figure, the median what a shared machine gives):

- batching: one image per call (batch 1); a two-knee film's five inputs (film, 2 knees, 2 mirrors) in one call;
  the same five as the app runs them (micro-batches of ``runtime.MICRO_BATCH``);
- threads: 1 and 2;
- precision: the shipped float32 file through LiteRT's Interpreter (what the app runs) and through CompiledModel
  (which takes XNNPACK flags), float32 with XNNPACK forced to fp16 arithmetic, fp16 weights (plain and forced),
  full-integer int8 and dynamic-range int8 (the candidates of ``quantization_agreement.py --convert``).

The floor: 0.6 GFLOP per 224x224 image / the float32 throughput of a 2048x2048 NumPy matmul on the same threads.

    .venv/bin/python benchmarks/inference_variants.py [--rounds 6] [--variants fp32,fp32-forced-fp16,int8]

Writes benchmarks/results/inference_variants.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# BLAS threads are fixed at import time; the floor is measured on 2 threads (the cores LiteRT gets by default).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import knee_images, summary_ms, write_result  # noqa: E402

import numpy as np  # noqa: E402

from inference import model_gflop  # noqa: E402
from quantization_agreement import CACHE, CANDIDATES  # noqa: E402

VARIANTS = {"fp32": ("shipped", None), "fp32-compiled": ("shipped", 0x3), **CANDIDATES}


def film_inputs() -> np.ndarray:
    """The five interpreter inputs of a real two-knee film (film, knees, mirrors), as the app makes them."""
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.film import prepare_film
    from osteo_desktop.core.reading.reader import read_radiograph

    classifier = Classifier.load()
    for path in knee_images():
        work = prepare_film(read_radiograph(path), classifier)
        if len(work.detected) == 2:
            return np.stack(work.inputs(classifier.knee_head)).astype(np.float32)
    raise SystemExit("no two-knee film among the shared knee radiographs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()

    from osteo_desktop.core.model.card import load_model_card
    from osteo_desktop.core.model.runtime import MICRO_BATCH
    from osteo_desktop.core.paths import default_model_dir
    from osteo_desktop.training.quantize import Runner

    shipped = load_model_card(default_model_dir()).verified_path("tflite")
    five = film_inputs()
    one = np.ascontiguousarray(five[1:2])  # a knee region
    threads = [int(t) for t in args.threads.split(",")]
    runners = {}
    for name in [v for v in args.variants.split(",") if v]:
        file, flags = VARIANTS[name]
        path = shipped if file == "shipped" else CACHE / file
        if not path.is_file():
            print(f"skipping {name}: {path} missing (benchmarks/quantization_agreement.py --convert)", file=sys.stderr)
            continue
        for t in threads:
            # A runner per batch shape: resizing between shapes re-plans XNNPACK and would be timed otherwise.
            runners[(name, t)] = {
                "batch1": Runner(path, threads=t, xnnpack_flags=flags, micro_batch=1),
                "film5_one_call": Runner(path, threads=t, xnnpack_flags=flags, micro_batch=5),
                f"film5_micro{MICRO_BATCH}": Runner(path, threads=t, xnnpack_flags=flags, micro_batch=MICRO_BATCH),
            }
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    b = rng.standard_normal((2048, 2048), dtype=np.float32)
    inputs = {"batch1": one, "film5_one_call": five, f"film5_micro{MICRO_BATCH}": five}
    times: dict[str, list[float]] = {"matmul": []}
    for key, modes in runners.items():
        for mode, runner in modes.items():
            for _ in range(3):  # warm-up: plans, caches
                runner.run(inputs[mode])
            times[f"{key[0]}|{key[1]}|{mode}"] = []
    for _ in range(args.rounds):
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            times["matmul"].append((time.perf_counter() - start) * 1000.0)
        time.sleep(0.3)  # OpenBLAS threads spin for a while after a product and would take LiteRT's cores
        for (name, t), modes in runners.items():
            for mode, runner in modes.items():
                x = inputs[mode]
                for _ in range(3):
                    start = time.perf_counter()
                    runner.run(x)
                    times[f"{name}|{t}|{mode}"].append((time.perf_counter() - start) * 1000.0 / len(x))
    gflops = 2.0 * 2048**3 / (min(times["matmul"]) / 1000.0) / 1e9
    floor_ms = model_gflop(224) / gflops * 1000.0
    rows = []
    for key, values in times.items():
        if key == "matmul":
            continue
        name, t, mode = key.split("|")
        stats = summary_ms(values)
        rows.append({"variant": name, "threads": int(t), "batching": mode, "ms_per_image": stats,
                     "ratio_to_floor_min": round(stats["min"] / floor_ms, 2),
                     "ratio_to_floor_median": round(stats["median"] / floor_ms, 2)})
    print(f"float32 matmul, 2 threads: {gflops:.0f} GFLOP/s best -> floor {floor_ms:.2f} ms per 224x224 image")
    print(f"{'variant':<18} {'thr':>3} {'batching':<16} {'best ms/img':>11} {'median':>7} {'x floor':>8}")
    for r in rows:
        s = r["ms_per_image"]
        print(f"{r['variant']:<18} {r['threads']:>3} {r['batching']:<16} {s['min']:>11.2f} {s['median']:>7.2f} "
              f"{r['ratio_to_floor_min']:>8.2f}")
    write_result("inference_variants", {"input_size": 224, "micro_batch": MICRO_BATCH, "matmul_gflops": round(gflops, 1),
                                        "floor_ms_per_image": round(floor_ms, 2), "rounds": args.rounds, "rows": rows,
                                        "film_inputs": "film + 2 knee regions + their mirrors (a two-knee shared film)"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
