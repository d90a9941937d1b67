"""Where precision is lost when a knee film is stored another way (issue 12): measured per step, per stored form.

Each 8-bit knee film of the shared set is wrapped as (a) 12-bit MONOCHROME1 DICOM with a window, uncompressed,
(b) 16-bit MONOCHROME2 JPEG 2000 lossless DICOM with a rescale (slope, intercept) and a window, (c) a 16-bit PNG.
For each, against the original file: the reader's pixels, the resized content before contrast equalisation, the
equalised model input, and the probability. ``--quantise`` also measures the candidate fix of rounding the DICOM
reader's output to the 8-bit grid. Not a test; prints and writes benchmarks/results/stored_forms.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from benchmarks.common import KNEE_DIR, RESULTS  # noqa: E402
from imaging_factories import dicom_bytes, make_dicom  # noqa: E402
from pydicom.uid import JPEG2000Lossless  # noqa: E402

from osteo_desktop.core.model.preprocessing import preprocess  # noqa: E402
from osteo_desktop.core.model.runtime import Classifier  # noqa: E402
from osteo_desktop.core.reading.reader import read_radiograph  # noqa: E402


def forms(original: Path, folder: Path) -> dict[str, Path]:
    eight = np.asarray(Image.open(original).convert("L"), dtype=np.float64)
    twelve = np.rint(eight * 4095.0 / 255.0).astype(np.uint16)
    out = {}
    ds = make_dicom(4095 - twelve, photometric="MONOCHROME1", bits_stored=12, modality="CR", body_part="KNEE",
                    window=(2048, 4096))
    out["dicom12_mono1_window"] = folder / "a.dcm"
    out["dicom12_mono1_window"].write_bytes(dicom_bytes(ds))
    sixteen = (eight * 257).astype(np.uint16)  # exactly k * 65535 / 255
    # Modality values = stored * 0.5 - 1000: the window spans them exactly (LINEAR: c - 0.5 -+ (w - 1) / 2).
    low, high = -1000.0, 65535 * 0.5 - 1000.0
    ds = make_dicom(sixteen, photometric="MONOCHROME2", bits_stored=16, modality="CR", body_part="KNEE",
                    window=((low + high) / 2 + 0.5, high - low + 1), compress_to=JPEG2000Lossless,
                    RescaleSlope=0.5, RescaleIntercept=-1000)
    out["dicom16_j2k_rescale"] = folder / "b.dcm"
    out["dicom16_j2k_rescale"].write_bytes(dicom_bytes(ds))
    buffer = io.BytesIO()
    Image.fromarray(sixteen).save(buffer, "PNG")
    out["png16"] = folder / "c.png"
    out["png16"].write_bytes(buffer.getvalue())
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--quantise", action="store_true", help="also round the DICOM reader's output to 1/255")
    args = parser.parse_args()
    classifier = Classifier.load()
    config = classifier.config
    no_contrast = dataclasses.replace(config, contrast="none")
    films = sorted(p for p in KNEE_DIR.rglob("*") if p.suffix in (".png", ".jpg"))
    if args.limit:
        films = films[: args.limit]
    steps: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for film in films:
            base = read_radiograph(film).pixels
            base_resized, base_input = preprocess(base, no_contrast), preprocess(base, config)
            variants = {}
            for name, path in forms(film, Path(scratch)).items():
                pixels = read_radiograph(path).pixels
                variants[name] = pixels
                if args.quantise and path.suffix == ".dcm":
                    variants[name + "+quantised"] = (np.rint(pixels * 255.0) / 255.0).astype(np.float32)
            inputs = [base_input] + [preprocess(p, config) for p in variants.values()]
            probabilities = classifier.probabilities(np.stack(inputs))
            for index, (name, pixels) in enumerate(variants.items()):
                record = steps.setdefault(name, {"reader": [], "resized": [], "model_input": [], "probability": []})
                record["reader"].append(float(np.abs(pixels - base).max()))
                record["resized"].append(float(np.abs(preprocess(pixels, no_contrast) - base_resized).max()))
                record["model_input"].append(float(np.abs(inputs[index + 1] - base_input).mean()))
                record["probability"].append(float(abs(probabilities[index + 1] - probabilities[0])))
    summary = {}
    for name, record in steps.items():
        summary[name] = {
            "films": len(record["probability"]),
            "reader_max_abs": max(record["reader"]),
            "resized_max_abs": max(record["resized"]),
            "model_input_mean_abs_max": max(record["model_input"]),
            "probability_abs_max": max(record["probability"]),
            "probability_abs_p95": float(np.percentile(record["probability"], 95)),
            "films_over_0.02": int(sum(d > 0.02 for d in record["probability"])),
        }
    print(json.dumps(summary, indent=2))
    (RESULTS / "stored_forms.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
