"""Entry point of the desktop application (the ``osteo-desktop`` command)."""

from __future__ import annotations

import time

LAUNCHED = time.perf_counter()  # as early as possible: the self-test reports start-up times from here

import argparse  # noqa: E402 - after the launch timestamp on purpose
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from osteo_desktop import __version__  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="osteo-desktop", description="Screen knee radiographs for osteoporosis (research tool).")
    parser.add_argument("file", nargs="?", help="a radiograph to open (DICOM, PNG or JPEG)")
    parser.add_argument(
        "--self-test", nargs="?", const="", default=None, metavar="FILE",
        help="open FILE (default: the bundled sample) in the real window, print the result as JSON and exit",
    )
    parser.add_argument("--self-test-output", metavar="JSON", help="also write the self-test result to this file")
    parser.add_argument("--self-test-timeout", type=float, default=120.0, metavar="SECONDS", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"osteo-desktop {__version__}")
    return parser.parse_args(argv)


def create_application(argv0: str = "osteo-desktop"):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from osteo_desktop.core.paths import resources_dir
    from osteo_desktop.gui.style import apply_theme

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([argv0])
    app.setApplicationName("osteo-desktop")
    app.setOrganizationName("osteo-desktop")
    app.setApplicationDisplayName("Osteo Desktop")
    app.setApplicationVersion(__version__)
    icon = resources_dir() / "icons" / "osteo-desktop.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    return app


def open_main_window(file: str | None = None, *, settings=None, history=None):
    """Show the main window, opening ``file`` (from the command line) as soon as the model is ready."""
    from osteo_desktop.gui.main_window import MainWindow

    window = MainWindow(settings=settings, history=history)
    window.show()
    if history is not None and (notice := history.damage_notice()) is not None:
        from osteo_desktop.gui.plain import notify

        window.history_notice = notify(window, "History", notice[:1].upper() + notice[1:] + ".")
    if file:
        window.open_file(file)
    return window


def _no_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.self_test is not None else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.self_test is not None and _no_display():
        # A smoke test on a build server has no screen; the window is still created and laid out, just not shown.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = create_application()
    if args.self_test is not None:
        from osteo_desktop.gui.self_test import run_self_test

        target = args.self_test or args.file
        return run_self_test(app, Path(target) if target else None, launched=LAUNCHED, output=args.self_test_output, timeout_s=args.self_test_timeout)

    from osteo_desktop.core.results.history import HISTORY_FILENAME, History, HistoryError
    from osteo_desktop.gui.settings import AppSettings

    settings = AppSettings.load()
    try:
        history = History(settings.data_dir / HISTORY_FILENAME)
    except HistoryError as exc:
        logging.getLogger(__name__).error("%s", exc)
        history = None
    window = open_main_window(args.file, settings=settings, history=history)
    code = app.exec()
    window.deleteLater()
    if history is not None:
        history.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
