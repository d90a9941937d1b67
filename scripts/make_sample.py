#!/usr/bin/env python3
"""Draw the bundled sample image: a synthetic knee-radiograph phantom (AP view), not a patient's radiograph.

The public knee radiographs we test on carry no licence, so none of them may ship. This phantom is a projection:
femur, tibia, fibula and patella are built from tubes and ellipsoids with a cortex and a marrow cavity, and each
pixel is 1 - exp(-attenuation) along the beam (soft tissue, cortical and trabecular bone, filtered-noise
trabecular texture), then blurred, unsharp-masked as CR/DX processing does, with quantum noise. It is framed like
the long-leg knee films of the public sources (tall and narrow, the joint in the middle) and labelled
"SYNTHETIC PHANTOM / NOT A PATIENT" in its corner. It exists so the app, the self-test and the installer can show a
whole analysis offline; its prediction means nothing clinically.

Proportions follow an adult AP knee (femoral shaft about half the condylar width, a flat tibial plateau as wide as
the condyles, a narrow joint space). An earlier, cartoon-like drawing (thin shafts flaring into bulbous ends) was
judged by the scope gate to look like a hand radiograph and got no result; this one is accepted (P(knee) 0.66-0.71
over six noise seeds). The drawing was corrected for anatomy, not tuned against the gate.

The drawing is deterministic (fixed seed): running this again rewrites the same pixels.

    python scripts/make_sample.py [--out resources/samples/knee_sample.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 420, 960
SEED = 20261126
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "resources" / "samples" / "knee_sample.png"
JOINT_Y = 470.0  # the joint line, in the middle of the film


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blur(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur in float (Pillow's GaussianBlur works on 8-bit images only)."""
    half = max(1, int(3 * sigma + 0.5))
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(values.astype(np.float32), half, mode="edge")
    rows = np.apply_along_axis(np.convolve, 1, padded, taps, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, taps, mode="valid").astype(np.float32)


def _texture(rng: np.random.Generator) -> np.ndarray:
    """Trabecular-looking texture: band-passed noise, stretched vertically like load-bearing trabeculae."""
    fine = rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32)
    small = Image.fromarray(fine, mode="F").resize((WIDTH // 2, HEIGHT // 4), Image.Resampling.BILINEAR)
    stretched = np.asarray(small.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)
    band = _blur(stretched, 1.0) - _blur(stretched, 4.0)
    return band / (np.abs(band).max() + 1e-6)


def _ellipsoid_chord(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, a: float, b: float, depth: float) -> np.ndarray:
    """Path length along the beam through an ellipsoid (semi-axes a across, b down, ``depth`` along the beam)."""
    inside = 1.0 - ((xx - cx) / a) ** 2 - ((yy - cy) / b) ** 2
    return 2.0 * depth * np.sqrt(np.clip(inside, 0.0, None))


def _tube_chord(xx: np.ndarray, yy: np.ndarray, centre: np.ndarray, half: np.ndarray, y0: float, y1: float) -> np.ndarray:
    """Path length through a vertical tube of half-width ``half`` (per row) from y0 to y1, with soft ends."""
    inside = 1.0 - ((xx - centre) / half) ** 2
    ends = _smoothstep(y0 - 6.0, y0 + 6.0, yy) * (1.0 - _smoothstep(y1 - 6.0, y1 + 6.0, yy))
    return 2.0 * half * np.sqrt(np.clip(inside, 0.0, None)) * ends


def _bone(xx: np.ndarray, yy: np.ndarray, tubes: list[tuple], ellipsoids: list[tuple], cortex: float) -> tuple[np.ndarray, np.ndarray]:
    """(outer, marrow) path lengths of a bone: tubes (centre, half, y0, y1, wall) and ellipsoids (cx, cy, a, b, d)."""
    outer = np.zeros_like(xx)
    marrow = np.zeros_like(xx)
    for centre, half, y0, y1, wall in tubes:
        outer = np.maximum(outer, _tube_chord(xx, yy, centre, half, y0, y1))
        marrow = np.maximum(marrow, _tube_chord(xx, yy, centre, np.maximum(half - wall, 1.0), y0, y1))
    for cx, cy, a, b, depth in ellipsoids:
        shell = cortex / 2.0
        outer = np.maximum(outer, _ellipsoid_chord(xx, yy, cx, cy, a, b, depth))
        marrow = np.maximum(marrow, _ellipsoid_chord(xx, yy, cx, cy, a - shell, b - shell, depth - shell))
    return outer, marrow


def bones(xx: np.ndarray, yy: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Outer and marrow path lengths of femur, tibia and fibula (patella apart: no marrow seen)."""
    cx, joint = WIDTH / 2.0 + 6.0, JOINT_Y
    # Femur: a shaft about half the condylar width, widening over 200 px into two condyles with a notch between.
    femur_half = 50.0 + 48.0 * _smoothstep(joint - 230, joint - 30, yy)
    femur_wall = 12.0 - 9.0 * _smoothstep(joint - 230, joint - 60, yy)  # thick cortex in the shaft, thin at the end
    femur = _bone(xx, yy, [(cx - 0.04 * (yy - joint), femur_half, -50.0, joint - 40.0, femur_wall)],
                  [(cx - 47, joint - 28, 51, 30, 62), (cx + 46, joint - 29, 50, 29, 60)], cortex=4.0)
    notch = 1.0 - 0.35 * np.exp(-(((xx - cx) / 12.0) ** 2) - (((yy - (joint - 16)) / 16.0) ** 2))
    femur = (femur[0] * notch, femur[1] * notch)
    # Tibia: a flat plateau as wide as the condyles with two small spines, tapering over 220 px to the shaft.
    tibia_half = 46.0 + 54.0 * (1.0 - _smoothstep(joint + 30, joint + 250, yy))
    tibia_wall = 12.0 - 9.0 * (1.0 - _smoothstep(joint + 60, joint + 250, yy))
    plateau = joint + 6.0
    tibia = _bone(xx, yy, [(cx + 0.03 * (yy - joint), tibia_half, plateau, HEIGHT + 60.0, tibia_wall)], [], cortex=4.0)
    spines = 6.0 * (np.exp(-(((xx - cx + 9) / 6.0) ** 2)) + np.exp(-(((xx - cx - 9) / 6.0) ** 2)))
    top = _smoothstep(plateau - spines - 3.0, plateau - spines + 5.0, yy)
    tibia = (tibia[0] * top, tibia[1] * top)
    # Fibula: its head against the lateral tibia just below the plateau, a thin shaft running down.
    fibula = _bone(xx, yy, [(cx + 84 - 0.02 * (yy - joint), np.full_like(yy, 11.0), joint + 62, HEIGHT + 60.0, 4.5)],
                   [(cx + 76, joint + 58, 20, 22, 18)], cortex=3.0)
    return {"femur": femur, "tibia": tibia, "fibula": fibula}


def draw_phantom(seed: int = SEED) -> np.ndarray:
    """The phantom as 8-bit greyscale (HEIGHT, WIDTH), bone bright."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cx, joint = WIDTH / 2.0 + 6.0, JOINT_Y
    # Soft tissue: a limb of elliptical cross-section, the thigh wider than the knee, the calf a little wider again.
    limb_half = 175.0 - 35.0 * _smoothstep(60.0, joint, yy) + 10.0 * _smoothstep(joint + 60, HEIGHT, yy)
    tissue = 2.0 * limb_half * np.sqrt(np.clip(1.0 - ((xx - cx) / limb_half) ** 2, 0.0, None))

    texture = _texture(rng)
    near_joint = np.exp(-(((yy - joint) / 90.0) ** 2))
    trabecular = 0.0006 + 0.0020 * near_joint  # fatty marrow in the shafts, dense cancellous bone at the ends
    attenuation = 0.0006 * tissue
    for outer, marrow in bones(xx, yy).values():
        attenuation += 0.0065 * (outer - marrow) + trabecular * marrow * (1.0 + 0.2 * texture)
    patella = _ellipsoid_chord(xx, yy, cx + 4, joint - 62, 36, 44, 20)  # seen through the distal femur
    attenuation += 0.0012 * patella * (1.0 + 0.2 * texture)

    image = 1.0 - np.exp(-1.6 * attenuation)  # bright where more is absorbed
    image *= 0.94 + 0.06 * (xx / WIDTH)  # the anode heel effect: one side a little brighter
    image = _blur(image.astype(np.float32), 1.0)
    image = image + 0.8 * (image - _blur(image, 6.0))  # unsharp masking, as CR/DX processing applies
    # Quantum noise, stronger where fewer photons got through (brighter = more attenuation here).
    image += rng.normal(0.0, 1.0, image.shape).astype(np.float32) * (0.006 + 0.01 * image)
    peak = max(float(np.percentile(image, 99.9)), 1e-6)
    pixels = np.clip(np.rint(image * 255.0 / peak * 0.95), 0, 255).astype(np.uint8)

    canvas = Image.fromarray(pixels, mode="L")
    label = ImageDraw.Draw(canvas)
    label.text((10, HEIGHT - 34), "SYNTHETIC PHANTOM", fill=220)
    label.text((10, HEIGHT - 20), "NOT A PATIENT", fill=220)
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
