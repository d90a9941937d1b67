"""``osteo predict`` and ``osteo scan``: arguments in, rows printed; the scan itself is core.pipeline.batch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from osteo_desktop.cli.common import (EXIT_FAILED, EXIT_OK, EXIT_TERMINATED, ReaderMayGo, StopOnSignal, load_classifier, say,
                                     usage_error)
from osteo_desktop.cli.output import Progress, Table
from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.pipeline.batch import BatchScan, files_to_scan, tee
from osteo_desktop.core.results import exports, text
from osteo_desktop.core.results.output_target import UnsafeOutputError, check_output_target, is_previous_csv_export


def predict_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    paths = list(args.files)
    if args.csv is not None and (refusal := _refuse_output(args.csv, paths)) is not None:
        return usage_error(parser, refusal)
    return run_rows(paths, args, history_enabled=args.history, csv_out=args.csv, show_progress=False)


def scan_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.folder.is_dir():
        return usage_error(parser, f"{args.folder} is not a folder")
    # An earlier export of this scan left in the folder is not an input; any other file there is.
    exclude = args.csv if args.csv is not None and is_previous_csv_export(args.csv) else None
    paths = files_to_scan(args.folder, recursive=args.recursive, exclude=exclude, include_hidden=args.include_hidden)
    if args.csv is not None and (refusal := _refuse_output(args.csv, paths)) is not None:
        return usage_error(parser, refusal)
    say(f"{len(paths)} files in {args.folder}")
    return run_rows(paths, args, history_enabled=args.history, csv_out=args.csv, show_progress=True)


def _refuse_output(target: Path, inputs: list[Path]) -> str | None:
    """Why ``--csv target`` must not be written (one line), or None when it may."""
    from osteo_desktop.core.results.history import default_history_path

    try:
        check_output_target(target, inputs=inputs, protected=[default_history_path()])
    except UnsafeOutputError as exc:
        return f"--csv {exc}"
    return None


def _backend(args: argparse.Namespace) -> Any:
    """The scan backend the arguments name (None: the local pool), or the exit status after saying why not."""
    name, address = getattr(args, "backend", None), getattr(args, "address", None)
    if name is None and address is None:
        return None
    from osteo_desktop.core.pipeline.backends import get_backend

    try:
        if address is not None and name not in (None, "ray"):
            raise ValueError("--address is for --backend ray")
        return get_backend(name or "ray", **({"address": address} if address is not None else {}),
                           **({"workers": args.workers} if (name or "ray") == "ray" and args.workers else {}))
    except ValueError as exc:
        say(f"error: {exc}")
        return 2


def _open_history(enabled: bool) -> tuple[Any, str | None]:
    """The history, or None and why it cannot be used (a full disk, say: the scan goes on, the exit status is 1)."""
    if not enabled:
        return None, None
    from osteo_desktop.core.results.history import History

    try:
        history = History()
    except OsteoError as exc:
        # The results still count; say so and go on without remembering them.
        say(f"warning: history not used: {exc}")
        return None, str(exc)
    if (notice := history.damage_notice()) is not None:
        say(f"warning: {notice}")
    return history, None


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

    backend = _backend(args)
    if isinstance(backend, int):
        return backend
    history, history_error = _open_history(history_enabled)
    scan = BatchScan(paths, classifier, history=history, close_history=True,
                     backend=backend, workers=getattr(args, "workers", None),
                     batch_size=args.batch_size, include_patient=args.include_patient, on_progress=on_progress)
    signals = StopOnSignal(scan.cancel)
    # With a CSV, the rows are the user's work: a reader of stdout that goes away stops the scan as Ctrl-C does and
    # the rows done are still written. Without one, the broken pipe ends the run (nothing else would keep them).
    out = ReaderMayGo(sys.stdout, scan.cancel) if csv_out is not None else sys.stdout
    try:
        with scan, signals:
            if not args.json:
                card = classifier.card
                out.write(text.model_line(card.name, card.version, classifier.threshold) + "\n")
                rows = tee(scan, Table(out, args.include_patient, progress).write)
            else:
                rows = iter(scan)
            if csv_out is not None:
                with exports.open_csv_export(csv_out, include_patient=args.include_patient) as writer:
                    _emit(tee(rows, writer.write), args, out)
                say(f"wrote {writer.count} rows to {csv_out}")
            else:
                _emit(rows, args, out)
    finally:
        if progress is not None:
            progress.clear()
    tally = scan.tally
    if isinstance(out, ReaderMayGo) and out.gone:
        total = f" of {tally.total}" if tally.total is not None else ""
        say(f"the reader of the output went away: stopped after {tally.done}{total} files; their rows were written")
        return EXIT_FAILED
    if signals.exit_status is not None:
        # Ctrl-C or SIGTERM: the rows done so far were written (and recorded), the CSV closed; say how far it got.
        total = f" of {tally.total}" if tally.total is not None else ""
        say(f"{'terminated' if signals.exit_status == EXIT_TERMINATED else 'interrupted'}: "
            f"stopped after {tally.done}{total} files; their rows were written")
        return signals.exit_status
    if show_progress or tally.failed:
        say(text.scan_summary(tally.done, tally.failed, tally.reused, tally.elapsed_s, tally.declined))
    unrecorded = tally.unrecorded or (tally.done - tally.failed - tally.declined if history_error else 0)
    if unrecorded:
        say(f"error: {text.not_recorded(unrecorded, tally.history_error or history_error)}")
    if args.json:
        say(f"model {classifier.version}. {text.DISCLAIMER}")
    else:
        print(text.DISCLAIMER)
    # A declined file (no result) is not a failure; a result the history could not keep is.
    return EXIT_OK if tally.all_succeeded and not unrecorded else EXIT_FAILED


def _emit(rows: Any, args: argparse.Namespace, out: Any) -> None:
    if args.json:
        exports.write_json_array(rows, out, include_patient=args.include_patient)
        out.flush()
    else:
        for _ in rows:
            pass
