#!/usr/bin/env python3
"""Draw the bundled sample image: a synthetic knee-radiograph phantom (AP view), not a patient's radiograph.

The public knee radiographs we test on carry no licence, so none of them may ship. This phantom is drawn from
simple shapes (femur and tibia shafts and condyles, fibula, patella, soft tissue) with filtered-noise trabecular
texture, a little blur and quantum noise on a dark background, and is labelled "SYNTHETIC PHANTOM" in its corner.
It exists so the app, the self-test and the installer can show a whole analysis offline; its prediction means
nothing clinically.

The drawing is deterministic (fixed seed): running this again rewrites the same pixels.

    python scripts/make_sample.py [--out resources/samples/knee_sample.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

WIDTH, HEIGHT = 512, 640
SEED = 20261126
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "samples" / "knee_sample.png"


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _ellipse(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def _blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur in float (Pillow's GaussianBlur works on 8-bit images only)."""
    half = max(1, int(3 * sigma + 0.5))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(values.astype(np.float32), half, mode="edge")
    rows = np.apply_along_axis(np.convolve, 1, padded, taps, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, taps, mode="valid").astype(np.float32)


def _erode(mask: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray((mask * 255).astype(np.uint8), mode="L")
    return np.asarray(image.filter(ImageFilter.MinFilter(size))) > 127


def _texture(rng: np.random.Generator) -> np.ndarray:
    """Trabecular-looking texture: band-passed noise, stretched vertically like load-bearing trabeculae."""
    fine = rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32)
    small = Image.fromarray(fine, mode="F").resize((WIDTH // 2, HEIGHT // 4), Image.Resampling.BILINEAR)
    stretched = np.asarray(small.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)
    band = _blur(stretched, 1.0) - _blur(stretched, 4.0)
    return band / (np.abs(band).max() + 1e-6)


def bone_masks(xx: np.ndarray, yy: np.ndarray) -> dict[str, np.ndarray]:
    cx = WIDTH / 2.0
    # Femur: a shaft that flares into the metaphysis, ending in two rounded condyles with a notch between them.
    femur_half_width = 44.0 + 72.0 * _smoothstep(170.0, 285.0, yy)
    femur = (np.abs(xx - cx) < femur_half_width) & (yy < 292)
    femur |= _ellipse(xx, yy, cx - 56, 292, 62, 44) | _ellipse(xx, yy, cx + 56, 292, 60, 42)
    femur &= ~_ellipse(xx, yy, cx, 338, 17, 30)
    # Tibia: a plateau just below the joint space with two small spines, tapering to the shaft.
    tibia_half_width = 120.0 - 76.0 * _smoothstep(372.0, 480.0, yy)
    plateau_top = 348.0 - 9.0 * np.exp(-(((xx - cx + 12) / 8.0) ** 2)) - 9.0 * np.exp(-(((xx - cx - 12) / 8.0) ** 2))
    tibia = (np.abs(xx - cx) < tibia_half_width) & (yy > plateau_top)
    # Fibula: head tucked under the lateral plateau, thin shaft running down.
    fibula = _ellipse(xx, yy, cx + 116, 408, 21, 27)
    fibula |= (np.abs(xx - (cx + 112 - 0.03 * (yy - 408))) < 11) & (yy > 408)
    fibula &= ~tibia
    # Patella: seen through the distal femur in an AP view.
    patella = _ellipse(xx, yy, cx + 6, 262, 44, 54)
    return {"femur": femur, "tibia": tibia, "fibula": fibula, "patella": patella}


def draw_phantom(seed: int = SEED) -> np.ndarray:
    """The phantom as 8-bit greyscale (HEIGHT, WIDTH), bone bright."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cx = WIDTH / 2.0

    # Soft tissue: thigh narrowing to the knee and widening slightly at the calf, with soft edges.
    tissue_half_width = 180.0 - 20.0 * _smoothstep(120.0, 330.0, yy) + 8.0 * _smoothstep(380.0, 560.0, yy)
    tissue = _smoothstep(0.0, 14.0, tissue_half_width - np.abs(xx - cx + 4.0))
    image = 0.025 + 0.20 * tissue * (0.85 + 0.15 * _smoothstep(0.0, 160.0, tissue_half_width - np.abs(xx - cx)))

    texture = _texture(rng)
    for name, mask in bone_masks(xx, yy).items():
        if name == "patella":
            image += 0.09 * _blur(mask.astype(np.float32), 2.0) * (1.0 + 0.25 * texture)
            continue
        inner = _erode(mask, 13 if name != "fibula" else 5)
        cortex = mask & ~inner
        # Epiphyses (near the joint) are mostly trabecular bone; shafts have thick bright cortex.
        near_joint = np.exp(-(((yy - 320.0) / 70.0) ** 2))
        # Whole bone first, cortex added on top, so no dark seam appears where the two meet.
        density = mask * (0.30 + 0.08 * near_joint) + inner * 0.10 * texture * (0.4 + near_joint)
        image += _blur(density.astype(np.float32), 0.8) + _blur(cortex * (0.14 - 0.08 * near_joint), 1.2)

    # The anode heel effect: one side a little brighter than the other.
    image *= 0.93 + 0.07 * (xx / WIDTH)
    image = _blur(image, 0.7)
    # Quantum noise, stronger where fewer photons got through (brighter = more attenuation here).
    image += rng.normal(0.0, 1.0, image.shape).astype(np.float32) * (0.006 + 0.012 * image)
    pixels = np.clip(np.rint(image * 255.0 / max(float(image.max()), 1e-6) * 0.92), 0, 255).astype(np.uint8)

    canvas = Image.fromarray(pixels, mode="L")
    ImageDraw.Draw(canvas).text((12, HEIGHT - 22), "SYNTHETIC PHANTOM - NOT A PATIENT", fill=200)
    return np.asarray(canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw_phantom(), mode="L").save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
