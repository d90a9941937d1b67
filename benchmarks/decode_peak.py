#!/usr/bin/env python3
"""Peak memory of one file's read and preprocessing, per declared pixel, by stored form (the scan's decode budget).

``osteo scan`` admits files to decoding by an estimate of what each holds at its peak (core/pipeline/memory.py,
``decode_cost``). This measures that peak: in a fresh process per file and per read (``compact``, the scan's read
of grey levels; ``float``, the plain read the viewer makes), after a warm-up read of a small film, the growth of the
process's peak RSS (VmHWM, reset through /proc/self/clear_refs) over :func:`read_radiograph` then
:func:`prepare_film` (the scope gate's look, the model inputs, the knee detector), divided by the declared pixels.
The files' bytes are read before the baseline (a scan holds them before the budget is asked).

Files: every film of ../shared/data/knee-xray-fullsize (1-6 megapixels; per-pixel figures there include up to
about 7 MiB that does not grow with the image), and, written here from one of them at 12-24 megapixels (where that
fixed part is small): 8-bit grey JPEG and PNG, colour-stored grey JPEG at 12 MP (decoded as YCbCr) and 24 MP (Y
plane only), 16-bit grey PNG, RGB / RGBA / palette PNG, a tinted colour PNG, 12-bit DICOM uncompressed, RLE,
JPEG 2000 and JPEG-LS; colour JPEG and PNG and grey JPEG at 12 MP with an EXIF orientation (turned upright by
the reader); and a single-knee film at 15 MP (8-bit grey JPEG). Linux only (VmHWM).

    .venv/bin/python benchmarks/decode_peak.py [--no-fullsize]

Writes benchmarks/results/decode_peak.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, write_result  # noqa: E402

FULLSIZE = SHARED / "data" / "knee-xray-fullsize"

_CHILD = """
import gc, sys
from pathlib import Path
import numpy as np
from PIL import Image
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.pipeline.film import prepare_film
from osteo_desktop.core.pipeline.memory import return_freed_memory
from osteo_desktop.core.reading.reader import read_radiograph

path, compact, warm = Path(sys.argv[1]), sys.argv[2] == "compact", Path(sys.argv[3])
return_freed_memory()  # as osteo scan does
classifier = Classifier.load()
for _ in range(2):  # libraries, model and the allocator's arenas paged in
    prepare_film(read_radiograph(warm, target_size=classifier.input_size, compact=compact), classifier)
gc.collect()

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

data = path.read_bytes()
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current RSS
base = status("VmRSS:")
radiograph = read_radiograph(path, target_size=classifier.input_size, data=data, compact=compact)
prepare_film(radiograph, classifier)
print(status("VmHWM:") - base, radiograph.pixels.size, radiograph.pixels.dtype)
"""


def _written(folder: Path) -> list[Path]:
    """The 12-24 megapixel files, made from one full-size grey film (upscaled, so its texture is a film's)."""
    import numpy as np
    from PIL import Image
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

    sys.path.insert(0, str(REPO / "tests"))
    from imaging_factories import dicom_bytes, make_dicom

    source = Image.open(FULLSIZE / "normal_f6c83465d79e.jpg").convert("L")
    big = source.resize((6000, 4000), Image.Resampling.BILINEAR)
    twelve = big.resize((4000, 3000), Image.Resampling.BILINEAR)
    grey = np.asarray(big)
    tinted = np.stack([grey, (grey * 0.8).astype(np.uint8), (grey * 0.6).astype(np.uint8)], -1)
    made = {
        "grey24_L.jpg": lambda p: big.save(p, quality=90),
        "grey24_L.png": lambda p: big.save(p, compress_level=1),
        "grey12_rgb.jpg": lambda p: twelve.convert("RGB").save(p, quality=90),
        "grey24_rgb.jpg": lambda p: big.convert("RGB").save(p, quality=90),
        "grey24_16.png": lambda p: Image.fromarray(grey.astype(np.uint16) * 257).save(p, compress_level=1),
        "grey24_rgb.png": lambda p: big.convert("RGB").save(p, compress_level=1),
        "grey24_rgba.png": lambda p: big.convert("RGBA").save(p, compress_level=1),
        "grey24_P.png": lambda p: big.convert("P").save(p, compress_level=1),
        "colour24.png": lambda p: Image.fromarray(tinted).save(p, compress_level=1),
        "grey24_12bit.dcm": lambda p: p.write_bytes(dicom_bytes(make_dicom(grey.astype(np.uint16) * 16, bits_stored=12))),
    }
    twelve_bit = np.asarray(twelve).astype(np.uint16) * 16
    for name, uid in (("rle", RLELossless), ("j2k", JPEG2000Lossless), ("jls", JPEGLSLossless)):
        made[f"grey12_{name}.dcm"] = lambda p, uid=uid: p.write_bytes(dicom_bytes(make_dicom(twelve_bit, bits_stored=12, compress_to=uid)))
    # Turned upright by the reader (EXIF orientation 6): the decoded image and its upright copy are held at once.
    turned = Image.Exif()
    turned[0x0112] = 6
    made["turned12_rgb.jpg"] = lambda p: twelve.convert("RGB").save(p, quality=90, exif=turned.tobytes())
    made["turned12_rgb.png"] = lambda p: twelve.convert("RGB").save(p, compress_level=1, exif=turned.tobytes())
    made["turned12_L.jpg"] = lambda p: twelve.save(p, quality=90, exif=turned.tobytes())
    # A single-knee film: its knee region (float32, at the film's resolution) is the largest a film has.
    single = Image.open(FULLSIZE / "osteoporosis_a0d82aa8d381.jpg").convert("L")
    made["single15_L.jpg"] = lambda p: single.resize((2990, 4980), Image.Resampling.BILINEAR).save(p, quality=90)
    paths = []
    for name, write in made.items():
        write(folder / name)
        paths.append(folder / name)
    return paths


def _peak(path: Path, read: str, warm: Path) -> dict:
    child = subprocess.run([sys.executable, "-c", _CHILD, str(path), read, str(warm)], capture_output=True, text=True,
                           cwd=REPO, check=True)
    grown, pixels, dtype = child.stdout.split()[-3:]
    return {"file": path.name, "read": read, "megapixels": round(int(pixels) / 1e6, 2), "dtype": dtype,
            "peak_growth_mib": round(int(grown) / 2**20, 1), "bytes_per_pixel": round(int(grown) / int(pixels), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fullsize", action="store_true", help="only the 12-24 megapixel files written here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="osteo-bench-peak-") as scratch:
        folder = Path(scratch)
        from PIL import Image
        import numpy as np

        warm = folder / "warm.png"
        Image.fromarray((np.random.default_rng(0).random((400, 300)) * 255).astype(np.uint8)).save(warm)
        files = _written(folder)
        if not args.no_fullsize:
            files += sorted(p for p in FULLSIZE.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for path in files:
            for read in ("compact", "float"):
                row = _peak(path, read, warm)
                rows.append(row)
                print(f"{row['file']:32s} {row['megapixels']:6.2f} MP {read:8s} {row['dtype']:8s} "
                      f"{row['peak_growth_mib']:7.1f} MiB  {row['bytes_per_pixel']:5.2f} B/px")
    write_result("decode_peak", {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
