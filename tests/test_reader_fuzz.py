"""Fuzzing the image reader with mutated real DICOM, PNG and JPEG files.

The only outcomes allowed are a sane Radiograph or an ImageReadError raised on purpose. Each case runs in a
separate worker process, so a hang (bounded per case) or a crash of the process (a decoder segfault) is caught and
reported with the bytes that caused it, instead of taking the test run down. The reader's last-resort conversion of
an unexpected exception counts as a failure too: it exists for users, the fuzz test must never need it.

Bounded by OSTEO_FUZZ_SECONDS (default 60) and OSTEO_FUZZ_EXAMPLES (default 2000), whichever comes first;
OSTEO_FUZZ_RANDOM=1 draws new cases instead of the fixed sequence (seeds 0, 1, 2...) CI runs.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from reader_cases import serve
from shared_paths import DICOM_DIR

FUZZ_SECONDS = float(os.environ.get("OSTEO_FUZZ_SECONDS", "60"))
FUZZ_EXAMPLES = int(os.environ.get("OSTEO_FUZZ_EXAMPLES", "2000"))
FUZZ_BATCH = 100
CASE_TIMEOUT_S = 30.0
# Small real files that between them reach every reader path: raw, deflated, JPEG baseline, JPEG 2000, RLE,
# VOI LUT, rescale, colour, palette, multi-frame, PNG and JPEG.
DICOM_SEEDS = (
    "CR_cspine_16x16_MONO1_12bit_uncompressed_tiny.dcm",
    "SC_rgb_jpeg-baseline_YBR.dcm",
    "deflated_explicit_LE.dcm",
    "MR_emri_small_multiframe10_j2k-lossless.dcm",
    "US_palette_color_RLE_2frame.dcm",
    "OT_vlut_04_VOI-LUT-sequence.dcm",
    "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm",
)
INTERESTING_INTS = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


# --- the worker process ----------------------------------------------------------------------------------------


def _worker(connection) -> None:
    import warnings

    from osteo_desktop.core.errors import ImageReadError

    warnings.simplefilter("ignore")
    serve(connection, ImageReadError, Path(tempfile.mkdtemp(prefix="osteo-fuzz-")))


class ReaderProcess:
    """A worker process that reads one case at a time and is replaced if it hangs or dies."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self._connection, child = self._context.Pipe()
        self._process = self._context.Process(target=_worker, args=(child,), daemon=True)
        self._process.start()

    def read(self, data: bytes, suffix: str) -> tuple[str, str]:
        self._connection.send((data, suffix))
        if self._connection.poll(CASE_TIMEOUT_S):
            try:
                return self._connection.recv()
            except EOFError:
                pass
        else:
            self._process.kill()
            self._process.join()
            self._start()
            return "hang", f"no answer within {CASE_TIMEOUT_S:.0f} s"
        self._process.join()
        code = self._process.exitcode
        self._start()
        return "crash", f"worker process died with exit code {code}"

    def close(self) -> None:
        try:
            self._connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


# --- mutations -------------------------------------------------------------------------------------------------


def _positions(size: int):
    # Headers decide most of a reader's path, so most positions fall in the first kilobyte; the magic numbers at
    # the very start (and DICOM's at 128) get a branch of their own, else boundary-loving draws hit them too often.
    return st.one_of(
        st.integers(min(size, 8), min(size, 127)),
        st.integers(min(size, 132), min(size, 1200)),
        st.integers(0, size),
        st.integers(0, min(size, 140)),
    )


def _shift_positions(size: int):
    # Inserting, deleting or cutting before a magic number only makes "not an image": rarely worth a case.
    return st.one_of(st.integers(min(size, 132), size), st.integers(min(size, 132), min(size, 4096)), st.integers(0, size))


@st.composite
def mutated(draw, seeds: dict[str, bytes]) -> tuple[str, bytes, list]:
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    applied = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "byte", "int", "overwrite", "insert", "delete", "truncate", "duplicate"]))
        shifts = kind in ("insert", "delete", "truncate", "duplicate")
        where = min(draw(_shift_positions(len(data)) if shifts else _positions(len(data))), len(data))
        if kind == "flip" and data:
            where = min(where, len(data) - 1)
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[min(where, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "int":
            width = draw(st.sampled_from([2, 4]))
            value = draw(st.sampled_from(INTERESTING_INTS)) % (1 << (8 * width))
            data[where : where + width] = value.to_bytes(width, draw(st.sampled_from(["little", "big"])))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=32))
            data[where : where + len(chunk)] = chunk
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 256))]
        elif kind == "truncate":
            del data[where:]
        elif kind == "duplicate" and data:
            start = min(draw(_positions(len(data))), len(data) - 1)
            data[where:where] = data[start : start + draw(st.integers(1, 512))]
        applied.append((kind, where))
    return name, bytes(data), applied


# --- the test --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader_process():
    process = ReaderProcess()
    yield process
    process.close()


@pytest.fixture(scope="module")
def seeds(knee_png, knee_jpeg) -> dict[str, bytes]:
    if not DICOM_DIR.is_dir():
        pytest.skip(f"shared DICOM samples not found at {DICOM_DIR}")
    files = [DICOM_DIR / name for name in DICOM_SEEDS] + [knee_png, knee_jpeg]
    return {path.name: path.read_bytes() for path in files}


def test_unmutated_seeds_read(seeds, reader_process):
    for name, data in seeds.items():
        assert reader_process.read(data, Path(name).suffix) == ("read", ""), name


def test_mutated_files_give_a_result_or_a_documented_error(seeds, reader_process, tmp_path, record_property):
    outcomes: Counter[str] = Counter()
    causes: Counter[str] = Counter()
    failures: list[str] = []
    started = time.monotonic()

    def run_batch(batch_seed: int) -> None:
        # Hypothesis cannot stop on a clock, so the budget is spent in small seeded batches checked between runs.
        @seed(batch_seed)
        @settings(
            max_examples=FUZZ_BATCH,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.generate],  # every failing case is saved below; shrinking would only spend the budget
            suppress_health_check=list(HealthCheck),
        )
        @given(case=mutated(seeds))
        def run_case(case) -> None:
            name, data, applied = case
            outcome, detail = reader_process.read(data, Path(name).suffix)
            outcomes[outcome] += 1
            if outcome.endswith("Error"):
                causes[detail.split(": ", 1)[-1][:48]] += 1
            if outcome in ("bug", "hang", "crash"):
                saved = tmp_path / f"failure{len(failures)}{Path(name).suffix}"
                saved.write_bytes(data)
                failures.append(f"{outcome} on {name} mutated by {applied} (saved as {saved}):\n{detail}")

        run_case()

    first_seed = random.randrange(2**32) if os.environ.get("OSTEO_FUZZ_RANDOM") == "1" else 0
    batch = 0
    while time.monotonic() - started < FUZZ_SECONDS and sum(outcomes.values()) < FUZZ_EXAMPLES and not failures:
        run_batch(first_seed + batch)
        batch += 1
    total = sum(outcomes.values())
    summary = ", ".join(f"{key} {count}" for key, count in sorted(outcomes.items()))
    print(f"\nreader fuzz: {total} cases in {time.monotonic() - started:.0f} s, seeds {first_seed}..{first_seed + batch - 1} ({summary})")
    print("most frequent errors:", "; ".join(f"{count} x {cause}" for cause, count in causes.most_common(6)))
    record_property("fuzz_cases", total)
    record_property("fuzz_outcomes", dict(outcomes))
    assert not failures, "\n\n".join(failures)
    assert total >= min(FUZZ_EXAMPLES, 50), f"only {total} cases ran"
    assert outcomes["read"] and sum(v for k, v in outcomes.items() if k != "read"), "mutations must reach both outcomes"
