"""`osteo serve` and `osteo watch`: argument parsing and wiring; the work is in node.py and watch.py."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from osteo_desktop.core.errors import OsteoError

log = logging.getLogger(__name__)


def port_number(text: str) -> int:
    """A TCP port for argparse: 1 to 65535 (99999 was an 'internal error: OverflowError' from the socket)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {value}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of days, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a number of days above 0, not {text}")
    return value


def add_parsers(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", parents=parents, help="DICOM node: receive radiographs, analyse, forward results")
    serve.add_argument("--port", type=port_number, required=True,
                       help="TCP port to listen on, 1-65535 (DICOM's usual is 104 or 11112; below 1024 needs root)")
    serve.add_argument("--ae-title", default="OSTEO",
                       help="this node's AE title, which senders call and results are sent from (default: OSTEO)")
    serve.add_argument("--forward", required=True, metavar="AET@HOST:PORT",
                       help="required: the PACS the results (structured report and annotated image, in the source's "
                            "study) are sent to; they wait in the outbox and are retried while it is down. Without "
                            "it the node would keep results nobody reads (the history holds only the probability)")
    serve.add_argument("--allow-ae", action="append", default=[], metavar="AET",
                       help="accept only these calling AE titles (repeatable); refused callers are logged")
    serve.add_argument("--bind", default="127.0.0.1", metavar="ADDRESS",
                       help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every "
                            "interface, so that a PACS on another host can reach the node)")
    serve.add_argument("--work-dir", type=Path, default=None,
                       help="queue folders incoming/, done/, failed/, outbox/ (default: node/ in the app data folder); "
                            "they keep full patient headers until removed")
    serve.add_argument("--keep-days", type=_days, default=None, metavar="DAYS",
                       help="delete received images (done/, failed/) and sent results (outbox/sent/) older than DAYS, "
                            "checked hourly; default: keep everything (the administrator cleans up)")
    serve.add_argument("--no-history", action="store_true", help="do not record results in the history database")
    serve.set_defaults(handler=run_serve)
    watch = commands.add_parser("watch", parents=parents, help="analyse each new file in a folder")
    watch.add_argument("folder", type=Path)
    watch.add_argument("--out", type=Path, default=None, help="also write DICOM results here")
    watch.add_argument("--no-history", action="store_true")
    watch.set_defaults(handler=run_watch)


def _log_activity() -> None:
    """A service says what came in, went out and failed without -v: INFO for this package unless -vv asked for more."""
    package = logging.getLogger("osteo_desktop.dicomnet")
    package.setLevel(min(package.getEffectiveLevel(), logging.INFO))


def _stop_on_signals(stopping: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stopping.set()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


class _NodeAnalyser:
    """What `osteo serve` does with a received film: analyse it and build its results (SR, annotated image); once the
    node has filed the film in done/, record it in the history under that path. Recorded during the analysis, the
    entry named incoming/<uid>.dcm, which the node empties right after (trial 22b)."""

    def __init__(self, classifier: Any, history: Any) -> None:
        self.classifier, self.history = classifier, history
        self._unrecorded: dict[Path, Any] = {}  # received path -> result, until the node says where the file went

    def __call__(self, path: Path) -> list[Any]:
        from osteo_desktop.core.pipeline.analysis import analyse_file
        from osteo_desktop.core.results.dicom_adapter import export_input
        from osteo_desktop.core.results.dicom_objects import build_secondary_capture, build_sr
        from osteo_desktop.dicom_results import model_sha256

        classifier = self.classifier
        analysis = analyse_file(path, classifier, explain=False)
        _say(path, analysis)
        inp = export_input(analysis, model_sha256(classifier), None, classifier.card.name,
                           positive_label=classifier.card.labels[1])
        results = [build_sr(inp), build_secondary_capture(inp)]
        if self.history is not None and not analysis.declined:
            self._unrecorded[path] = analysis.result
        return results

    def filed(self, received: Path, final: Path) -> None:
        result = self._unrecorded.pop(received, None)
        if result is not None:
            self.history.record(final, result)


def _say(path: Path, analysis: Any) -> None:
    """Log the outcome (a declined file, out of scope, says why)."""
    if analysis.declined:
        log.info("%s: no result: %s", path.name, analysis.out_of_scope)
    else:
        log.info("%s: %s p=%.3f", path.name, analysis.prediction.label, analysis.prediction.probability)


def _remember(history: Any, path: Path, analysis: Any) -> None:
    """Log the outcome and record a result in the history (a declined file, out of scope, has none to record)."""
    _say(path, analysis)
    if history is not None and not analysis.declined:
        history.record(path, analysis.result)


def _history(disabled: bool) -> Any:
    if disabled:
        return None
    from osteo_desktop.core.results.history import History
    return History()


def run_serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.paths import user_data_dir
    from osteo_desktop.dicomnet.forward import Destination
    from osteo_desktop.dicomnet.node import Node, NodeConfig

    try:
        destination = Destination.parse(args.forward)
    except ValueError as exc:
        parser.error(str(exc))
    classifier = Classifier.load(getattr(args, "model_dir", None))
    config = NodeConfig(args.port, args.ae_title, destination, args.work_dir or user_data_dir() / "node",
                        args.allow_ae, host=args.bind, keep_days=args.keep_days)
    analyser = _NodeAnalyser(classifier, _history(args.no_history))
    node = Node(config, analyser, analyser.filed)
    stopping = threading.Event()
    _stop_on_signals(stopping)
    _log_activity()
    try:
        node.start()
    except OSError as exc:  # the port is taken, or the address is not this machine's: say which port, one line
        raise OsteoError(f"cannot listen on {args.bind} port {args.port}: {_listen_problem(exc)}") from exc
    while not stopping.wait(0.2):
        pass
    node.stop()
    return 0


def _listen_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use (another osteo serve, or another DICOM program?)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root; use 11112)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that address is not one of this machine's"
    return exc.strerror or str(exc)


def watch_handler(classifier: Any, history: Any, out: Path | None):
    """What `osteo watch` does with each new file: analyse it, record it, and with ``out`` write its DICOM results.

    The app's own objects (an SR or annotated image it wrote, e.g. with ``--out`` inside the watched folder) are
    logged and left alone: exporting a "no result" SR for each would make a new file to watch, round and round.
    """
    from osteo_desktop.core.model.scope import OWN_OBJECT_REASON
    from osteo_desktop.core.pipeline.analysis import analyse_file
    from osteo_desktop.dicom_results import export_analysis

    def handle(path: Path) -> None:
        analysis = analyse_file(path, classifier, explain=False)
        if analysis.out_of_scope == OWN_OBJECT_REASON:
            log.info("%s: skipped: made by osteo-desktop", path.name)
            return
        _remember(history, path, analysis)
        if out is not None and analysis.radiograph.source_format.lower() == "dicom":
            export_analysis(analysis, classifier, out, with_pdf=False)
    return handle


def run_watch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.dicomnet.watch import FolderWatch

    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    classifier = Classifier.load(getattr(args, "model_dir", None))
    handle = watch_handler(classifier, _history(args.no_history), args.out)
    stopping = threading.Event()
    _stop_on_signals(stopping)
    _log_activity()
    FolderWatch(args.folder, handle).run(stopping)
    return 0
