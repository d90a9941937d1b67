#!/usr/bin/env python3
"""Peak memory of ``osteo scan`` on folders of one very large file, and on the full-size films (issue 13).

The bound is 300 MiB for any folder, any file size (the reader takes up to 50 megapixels) and any ``--batch-size``.
This writes, in a scratch folder, one real knee film (the largest of knee-xray-fullsize) enlarged to 24 and to
49.9 megapixels in each stored form a clinic sends: an 8-bit grey PNG, a colour-stored JPEG (quality 92), a 16-bit
grey PNG and a 16-bit MONOCHROME2 DICOM (uncompressed, no window: the reader takes a percentile window); the
16-bit forms hold the 8-bit film times 256 plus noise in the low byte, so every bit is used; and a true-colour PNG
(``rgb``: the film tinted, red = grey, green = 0.85 grey, blue = 0.65 grey, so its luma is not on the grey levels
and the read gives float32), and the film stored as an RGB PNG (``rgbgrey``: three equal channels, as some
clinics export grey films); ``tiff16``, ``tiffrgb`` and ``tiffrgbgrey`` are the 16-bit, true-colour and
grey-stored RGB films as uncompressed TIFF (one strip, as Pillow writes it); ``rgbphoto`` is the tinted film with
independent noise of 0-31 levels in each channel, a true-colour PNG whose luma has more than 65,536 distinct values
(as a photograph has: the compact read cannot hold it as codes, core.reading.luma). Each folder of one
file is scanned with ``--batch-size`` 1, 16 (the default) and 256, and so is a folder of the 83 full-size films.
Nothing is written into the repository but the JSON.

``--code DIR`` runs the ``osteo scan`` of another checkout (to measure before and after with the same files):

    .venv/bin/python benchmarks/large_files.py [--code ../main] [--sizes 24 49.9] [--batches 1 16 256]

Writes benchmarks/results/large_files.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, knee_dicom, write_result  # noqa: E402 - before NumPy: sets its thread count

import numpy as np  # noqa: E402

import fullsize  # noqa: E402

FORMS = ("png8", "jpeg", "png16", "dicom16", "rgb", "rgbgrey", "tiff16", "tiffrgb", "tiffrgbgrey", "rgbphoto")


def enlarged_grey(source: Path, megapixels: float) -> np.ndarray:
    """The film's grey levels (uint8) enlarged to about ``megapixels``."""
    from PIL import Image

    with Image.open(source) as image:
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        size = (round(image.width * scale), round(image.height * scale))
        return np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR))


def sixteen_bit(grey: np.ndarray, seed: int = 0) -> np.ndarray:
    """The film on 16 bits: k x 256 plus noise in the low byte (so no value lies on the 8-bit grid)."""
    noise = np.random.default_rng(seed).integers(0, 256, size=grey.shape, dtype=np.uint16)
    return grey.astype(np.uint16) * np.uint16(256) + noise


def tinted(grey: np.ndarray) -> np.ndarray:
    """The film in true colour (a sepia-like tint): channels that differ by up to 35 % of the grey level."""
    rgb = np.empty((*grey.shape, 3), dtype=np.uint8)
    rgb[..., 0] = grey
    np.multiply(grey, 0.85, out=rgb[..., 1], casting="unsafe")
    np.multiply(grey, 0.65, out=rgb[..., 2], casting="unsafe")
    return rgb


def photo_like(grey: np.ndarray, seed: int = 0) -> np.ndarray:
    """The tinted film with independent noise (0-31 levels) in each channel: far more than 65,536 distinct lumas."""
    rgb = tinted(grey)
    np.minimum(rgb, 224, out=rgb)
    rgb += np.random.default_rng(seed).integers(0, 32, size=rgb.shape, dtype=np.uint8)
    return rgb


def write_dicom16(values: np.ndarray, path: Path) -> Path:
    knee_dicom(values, 16).save_as(path, enforce_file_format=True)
    return path


def write_case(folder: Path, form: str, grey: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    if form == "png8":
        path = folder / "film.png"
        Image.fromarray(grey, "L").save(path, compress_level=1)
    elif form == "jpeg":
        path = folder / "film.jpg"
        Image.fromarray(grey, "L").convert("RGB").save(path, quality=92)
    elif form == "png16":
        path = folder / "film.png"
        image = Image.frombuffer("I;16", grey.shape[::-1], sixteen_bit(grey).astype("<u2").tobytes(), "raw", "I;16", 0, 1)
        image.save(path, compress_level=1)
    elif form == "rgb":
        path = folder / "film.png"
        Image.fromarray(tinted(grey), "RGB").save(path, compress_level=1)
    elif form == "rgbphoto":
        path = folder / "film.png"
        Image.fromarray(photo_like(grey), "RGB").save(path, compress_level=1)
    elif form == "tiff16":
        path = folder / "film.tif"
        Image.frombuffer("I;16", grey.shape[::-1], sixteen_bit(grey).astype("<u2").tobytes(), "raw", "I;16", 0, 1).save(path)
    elif form == "tiffrgb":
        path = folder / "film.tif"
        Image.fromarray(tinted(grey), "RGB").save(path)
    elif form == "tiffrgbgrey":
        path = folder / "film.tif"
        Image.fromarray(grey, "L").convert("RGB").save(path)
    elif form == "rgbgrey":
        path = folder / "film.png"
        Image.fromarray(grey, "L").convert("RGB").save(path, compress_level=1)
    else:
        path = write_dicom16(sixteen_bit(grey), folder / "film.dcm")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose osteo scan is measured")
    parser.add_argument("--sizes", type=float, nargs="*", default=[24.0, 49.9], help="megapixels (none: the films only)")
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--no-films", action="store_true", help="skip the folder of the 83 full-size films")
    parser.add_argument("--out", default="large_files")
    args = parser.parse_args()
    fullsize.REPO = args.code.resolve()  # osteo_scan runs the child with PYTHONPATH=REPO
    source = sorted(fullsize.films(), key=lambda p: -p.stat().st_size)[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-large-") as scratch:
        root = Path(scratch)
        cases = []
        if not args.no_films:
            cases.append(("83 full-size films", fullsize.link_folder(root, "films", fullsize.films(), len(fullsize.films()))))
        for megapixels in args.sizes:
            grey = enlarged_grey(source, megapixels)
            for form in args.forms:
                write_case(root / f"{form}_{megapixels}", form, grey)
                cases.append((f"{form} {grey.shape[1]}x{grey.shape[0]} ({grey.size / 1e6:.1f} MP)", root / f"{form}_{megapixels}"))
            del grey
        for name, folder in cases:
            for batch in args.batches:
                run = fullsize.osteo_scan(folder, "--batch-size", str(batch))
                rows.append({"case": name, "batch_size": batch, **run})
                print(f"{name:40s} --batch-size {batch:3d}: peak RSS {run['peak_rss_mib']:6.1f} MiB, {run['wall_s']:6.1f} s, "
                      f"rows {run['rows']}, exit {run['exit']}", flush=True)
    write_result(args.out, {"code": str(args.code.resolve()), "runs": rows, "target_mib": 300})
    return 0


if __name__ == "__main__":
    sys.exit(main())
