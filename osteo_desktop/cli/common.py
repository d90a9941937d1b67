"""What every command shares: exit statuses, the one-line error form, and loading the model with a clear message."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.results.names import for_terminal

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier

log = logging.getLogger("osteo_desktop.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process ended by it


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every ``finally`` and atomic write cleans up."""


class StopOnSignal:
    """While active (a ``with`` block in the main thread), SIGINT and SIGTERM ask ``stop()`` to end the work
    gracefully: the rows done so far are written and the exports closed. A second signal stops at once (as
    KeyboardInterrupt or :class:`Terminated`; atomic writes then remove their temporary files)."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    @property
    def exit_status(self) -> int | None:
        """130 after SIGINT, 143 after SIGTERM, None when no signal came."""
        if self.signum is None:
            return None
        return EXIT_TERMINATED if self.signum == signal.SIGTERM else EXIT_INTERRUPTED

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        self.signum = signum
        self._stop()

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()


def say(message: str) -> None:
    """A line for the user on stderr, where progress, log messages and errors go (results go to stdout)."""
    # Messages quote file names and tags: printed escaped, so that they cannot drive the terminal.
    print(f"osteo: {for_terminal(message)}", file=sys.stderr)


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    say(f"error: {message}")
    return EXIT_USAGE


def model_description(model_dir: Path | None = None) -> str:
    """'name version' from the model card, read without loading the model (for --version and info)."""
    from osteo_desktop.core.model.card import load_model_card
    from osteo_desktop.core.paths import default_model_dir

    try:
        card = load_model_card(model_dir or default_model_dir())
    except OsteoError as exc:
        return f"unavailable ({exc})"
    return f"{card.name} {card.version}"


def load_classifier(model_dir: Path | None) -> "Classifier | None":
    """The model, or None after saying on stderr why it cannot be used."""
    from osteo_desktop.core.model.runtime import Classifier

    try:
        classifier = Classifier.load(model_dir)
    except OsteoError as exc:
        say(f"error: cannot use the model: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - a model file that loads as garbage is a model problem, not a crash
        log.debug("model load failed", exc_info=True)
        say(f"error: cannot use the model in {model_dir or 'the default folder'}: {type(exc).__name__}: {exc}")
        return None
    log.info("model %s %s loaded from %s", classifier.card.name, classifier.version, classifier.card.directory)
    return classifier


def silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's last flush of what is still buffered cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


class ReaderMayGo:
    """stdout for a scan that also writes a CSV: when the reader of stdout goes away (``| head``), the scan stops as
    on Ctrl-C (``on_gone``) and the rows done still reach the CSV, instead of the broken pipe ending the run with
    no CSV at all. Writes after that are dropped."""

    def __init__(self, stream: Any, on_gone: Callable[[], None]) -> None:
        self.stream, self.on_gone, self.gone = stream, on_gone, False

    def _guard(self, action: Callable[[], Any]) -> None:
        if self.gone:
            return
        try:
            action()
        except BrokenPipeError:
            self.gone = True
            silence_stdout()
            self.on_gone()

    def write(self, text: str) -> int:
        self._guard(lambda: self.stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guard(self.stream.flush)
