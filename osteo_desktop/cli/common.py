"""What every command shares: exit statuses, the one-line error form, and loading the model with a clear message."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from osteo_desktop.core.errors import OsteoError
from osteo_desktop.core.results.names import for_terminal

if TYPE_CHECKING:
    from osteo_desktop.core.model.runtime import Classifier

log = logging.getLogger("osteo_desktop.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
