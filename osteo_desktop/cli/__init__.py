"""The ``osteo`` command line: predict, scan, info, and the training commands.

Its output is a contract that scripts rely on: the JSON keys, the CSV columns and the exit status (0 when every file
gave a result, 1 when any file failed, the model cannot be used or something unexpected went wrong, 2 on a usage
error, 130 when interrupted by Ctrl-C, 143 by SIGTERM; the rows done by then are written). Progress, log messages
and errors go to stderr; results go to stdout (or to the CSV file). Patient name, ID and birth date are never printed, logged or exported unless ``--include-patient`` is given.
When the reader of stdout goes away (``osteo predict ... | head``) the program stops quietly.

This package only parses arguments and prints (:mod:`.arguments`, :mod:`.output`, one module per command); the
work is done by :mod:`osteo_desktop.core.pipeline`. ``osteo predict`` and ``osteo scan`` import neither TensorFlow
nor Qt: ``osteo train`` and ``osteo evaluate`` import the training package only when they run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from osteo_desktop.cli.arguments import TRAINING_COMMANDS, build_parser, configure_logging, training_command
from osteo_desktop.cli.common import (silence_stdout, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE, Terminated, log,
                                     say, usage_error)
from osteo_desktop.cli.training import run_training
from osteo_desktop.core.errors import OsteoError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return _guarded(lambda: _dispatch(argv))


def _dispatch(argv: list[str]) -> int:
    training = training_command(argv)
    if training is not None:
        verbosity, command, rest = training
        configure_logging(verbosity)
        return run_training(command, rest)
    parser = build_parser()
    try:
        # parse_args would report an unknown option after the command with the top-level usage; the command's own
        # parser reports it instead, with the usage of the command that was meant.
        args, unknown = parser.parse_known_args(argv)
        command_parser = getattr(args, "command_parser", parser)
        if args.command in TRAINING_COMMANDS:
            # Only -v before a training command is ours (training_command); the command reads its own arguments,
            # so --model-dir before it would be dropped unsaid (and the command had no handler here).
            return usage_error(command_parser, f"options before '{args.command}' are not read; give them after it "
                                               f"(osteo {args.command} --help)")
        if unknown:
            command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:  # argparse exits 2 on a usage error and 0 after --help/--version
        return int(exc.code or 0)
    configure_logging(args.verbose)
    if args.model_dir is not None and not args.model_dir.is_dir():
        return usage_error(command_parser, f"--model-dir {args.model_dir} is not a folder")
    return args.handler(args, command_parser)


def _guarded(run: Callable[[], int]) -> int:
    """``run()``'s status, with every way it can fail turned into one line on stderr and an exit status."""
    try:
        status = run()
        sys.stdout.flush()  # a reader that went away shows here, not as a traceback at interpreter exit
        return status
    except Terminated:
        say("terminated")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); nothing left to say to it.
        silence_stdout()
        return EXIT_FAILED
    except OsteoError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    except OSError as exc:  # e.g. the CSV cannot be written: the folder is read-only or the file is open elsewhere
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"error: {where}{exc.strerror or exc}")
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a bug gets one clear line (the traceback with -vv), not a crash dump
        log.debug("internal error", exc_info=True)
        say(f"internal error: {type(exc).__name__}: {exc} (run with -vv for details)")
        return EXIT_FAILED
