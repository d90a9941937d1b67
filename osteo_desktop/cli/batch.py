"""``osteo predict`` and ``osteo scan``: arguments in, rows printed; the scan itself is core.pipeline.batch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from osteo_desktop.cli.common import EXIT_FAILED, EXIT_OK, load_classifier, say, usage_error
from osteo_desktop.cli.output import Progress, Table
from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.pipeline.batch import BatchScan, files_to_scan, tee
from osteo_desktop.core.results import exports, text


def predict_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    return run_rows(list(args.files), args, history_enabled=args.history, csv_out=None, show_progress=False)


def scan_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.folder.is_dir():
        return usage_error(parser, f"{args.folder} is not a folder")
    if args.csv is not None and args.csv.is_dir():
        return usage_error(parser, f"--csv {args.csv} is a folder, not a file name")
    if args.csv is not None and not args.csv.parent.is_dir():
        return usage_error(parser, f"--csv {args.csv}: folder {args.csv.parent} does not exist")
    paths = files_to_scan(args.folder, recursive=args.recursive, exclude=args.csv)
    say(f"{len(paths)} files in {args.folder}")
    return run_rows(paths, args, history_enabled=args.history, csv_out=args.csv, show_progress=True)


def _open_history(enabled: bool) -> Any:
    if not enabled:
        return None
    from osteo_desktop.core.results.history import History

    try:
        return History()
    except OsteoError as exc:
        # The results still count; say so and go on without remembering them.
        say(f"warning: history not used: {exc}")
        return None


def run_rows(paths: list[Path], args: argparse.Namespace, *, history_enabled: bool, csv_out: Path | None,
             show_progress: bool) -> int:
    """Scan ``paths`` and print each row as it comes (a table, or JSON), optionally into a CSV file too."""
    classifier = load_classifier(getattr(args, "model_dir", None))
    if classifier is None:
        return EXIT_FAILED
    progress = Progress() if show_progress else None

    def on_progress(update: Any) -> None:
        if progress is not None:
            progress.update(update, force=update.done == update.total)

    scan = BatchScan(paths, classifier, history=_open_history(history_enabled), close_history=True,
                     batch_size=args.batch_size, include_patient=args.include_patient, on_progress=on_progress)
    try:
        with scan:
            if not args.json:
                card = classifier.card
                print(text.model_line(card.name, card.version, card.threshold))
                rows = tee(scan, Table(sys.stdout, args.include_patient, progress).write)
            else:
                rows = iter(scan)
            if csv_out is not None:
                with exports.open_csv_export(csv_out, include_patient=args.include_patient) as writer:
                    _emit(tee(rows, writer.write), args)
                say(f"wrote {writer.count} rows to {csv_out}")
            else:
                _emit(rows, args)
    finally:
        if progress is not None:
            progress.clear()
    tally = scan.tally
    if show_progress or tally.failed:
        say(text.scan_summary(tally.done, tally.failed, tally.reused, tally.elapsed_s, tally.declined))
    if args.json:
        say(f"model {classifier.version}. {text.DISCLAIMER}")
    else:
        print(text.DISCLAIMER)
    return EXIT_OK if tally.all_succeeded else EXIT_FAILED  # a declined file (no result) is not a failure


def _emit(rows: Any, args: argparse.Namespace) -> None:
    if args.json:
        exports.write_json_array(rows, sys.stdout, include_patient=args.include_patient)
        sys.stdout.flush()
    else:
        for _ in rows:
            pass
