"""Long fuzzing run of the image reader: many mutated DICOM, PNG, JPEG and TIFF files, no model needed.

Not part of the test run (``tests/test_reader_fuzz.py`` is the short version CI runs). Each mutated file goes
through :func:`~osteo_desktop.core.reading.reader.read_radiograph` in a worker process with an address-space limit,
so that:

- a crash is anything but a sane Radiograph or a documented :class:`~osteo_desktop.core.errors.ImageReadError`
  (including the reader's last-resort conversion of an unexpected exception, logged as "unexpected ...") or a
  worker that dies;
- a hang is a case with no answer within ``--case-timeout`` seconds (the worker is killed and replaced);
- memory is bounded by ``RLIMIT_AS`` in the worker (``--memory-mib``); the peak resident size is reported.

Usage (one core; the figures go to stdout and ``--json``)::

    PYTHONPATH=$PWD taskset -c 0 .venv/bin/python benchmarks/fuzz_readers.py --cases 100000 --json out.json
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests"):  # tests/reader_cases.py judges each case, as in the fuzz test
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from osteo_desktop.core.paths import shared_dicom_dir, shared_knee_dir  # noqa: E402

# Small real DICOM files that between them reach every reader path (as in tests/test_reader_fuzz.py).
DICOM_SEEDS = (
    "CR_cspine_16x16_MONO1_12bit_uncompressed_tiny.dcm",
    "SC_rgb_jpeg-baseline_YBR.dcm",
    "deflated_explicit_LE.dcm",
    "MR_emri_small_multiframe10_j2k-lossless.dcm",
    "US_palette_color_RLE_2frame.dcm",
    "no_file_meta.dcm",
    "MR_truncated_pixeldata.dcm",
)
INTERESTING_INTS = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


def raster_seeds() -> dict[str, bytes]:
    """PNG (8/16-bit grey, RGB), JPEG (grey, RGB) and TIFF (raw, LZW, deflate, 16-bit) from one knee film, made
    small (160 px) so that a case costs milliseconds and the mutations, not the pixel count, decide the run time."""
    import numpy as np
    from PIL import Image

    knee = next(p for p in sorted(shared_knee_dir().rglob("*.png")))
    grey = Image.open(knee).convert("L").resize((160, 160))
    grey16 = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype(np.uint16))
    rgb = grey.convert("RGB")
    seeds: dict[str, bytes] = {}

    def save(name: str, image: Image.Image, fmt: str, **options: object) -> None:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        seeds[name] = buffer.getvalue()

    save("grey.png", grey, "PNG")
    save("grey16.png", grey16, "PNG")
    save("rgb.png", rgb, "PNG")
    save("grey.jpg", grey, "JPEG", quality=85)
    save("rgb.jpg", rgb, "JPEG", quality=85)
    save("progressive.jpg", grey, "JPEG", quality=85, progressive=True)
    save("raw.tif", grey, "TIFF")
    save("lzw.tif", rgb, "TIFF", compression="tiff_lzw")
    save("deflate.tif", grey, "TIFF", compression="tiff_adobe_deflate")
    save("grey16.tif", grey16, "TIFF")
    return seeds


def all_seeds() -> dict[str, bytes]:
    seeds = {name: (shared_dicom_dir() / name).read_bytes() for name in DICOM_SEEDS}
    seeds.update(raster_seeds())
    return seeds


def mutate(rng: random.Random, data: bytes) -> bytes:
    """1 to 6 mutations, most of them in the header (first kilobyte), where a reader's path is decided."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        size = len(out)
        kind = rng.choice(("flip", "byte", "int", "overwrite", "insert", "delete", "truncate", "duplicate"))
        region = rng.random()
        if region < 0.6:
            where = rng.randint(0, min(size, 1200))
        else:
            where = rng.randint(0, size)
        if kind == "flip" and out:
            where = min(where, size - 1)
            out[where] ^= 1 << rng.randint(0, 7)
        elif kind == "byte" and out:
            out[min(where, size - 1)] = rng.randint(0, 255)
        elif kind == "int":
            width = rng.choice((2, 4))
            value = rng.choice(INTERESTING_INTS) % (1 << (8 * width))
            out[where:where + width] = value.to_bytes(width, rng.choice(("little", "big")))
        elif kind == "overwrite":
            out[where:where + 32] = rng.randbytes(rng.randint(1, 32))
        elif kind == "insert":
            out[where:where] = rng.randbytes(rng.randint(1, 64))
        elif kind == "delete":
            del out[where:where + rng.randint(1, 256)]
        elif kind == "truncate" and where > 0:
            del out[where:]
        elif kind == "duplicate" and out:
            start = rng.randint(0, size - 1)
            out[where:where] = out[start:start + rng.randint(1, 512)]
    return bytes(out)


def _worker(connection, memory_mib: int) -> None:
    import warnings

    from osteo_desktop.core.errors import OsteoError
    from reader_cases import serve  # tests/reader_cases.py: the same judgement as the fuzz test

    limit = memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")
    logging.disable(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="osteo-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))

    def report(outcome: tuple[str, str]) -> tuple[str, str, int]:
        kind, detail = outcome
        if kind == "bug":
            kind = "crash"
        elif kind != "read":
            detail = detail.split(": ", 1)[-1][:60]
        return kind, detail, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    serve(connection, OsteoError, folder, report)


class Worker:
    def __init__(self, memory_mib: int, timeout_s: float) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.memory_mib = memory_mib
        self.timeout_s = timeout_s
        self.restarts = 0
        self._start()

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child, self.memory_mib), daemon=True)
        self.process.start()

    def read(self, data: bytes, suffix: str) -> tuple[str, str, int]:
        self.connection.send((data, suffix))
        if self.connection.poll(self.timeout_s):
            try:
                return self.connection.recv()
            except EOFError:
                pass
            self.process.join()
            code = self.process.exitcode
            outcome = ("crash", f"worker died with exit code {code}", 0)
        else:
            self.process.kill()
            self.process.join()
            outcome = ("hang", f"no answer within {self.timeout_s:.0f} s", 0)
        self.restarts += 1
        self._start()
        return outcome

    def close(self) -> None:
        try:
            self.connection.send(None)
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    parser.add_argument("--memory-mib", type=int, default=2048, help="address-space limit of the reading process")
    parser.add_argument("--failures", type=Path, default=Path(tempfile.gettempdir()) / "osteo-fuzz-failures")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    seeds = all_seeds()
    names = sorted(seeds)
    rng = random.Random(args.seed)
    worker = Worker(args.memory_mib, args.case_timeout)
    outcomes: Counter[str] = Counter()
    by_format: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    failures: list[str] = []
    peak_rss_kib = 0
    slowest = 0.0
    started = time.monotonic()
    try:
        for name in names:  # the unmutated seeds (two are damaged on purpose) give a result or a documented error
            outcome, detail, _ = worker.read(seeds[name], Path(name).suffix)
            if outcome in ("crash", "hang"):
                failures.append(f"seed {name} does not read: {outcome} {detail}")
        for case in range(args.cases):
            name = rng.choice(names)
            data = mutate(rng, seeds[name])
            case_start = time.monotonic()
            outcome, detail, rss = worker.read(data, Path(name).suffix)
            slowest = max(slowest, time.monotonic() - case_start)
            peak_rss_kib = max(peak_rss_kib, rss)
            outcomes[outcome] += 1
            by_format[Path(name).suffix] += 1
            if outcome not in ("read", "crash", "hang"):
                causes[f"{outcome}: {detail}"] += 1
            if outcome in ("crash", "hang"):
                args.failures.mkdir(parents=True, exist_ok=True)
                saved = args.failures / f"case{case}{Path(name).suffix}"
                saved.write_bytes(data)
                failures.append(f"{outcome} on case {case} ({name}, saved as {saved}): {detail}")
            if case and case % 10_000 == 0:
                print(f"{case} cases, {time.monotonic() - started:.0f} s, {dict(outcomes)}", flush=True)
    finally:
        worker.close()
    elapsed = time.monotonic() - started
    figures = {
        "cases": args.cases, "seed": args.seed, "seconds": round(elapsed, 1),
        "cases_per_s": round(args.cases / elapsed, 1), "outcomes": dict(outcomes), "by_format": dict(by_format),
        "crashes": outcomes["crash"], "hangs": outcomes["hang"], "case_timeout_s": args.case_timeout,
        "slowest_case_s": round(slowest, 3), "memory_limit_mib": args.memory_mib,
        "peak_rss_mib": round(peak_rss_kib / 1024, 1), "worker_restarts": worker.restarts,
        "most_frequent_errors": causes.most_common(12), "failures": failures[:50],
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
