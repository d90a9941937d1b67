#!/usr/bin/env python3
"""The compact read of large true-colour and grey-stored RGB rasters against the plain read, through the model.

One real knee film (the largest of knee-xray-fullsize) enlarged to ``--megapixels`` and written as a true-colour PNG
and TIFF (tinted as in large_files.py), a grey-stored RGB PNG and TIFF, and a photograph-like true-colour PNG whose
luma has more than 65,536 distinct values (the film with independent noise in each channel). Each is read plainly
(float32) and compactly (osteo scan's read, banded above 16 MP), and both go through ``prepare_film`` and the model:
the film inputs, knee boxes, knee inputs and probabilities must be identical. Also prints the CPU time of each
compact read and of ``prepare_film`` on it (best of ``--repeats``).

    .venv/bin/python benchmarks/colour_luma_check.py [--megapixels 49.9] [--out colour_luma_check]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402 - before NumPy: sets its thread count

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import fullsize  # noqa: E402
from large_files import enlarged_grey, tinted  # noqa: E402


def cpu(call, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        result = None
        start = time.process_time()
        result = call()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> int:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.film import judge_film, prepare_film, run_films
    from osteo_desktop.core.reading.reader import read_radiograph

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=49.9)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="colour_luma_check")
    args = parser.parse_args()
    classifier = Classifier.load()
    source = sorted(fullsize.films(), key=lambda p: -p.stat().st_size)[0]
    grey = enlarged_grey(source, args.megapixels)
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-colour-luma-") as scratch:
        noisy = tinted(grey)
        noise = np.random.default_rng(0).integers(0, 32, size=noisy.shape, dtype=np.uint8)
        np.minimum(noisy, 223, out=noisy)
        noisy += noise
        forms = {"rgb.png": Image.fromarray(tinted(grey), "RGB"), "rgb.tif": Image.fromarray(tinted(grey), "RGB"),
                 "rgbgrey.png": Image.fromarray(grey, "L").convert("RGB"), "rgbgrey.tif": Image.fromarray(grey, "L").convert("RGB"),
                 "photo.png": Image.fromarray(noisy, "RGB")}
        del noisy, noise
        for name, image in forms.items():
            path = Path(scratch) / name
            image.save(path, **({"compress_level": 1} if name.endswith(".png") else {}))
        forms.clear()
        for name in ("rgb.png", "rgb.tif", "rgbgrey.png", "rgbgrey.tif", "photo.png"):
            path = Path(scratch) / name
            data = path.read_bytes()
            read_s, compact = cpu(lambda data=data: read_radiograph(path, data=data, compact=True), args.repeats)
            prepare_s, compact_work = cpu(lambda compact=compact: prepare_film(compact, classifier), args.repeats)
            kind = f"{type(compact.pixels).__name__} {compact.pixels.dtype}"
            del compact
            plain = read_radiograph(path, data=data)
            plain_work = prepare_film(plain, classifier)
            del plain, data
            works = [plain_work, compact_work]
            verdicts = [judge_film(classifier, w, out) for w, out in zip(works, run_films(classifier, works))]
            same = (np.array_equal(works[0].film_input, works[1].film_input) and works[0].detected == works[1].detected
                    and len(works[0].regions) == len(works[1].regions)
                    and all(np.array_equal(a, b) for a, b in zip(works[0].regions, works[1].regions))
                    and [k.probability for k in verdicts[0].knees] == [k.probability for k in verdicts[1].knees])
            row = {"file": name, "compact_pixels": kind, "knees": len(works[0].detected),
                   "probabilities": [k.probability for k in verdicts[0].knees], "identical": bool(same),
                   "compact_read_cpu_s": round(read_s, 3), "prepare_film_cpu_s": round(prepare_s, 3)}
            rows.append(row)
            print(row, flush=True)
    write_result(args.out, {"megapixels": args.megapixels, "rows": rows})
    return 0 if all(r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
