"""The ``osteo`` command line's arguments and logging setup: what the user may type, and where messages go."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from osteo_desktop import __version__
from osteo_desktop.cli import batch, info
from osteo_desktop.cli.common import model_description
from osteo_desktop.core.results.names import for_terminal
from osteo_desktop.core.results.text import DISCLAIMER

TRAINING_COMMANDS = ("train", "evaluate", "train-knee-detector", "train-knee")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osteo",
        description="Offline osteoporosis screening of knee radiographs (DICOM, PNG, JPEG, TIFF, BMP). " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"osteo {__version__} (model {model_description()})")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages on stderr (-vv: debug, -vvv: also third-party libraries)")
    parser.add_argument("--model-dir", type=Path, default=None, help="use the model in this folder instead of the shipped one")

    # The same options after the command; SUPPRESS keeps a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log messages on stderr")
    common.add_argument("--model-dir", type=Path, default=argparse.SUPPRESS, help="use the model in this folder")
    # Only where it does something: DICOM output (dicom-export, serve, watch) always carries its study's patient
    # module, as DICOM requires, so the option is not offered there (README, "De-identified by default").
    patient = argparse.ArgumentParser(add_help=False)
    patient.add_argument("--include-patient", action="store_true",
                         help="include patient name, ID and birth date from DICOM headers (off by default)")
    # Scripts written for 0.1 passed it to the DICOM commands too: accepted there, unlisted and without effect,
    # until 0.3.0 (CHANGELOG), so they do not stop with a usage error.
    dicom_common = argparse.ArgumentParser(add_help=False, parents=[common])
    dicom_common.add_argument("--include-patient", action="store_true", help=argparse.SUPPRESS)
    many = argparse.ArgumentParser(add_help=False)
    many.add_argument("--batch-size", type=positive_int, default=16, help="images per inference batch (default 16)")

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    predict = commands.add_parser("predict", parents=[common, patient, many], help="predict one or more image files",
                                  description="Predict each FILE; a file that cannot be read gets an error and the others still run.")
    predict.add_argument("files", nargs="+", type=Path, metavar="FILE")
    predict.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    predict.add_argument("--history", action="store_true", help="also record the results in the history database")
    predict.add_argument("--csv", type=Path, metavar="OUT", help="also write the rows to this CSV file (written atomically)")
    predict.set_defaults(handler=batch.predict_command)

    scan = commands.add_parser("scan", parents=[common, patient, many], help="predict every file in a folder",
                               description="A row for every file in DIR: a result, or an error naming the cause. "
                               "Results are recorded in the history database as they come, so an interrupted scan "
                               "resumes where it stopped; --no-history turns that off.")
    scan.add_argument("folder", type=Path, metavar="DIR")
    scan.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    scan.add_argument("--include-hidden", action="store_true",
                      help="also scan dot files and dot folders (.DS_Store, ._name, .complete; skipped by default)")
    scan.add_argument("--csv", type=Path, metavar="OUT", help="write the rows to this CSV file (written atomically)")
    scan.add_argument("--json", action="store_true", help="print the rows as one JSON array")
    scan.add_argument("--no-history", dest="history", action="store_false",
                      help="neither reuse nor record results in the history database")
    scan.add_argument("--backend", default=None, metavar="NAME",
                      help="where files are read and analysed: threads (default, this machine) or ray (a Ray cluster; "
                           "needs pip install 'osteo-desktop[cluster]')")
    scan.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                      help="with --backend ray: the cluster to join (auto: the one this machine belongs to; default: "
                           "start one here)")
    scan.add_argument("--workers", type=positive_int, default=None,
                      help="files read at once (threads), or model actors (ray); default: one per core")
    scan.set_defaults(handler=batch.scan_command)

    from osteo_desktop.cli import dicom_export  # DICOM out and the node register their own commands
    from osteo_desktop.dicomnet import commands as dicomnet_commands

    dicom_export.add_parser(commands, [dicom_common])
    dicomnet_commands.add_parsers(commands, [dicom_common])
    describe = commands.add_parser("info", parents=[common, patient], help="describe what is read from an image file")
    describe.add_argument("file", type=Path, metavar="FILE")
    describe.add_argument("--json", action="store_true", help="print a JSON object")
    describe.set_defaults(handler=info.info_command)

    for name in TRAINING_COMMANDS:
        words = {"train-knee-detector": "train the knee detector on the checked boxes (see 'osteo train-knee-detector --help')",
                 "train-knee": "train the per-knee head on the checked boxes (see 'osteo train-knee --help')"}.get(
                     name, f"{name} a model (needs the training extra; see 'osteo {name} --help')")
        commands.add_parser(name, help=words, add_help=False)
    for command in commands.choices.values():
        # A usage error after the command names that command's usage, not the top-level one (see cli.main).
        command.set_defaults(command_parser=command)
    for listed in commands._choices_actions:  # `osteo info --help` opens with what the top-level list says of it
        chosen = commands.choices[listed.dest]
        if chosen.description is None and listed.help:
            chosen.description = listed.help[0].upper() + listed.help[1:] + "."
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # argparse would say "invalid positive_int value", naming this function
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def training_command(argv: list[str]) -> tuple[int, str, list[str]] | None:
    """(verbosity, command, its arguments) when argv runs a training command, else None.

    The training commands have their own parser (in the training package, which needs TensorFlow), so their
    arguments are passed on untouched; only -v flags before the command are ours.
    """
    verbosity = 0
    for index, token in enumerate(argv):
        if token in TRAINING_COMMANDS:
            return verbosity, token, argv[index + 1:]
        if token in ("-v", "--verbose") or (token.startswith("-v") and set(token[1:]) == {"v"}):
            verbosity += 1 if token == "--verbose" else len(token) - 1
            continue
        return None
    return None


class TerminalFormatter(logging.Formatter):
    """Log lines fit for a terminal: messages quote file names, tags and errors (``dicom-export``'s "knee.png: not an
    image", a folder that cannot be listed), so control characters and undecodable bytes are escaped as ``say()``
    escapes them; a traceback (``-vv``) keeps its lines, each escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return for_terminal(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(for_terminal(line) for line in super().formatException(ei).split("\n"))

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(for_terminal(line) for line in super().formatStack(stack_info).split("\n"))


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalFormatter("osteo: %(levelname)s: %(message)s"))
    # pydicom's complaints about odd headers quote raw element values, which may be a patient's name; the reader
    # reports what matters in its own errors and warnings, so pydicom's messages are never shown. A handler filter
    # holds even though pydicom resets its logger's level when it is first imported.
    handler.addFilter(lambda record: not record.name.startswith("pydicom"))
    # -v and -vv are about this program; third-party debug chatter (Pillow, pylibjpeg) only with -vvv.
    logging.basicConfig(level=logging.DEBUG if verbosity >= 3 else logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("osteo_desktop").setLevel(level)
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?")
