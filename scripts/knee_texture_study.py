"""Issue 11, item 3: texture-sensitive features for the per-knee head, against 2.1.0 (a pre-registered study).

    OSTEO_SHARED_DIR=/work/shared nice -n 19 python scripts/knee_texture_study.py [--stage extract|study|report]

Features are cached under .cache/osteo-knee (texture/; a re-run reads them back in seconds); the figures go to
reports/knee_texture.json and reports/knee_texture.md. The rule the decision follows is written in the report and in
osteo_desktop/training/knee_texture_study.py (RULE), fixed before the first run.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


log = logging.getLogger("knee_texture_study")


def load_all(args):
    # the same knees and cached out-of-fold detector boxes as the 2.1.0 studies
    from knee_canonical_study import detector_boxes, study_knees

    from osteo_desktop.core.model.card import load_model_card, sha256_of
    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.training.knee_texture import TapRunner, extract_texture_bank

    knees, boxes = study_knees()
    plain_boxes = detector_boxes(args, knees, boxes, False)
    tflite = load_model_card(REPO / "model_weights").verified_path("tflite")
    runner = TapRunner(tflite, threads=args.threads)
    bank = extract_texture_bank(knees, plain_boxes, runner, sha256_of(tflite)[:16], KneeRegionConfig(), args.copies, 0, args.cache_dir)
    return knees, plain_boxes, bank, runner


def agreement(runner, knees) -> float:
    """The study's last-block features against the app's interpreter on a few knees' regions."""
    import numpy as np

    from osteo_desktop.core.model.preprocessing import KneeRegionConfig, knee_region
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.reading.reader import read_radiograph
    from osteo_desktop.training.knee_texture import delegate_agreement

    classifier = Classifier.load(REPO / "model_weights", num_threads=1)
    inputs = np.stack([knee_region(read_radiograph(k.read_path).pixels, k.read_box, KneeRegionConfig())[0] for k in knees[::60]])
    return delegate_agreement(runner, classifier, inputs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", default="study", choices=("extract", "study", "report"))
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "osteo-knee")
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "knee_texture.json")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s", level=logging.INFO)
    start = time.perf_counter()
    if args.stage == "report":  # the Markdown again from the JSON
        from osteo_desktop.training.knee_texture_study import markdown

        args.out.with_suffix(".md").write_text(markdown(json.loads(args.out.read_text())))
        return 0
    knees, plain_boxes, bank, runner = load_all(args)
    log.info("features ready in %.0f s", time.perf_counter() - start)
    if args.stage == "extract":
        log.info("last block, study interpreter vs app interpreter: max |difference| %.2e", agreement(runner, knees))
        return 0
    from osteo_desktop.core.model.preprocessing import KneeRegionConfig
    from osteo_desktop.training.knee_commands import old_model_probabilities
    from osteo_desktop.training.knee_texture_study import markdown, run_study

    report = run_study(knees, bank, old_model_probabilities(REPO / "reports" / "evaluation.json"), KneeRegionConfig(), args.resamples, 0)
    report["delegate_agreement_max_abs"] = agreement(runner, knees)
    report["wall_time_s"] = time.perf_counter() - start
    if args.out.is_file():  # the notes are written by hand after a run: kept, and marked as such in the report
        report["notes"] = json.loads(args.out.read_text()).get("notes", [])
    args.out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    log.info("done in %.0f s", time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
