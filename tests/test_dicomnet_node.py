"""The DICOM node with pynetdicom's own SCPs on loopback: echo, store, forward, refuse strangers, queue and resume."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

import pydicom

import numpy as np
import pytest
from pydicom.uid import MRImageStorage
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from dicomnet_helpers import LOOPBACK, Orthanc, Receiver, cr_radiograph, free_port, store, store_all
from osteo_desktop.core.results.dicom_objects import (DicomExportInput, KneeFinding, build_secondary_capture, build_sr,
                                                      read_source_header)
from osteo_desktop.dicomnet.forward import Destination
from osteo_desktop.dicomnet.node import Node, NodeConfig


def fake_analyse(path: Path):
    """Stands in for the model: a fixed finding, so the test checks the plumbing, not the classifier."""
    source = read_source_header(path)
    inp = DicomExportInput(source, [KneeFinding("R", (0, 0, 47, 63), "normal", 0.25, 0.5)], model_sha256="ab" * 32,
                           algorithm_version="t", annotated_rgb=np.zeros((64, 48, 3), np.uint8))
    return [build_sr(inp), build_secondary_capture(inp)]


def make_node(tmp_path, dest_port, allowed=(), backoff=0.05):
    config = NodeConfig(free_port(), "OSTEO", Destination("DEST", LOOPBACK, dest_port), tmp_path / "node",
                        list(allowed), first_backoff_s=backoff)
    return Node(config, fake_analyse)


@pytest.fixture
def receiver():
    rx = Receiver().start()
    yield rx
    rx.stop()


def test_echo_store_and_forward_into_the_same_study(tmp_path, receiver):
    node = make_node(tmp_path, receiver.port, allowed=["MODALITY"])
    node.start()
    try:
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(Verification)
        assoc = ae.associate(LOOPBACK, node.config.port, ae_title="OSTEO")
        assert assoc.is_established and assoc.send_c_echo().Status == 0
        assoc.release()
        image = cr_radiograph()
        assert store(image, node.config.port, "MODALITY") == (True, 0)
        got = receiver.wait_for(2)
    finally:
        node.stop()
    assert sorted(d.SOPClassUID.name for d in got) == ["Comprehensive 3D SR Storage", "Secondary Capture Image Storage"]
    assert {d.StudyInstanceUID for d in got} == {image.StudyInstanceUID}
    assert len(list((node.config.work_dir / "outbox" / "sent").glob("*.dcm"))) == 2


def test_a_stranger_ae_is_refused(tmp_path, receiver):
    node = make_node(tmp_path, receiver.port, allowed=["MODALITY"])
    node.start()
    try:
        assert store(cr_radiograph(), node.config.port, "STRANGER") == (False, None)
    finally:
        node.stop()
    assert list(node.incoming.glob("*.dcm")) == [] and list(node.done.glob("*.dcm")) == []


def test_other_sop_classes_are_answered_success_and_not_kept(tmp_path, receiver):
    """An MR is not a film the node analyses: Success (a PACS routing a study must not fail on it), nothing kept."""
    node = make_node(tmp_path, receiver.port)
    node.start()
    try:
        established, status = store(cr_radiograph(MRImageStorage), node.config.port, "ANY")
    finally:
        node.stop()
    assert (established, status) == (True, 0)
    assert [p for folder in (node.incoming, node.done, node.failed) for p in folder.iterdir()] == []
    assert list(node.outbox.pending.iterdir()) == [] and receiver.received == []


def test_results_wait_while_the_destination_is_down_then_go_exactly_once(tmp_path):
    dest_port = free_port()
    node = make_node(tmp_path, dest_port)
    node.start()
    try:
        assert store(cr_radiograph(), node.config.port, "ANY") == (True, 0)
        pending = node.outbox.pending
        with node._work:  # wait until the analysis queued its two results (no sleep: a condition with a deadline)
            node._work.wait_for(lambda: len(list(pending.glob("*.dcm"))) == 2, timeout=10)
    finally:
        node.stop()
    assert len(list(pending.glob("*.dcm"))) == 2  # destination down: nothing lost
    receiver = Receiver()
    receiver.port = dest_port
    receiver.start()
    try:
        restarted = make_node(tmp_path, dest_port)  # a restart over the same folders
        restarted.start()
        got = receiver.wait_for(2)
        restarted.stop()
        again = make_node(tmp_path, dest_port)  # and another: everything was confirmed, nothing goes twice
        again.start()
        again.stop()
    finally:
        receiver.stop()
    assert len(got) == 2 and len(receiver.received) == 2
    assert list(pending.glob("*.dcm")) == []


def test_backoff_doubles_up_to_a_minute(tmp_path):
    from osteo_desktop.dicomnet.outbox import Outbox

    outbox = Outbox(tmp_path, first_backoff_s=1.0)
    path = tmp_path / "pending" / "x.dcm"
    path.write_bytes(b"")
    delays = [outbox.mark_failed(path, now=0.0) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert outbox.due(now=59.0) == [] and outbox.due(now=60.0) == [path]


def test_destination_parse():
    assert Destination.parse("PACS@127.0.0.1:4242") == Destination("PACS", "127.0.0.1", 4242)
    with pytest.raises(ValueError):
        Destination.parse("PACS:4242")


def _own_annotated_image(study_of: "pydicom.Dataset"):
    """The annotated Secondary Capture the app itself writes for a film (core.results.dicom_objects), in its study."""
    from pydicom import Dataset

    header = Dataset(study_of)
    del header.PixelData
    inp = DicomExportInput(header, [KneeFinding("R", (0, 0, 47, 63), "normal", 0.25, 0.5)], model_sha256="ab" * 32,
                           algorithm_version="t", annotated_rgb=np.zeros((64, 48, 3), np.uint8))
    return build_secondary_capture(inp)


def test_the_apps_own_annotated_image_is_answered_success_and_not_analysed(tmp_path, receiver, caplog):
    """A PACS routing a study back to the node sends it the annotated image the node made: no second result, no
    store loop. The sender gets Success (so it does not retry), the node keeps nothing and logs one line."""
    node = make_node(tmp_path, receiver.port)
    own = _own_annotated_image(cr_radiograph())
    node.start()
    try:
        with caplog.at_level("INFO", logger="osteo_desktop.dicomnet"):
            assert store(own, node.config.port, "PACS") == (True, 0)
    finally:
        node.stop()
    kept = [p.name for folder in (node.incoming, node.done, node.failed) for p in folder.iterdir()]
    assert kept == []  # the handler answers only after a kept file is in incoming/: nothing was kept
    assert list(node.outbox.pending.iterdir()) == [] and receiver.received == []
    lines = [r.getMessage() for r in caplog.records if own.SOPInstanceUID in r.getMessage()]
    assert lines == [f"ignored {own.SOPInstanceUID} from PACS: made by osteo-desktop (its own result), not analysed"]


class _Lines(logging.Handler):
    """The node's log lines, with a way to wait for one (the node logs on pynetdicom's thread, maybe after the
    sender already has its answer): a condition with a deadline, no sleep."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[int, str]] = []
        self.arrived = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.arrived:
            self.lines.append((record.levelno, record.getMessage()))
            self.arrived.notify_all()

    def wait_for(self, needle: str, timeout_s: float = 10.0, count: int = 1) -> list[tuple[int, str]]:
        with self.arrived:
            self.arrived.wait_for(lambda: sum(needle in line for _, line in self.lines) >= count, timeout=timeout_s)
            return [(level, line) for level, line in self.lines if needle in line]


@pytest.fixture
def node_log():
    handler = _Lines()
    logger = logging.getLogger("osteo_desktop.dicomnet")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_refused_caller_is_logged_with_its_ae_title_address_and_why(tmp_path, receiver, node_log):
    """Trial 22: with --allow-ae MODALITY a C-STORE from "PACS" was rejected and the node's log, even with -v, said
    nothing. IT needs who, from where, and why, at WARNING (shown without -v)."""
    node = make_node(tmp_path, receiver.port, allowed=["MODALITY"])
    node.start()
    try:
        assert store(cr_radiograph(), node.config.port, "PACS") == (False, None)
        lines = node_log.wait_for("refused an association")
    finally:
        node.stop()
    assert len(lines) == 1 and lines[0][0] == logging.WARNING
    assert re.fullmatch(r"refused an association from PACS at 127\.0\.0\.1:\d+: its calling AE title is not in "
                        r"--allow-ae", lines[0][1]), lines


def _study_with_own_results() -> tuple["pydicom.Dataset", "pydicom.Dataset", "pydicom.Dataset"]:
    """A DX film and the app's own SR and Encapsulated PDF for it, in its study: what a PACS holds once the node has
    sent its results (and the GUI a report), and sends back whole when it routes the study to the node."""
    from pydicom import Dataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation

    from osteo_desktop.core.results.dicom_objects import build_encapsulated_pdf

    film = cr_radiograph(DigitalXRayImageStorageForPresentation)
    film.Modality = "DX"
    header = Dataset(film)
    del header.PixelData
    inp = DicomExportInput(header, [KneeFinding("R", (0, 0, 47, 63), "normal", 0.25, 0.5)], model_sha256="ab" * 32,
                           algorithm_version="t", pdf_bytes=b"%PDF-1.4\n%%EOF\n")
    return film, build_sr(inp), build_encapsulated_pdf(inp)


def test_a_study_with_a_film_an_sr_and_a_pdf_in_one_association_stores_all_and_analyses_the_film(tmp_path, receiver,
                                                                                                node_log):
    """Trial 22b: the node refused the SR and PDF classes in the negotiation, so a PACS routing a whole study failed
    the job at the SR and the DX was never delivered. Now all three are answered Success in the one association,
    only the DX is kept and analysed, its results go out once, and each ignored object gets one INFO line."""
    analysed = []

    def counting(path: Path):
        analysed.append(path.name)
        return fake_analyse(path)

    film, sr, pdf = _study_with_own_results()
    node = make_node(tmp_path, receiver.port)
    node.analyse = counting
    node.start()
    try:
        statuses = store_all([sr, pdf, film], node.config.port, "PACS")  # the film last: it must still arrive
        got = receiver.wait_for(2)
    finally:
        node.stop()  # joins the sender thread: the results the receiver confirmed are in outbox/sent now
    sent = node.outbox.sent
    assert statuses == [0, 0, 0]
    assert analysed == [f"{film.SOPInstanceUID}.dcm"]
    assert [p.name for p in node.done.iterdir()] == [f"{film.SOPInstanceUID}.dcm"]
    assert list(node.incoming.iterdir()) == [] and list(node.failed.iterdir()) == []
    assert len(got) == 2 and len(receiver.received) == 2 and len(list(sent.glob("*.dcm"))) == 2
    assert {d.StudyInstanceUID for d in receiver.received} == {film.StudyInstanceUID}
    for ignored, name in ((sr, "Comprehensive 3D SR"), (pdf, "Encapsulated PDF")):
        # "ignored <uid>": the node's own SR for this film has the same UID (the same film and model give the same
        # objects), so its "sent <uid>.dcm" line names it too
        assert node_log.wait_for(f"ignored {ignored.SOPInstanceUID}") == [
            (logging.INFO, f"ignored {ignored.SOPInstanceUID} ({name}) from PACS: not a CR, DX or secondary capture "
                           "image, not kept")]


@pytest.mark.skipif(shutil.which("Orthanc") is None, reason="Orthanc not installed (apt-get install -y orthanc)")
def test_orthanc_routing_a_whole_study_to_the_node_succeeds_and_the_film_is_analysed_once(tmp_path, node_log):
    """The trial's own steps with a real PACS: the study (DX + the app's SR and PDF) is in Orthanc, and
    POST /modalities/osteo/store of the study sends it to the node. Before, Orthanc answered HTTP 500 "Cannot
    transcode from 1.2.840.10008.1.2.1 to one of [ ]" and the DX never came; now the job succeeds, the node analyses
    the DX once, and its two results land in Orthanc's copy of the study."""
    import json

    film, sr, pdf = _study_with_own_results()
    node_port = free_port()
    orthanc = Orthanc(tmp_path, modalities={"osteo": ["OSTEO", LOOPBACK, node_port]})
    try:
        for ds in (film, sr, pdf):
            orthanc.upload(ds)
        (study,) = json.loads(orthanc.rest("/studies"))
        config = NodeConfig(node_port, "OSTEO", Destination(orthanc.ae_title, LOOPBACK, orthanc.port),
                            tmp_path / "node",
                            first_backoff_s=0.05)
        analysed = []

        def counting(path: Path):
            analysed.append(path.name)
            return fake_analyse(path)

        node = Node(config, counting)
        node.start()
        try:
            orthanc.rest("/modalities/osteo/store", study.encode())  # urllib raises HTTPError on Orthanc's 500
            # forward.py logs "sent X.dcm to ORTHANC" once the PACS confirmed X
            node_log.wait_for(f".dcm to {orthanc.ae_title}", timeout_s=20, count=2)
        finally:
            node.stop()
        instances = orthanc.instances()
    finally:
        orthanc.stop()
    assert analysed == [f"{film.SOPInstanceUID}.dcm"]
    # The node's SR of this film has the UID of the SR already in the study (the same film and model give the same
    # objects), so Orthanc keeps one; the annotated image (OT) is added: the DX, one SR, the PDF and the image.
    assert len(instances) == 4 and {d.StudyInstanceUID for d in instances} == {film.StudyInstanceUID}
    assert sorted(d.Modality for d in instances) == ["DOC", "DX", "OT", "SR"]


def fake_analyse_of(film: "pydicom.Dataset", folder: Path):
    path = folder / "film.dcm"
    film.save_as(path, enforce_file_format=True)
    return fake_analyse(path)


def test_a_full_disk_leaves_no_part_file_and_one_log_line(tmp_path, receiver, node_log, monkeypatch):
    """Trial 22: on a full disk the node answered 0xA700 (right) but left incoming/.<uid>.part (548 KB, keeping the
    disk full) and logged pydicom's whole traceback. ENOSPC is raised where it struck: writing the pixel data, after
    the header is already on disk."""
    import errno
    import os

    from pydicom import filewriter

    real_write = filewriter.write_data_element

    def full_at_pixels(fp, element, *args, **kwargs):  # the sender encodes through the same function, in memory
        if element.tag == 0x7FE00010 and str(getattr(fp, "name", "")).endswith(".part"):  # the node's file, not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fp, element, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", full_at_pixels)
    node = make_node(tmp_path, receiver.port)
    node.start()
    try:
        assert store(cr_radiograph(), node.config.port, "MODALITY") == (True, 0xA700)  # out of resources: retry later
        lines = node_log.wait_for("could not keep an image")
    finally:
        node.stop()
    assert list(node.incoming.iterdir()) == []  # the header written before the disk filled is gone too
    assert lines == [(logging.ERROR, f"could not keep an image from MODALITY in {node.incoming}: No space left on device")]


def test_a_result_that_cannot_be_queued_leaves_no_part_file(tmp_path, monkeypatch):
    import errno
    import os

    from pydicom import filewriter

    from osteo_desktop.dicomnet.outbox import Outbox

    real_write = filewriter.write_data_element

    def full_at_pixels(fp, element, *args, **kwargs):
        if element.tag == 0x7FE00010:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fp, element, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", full_at_pixels)
    outbox = Outbox(tmp_path / "outbox")
    with pytest.raises(OSError):
        outbox.put(cr_radiograph())
    assert list(outbox.pending.iterdir()) == []


def test_keep_days_removes_only_finished_files_older_than_the_limit(tmp_path):
    """--keep-days: received images (done/, failed/) and confirmed results (outbox/sent/) carry full patient headers
    and were kept forever; work still to do (incoming/, outbox/pending/) is never removed, however old."""
    import os

    config = NodeConfig(free_port(), "OSTEO", Destination("DEST", LOOPBACK, 1), tmp_path / "node", keep_days=2)
    node = Node(config, fake_analyse)
    now = 1_000_000_000.0
    day = 86400
    ages = {"old": 3 * day, "edge": 2 * day - 1, "new": 1 * day}  # 2 days less a second: still kept
    made = {}
    for folder in (node.done, node.failed, node.outbox.sent, node.incoming, node.outbox.pending):
        for name, age in ages.items():
            path = folder / f"{name}.dcm"
            path.write_bytes(b"x")
            os.utime(path, (now - age, now - age))
            made[path] = (folder, name)
    assert node.remove_old_files(now=now) == 3
    gone = sorted(str(p.relative_to(tmp_path / "node")) for p in made if not p.exists())
    assert gone == ["done/old.dcm", "failed/old.dcm", "outbox/sent/old.dcm"]

    keep_all = Node(NodeConfig(free_port(), "OSTEO", Destination("DEST", LOOPBACK, 1), tmp_path / "node"), fake_analyse)
    assert keep_all.remove_old_files(now=now + 100 * day) == 0 and (node.done / "new.dcm").exists()


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")  # the sender's pydicom says so too: sent all the same
@pytest.mark.parametrize("uid", ["/../osteo-node-test-escaped", "1.2/../../osteo-node-test-escaped", "1.2.abc"])
def test_a_sop_instance_uid_that_is_not_a_uid_is_refused_and_names_no_file(tmp_path, receiver, uid):
    """The received UID names the node's files: a sender's "/../x" made incoming/"./../x.part" (outside incoming/)
    and then os.replace moved it to "/x.dcm", the root folder. Anything but a UID is refused, and nothing is written."""
    escaped = Path("/osteo-node-test-escaped.dcm")  # where the unfixed node wrote it; removed if a regression does
    node = make_node(tmp_path, receiver.port)
    image = cr_radiograph()
    image.SOPInstanceUID = uid
    before = sorted(p for p in tmp_path.rglob("*"))
    node.start()
    try:
        established, status = store(image, node.config.port, "MODALITY")
        written_outside = escaped.exists()
    finally:
        node.stop()
        escaped.unlink(missing_ok=True)
    assert not written_outside
    assert established and status == 0xC210  # "cannot understand": the sender should not retry as is
    assert sorted(p for p in tmp_path.rglob("*")) == before


def _store_proposing(film: "pydicom.Dataset", port: int, extra_classes: list) -> int:
    """Store ``film`` in an association that also proposes ``extra_classes``, as a PACS proposing many classes does."""
    ae = AE(ae_title="PACS")
    ae.add_requested_context(film.SOPClassUID, film.file_meta.TransferSyntaxUID)
    for sop_class in extra_classes:
        ae.add_requested_context(sop_class)
    assoc = ae.associate(LOOPBACK, port, ae_title="OSTEO")
    assert assoc.is_established
    try:
        return int(assoc.send_c_store(film).Status)
    finally:
        assoc.release()


PRIVATE = [f"1.2.826.0.1.3680043.9.9999.{n}" for n in (5, 1, 4, 2, 3)]  # classes no node knows


@pytest.mark.parametrize("proposed, expected", [
    (PRIVATE[:1], "refused 1 object type from PACS at 127.0.0.1:PORT, not storage classes the node knows: "
                  "1.2.826.0.1.3680043.9.9999.5"),
    (PRIVATE, "refused 5 object types from PACS at 127.0.0.1:PORT, not storage classes the node knows: "
              "1.2.826.0.1.3680043.9.9999.1, 1.2.826.0.1.3680043.9.9999.2, 1.2.826.0.1.3680043.9.9999.3 and 2 more"),
])
def test_refused_classes_are_one_short_warning_with_a_count_and_at_most_three_names(tmp_path, receiver, node_log,
                                                                                    proposed, expected):
    """Trial 22b: every association from Orthanc logged a 1,770-character WARNING naming ~60 refused classes."""
    node = make_node(tmp_path, receiver.port)
    node.start()
    try:
        film = cr_radiograph()
        assert _store_proposing(film, node.config.port, proposed) == 0
        lines = node_log.wait_for("refused")
    finally:
        node.stop()
    assert [(level, re.sub(r":\d+,", ":PORT,", line)) for level, line in lines] == [(logging.WARNING, expected)]


def test_an_association_proposing_every_storage_class_logs_no_refusal(tmp_path, receiver, node_log):
    """What Orthanc does on each C-STORE: it proposes the common storage classes; none is refused, no line."""
    from pynetdicom import StoragePresentationContexts

    node = make_node(tmp_path, receiver.port)
    node.start()
    try:
        film = cr_radiograph()
        others = [cx.abstract_syntax for cx in StoragePresentationContexts if cx.abstract_syntax != film.SOPClassUID]
        assert _store_proposing(film, node.config.port, others[:127]) == 0
        node_log.wait_for(f"received {film.SOPInstanceUID}")  # logged after the negotiation's line would have been
    finally:
        node.stop()
    assert [line for _, line in node_log.lines if "refused" in line] == []
    assert [line for _, line in node_log.lines if f"received {film.SOPInstanceUID}" in line]


def test_the_node_says_where_an_analysed_film_was_filed_once_it_is_there(tmp_path, receiver):
    """Trial 22b: the history entry named node/incoming/<uid>.dcm, which the node empties right after; `osteo serve`
    records from this call instead, which names done/<uid>.dcm, where the film stays."""
    calls = []
    node = make_node(tmp_path, receiver.port)
    node.filed = lambda received, final: calls.append((received, final, final.is_file(), received.exists()))
    film = cr_radiograph()
    node.start()
    try:
        assert store(film, node.config.port, "MODALITY") == (True, 0)
        receiver.wait_for(2)
        with node._work:
            node._work.wait_for(lambda: calls, timeout=10)
    finally:
        node.stop()
    name = f"{film.SOPInstanceUID}.dcm"
    assert calls == [(tmp_path / "node" / "incoming" / name, tmp_path / "node" / "done" / name, True, False)]


def _two_films_through(node: Node, receiver, then=None):
    """Two films stored to the running node and their four results received; ``then()``'s answer, asked before the
    node stops (a log line it waits for)."""
    films = [cr_radiograph(), cr_radiograph()]
    node.start()
    try:
        for film in films:
            assert store(film, node.config.port, "MODALITY") == (True, 0)
        got = receiver.wait_for(4)
        answer = then() if then is not None else None
    finally:
        node.stop()
    return films, got, answer


def test_a_history_that_cannot_be_written_is_logged_and_the_node_goes_on(tmp_path, receiver, node_log):
    """Recording comes after the results are queued: a failing history costs one ERROR line, not the film (before,
    a history error inside the analysis sent the film to failed/ and forwarded nothing) nor the analysis thread."""
    def broken_history(received: Path, final: Path) -> None:
        raise OSError("database is locked")

    node = make_node(tmp_path, receiver.port)
    node.filed = broken_history
    films, got, lines = _two_films_through(node, receiver, lambda: node_log.wait_for("could not record", count=2))
    assert len(got) == 4 and list(node.failed.iterdir()) == []
    assert sorted(p.name for p in node.done.iterdir()) == sorted(f"{f.SOPInstanceUID}.dcm" for f in films)
    assert sorted(lines) == sorted((logging.ERROR, f"could not record {f.SOPInstanceUID}.dcm in the history: database "
                                                   "is locked") for f in films)


def test_results_that_cannot_be_queued_are_dropped_whole_and_the_film_is_analysed_again(tmp_path, receiver, node_log,
                                                                                       monkeypatch):
    """Found in stop 22b: an OSError while queuing the results (a full disk) escaped the analysis thread, which died:
    the node went on answering Success to films it never analysed. Now the film stays in incoming/, no part of the
    set reaches the queue (the SR alone would reach the PACS beside the next set), and it is analysed again later."""
    import errno
    import os

    from osteo_desktop.dicomnet.outbox import Outbox

    real_write = Outbox._write
    puts = []

    def full_at_the_second_result_once(dataset, temp):
        puts.append(dataset.SOPInstanceUID)
        if len(puts) == 2:
            assert [p.name for p in temp.parent.iterdir()] == [f".{puts[0]}.part"]  # the first: not yet in the queue
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(dataset, temp)

    monkeypatch.setattr(Outbox, "_write", staticmethod(full_at_the_second_result_once))
    node = make_node(tmp_path, receiver.port)
    node.config.requeue_after_s = 0.05
    film = cr_radiograph()
    node.start()
    try:
        assert store(film, node.config.port, "MODALITY") == (True, 0)
        lines = node_log.wait_for("could not queue the results")
        got = receiver.wait_for(2)
    finally:
        node.stop()
    assert lines == [(logging.ERROR, f"could not queue the results of {film.SOPInstanceUID}.dcm in "
                                     f"{node.outbox.pending}: No space left on device; trying again in 0 s")]
    assert len(puts) == 4  # SR queued, image failed; then both again
    assert len(receiver.received) == 2 and {d.SOPInstanceUID for d in got} == set(puts[2:])
    assert [p.name for p in node.done.iterdir()] == [f"{film.SOPInstanceUID}.dcm"]
    assert list(node.incoming.iterdir()) == [] and list(node.outbox.pending.iterdir()) == []


def test_results_pydicom_cannot_write_send_the_film_to_failed_and_the_node_goes_on(tmp_path, receiver, node_log,
                                                                                   monkeypatch):
    """Not a full disk but a result that cannot be written at all: trying again would not help (and, oldest first,
    would hold up every later film), so the film goes to failed/ with one ERROR line."""
    from osteo_desktop.dicomnet.outbox import Outbox

    def unwritable(dataset, temp):
        raise ValueError("bad value for (0008,0020)")

    monkeypatch.setattr(Outbox, "_write", staticmethod(unwritable))
    node = make_node(tmp_path, receiver.port)
    film = cr_radiograph()
    node.start()
    try:
        assert store(film, node.config.port, "MODALITY") == (True, 0)
        lines = node_log.wait_for("could not write the results")
    finally:
        node.stop()
    assert lines == [(logging.ERROR, f"could not write the results of {film.SOPInstanceUID}.dcm: bad value for "
                                     "(0008,0020)")]
    assert [p.name for p in node.failed.iterdir()] == [f"{film.SOPInstanceUID}.dcm"]
    assert list(node.incoming.iterdir()) == [] and list(node.outbox.pending.iterdir()) == []


def test_a_dx_for_processing_film_is_analysed_like_every_radiograph_the_app_reads(tmp_path, receiver, node_log):
    """Review of stop 22: the node answered Success to a DX "For Processing" film and dropped it as "not a CR, DX or
    secondary capture image", although PACS fetch, File open and watch all read that class."""
    from pynetdicom.sop_class import DigitalXRayImageStorageForProcessing

    node = make_node(tmp_path, receiver.port)
    film = cr_radiograph(DigitalXRayImageStorageForProcessing)
    node.start()
    try:
        assert store(film, node.config.port, "MODALITY") == (True, 0)
        got = receiver.wait_for(2)
    finally:
        node.stop()
    assert sorted(d.SOPClassUID.name for d in got) == ["Comprehensive 3D SR Storage", "Secondary Capture Image Storage"]
    assert [p.name for p in node.done.iterdir()] == [f"{film.SOPInstanceUID}.dcm"]
    assert not [line for _, line in node_log.lines if "not kept" in line]


def test_a_removed_done_folder_is_made_again_and_no_film_is_analysed_twice(tmp_path, receiver):
    """Review of stop 22: with done/ removed (space freed by hand), moving the film failed after its results were
    queued, the loop took it for a full disk and analysed and sent it again every pass, holding up later films."""
    calls = []

    def counting(path: Path):
        calls.append(path.name)
        return fake_analyse(path)

    node = make_node(tmp_path, receiver.port)
    node.analyse = counting
    shutil.rmtree(node.done)
    films, got, _ = _two_films_through(node, receiver)
    names = sorted(f"{f.SOPInstanceUID}.dcm" for f in films)
    assert sorted(calls) == names  # each film once
    assert len(got) == 4 and sorted(p.name for p in node.done.iterdir()) == names


def test_a_film_that_cannot_leave_incoming_is_not_analysed_again(tmp_path, receiver, node_log, monkeypatch):
    """If even the move fails (its results are queued already): one ERROR line, and the film is not analysed and
    sent again each pass; the next film is analysed."""
    import os as os_module

    from osteo_desktop.dicomnet import node as node_module

    calls = []
    node = make_node(tmp_path, receiver.port)
    node.analyse = lambda path: (calls.append(path.name), fake_analyse(path))[1]
    first, second = cr_radiograph(), cr_radiograph()
    real_replace = os_module.replace

    def stuck_first(src, dst, *args, **kwargs):
        if Path(src).name == f"{first.SOPInstanceUID}.dcm" and Path(dst).parent == node.done:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(node_module.os, "replace", stuck_first)
    node.start()
    try:
        assert store(first, node.config.port, "MODALITY") == (True, 0)
        node_log.wait_for("could not move")
        assert store(second, node.config.port, "MODALITY") == (True, 0)
        receiver.wait_for(4)
        with node._work:
            node._work.wait_for(lambda: len(calls) >= 2, timeout=10)
    finally:
        node.stop()
    assert calls == [f"{first.SOPInstanceUID}.dcm", f"{second.SOPInstanceUID}.dcm"]
    assert len(receiver.received) == 4  # each film's two results, once


def test_a_destination_that_refuses_one_class_still_gets_the_others_and_the_sender_lives(tmp_path, node_log):
    """Review of stop 22: a PACS without Comprehensive 3D SR made send_c_store raise, the sender thread died, and no
    result of any later film was sent."""
    from pynetdicom.sop_class import SecondaryCaptureImageStorage

    older = Receiver(classes=[SecondaryCaptureImageStorage]).start()
    try:
        node = make_node(tmp_path, older.port)
        node.start()
        try:
            for _ in range(2):
                assert store(cr_radiograph(), node.config.port, "MODALITY") == (True, 0)
            got = older.wait_for(2)
            node_log.wait_for("not sent to DEST", count=2)
        finally:
            node.stop()
    finally:
        older.stop()
    assert [d.SOPClassUID.name for d in got] == ["Secondary Capture Image Storage"] * 2


def _store_event(film: "pydicom.Dataset", calling: str = "PACS"):
    """What pynetdicom hands the C-STORE handler, for calling it directly: the decoded dataset and its file meta."""
    from types import SimpleNamespace

    from pydicom import Dataset

    dataset = Dataset(film)  # a copy without the file meta (each association decodes its own)
    request = SimpleNamespace(AffectedSOPClassUID=film.SOPClassUID, AffectedSOPInstanceUID=film.SOPInstanceUID)
    return SimpleNamespace(assoc=SimpleNamespace(requestor=SimpleNamespace(ae_title=calling)), request=request,
                           dataset=dataset, file_meta=film.file_meta)


def test_two_stores_of_the_same_instance_at_once_both_succeed_and_leave_one_whole_file(tmp_path, monkeypatch):
    """A PACS retrying while its first association is still sending the same SOP Instance UID: both stores wrote the
    one ".<uid>.part", the second moved it into place, and the first store's rename then failed (0xA700, after its
    pixels had gone into the file the analysis reads). The second store runs whole while the first is between its
    header and its pixel data (driven from inside pydicom's writer, no timing)."""
    from pydicom import filewriter

    node = make_node(tmp_path, 1)  # never started: the handler alone
    film = cr_radiograph()
    real_write = filewriter.write_data_element
    inner: list[int] = []
    temps: list[str] = []

    def second_store_at_the_first_ones_pixels(fp, element, *args, **kwargs):
        name = str(getattr(fp, "name", ""))
        if element.tag == 0x7FE00010 and name.endswith(".part"):
            temps.append(Path(name).name)
            if not inner:
                inner.append(-1)
                inner[0] = node._on_store(_store_event(film))  # the retry, whole, while the first is half written
        return real_write(fp, element, *args, **kwargs)

    monkeypatch.setattr(filewriter, "write_data_element", second_store_at_the_first_ones_pixels)
    first = node._on_store(_store_event(film))
    assert (first, inner) == (0, [0])
    assert len(temps) == 2 and temps[0] != temps[1]  # each store its own temporary file
    # named as the next start recognises a crash's leftovers (test_a_start_removes_the_temporary_files_...)
    assert all(re.fullmatch(rf"\.{re.escape(film.SOPInstanceUID)}\.[0-9a-f]{{8}}\.part", name) for name in temps), temps
    assert [p.name for p in node.incoming.iterdir()] == [f"{film.SOPInstanceUID}.dcm"]  # no temporary left
    kept = pydicom.dcmread(node.incoming / f"{film.SOPInstanceUID}.dcm")
    assert kept.SOPInstanceUID == film.SOPInstanceUID
    assert kept.PixelData == (np.arange(64 * 48, dtype=np.uint16) % 4096).tobytes()


def test_a_start_removes_the_temporary_files_a_crash_left_and_nothing_else(tmp_path, receiver, node_log):
    """A node killed while receiving (or queuing results) left its hidden ".<uid>[.<8 hex>].part" files in incoming/
    and outbox/pending/ for ever, each a partial copy of a patient's film. The next start removes exactly those: not a
    file an admin put there, not a name that only looks like one, not the films waiting to be analysed or sent."""
    node = make_node(tmp_path, receiver.port)
    own = {node.incoming: [".1.2.840.5.part", ".1.2.840.5.0a1b2c3d.part", ".1.2.840.6.ffffffff.part"],
           node.outbox.pending: [".2.25.77.part"]}
    others = {node.incoming: ["1.2.840.5.dcm", "notes.part", ".notes.part", ".1.2.part.bak",
                              ".1.2.840.5.0A1B2C3D.part", ".1.2.840.5.abcdefgh.part", ".1.2.840.5.0a1b2c3.part",
                              "..1.2.part", ".1.part", "1.2.840.5.part"],
              node.outbox.pending: ["2.25.77.dcm", ".x.2.25.part"]}
    for folder, names in own.items():
        for name in names:
            (folder / name).write_bytes(b"DICM half")
    for folder, names in others.items():
        for name in names:
            (folder / name).write_bytes(b"keep")
    (node.incoming / ".1.2.840.9.part").mkdir()  # a folder by that name is not the node's file
    (tmp_path / "precious").write_bytes(b"keep")
    (node.incoming / ".1.2.840.8.part").symlink_to(tmp_path / "precious")  # nor a link, wherever it points
    (node.done / ".1.2.840.7.part").write_bytes(b"keep")  # only incoming/ and outbox/pending/ are the node's
    analysed = []
    node.analyse = lambda path: analysed.append(path.name) or []  # the waiting film is still analysed
    node.start()
    try:
        lines = node_log.wait_for("half-written")
    finally:
        node.stop()
    remaining = sorted(p.name for folder in own for p in folder.iterdir())
    expected = sorted([n for names in others.values() for n in names if n != "1.2.840.5.dcm" and n != "2.25.77.dcm"]
                      + [".1.2.840.9.part", ".1.2.840.8.part"] + ["2.25.77.dcm"])
    assert analysed == ["1.2.840.5.dcm"] and [p.name for p in node.done.iterdir() if p.suffix == ".dcm"] == analysed
    assert remaining == expected
    assert (node.done / ".1.2.840.7.part").read_bytes() == b"keep"
    assert lines == [(logging.INFO, f"removed 4 half-written files a previous run left in {node.config.work_dir}")]
    assert (tmp_path / "precious").read_bytes() == b"keep" and (node.incoming / ".1.2.840.8.part").is_symlink()

    (node.incoming / ".1.2.840.10.part").write_bytes(b"DICM half")  # one: "file", not "files"
    node.start()
    node.stop()
    assert node_log.wait_for("half-written", count=2)[1] == (
        logging.INFO, f"removed 1 half-written file a previous run left in {node.config.work_dir}")


def test_a_store_never_writes_into_a_temporary_file_another_store_has(tmp_path, monkeypatch):
    """The random part of the name may repeat: a name another store holds is skipped (O_EXCL), not written into."""
    from osteo_desktop.dicomnet import node as node_module

    node = make_node(tmp_path, 1)
    film = cr_radiograph()
    taken = node.incoming / f".{film.SOPInstanceUID}.0000000a.part"
    taken.write_bytes(b"another store's first bytes")
    draws = iter(["0000000a", "0000000b"])
    monkeypatch.setattr(node_module.secrets, "token_hex", lambda n: next(draws))
    assert node._on_store(_store_event(film)) == 0
    assert taken.read_bytes() == b"another store's first bytes"
    assert sorted(p.name for p in node.incoming.iterdir()) == sorted([taken.name, f"{film.SOPInstanceUID}.dcm"])


def test_a_received_film_is_readable_like_any_new_file_of_the_users(tmp_path):
    """Its temporary file is made 0666 less the umask, as the node's received files always were (not mkstemp's
    0600, which would lock out a reader in the admin's group; not 0777, executable)."""
    import stat

    node = make_node(tmp_path, 1)
    film = cr_radiograph()
    reference = tmp_path / "reference"
    reference.write_text("made by open(), as any new file of the user's")
    assert node._on_store(_store_event(film)) == 0
    kept = node.incoming / f"{film.SOPInstanceUID}.dcm"
    assert stat.S_IMODE(kept.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
