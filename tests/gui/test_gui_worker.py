"""The one worker mechanism (gui/worker.py), with real pool threads: order of signals, errors, progress, cancelling.

Threads are held with events that the test opens, never with sleeps; the events' timeouts only keep a broken test
from hanging the suite.
"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from osteo_desktop.gui.worker import LatestOnlyRunner, Worker, start_worker


def record(worker: Worker) -> list[tuple]:
    """Every signal the worker delivers, in order, with the thread it was delivered on."""
    events: list[tuple] = []
    for name in ("started", "progress", "returned", "errored", "finished"):
        getattr(worker, name).connect(lambda *args, n=name: events.append((n, *args, threading.current_thread() is threading.main_thread())))
    return events


def run(qtbot, work, *, before_start=None) -> tuple[Worker, list[tuple]]:
    worker = Worker(work)
    events = record(worker)
    if before_start:
        before_start(worker)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.start()
    return worker, events


def test_a_value_is_returned_on_the_gui_thread_after_started_and_before_finished(qtbot):
    ran_in = []
    worker, events = run(qtbot, lambda job: ran_in.append(threading.current_thread()) or 42)
    assert ran_in and ran_in[0] is not threading.main_thread()
    assert events == [("started", True), ("returned", 42, True), ("finished", True)]
    assert worker.is_done() and not worker.is_cancelled()


def test_an_error_is_delivered_as_a_signal_not_raised(qtbot):
    problem = ValueError("the file is damaged")

    def work(job):
        raise problem

    _, events = run(qtbot, work)
    assert events == [("started", True), ("errored", problem, True), ("finished", True)]


def test_yielded_and_reported_values_arrive_in_order_as_progress(qtbot):
    def work(job):
        job.report("listing")
        for i in range(3):
            yield i
        return "done"

    _, events = run(qtbot, work)
    assert [e[0] for e in events] == ["started", "progress", "progress", "progress", "progress", "returned", "finished"]
    assert [e[1] for e in events if e[0] == "progress"] == ["listing", 0, 1, 2]
    assert ("returned", "done", True) in events


def test_a_cancelled_job_stops_cooperatively_and_its_result_is_never_delivered(qtbot):
    inside, gate, saw_stop = threading.Event(), threading.Event(), []

    def work(job):
        inside.set()
        assert gate.wait(30)
        saw_stop.append(job.stop_requested())
        yield "late progress"
        return "stale result"

    worker = Worker(work)
    events = record(worker)
    worker.start()
    assert inside.wait(30)
    worker.cancel()
    with qtbot.waitSignal(worker.finished, timeout=30000):
        gate.set()
    assert saw_stop == [True]
    # the GUI thread ran no events between start and cancel, so even 'started' was still queued: only finished comes
    assert [e[0] for e in events] == ["finished"]


def test_a_result_already_on_its_way_is_dropped_when_cancelled_before_delivery(qtbot):
    worker = Worker(lambda job: "computed before the user moved on")
    events = record(worker)
    worker.start()
    assert worker.wait(30)  # the thread has ended and its signals are queued; the GUI thread has not seen them
    worker.cancel()
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    assert [e[0] for e in events] == ["finished"]


def test_a_stop_request_keeps_what_was_done(qtbot):
    produced = []

    def work(job):
        for i in range(1000):
            produced.append(i)
            job.report(i)
            if i == 2:
                job_asked.wait(30)  # the GUI thread asks to stop while the work is here
            if job.stop_requested():
                return len(produced)
        return len(produced)

    job_asked = threading.Event()
    worker = Worker(work)
    events = record(worker)
    worker.progress.connect(lambda value: (worker.request_stop(), job_asked.set()) if value == 2 else None)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        worker.start()
    assert produced == [0, 1, 2]
    assert [e[1] for e in events if e[0] == "progress"] == [0, 1, 2]
    assert ("returned", 3, True) in events
    assert worker.stop_was_requested() and not worker.is_cancelled()


def test_start_worker_connects_before_starting_and_refuses_unknown_signals(qtbot):
    got = []
    pool = QThreadPool()
    worker = start_worker(lambda job: "x", pool=pool, returned=got.append)
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
    assert got == ["x"]
    with pytest.raises(TypeError):
        start_worker(lambda job: None, pool=pool, yielded=print)
    pool.waitForDone(30000)


def test_the_latest_only_runner_hears_only_the_newest_job(qtbot):
    runner = LatestOnlyRunner()
    busy = []
    runner.busy_changed.connect(busy.append)
    inside, gate = threading.Event(), threading.Event()

    def first(job):
        inside.set()
        assert gate.wait(30)
        return "first"

    results = []
    old = runner.start(first, returned=results.append)
    assert inside.wait(30) and runner.is_busy()
    new = runner.start(lambda job: "second", returned=results.append)
    assert old.is_cancelled() and runner.current is new
    with qtbot.waitSignals([old.finished, new.finished], timeout=30000):
        gate.set()
    assert runner.wait_for_done(30000)
    QApplication.processEvents()
    assert results == ["second"]
    assert busy == [True, False, True, False] and not runner.is_busy()


def test_a_job_cancelled_while_queued_never_runs(qtbot):
    runner = LatestOnlyRunner()  # one thread: the second job waits behind the first
    gate, inside, ran = threading.Event(), threading.Event(), []

    def first(job):
        inside.set()
        return gate.wait(30)

    runner.start(first)
    # The first must be running before the others are queued: started later (a loaded machine), it would be
    # cancelled before it ran and "queued" would take the free thread, which is not what this test is about.
    assert inside.wait(30)
    queued = runner.start(lambda job: ran.append("queued"))
    last = runner.start(lambda job: ran.append("last"))
    with qtbot.waitSignals([queued.finished, last.finished], timeout=30000):
        gate.set()
    assert ran == ["last"]


def test_finished_workers_are_released(qtbot):
    import gc
    import weakref

    runner = LatestOnlyRunner()
    refs = []
    for _ in range(5):
        for start in (lambda: runner.start(lambda job: (yield 1)), lambda: start_worker(lambda job: 2)):
            worker = start()  # its finished can only arrive once the wait below runs the event loop
            refs.append(weakref.ref(worker))
            with qtbot.waitSignal(worker.finished, timeout=30000):
                pass
            del worker
    runner.cancel()  # the runner no longer holds its last job either
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def test_a_job_that_ends_after_its_receiver_was_deleted_ends_quietly(qtbot, capfd):
    """At quit, teardown may delete a running worker's relay; the job then ended with a "Signal source has been
    deleted" traceback (seen on a self-test of a missing file) instead of ending quietly."""
    import shiboken6

    gate, reached = threading.Event(), threading.Event()

    def work(job):
        reached.set()
        gate.wait(10)
        job.report("late progress")
        return "late result"

    worker = Worker(work).start()
    assert reached.wait(10)
    shiboken6.delete(worker._relay)  # what the app's teardown does to it
    gate.set()
    assert worker.wait(10)  # the work ran to its end
    QThreadPool.globalInstance().waitForDone(10000)
    assert "Signal source has been deleted" not in capfd.readouterr().err
