"""`osteo serve`: a storage SCP that analyses each radiograph as it arrives and forwards the results.

Three stages, each with its own folder so a restart resumes: ``incoming/`` (received, not yet analysed),
``outbox/pending`` (results not yet confirmed by the destination), ``outbox/sent``. Received files are analysed on
one worker thread through the same pipeline as `osteo predict`; a sender thread drains the outbox with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, AllStoragePresentationContexts, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from osteo_desktop.core.model.scope import made_by_osteo_desktop
from osteo_desktop.dicomnet.forward import Destination, send_files
from osteo_desktop.dicomnet.outbox import Outbox
from osteo_desktop.dicomnet.pacs import RADIOGRAPH_CLASSES

log = logging.getLogger(__name__)
# The classes the node keeps and analyses. Every other storage class is accepted too (see Node._ae) and answered
# Success without being kept.
# The classes the app reads everywhere (PACS fetch, File open, watch): a DX "For Processing" answered Success here
# and then dropped as "not a DX" was a film lost without a word (review).
ANALYSED_CLASSES = RADIOGRAPH_CLASSES
_ANALYSED = frozenset(str(uid) for uid in ANALYSED_CLASSES)
OUT_OF_RESOURCES = 0xA700
SHOWN_REFUSED = 3  # refused classes named in the log line; the rest are counted
CANNOT_UNDERSTAND = 0xC210
_UID = re.compile(r"[0-9]+(\.[0-9]+)+")  # digits and dots (PS3.5 9.1), at most 64 characters
# The node's own temporary files: ".<uid>.<8 random hex digits>.part" in incoming/ (one per C-STORE, _new_temp) and
# ".<uid>.part" (the outbox's, and incoming/'s before each store had its own). Nothing else there is removed at start.
_OWN_TEMP = re.compile(r"\.[0-9]+(\.[0-9]+)+(\.[0-9a-f]{8})?\.part")
# Why an association was rejected, by (source, diagnostic) of the A-ASSOCIATE-RJ pynetdicom sent (PS3.8 9.3.4).
_REJECTIONS = {(0x01, 0x03): "its calling AE title is not in --allow-ae", (0x01, 0x07): "it called another AE title",
               (0x02, 0x01): "its user identity was refused", (0x03, 0x02): "too many associations at once"}


@dataclass
class NodeConfig:
    port: int
    ae_title: str
    destination: Destination
    work_dir: Path
    allowed_callers: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    first_backoff_s: float = 1.0
    keep_days: float | None = None  # remove handled files (done/, failed/, outbox/sent/) older than this; None: keep
    requeue_after_s: float = 30.0  # results that could not be queued (a full disk): analyse the film again after this


# analyse(path) -> list of pydicom Datasets to forward (SR, annotated image); raises on failure
Analyser = Callable[[Path], list[Any]]
# filed(received, final): the analysed file at ``received`` is now at ``final`` (done/), where it stays
Filed = Callable[[Path, Path], None]


def _address(requestor: Any) -> str:
    try:
        return f"{requestor.address}:{requestor.port}"
    except (AttributeError, ValueError):
        return "an unknown address"


def _cause(exc: BaseException) -> str:
    """The root cause in one line: pydicom re-raises a write error with the whole traceback in its message ("With
    tag (7FE0,0010) got exception: [Errno 28] No space left on device\nTraceback ..."), which went to the log."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    if isinstance(root, OSError) and root.strerror:
        return f"{root.strerror} (in {root.filename})" if root.filename else root.strerror
    return (str(root).strip().splitlines() or [type(root).__name__])[0]


def _shown_uid(uid: Any) -> str:
    """A sender's UID for the log: as is when it is one, else quoted and cut (it may hold anything)."""
    text = str(uid or "")
    return text if len(text) <= 64 and _UID.fullmatch(text) else repr(text[:80])


def _class_name(uid: Any) -> str:
    name = getattr(uid, "name", "") or str(uid)
    return name.removesuffix(" Storage") or str(uid)


def _new_temp(folder: Path, uid: str) -> Path:
    """A new empty file ``.<uid>.<8 hex digits>.part`` in ``folder`` that no other store has (O_EXCL). Made like any
    new file of the user's (0666 less the umask), as the received files were before, not mkstemp's 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp = folder / f".{uid}.{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(temp, flags, 0o666))
            return temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name for {uid} in {folder}")


class Node:
    def __init__(self, config: NodeConfig, analyse: Analyser, filed: Filed | None = None) -> None:
        self.config = config
        self.analyse = analyse
        self.filed = filed
        self.incoming = config.work_dir / "incoming"
        self.done = config.work_dir / "done"
        self.failed = config.work_dir / "failed"
        for folder in (self.incoming, self.done, self.failed):
            folder.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.work_dir / "outbox", first_backoff_s=config.first_backoff_s)
        self.stopping = threading.Event()
        self._work = threading.Condition()
        self._server: Any = None
        self._threads: list[threading.Thread] = []
        # Films whose work is done but that could not be moved out of incoming/: never analysed again by this run
        # (each pass would send their results again and hold up every later film).
        self._stuck: set[Path] = set()

    # -------------------------------------------------------------------------------------------- receiving
    def _on_store(self, event: Any) -> int:
        calling = event.assoc.requestor.ae_title
        sop_class = str(event.request.AffectedSOPClassUID)
        if sop_class not in _ANALYSED:
            # An SR, a PDF, a CT ... of a study the PACS routes here whole (trial 22b): Success, so the PACS's job
            # goes on to the films; the dataset is not even decoded, nothing is kept.
            log.info("ignored %s (%s) from %s: not a CR, DX or secondary capture image, not kept",
                     _shown_uid(event.request.AffectedSOPInstanceUID), _class_name(event.request.AffectedSOPClassUID),
                     calling)
            return 0x0000
        try:
            dataset = event.dataset
            dataset.file_meta = event.file_meta
            uid = str(dataset.SOPInstanceUID)
            if len(uid) > 64 or not _UID.fullmatch(uid):  # the UID names the node's files: a sender's "/../x" wrote outside incoming/
                log.warning("refused an image from %s: its SOP Instance UID %r is not a UID", calling, uid[:80])
                return CANNOT_UNDERSTAND
            if made_by_osteo_desktop(dataset.get("Manufacturer")):
                # The app's own annotated image (a PACS routing the study back): analysing it would send a second
                # result for the same film, and another annotated image back, round and round. Success, so the
                # sender does not retry; nothing is kept or sent.
                log.info("ignored %s from %s: made by osteo-desktop (its own result), not analysed", uid, calling)
                return 0x0000
            # A temporary name of its own per store: with one fixed ".<uid>.part", a PACS retrying while its first
            # association was still sending wrote into the same file, and the first store's rename then failed.
            temp = _new_temp(self.incoming, uid)
            try:
                dataset.save_as(temp, enforce_file_format=True)
                os.replace(temp, self.incoming / f"{uid}.dcm")
            except BaseException:
                temp.unlink(missing_ok=True)  # a full disk must not stay full of half an image
                raise
        except Exception as exc:  # noqa: BLE001 - tell the sender (it may retry later), keep serving
            log.error("could not keep an image from %s in %s: %s", calling, self.incoming, _cause(exc))
            return OUT_OF_RESOURCES
        log.info("received %s (%s) from %s", uid, dataset.get("Modality", "?"), calling)
        with self._work:
            self._work.notify_all()
        return 0x0000

    def _on_rejected(self, event: Any) -> None:
        """IT must see who was turned away and why: the node logs it whatever -v says (a PACS only says "rejected")."""
        requestor, primitive = event.assoc.requestor, event.assoc.acceptor.primitive
        why = _REJECTIONS.get((getattr(primitive, "result_source", None), getattr(primitive, "diagnostic", None)),
                              "rejected by the association rules")
        log.warning("refused an association from %s at %s: %s", requestor.ae_title, _address(requestor), why)

    def _on_accepted(self, event: Any) -> None:
        """Objects of a class the node does not know (a private or newer storage class) are refused in the
        negotiation, before any C-STORE: the sender reports a failure, so the node's log says so too. One short line,
        only when something proposed was refused: listing every refused class made a 1,770-character WARNING on
        each ordinary association from Orthanc (trial 22b)."""
        refused = sorted({_class_name(cx.abstract_syntax)[:64] for cx in event.assoc.rejected_contexts})
        if refused:
            requestor = event.assoc.requestor
            more = len(refused) - SHOWN_REFUSED
            names = ", ".join(refused[:SHOWN_REFUSED]) + (f" and {more} more" if more > 0 else "")
            log.warning("refused %d object type%s from %s at %s, not storage classes the node knows: %s", len(refused),
                        "" if len(refused) == 1 else "s", requestor.ae_title, _address(requestor), names)

    def _ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.add_supported_context(Verification)
        # Every storage class pynetdicom knows, not only the analysed ones: a PACS routing a whole study proposes its
        # SR and PDF in the same association, and one refused class failed the PACS's whole job (Orthanc: "Cannot
        # transcode from ... to one of [ ]"), so the film after it never came (trial 22b). _on_store keeps only the
        # analysed classes. The 128-context limit is the requestor's; an SCP may support more (pynetdicom checks
        # it for requested contexts only). Any transfer syntax: modalities send compressed films too (JPEG 2000,
        # JPEG-LS ...), which pydicom decodes, and the other objects are never decoded. Both of pynetdicom's lists:
        # StoragePresentationContexts holds 14 retired classes (Hardcopy, the old NM image ...) that the other lacks
        # and that senders such as Orthanc still propose.
        for context in (*AllStoragePresentationContexts, *StoragePresentationContexts):
            ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        if self.config.allowed_callers:
            ae.require_calling_aet = list(self.config.allowed_callers)
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 10
        return ae

    # -------------------------------------------------------------------------------------------- workers
    def _analyse_loop(self) -> None:
        while not self.stopping.is_set():
            files = sorted((p for p in self.incoming.glob("*.dcm") if p not in self._stuck),
                           key=lambda p: p.stat().st_mtime)
            if not files:
                with self._work:
                    self._work.wait(0.5)
                continue
            try:
                self._analyse_one(files[0])
            except OSError as exc:  # a full disk: the film stays in incoming/, tried again later; the thread lives on
                log.error("could not queue the results of %s in %s: %s; trying again in %.0f s", files[0].name,
                          self.outbox.pending, _cause(exc), self.config.requeue_after_s)
                self.stopping.wait(self.config.requeue_after_s)

    def _analyse_one(self, path: Path) -> None:
        try:
            results = self.analyse(path)
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the node
            log.error("analysis of %s failed: %s", path.name, exc)
            self._settle(path, self.failed)
            return
        try:
            self.outbox.put_all(results)  # all or none: on a full disk (OSError) the film is analysed again later
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - a result pydicom cannot write: trying again would not help
            log.error("could not write the results of %s: %s", path.name, _cause(exc))
            self._settle(path, self.failed)
            return
        final = self._settle(path, self.done)  # after the outbox holds the results: a crash re-analyses, loses nothing
        log.info("analysed %s: %d objects queued", path.name, len(results))
        if final is None:
            return
        if self.filed is not None:  # the history names the file where it stays, not incoming/ (trial 22b)
            try:
                self.filed(path, final)
            except Exception as exc:  # noqa: BLE001 - the results are queued already; keep serving
                log.error("could not record %s in the history: %s", final.name, exc)
        with self._work:
            self._work.notify_all()

    def _settle(self, path: Path, folder: Path) -> Path | None:
        """Move a film whose work is done out of incoming/ into ``folder`` (made again if an admin removed it); where
        it now lies. When even that fails the film stays in incoming/ but this run never analyses it again (its
        results are queued already): one ERROR line, not a re-analysis and a re-send every pass (review)."""
        target = folder / path.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except OSError as exc:
            log.error("could not move %s to %s: %s; it stays in incoming/ and is not analysed again until the node "
                      "restarts", path.name, folder, _cause(exc))
            self._stuck.add(path)
            return None
        return target

    def remove_old_files(self, now: float | None = None) -> int:
        """Delete what the node has finished with (received images in done/ and failed/, results the PACS confirmed
        in outbox/sent/) once older than ``keep_days``; they carry full patient headers. Never incoming/ or
        outbox/pending/: those are still to be analysed or sent. Returns how many files went."""
        if self.config.keep_days is None:
            return 0
        limit = (time.time() if now is None else now) - self.config.keep_days * 86400
        removed = 0
        for folder in (self.done, self.failed, self.outbox.sent):
            for path in folder.glob("*.dcm"):
                try:
                    if path.stat().st_mtime < limit:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            log.info("removed %d files older than %g days from done/, failed/ and outbox/sent/", removed,
                     self.config.keep_days)
        return removed

    def _send_loop(self) -> None:
        next_cleanup = 0.0
        while not self.stopping.is_set():
            if self.config.keep_days is not None and time.monotonic() >= next_cleanup:
                self.remove_old_files()
                next_cleanup = time.monotonic() + 3600  # hourly is enough for a limit counted in days
            due = self.outbox.due()
            if due:
                try:
                    confirmed = send_files(due, self.config.destination, self.config.ae_title)
                except Exception:  # noqa: BLE001 - the sender must live on: every later result depends on it
                    log.exception("sending %d results to %s failed", len(due), self.config.destination.ae_title)
                    confirmed = []
                for path in confirmed:
                    self.outbox.mark_sent(path)
                for path in set(due) - set(confirmed):
                    delay = self.outbox.mark_failed(path)
                    log.warning("will retry %s in %.0f s", path.name, delay)
            with self._work:
                self._work.wait(0.5)

    # -------------------------------------------------------------------------------------------- life cycle
    def remove_stale_temp_files(self) -> int:
        """Delete the half-written files a crash (a power cut, a kill) left in incoming/ and outbox/pending/: the
        node's own temporary names only (_OWN_TEMP), never another file. Called before the node listens, so no store
        of this run is writing one. Returns how many went."""
        removed = 0
        own = [path for folder in (self.incoming, self.outbox.pending) for path in folder.glob(".*.part")
               if _OWN_TEMP.fullmatch(path.name) and path.is_file() and not path.is_symlink()]
        for path in own:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        if removed:
            log.info("removed %d half-written file%s a previous run left in %s", removed, "" if removed == 1 else "s",
                     self.config.work_dir)
        return removed

    def start(self) -> None:
        self.remove_stale_temp_files()
        self._server = self._ae().start_server((self.config.host, self.config.port), block=False,
                                               evt_handlers=[(evt.EVT_C_STORE, self._on_store),
                                                             (evt.EVT_REJECTED, self._on_rejected),
                                                             (evt.EVT_ACCEPTED, self._on_accepted)])
        log.info("listening as %s on %s:%d, forwarding to %s@%s:%d", self.config.ae_title, self.config.host,
                 self.config.port, self.config.destination.ae_title, self.config.destination.host,
                 self.config.destination.port)
        for target in (self._analyse_loop, self._send_loop):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        with self._work:
            self._work.notify_all()
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=8)
        log.info("stopped")
