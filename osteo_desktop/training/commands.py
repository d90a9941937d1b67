"""``osteo train`` and ``osteo evaluate``: argument parsing and the two workflows.

train:    features (cached) → 5-fold CV of the recipe (threshold, temperature, metrics) → head on all images →
          export to ``--out`` with the model card.
evaluate: 5-fold CV of Model_1, Model_2 and the shipped recipe → report under ``--out`` (Markdown, PNG, JSON);
          ``--levers`` adds the lever study.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from osteo_desktop.core.paths import shared_imagenet_dir, shared_knee_dir

if importlib.util.find_spec("tensorflow") is None:  # the command line turns this into an install hint
    raise ImportError("TensorFlow is not installed")

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# OSTEO_SHARED_DIR, else ../shared, as for the tests and benchmarks (core.paths decides).
DEFAULT_DATA = shared_knee_dir()
DEFAULT_WEIGHTS = shared_imagenet_dir()
DEFAULT_CACHE = REPO_ROOT / ".cache" / "osteo-training"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None,
                        help="folder laid out by class with manifest.csv (default: data/knee-xray of the shared folder, $OSTEO_SHARED_DIR or ../shared, if present)")
    parser.add_argument("--imagenet-weights", type=Path, default=DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.exists() else None,
                        help="MobileNetV2 ImageNet no-top .h5 file or its folder (default: weights/imagenet of the shared "
                             "folder if present, else Keras downloads it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs per head (default: the recipe's)")
    parser.add_argument("--copies", type=int, default=None, help="augmented copies per training image (default: the recipe's)")
    parser.add_argument("--subset", type=int, default=None, help="use only N binary images (stratified), for a smoke run")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where cached inputs and features go")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for the intervals")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one recipe field, e.g. augment=false, class_weights=true, lr_schedule=false, "
                             "dropout=0.3, preprocessing.input_size=320, augment_config.rotation_deg=5 (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true")


def _setup(args: argparse.Namespace) -> None:
    # Progress and the ETA are the point of these commands, so they are shown without -v; the command line's
    # handler prints them when it has configured one, basicConfig supplies one otherwise.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("osteo_desktop.training").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # TensorFlow fixes its thread pools when it first runs an op; a caller that already used it (a test
        # session, a notebook) keeps its own settings.
        logging.getLogger(__name__).info("TensorFlow already initialised; keeping its thread settings")
    if args.data is None:
        raise SystemExit("no data folder: pass --data DIR (a folder laid out by class with manifest.csv)")


def _weights_file(path: Path | None) -> Path | None:
    if path is not None and path.is_dir():
        return path / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    return path


def _devset(args: argparse.Namespace):
    from osteo_desktop.training.dataset import load_devset

    devset = load_devset(args.data)
    if args.subset:
        # Stratified: the first N/2 rows of each class keep their folds, so CV still works on the subset.
        picked: list[int] = []
        for target in (0, 1):
            picked += [i for i, e in enumerate(devset.examples) if e.target == target][: (args.subset + 1 - target) // 2]
        devset = devset.subset(np.array(sorted(picked)))
    log.info("data %s: %s (manifest sha256 %s…)", args.data, devset.counts(), devset.manifest_sha256[:12])
    return devset


def _recipe(args: argparse.Namespace, name: str):
    from osteo_desktop.training.recipe import VARIANTS

    recipe = VARIANTS[name]
    if args.epochs is not None:
        recipe = replace(recipe, max_epochs=args.epochs, patience=min(recipe.patience, args.epochs))
    if args.copies is not None:
        recipe = replace(recipe, augment_copies=args.copies)
    for override in args.overrides:
        recipe = apply_override(recipe, override)
    return recipe


def apply_override(recipe, override: str):
    """``field=value`` or ``preprocessing.field=value`` / ``augment_config.field=value``; values parsed as JSON."""
    import dataclasses
    import json

    from osteo_desktop.core.model.preprocessing import PreprocessConfig

    key, sep, text = override.partition("=")
    if not sep:
        raise SystemExit(f"--set {override!r}: expected FIELD=VALUE")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text  # a bare word such as squash
    owner, _, field = key.rpartition(".")
    if owner not in ("", "preprocessing", "augment_config"):
        raise SystemExit(f"--set {override!r}: unknown group {owner!r}")
    target = getattr(recipe, owner) if owner else recipe
    if field not in {f.name for f in dataclasses.fields(target)}:
        raise SystemExit(f"--set {override!r}: {type(target).__name__} has no field {field!r}")
    if owner == "preprocessing":
        try:
            return replace(recipe, preprocessing=PreprocessConfig.from_dict({**recipe.preprocessing.to_dict(), field: value}))
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"--set {override!r}: {exc}") from exc
    if owner == "augment_config":
        return replace(recipe, augment_config=replace(recipe.augment_config, **{field: value}))
    return replace(recipe, **{field: value})


def train_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="osteo train", description="Train the osteoporosis classifier and export it with its model card.")
    _common(parser)
    parser.add_argument("--variant", choices=["model1", "model2", "shipped"], default="shipped")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "model_weights", help="output folder for the model files and card")
    parser.add_argument("--version", default=None, help="version string for the model card (default: the package's model version)")
    parser.add_argument("--skip-cv", action="store_true", help="no cross-validation: threshold 0.5, temperature 1, no metrics in the card")
    parser.add_argument("--companions-from", type=Path, default=None,
                        help="model folder whose scope gate (and knee files) the new model ships with (default: the shipped model)")
    args = parser.parse_args(argv)
    _setup(args)
    from osteo_desktop.core.paths import default_model_dir
    from osteo_desktop.training.companions import carry_companions, read_companions, refuse_stale
    from osteo_desktop.training.crossval import FeatureStore
    from osteo_desktop.training.evaluation import summarise
    from osteo_desktop.training.heads import fit_head
    from osteo_desktop.training.shipping import build_card, export_model, write_card

    start = time.perf_counter()
    devset = _devset(args)
    recipe = _recipe(args, args.variant)
    # Read before the export: --out may be the reference folder itself.
    companions = read_companions(args.companions_from or default_model_dir())
    refuse_stale(companions, recipe.fine_tune)
    if recipe.ensemble != 1:
        # Each full-width head is 7.4 MB; two would push the .tflite past the 20 MB limit on shipped files.
        raise SystemExit("osteo train ships a single head; ensembles are for measurement in the lever study")
    store = FeatureStore(devset, _weights_file(args.imagenet_weights), args.cache_dir, args.seed)
    bank = store.bank_for(recipe)
    summary = None
    size = recipe.preprocessing.input_size
    if not args.skip_cv:
        cv = store.cross_validate(recipe, args.seed)
        summary = summarise(devset, cv.logits, args.resamples, args.seed)
        m = summary["metrics"]
        log.info("out-of-fold ROC AUC %.3f, accuracy %.3f at threshold %.3f", m["roc_auc"]["value"], m["accuracy"]["value"], summary["threshold"])
    all_binary = np.flatnonzero(devset.targets >= 0)
    fitted = fit_head(bank, all_binary, devset.targets, recipe, args.seed, lambda: store.fresh_backbone(size))
    log.info("final model: best epoch %d of %d", fitted.history["best_epoch"], len(fitted.history["loss"]))
    files = export_model(fitted.backbone or store.backbone(size), [fitted.head], args.out)
    sections = carry_companions(companions, args.out, files, fine_tuned=recipe.fine_tune)
    wall = time.perf_counter() - start
    write_card(args.out, {**build_card(devset, recipe, files, summary, args.seed, wall, args.version), **sections},
               companions.markdown_before, companions.markdown_after)
    _check_export(args.out)
    log.info("wrote the model to %s in %.0f s", args.out, time.perf_counter() - start)
    return 0


def _check_export(out_dir: Path) -> None:
    """Load the export as the app does and predict one input, so a broken export fails the training run."""
    from osteo_desktop.core.model.runtime import Classifier

    classifier = Classifier.load(out_dir, num_threads=1)
    size = classifier.input_size
    probability = classifier.probabilities(np.zeros((1, size, size, 3), np.float32) - 1.0)
    if not np.all(np.isfinite(probability)):
        raise RuntimeError(f"the exported model in {out_dir} returns non-finite probabilities")


def evaluate_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="osteo evaluate", description="Cross-validate the paper's models and ours; write the report.")
    _common(parser)
    parser.add_argument("--variants", default="model1,model2,shipped", help="comma-separated recipes to cross-validate ('' for none)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports", help="report folder")
    parser.add_argument("--levers", action="store_true", help="also run the lever study (each change measured out-of-fold)")
    parser.add_argument("--lever-seeds", type=int, default=2, help="seeds per lever")
    parser.add_argument("--only-levers", nargs="*", default=None, help="names of levers to run (default: all)")
    parser.add_argument("--lever-base", choices=["model2", "shipped"], default="model2", help="recipe the levers change")
    parser.add_argument("--lever-report", default="levers", help="file stem of the lever report (levers.md/.json)")
    parser.add_argument("--no-lever-base", action="store_true", help="skip re-running the base recipe in the lever study")
    args = parser.parse_args(argv)
    _setup(args)
    from osteo_desktop.training.crossval import FeatureStore
    from osteo_desktop.training.evaluation_report import evaluate_variants, write_lever_report

    start = time.perf_counter()
    devset = _devset(args)
    store = FeatureStore(devset, _weights_file(args.imagenet_weights), args.cache_dir, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    recipes = [_recipe(args, name.strip()) for name in args.variants.split(",") if name.strip()]
    if recipes:
        evaluate_variants(devset, store, recipes, args.out, args.seed, args.resamples)
    if args.levers:
        from osteo_desktop.training.levers import run_levers

        from osteo_desktop.training.recipe import VARIANTS

        seeds = [args.seed + i for i in range(args.lever_seeds)]
        write_lever_report(run_levers(devset, store, seeds, args.only_levers, base=VARIANTS[args.lever_base], include_base=not args.no_lever_base), args.out, args.lever_report)
    log.info("evaluation finished in %.0f s; report in %s", time.perf_counter() - start, args.out)
    return 0
