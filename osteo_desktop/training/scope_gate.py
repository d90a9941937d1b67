"""Train and evaluate the scope gate (knee radiograph or not) by leave-source-out cross-validation.

Features are the shipped backbone's pooled ``out_relu`` on the whole film plus image statistics (see
core/model/scope.py), cached per file. Every source repository (and every knee-xray fold, every synthetic generator)
is a group; each group is predicted by a gate fitted without it, so the figures are for sources never seen.
CPU, seeded, about a minute once features are cached. No TensorFlow needed: the features come from LiteRT.
"""
from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from osteo_desktop.training.metrics import wilson
from osteo_desktop.core.model.preprocessing import preprocess
from osteo_desktop.core.model.runtime import Classifier
from osteo_desktop.core.model.scope import GATE_FILE, IN_SCOPE, gate_features
from osteo_desktop.core.reading.reader import read_radiograph

log = logging.getLogger(__name__)
THRESHOLD = 0.5  # fixed in advance, not tuned: the knee class must be the more likely one
STRICT_THRESHOLD = 0.9  # when the header names another body part


@dataclass(frozen=True)
class Sample:
    path: Path
    category: str
    group: str


def shared_samples(shared: Path) -> list[Sample]:
    samples = []
    with open(shared / "data" / "knee-xray" / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            samples.append(Sample(shared / "data/knee-xray" / row["file"], IN_SCOPE, f"knee-xray/fold{row['fold']}"))
    with open(shared / "data" / "scope" / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            category = IN_SCOPE if row["in_scope"] == "1" else row["category"]
            samples.append(Sample(shared / "data/scope" / row["file"], category, f"{row['category']}/{row['source_repo']}"))
    return samples


def synthetic_images(out_dir: Path, seed: int = 0) -> list[Sample]:
    """Test patterns, gradients, noise, text pages and UI-like screenshots, drawn with Pillow."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(12):
        w, h = int(rng.integers(300, 900)), int(rng.integers(300, 900))
        kinds = {
            "bars": lambda: _bars(w, h, rng), "gradient": lambda: _gradient(w, h, rng),
            "noise": lambda: Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
            "text": lambda: _text(w, h, rng), "ui": lambda: _ui(w, h, rng),
        }
        for kind, make in kinds.items():
            path = out_dir / f"{kind}-{i}.png"
            make().save(path)
            samples.append(Sample(path, "synthetic", f"synthetic/{kind}"))
    return samples


def _bars(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    colours = rng.integers(0, 256, (int(rng.integers(4, 10)), 3))
    return Image.fromarray(np.repeat(colours, -(-w // len(colours)), axis=0)[:w][None].repeat(h, 0).astype(np.uint8))


def _gradient(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    ramp = np.linspace(0, 255, w)[None, :] * rng.uniform(0.3, 1) + np.linspace(0, 255, h)[:, None] * rng.uniform(0, 0.7)
    return Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8))


def _text(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("L", (w, h), 255 if rng.random() < 0.7 else 0)
    draw = ImageDraw.Draw(image)
    ink = 0 if image.getpixel((0, 0)) == 255 else 255
    for y in range(10, h - 12, int(rng.integers(12, 24))):
        draw.text((10, y), " ".join("lorem ipsum dolor sit amet".split()[: int(rng.integers(2, 6))]) * 3, fill=ink)
    return image


def _ui(w: int, h: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w, 30), fill=tuple(int(v) for v in rng.integers(0, 120, 3)))
    for _ in range(8):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(35, h - 30))
        draw.rectangle((x, y, x + int(rng.integers(40, 200)), y + 25), outline=(0, 0, 0), fill=(240, 240, 240))
        draw.text((x + 4, y + 6), "Button", fill=(0, 0, 0))
    return image


def extract(samples: list[Sample], classifier: Classifier, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features per sample (cached by file content); returns features and a mask of readable samples."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows, ok = [], []
    for sample in samples:
        digest = hashlib.sha256(sample.path.read_bytes()).hexdigest()[:24]
        cached = cache_dir / f"scope-{classifier.version}-{digest}.npy"
        if cached.exists():
            rows.append(np.load(cached, allow_pickle=False)); ok.append(True); continue
        try:
            radiograph = read_radiograph(sample.path)
        except Exception as exc:  # unreadable files are the reader's business, not the gate's
            log.info("skipping %s: %s", sample.path.name, exc)
            rows.append(None); ok.append(False); continue
        _, activations = classifier.run(preprocess(radiograph.pixels, classifier.card.preprocessing)[None])
        row = gate_features(radiograph.pixels, activations[0])
        np.save(cached, row, allow_pickle=False)
        rows.append(row); ok.append(True)
    width = next(r for r in rows if r is not None).size
    return np.stack([r if r is not None else np.zeros(width, np.float32) for r in rows]), np.array(ok)


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-2, steps: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent with Adam; class-balanced loss."""
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1e-3, (x.shape[1], classes)); bias = np.zeros(classes)
    counts = np.bincount(y, minlength=classes).astype(float)
    sample_weight = (1.0 / np.maximum(counts, 1))[y]; sample_weight /= sample_weight.sum()
    onehot = np.eye(classes)[y]
    m = [np.zeros_like(weights), np.zeros_like(bias)]; v = [np.zeros_like(weights), np.zeros_like(bias)]
    for step in range(1, steps + 1):
        logits = z @ weights + bias
        logits -= logits.max(1, keepdims=True)
        probs = np.exp(logits); probs /= probs.sum(1, keepdims=True)
        delta = (probs - onehot) * sample_weight[:, None]
        grads = [z.T @ delta + l2 * weights, delta.sum(0)]
        for i, (param, grad) in enumerate(zip((weights, bias), grads)):
            m[i] = 0.9 * m[i] + 0.1 * grad; v[i] = 0.999 * v[i] + 0.001 * grad**2
            param -= 0.01 * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
    return weights.astype(np.float32), bias.astype(np.float32), mean.astype(np.float32), scale.astype(np.float32)


def knee_probability(params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], x: np.ndarray, knee: int) -> np.ndarray:
    weights, bias, mean, scale = params
    logits = ((x - mean) / scale) @ weights + bias
    logits -= logits.max(1, keepdims=True)
    probs = np.exp(logits); probs /= probs.sum(1, keepdims=True)
    return probs[:, knee]


def train_scope_gate(shared: Path, model_dir: Path, cache_dir: Path, out_path: Path | None = None) -> dict:
    """Leave-source-out evaluation, then the final fit on everything; returns per-category and per-group results."""
    classifier = Classifier.load(model_dir)
    samples = shared_samples(shared) + synthetic_images(cache_dir / "synthetic")
    x, ok = extract(samples, classifier, cache_dir)
    samples = [s for s, keep in zip(samples, ok) if keep]; x = x[ok]
    categories = sorted({s.category for s in samples})
    y = np.array([categories.index(s.category) for s in samples])
    groups = np.array([s.group for s in samples])
    knee = categories.index(IN_SCOPE)
    held_out = np.zeros(len(samples))
    for group in sorted(set(groups)):
        test = groups == group
        held_out[test] = knee_probability(fit_softmax(x[~test], y[~test], len(categories)), x[test], knee)
    params = fit_softmax(x, y, len(categories))
    out_path = out_path or model_dir / GATE_FILE
    weights, bias, mean, scale = params
    np.savez(out_path, weights=weights, bias=bias, mean=mean, scale=scale, categories=np.array(categories),
             threshold=np.float32(THRESHOLD), strict_threshold=np.float32(STRICT_THRESHOLD))
    return {"samples": samples, "held_out": held_out, "categories": categories}


def summarise(result: dict) -> list[dict]:
    """Per category (knee-xray and knee-other apart): n, correct decisions, rate with Wilson 95% interval."""
    rows: dict[str, list[bool]] = {}
    for sample, score in zip(result["samples"], result["held_out"]):
        name = sample.group.split("/")[0] if sample.category == IN_SCOPE else sample.category
        correct = (score >= THRESHOLD) == (sample.category == IN_SCOPE)
        rows.setdefault(name, []).append(bool(correct))
    table = []
    for name, decisions in sorted(rows.items()):
        low, high = wilson(sum(decisions), len(decisions))
        table.append({"category": name, "n": len(decisions), "correct": sum(decisions), "low": low, "high": high})
    return table


def dicom_decisions(shared: Path, model_dir: Path) -> list[tuple[str, str]]:
    """The final gate on the shared DICOM samples (a source it never saw): file name and decision in words."""
    from osteo_desktop.core.model.scope import ScopeGate

    classifier, gate = Classifier.load(model_dir), ScopeGate.load(model_dir)
    answers = []
    for path in sorted((shared / "data" / "dicom").glob("*.dcm")):
        try:
            radiograph = read_radiograph(path)
        except Exception as exc:
            answers.append((path.name, f"unreadable ({type(exc).__name__}): the reader declines it"))
            continue
        _, activations = classifier.run(preprocess(radiograph.pixels, classifier.card.preprocessing)[None])
        decision = gate.decide(radiograph.pixels, radiograph.metadata, activations[0])
        answers.append((path.name, "in scope" if decision.in_scope else str(decision.reason)))
    return answers


def train_scope_command(shared: Path, model_dir: Path, cache_dir: Path = Path(".cache/scope"),
                        report: Path = Path("reports/scope_gate.md")) -> int:
    """`osteo train-scope`: fit the gate, write model_weights/scope_gate.npz and the report. Returns an exit code."""
    result = train_scope_gate(shared, model_dir, cache_dir)
    lines = ["| category | n | correct | rate | 95% Wilson |", "| --- | --- | --- | --- | --- |"]
    for row in summarise(result):
        lines.append(f"| {row['category']} | {row['n']} | {row['correct']} | {row['correct'] / row['n']:.3f} | "
                     f"{row['low']:.3f}-{row['high']:.3f} |")
    lines += ["", "| shared DICOM (final gate) | decision |", "| --- | --- |"]
    lines += [f"| {name} | {answer} |" for name, answer in dicom_decisions(shared, model_dir)]
    tables = report.with_name(report.stem + "_tables.md")  # the prose in `report` is written by hand around these
    tables.parent.mkdir(parents=True, exist_ok=True)
    tables.write_text("\n".join(lines) + "\n")
    log.info("scope gate tables written to %s", tables)
    return 0
