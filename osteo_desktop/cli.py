"""The ``osteo`` command line: predict, scan, info, and the training commands.

Its output is a contract that scripts rely on: the JSON keys, the CSV columns and the exit status (0 when every file
gave a result, 1 when any file failed or the model cannot be used, 2 on a usage error). Progress, log messages and
errors go to stderr; results go to stdout (or to the CSV file). Patient name, ID and birth date are never printed,
logged or exported unless ``--include-patient`` is given.

``osteo predict`` and ``osteo scan`` import neither TensorFlow nor Qt: ``osteo train`` and ``osteo evaluate``
import the training package only when they run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from osteo_desktop import DISCLAIMER, __version__
from osteo_desktop.core.errors import ImageReadError, OsteoError

log = logging.getLogger("osteo_desktop.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TRAINING_COMMANDS = ("train", "evaluate")


# ----------------------------------------------------------------------------------------------------------- parsing


def _model_description(model_dir: Path | None = None) -> str:
    """'name version' from the model card, read without loading the model (for --version and info)."""
    from osteo_desktop.core.model.card import load_model_card
    from osteo_desktop.core.paths import default_model_dir

    try:
        card = load_model_card(model_dir or default_model_dir())
    except OsteoError as exc:
        return f"unavailable ({exc})"
    return f"{card.name} {card.version}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osteo",
        description="Offline osteoporosis screening of knee radiographs (DICOM, PNG, JPEG, TIFF, BMP). " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"osteo {__version__} (model {_model_description()})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages on stderr (-vv: debug, -vvv: also third-party libraries)")
    parser.add_argument("--model-dir", type=Path, default=None, help="use the model in this folder instead of the shipped one")

    # The same options after the command; SUPPRESS keeps a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log messages on stderr")
    common.add_argument("--model-dir", type=Path, default=argparse.SUPPRESS, help="use the model in this folder")
    common.add_argument("--include-patient", action="store_true",
                        help="include patient name, ID and birth date from DICOM headers (off by default)")
    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--batch-size", type=_positive_int, default=16, help="images per inference batch (default 16)")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    predict = commands.add_parser("predict", parents=[common, batch], help="predict one or more image files",
                                  description="Predict each FILE; a file that cannot be read gets an error and the others still run.")
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE")
    predict.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    predict.add_argument("--history", action="store_true", help="also record the results in the history database")
    predict.set_defaults(handler=_cmd_predict)

    scan = commands.add_parser("scan", parents=[common, batch], help="predict every file in a folder",
                               description="A row for every file in DIR: a result, or an error naming the cause. "
                               "Results are recorded in the history database as they come, so an interrupted scan "
                               "resumes where it stopped; --no-history turns that off.")
    scan.add_argument("folder", type=Path, metavar="DIR")
    scan.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    scan.add_argument("--csv", type=Path, metavar="OUT", help="write the rows to this CSV file (written atomically)")
    scan.add_argument("--json", action="store_true", help="print the rows as one JSON array")
    scan.add_argument("--no-history", dest="history", action="store_false",
                      help="neither reuse nor record results in the history database")
    scan.set_defaults(handler=_cmd_scan)

    from osteo_desktop import dicom_export  # noqa: PLC0415 - DICOM out and the node register themselves
    from osteo_desktop.dicomnet import commands as dicomnet_commands  # noqa: PLC0415

    dicom_export.add_parser(commands, [common])
    dicomnet_commands.add_parsers(commands, [common])
    info = commands.add_parser("info", parents=[common], help="describe what is read from an image file")
    info.add_argument("file", type=Path, metavar="FILE")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    info.set_defaults(handler=_cmd_info)

    for name in TRAINING_COMMANDS:
        commands.add_parser(name, help=f"{name} a model (needs the training extra; see 'osteo {name} --help')", add_help=False)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _training_command(argv: list[str]) -> tuple[int, str, list[str]] | None:
    """(verbosity, command, its arguments) when argv runs a training command, else None."""
    verbosity = 0
    for index, token in enumerate(argv):
        if token in TRAINING_COMMANDS:
            return verbosity, token, argv[index + 1:]
        if token in ("-v", "--verbose") or (token.startswith("-v") and set(token[1:]) == {"v"}):
            verbosity += 1 if token == "--verbose" else len(token) - 1
            continue
        return None
    return None


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("osteo: %(levelname)s: %(message)s"))
    # pydicom's complaints about odd headers quote raw element values, which may be a patient's name; the reader
    # reports what matters in its own errors and warnings, so pydicom's messages are never shown. A handler filter
    # holds even though pydicom resets its logger's level when it is first imported.
    handler.addFilter(lambda record: not record.name.startswith("pydicom"))
    # -v and -vv are about this program; third-party debug chatter (Pillow, pylibjpeg) only with -vvv.
    logging.basicConfig(level=logging.DEBUG if verbosity >= 3 else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("osteo_desktop").setLevel(level)
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")


# ------------------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    training = _training_command(argv)
    if training is not None:
        verbosity, command, rest = training
        configure_logging(verbosity)
        return _run_training(command, rest)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error and 0 after --help/--version
        return int(exc.code or 0)
    configure_logging(args.verbose)
    if args.model_dir is not None and not args.model_dir.is_dir():
        return _usage_error(parser, f"--model-dir {args.model_dir} is not a folder")
    try:
        return args.handler(args, parser)
    except KeyboardInterrupt:
        print("osteo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); nothing left to say to it.
        _silence_stdout()
        return EXIT_FAILED
    except OsteoError as exc:
        print(f"osteo: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # e.g. the CSV cannot be written: the folder is read-only or the file is open elsewhere
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"osteo: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a bug gets one clear line (the traceback with -vv), not a crash dump
        log.debug("internal error", exc_info=True)
        print(f"osteo: internal error: {type(exc).__name__}: {exc} (run with -vv for details)", file=sys.stderr)
        return EXIT_FAILED


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"osteo: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run_training(command: str, argv: list[str]) -> int:
    try:
        from osteo_desktop.training import commands  # imports TensorFlow: only ever here
    except ImportError as exc:
        print(f"osteo: error: 'osteo {command}' needs the training extra (TensorFlow); install it with "
              f"pip install 'osteo-desktop[train]' ({exc})", file=sys.stderr)
        return EXIT_FAILED
    entry = commands.train_main if command == "train" else commands.evaluate_main
    return int(entry(argv) or 0)


def _load_classifier(model_dir: Path | None) -> Any:
    from osteo_desktop.core.model.runtime import Classifier

    try:
        classifier = Classifier.load(model_dir)
    except OsteoError as exc:
        print(f"osteo: error: cannot use the model: {exc}", file=sys.stderr)
        return None
    except Exception as exc:  # noqa: BLE001 - a model file that loads as garbage is a model problem, not a crash
        log.debug("model load failed", exc_info=True)
        print(f"osteo: error: cannot use the model in {model_dir or 'the default folder'}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return None
    log.info("model %s %s loaded from %s", classifier.card.name, classifier.version, classifier.card.directory)
    return classifier


# ----------------------------------------------------------------------------------------------------------- output


class Progress:
    """Progress on stderr: a line redrawn in place on a terminal, else a line every few seconds."""

    def __init__(self, stream: IO[str] | None = None, interval_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.2 if self.tty else 5.0)
        self._last = 0.0
        self._shown = False

    def update(self, progress: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        total = f"/{progress.total}" if progress.total is not None else ""
        eta = f", about {progress.eta_s:.0f} s left" if progress.eta_s is not None and progress.done < (progress.total or 0) else ""
        reused = f", {progress.reused} from history" if progress.reused else ""
        text = (f"scanned {progress.done}{total} ({progress.failed} failed{reused}), "
                f"{progress.rate_per_s:.1f} files/s{eta}")
        if self.tty:
            self.stream.write("\r\033[K" + text)
            self._shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._shown = False


class Table:
    """The human-readable result table, one line per file, printed as rows arrive."""

    def __init__(self, stream: IO[str], include_patient: bool = False) -> None:
        self.stream = stream
        self.include_patient = include_patient
        self.stream.write(f"{'RESULT':<13} {'P(OSTEO)':>8} {'CONF':>6}  FILE\n")

    def write(self, row: Any) -> None:
        if row.error is not None:
            line = f"{'ERROR':<13} {'':>8} {'':>6}  {row.path}\n{'':<32}{row.error}"
        else:
            line = f"{row.label:<13} {row.probability:>8.3f} {row.confidence:>6.3f}  {row.path}"
            for warning in row.warnings:
                line += f"\n{'':<32}warning: {warning}"
        if self.include_patient and row.patient:
            line += f"\n{'':<32}patient: " + ", ".join(f"{k}={v}" for k, v in row.patient.items())
        self.stream.write(line + "\n")
        self.stream.flush()


def _model_header(classifier: Any) -> str:
    card = classifier.card
    return f"Model {card.name} {card.version} (threshold {card.threshold:.3f})"


def _summary(rows_done: int, failed: int, reused: int, elapsed_s: float) -> str:
    text = f"{rows_done} file{'s' if rows_done != 1 else ''}: {rows_done - failed} results, {failed} failed"
    if reused:
        text += f" ({reused} reused from the history)"
    return text + f", in {elapsed_s:.1f} s ({rows_done / elapsed_s if elapsed_s > 0 else 0.0:.1f} files/s)"


# --------------------------------------------------------------------------------------------------------- commands


def _open_history(enabled: bool) -> Any:
    if not enabled:
        return None
    from osteo_desktop.core.results.history import History

    try:
        return History()
    except OsteoError as exc:
        # The results still count; say so and go on without remembering them.
        print(f"osteo: warning: history not used: {exc}", file=sys.stderr)
        return None


def _run_rows(paths: list[Path], args: argparse.Namespace, *, history_enabled: bool, csv_out: Path | None,
              show_progress: bool) -> int:
    from osteo_desktop.core.results.exports import open_csv_export
    from osteo_desktop.core.pipeline.scanning import scan_files

    classifier = _load_classifier(getattr(args, "model_dir", None))
    if classifier is None:
        return EXIT_FAILED
    history = _open_history(history_enabled)
    progress = Progress() if show_progress else None
    stats = {"done": 0, "failed": 0, "reused": 0}
    started = time.perf_counter()
    cancel = threading.Event()

    def on_progress(update: Any) -> None:
        stats.update(done=update.done, failed=update.failed, reused=update.reused)
        if progress is not None:
            progress.update(update, force=update.done == update.total)

    scan = scan_files(paths, classifier, batch_size=args.batch_size, cancel=cancel, on_progress=on_progress,
                      history=history, include_patient=args.include_patient)
    rows: Iterable[Any] = scan
    try:
        if not args.json:
            print(_model_header(classifier))
        rows = _tee_table(rows, progress, args.include_patient) if not args.json else rows
        if csv_out is not None:
            with open_csv_export(csv_out, include_patient=args.include_patient) as writer:
                rows = _tee(rows, writer.write)
                _emit(rows, args)
            print(f"osteo: wrote {writer.count} rows to {csv_out}", file=sys.stderr)
        else:
            _emit(rows, args)
    finally:
        # Stop the decoders before the history they consult is closed (Ctrl-C, a broken pipe, a write error).
        cancel.set()
        scan.close()
        if progress is not None:
            progress.clear()
        if history is not None:
            history.close()
    elapsed = time.perf_counter() - started
    if show_progress or stats["failed"]:
        print(f"osteo: {_summary(stats['done'], stats['failed'], stats['reused'], elapsed)}", file=sys.stderr)
    if args.json:
        print(f"osteo: model {classifier.version}. {DISCLAIMER}", file=sys.stderr)
    else:
        print(DISCLAIMER)
    return EXIT_FAILED if stats["failed"] else EXIT_OK


def _tee(rows: Iterable[Any], sink: Any) -> Iterator[Any]:
    for row in rows:
        sink(row)
        yield row


def _tee_table(rows: Iterable[Any], progress: Progress | None, include_patient: bool) -> Iterator[Any]:
    table = Table(sys.stdout, include_patient)
    for row in rows:
        if progress is not None:
            progress.clear()
        table.write(row)
        yield row


def _emit(rows: Iterable[Any], args: argparse.Namespace) -> None:
    from osteo_desktop.core.results.exports import write_json_array

    if args.json:
        write_json_array(rows, sys.stdout, include_patient=args.include_patient)
        sys.stdout.flush()
    else:
        for _ in rows:
            pass


def _cmd_predict(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    return _run_rows(list(args.files), args, history_enabled=args.history, csv_out=None, show_progress=False)


def _cmd_scan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.pipeline.scanning import list_files

    if not args.folder.is_dir():
        return _usage_error(parser, f"{args.folder} is not a folder")
    if args.csv is not None and args.csv.is_dir():
        return _usage_error(parser, f"--csv {args.csv} is a folder, not a file name")
    if args.csv is not None and not args.csv.parent.is_dir():
        return _usage_error(parser, f"--csv {args.csv}: folder {args.csv.parent} does not exist")
    paths = list(list_files(args.folder, recursive=args.recursive))
    if args.csv is not None:
        # The export itself, if it sits in the scanned folder from an earlier run, is not an image to report.
        # realpath, unlike Path.resolve, does not raise on the symlink loops a scan must report.
        out = os.path.realpath(args.csv)
        paths = [p for p in paths if os.path.realpath(p) != out]
    print(f"osteo: {len(paths)} files in {args.folder}", file=sys.stderr)
    return _run_rows(paths, args, history_enabled=args.history, csv_out=args.csv, show_progress=True)


def _cmd_info(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.reading import reader as imaging

    try:
        radiograph = imaging.read_radiograph(args.file)
    except ImageReadError as exc:
        print(f"osteo: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    description = imaging.describe_radiograph(radiograph)
    description["model"] = _model_description(getattr(args, "model_dir", None))
    if args.include_patient:
        description["patient"] = dict(radiograph.patient)
    if args.json:
        print(json.dumps(description, indent=2, default=str, ensure_ascii=False))
        return EXIT_OK
    for key, value in description.items():
        if key == "warnings":
            continue
        if isinstance(value, dict):
            print(f"{key}:")
            for sub_key, sub_value in value.items():
                print(f"  {sub_key}: {sub_value}")
        else:
            print(f"{key}: {value}")
    input_warnings = description["warnings"]
    print("warnings: " + ("none" if not input_warnings else ""))
    for warning in input_warnings:
        print(f"  - {warning}")
    print(DISCLAIMER)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
