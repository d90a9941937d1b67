"""`osteo predict` and `osteo scan` run in process with a stand-in model whose answers the test plans (issue 15): what
each command prints, writes and returns, every line written out here. The real model is never loaded (that is
tests/test_cli.py's part), so these run in seconds and the mutation driver can run them for every mutant of
cli/batch.py, cli/common.py and cli/__init__.py.

Written beside tests/test_reference_cli_commands.py (another branch's file on the same subject, kept on main); the
two overlap, and reports/mutation/cli-commands.md gives this file's figures alone.
"""

from __future__ import annotations

import csv
import json
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.cli import batch, common, main
from osteo_desktop.cli.common import StopOnSignal, Terminated
from osteo_desktop.core.errors import ModelIntegrityError, OsteoError
from osteo_desktop.core.results.text import DISCLAIMER

from imaging_factories import grey_film as _film
from planned_model import DECLINE, IN_SCOPE, THRESHOLD, Model

NOT_AN_IMAGE = b"\x89PNG\r\n\x1a\n not really"


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


class StandIn(Model):
    """The planned model with what the command line asks of a Classifier besides the pipeline: its threshold."""

    threshold = THRESHOLD


@pytest.fixture
def planned(monkeypatch):
    """Plan the stand-in's answers: ``planned([...])`` makes the next model the command loads answer so."""
    made = []

    def plan(answers):
        model = StandIn(answers)
        made.append(model)

        def load(model_dir):
            model.loaded_from = model_dir
            return model

        monkeypatch.setattr(batch, "load_classifier", load)
        return model

    return plan




@pytest.fixture
def folder(tmp_path) -> Path:
    films = tmp_path / "films"
    films.mkdir()
    _film(films / "a.png", 1)
    _film(films / "c.png", 2)
    (films / "b.png").write_bytes(NOT_AN_IMAGE)
    return films


def _caught(function, *args):
    """``function(*args)``, with any exception returned instead of raised: an interrupt that escapes (a broken
    handler) must fail the test, not stop the test run (mutmut reads an escaping KeyboardInterrupt as its user's)."""
    try:
        return function(*args)
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt included, on purpose
        return exc


def _run(capsys, *argv) -> tuple[int, str, str]:
    status = _caught(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _model_line(model) -> str:
    return f"Model {model.card.name} {model.card.version} (threshold 0.339)"


def test_predict_prints_the_table_and_the_disclaimer_and_exits_0(capsys, planned, folder):
    model = planned([(0.2, IN_SCOPE), (0.6, IN_SCOPE)])
    status, out, err = _run(capsys, "predict", folder / "a.png", folder / "c.png")
    assert status == 0 and err == ""  # predict shows no progress and no summary when nothing failed
    assert out.split("\n") == [
        _model_line(model),
        # The probability beside the threshold (0.339), no confidence (see test_reference_cli_output's HEADER).
        "RESULT" + " " * 15 + "P(OSTEO) THRESH  FILE",
        "normal" + " " * 18 + f"0.200  0.339  {folder / 'a.png'}",
        "  normal" + " " * 16 + "0.200  0.339    Right knee",
        "osteoporosis" + " " * 12 + f"0.600  0.339  {folder / 'c.png'}",
        "  osteoporosis" + " " * 10 + "0.600  0.339    Right knee",
        DISCLAIMER,
        "",
    ]


def test_predict_json_a_failed_file_and_a_declined_one(capsys, planned, folder):
    planned([(0.9, DECLINE), (0.4, IN_SCOPE)])
    status, out, err = _run(capsys, "predict", "--json", folder / "a.png", folder / "b.png", folder / "c.png")
    rows = json.loads(out)
    assert [Path(row["path"]).name for row in rows] == ["a.png", "b.png", "c.png"]
    declined, failed, positive = rows
    assert declined["label"] is None and declined["out_of_scope"] and declined["error"] is None
    assert failed["label"] is None and failed["error"].startswith("b.png: ")
    assert (positive["label"], positive["probability"], positive["confidence"]) == ("osteoporosis", 0.4, 0.4)
    assert status == 1  # a file failed
    summary, model_line, end = err.split("\n")  # the time taken is the only part not known beforehand
    assert summary.startswith("osteo: 3 files: 1 results, 1 out of scope (no result), 1 failed, in ")
    assert model_line == f"osteo: model 2.1.0. {DISCLAIMER}" and end == ""


def test_a_declined_file_is_not_a_failure(capsys, planned, folder):
    planned([(0.9, DECLINE)])
    status, out, err = _run(capsys, "predict", "--json", folder / "a.png")
    assert status == 0 and json.loads(out)[0]["out_of_scope"]
    assert err == f"osteo: model 2.1.0. {DISCLAIMER}\n"


def test_scan_writes_the_csv_says_so_and_summarises(capsys, planned, folder, tmp_path):
    planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    out_csv = tmp_path / "out.csv"
    status, out, err = _run(capsys, "scan", folder, "--no-history", "--json", "--csv", out_csv)
    assert status == 1  # b.png failed
    rows = list(csv.DictReader(out_csv.open(newline="")))
    assert [(Path(r["path"]).name, r["label"], r["probability"]) for r in rows] == [
        ("a.png", "normal", "0.200000"), ("b.png", "", ""), ("c.png", "osteoporosis", "0.700000")]
    assert [Path(r["path"]).name for r in json.loads(out)] == ["a.png", "b.png", "c.png"]
    # Not a terminal: progress is a plain line now and then (always the first and the last), between the others.
    progress = [line for line in err.split("\n")[:-1] if line.startswith("scanned ")]
    assert progress[0].startswith("scanned 1/3 (0 failed), ") and progress[-1].startswith("scanned 3/3 (1 failed), ")
    lines = [line for line in err.split("\n")[:-1] if not line.startswith("scanned ")]
    assert lines[0] == f"osteo: 3 files in {folder}"
    assert lines[1] == f"osteo: wrote 3 rows to {out_csv}"
    assert lines[2].startswith("osteo: 3 files: 2 results, 1 failed, in ")
    assert lines[3] == f"osteo: model 2.1.0. {DISCLAIMER}"
    assert len(lines) == 4


def test_scan_records_the_history_and_the_second_scan_reuses_it(capsys, planned, folder, tmp_path):
    for name in ("b.png",):
        (folder / name).unlink()
    planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status, _, err = _run(capsys, "scan", folder, "--json")
    assert status == 0 and "(" not in err.split("osteo: 2 files: ")[1].split(", in ")[0]
    assert (tmp_path / "data" / "history.sqlite3").is_file()
    planned([])  # nothing to compute: every answer comes from the history
    status, out, err = _run(capsys, "scan", folder, "--json")
    assert status == 0
    assert "osteo: 2 files: 2 results, 0 failed (2 reused from the history), in " in err
    assert [r["probability"] for r in json.loads(out)] == [0.2, 0.7]


def test_scan_table_and_predict_into_a_csv(capsys, planned, folder, tmp_path):
    (folder / "b.png").unlink()
    model = planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status, out, err = _run(capsys, "scan", folder, "--no-history")
    assert status == 0
    assert out.split("\n")[0] == _model_line(model) and out.split("\n")[-2] == DISCLAIMER
    planned([(0.3, IN_SCOPE)])
    target = tmp_path / "one.csv"
    status, out, err = _run(capsys, "predict", "--csv", target, folder / "a.png")
    assert status == 0 and err == f"osteo: wrote 1 rows to {target}\n"
    assert [r["probability"] for r in csv.DictReader(target.open(newline=""))] == ["0.300000"]


def test_usage_errors_exit_2_with_one_line(capsys, planned, folder, tmp_path):
    planned([])
    status, _, err = _run(capsys, "scan", folder / "a.png")
    assert status == 2 and err.endswith(f"osteo: error: {folder / 'a.png'} is not a folder\n")
    status, _, err = _run(capsys, "--model-dir", tmp_path / "nowhere", "predict", folder / "a.png")
    assert status == 2 and err.endswith(f"osteo: error: --model-dir {tmp_path / 'nowhere'} is not a folder\n")
    assert err.startswith("usage: osteo")
    status, _, err = _run(capsys, "predict", "--csv", folder / "a.png", folder / "a.png")  # the input itself
    assert status == 2 and err.split("\n")[-2].startswith(f"osteo: error: --csv {folder / 'a.png'}")
    status, _, err = _run(capsys, "scan", folder, "--csv", folder / "a.png")
    assert status == 2 and err.split("\n")[-2].startswith(f"osteo: error: --csv {folder / 'a.png'}")
    status, _, err = _run(capsys, "scan", folder, "--address", "auto", "--backend", "threads")
    assert status == 2 and err.endswith("osteo: error: --address is for --backend ray\n")
    assert _run(capsys, "predict")[0] == 2  # no file: argparse's own usage error
    assert _run(capsys, "--help")[0] == 0


def test_a_model_that_cannot_be_used_exits_1(capsys, monkeypatch, folder):
    from osteo_desktop.core.model import runtime

    def refused(model_dir):
        raise ModelIntegrityError("model file head.npz does not match its checksum")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(refused))
    assert common.load_classifier(None) is None
    assert capsys.readouterr().err == "osteo: error: cannot use the model: model file head.npz does not match its checksum\n"
    status, out, err = _run(capsys, "predict", folder / "a.png")
    assert status == 1 and out == "" and err == ("osteo: error: cannot use the model: model file head.npz does not "
                                                 "match its checksum\n")

    def garbage(model_dir):
        raise ValueError("bad npz")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(garbage))
    assert common.load_classifier(None) is None
    assert capsys.readouterr().err == ("osteo: error: cannot use the model in the default folder: ValueError: "
                                       "bad npz\n")
    assert common.load_classifier(Path("/models/x")) is None
    assert capsys.readouterr().err == "osteo: error: cannot use the model in /models/x: ValueError: bad npz\n"


def test_a_history_that_cannot_be_opened_still_gives_the_results_but_exits_1(capsys, planned, folder, monkeypatch):
    from osteo_desktop.core.results import history

    def broken(*args, **kwargs):
        raise history.HistoryError("cannot open the history database /h: disk I/O error")

    monkeypatch.setattr(history, "History", broken)
    planned([(0.2, IN_SCOPE), (0.9, DECLINE)])
    status, out, err = _run(capsys, "predict", "--json", "--history", folder / "a.png", folder / "b.png",
                            folder / "c.png")
    assert status == 1 and len(json.loads(out)) == 3
    lines = err.split("\n")[:-1]
    assert lines.pop(1).startswith("osteo: 3 files: 1 results, 1 out of scope (no result), 1 failed, in ")
    assert lines == [
        "osteo: warning: history not used: cannot open the history database /h: disk I/O error",
        # one result (3 files, less the failed and the declined one) was given but not recorded
        "osteo: error: 1 result was given but not recorded in the history: cannot open the history database /h: "
        "disk I/O error",
        f"osteo: model 2.1.0. {DISCLAIMER}",
    ]


def test_a_damaged_history_is_reported_and_set_aside(capsys, planned, folder, tmp_path):
    (folder / "b.png").unlink()
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite3").write_bytes(b"not a database" * 100)
    planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status, _, err = _run(capsys, "predict", "--json", "--history", folder / "a.png", folder / "c.png")
    assert status == 0
    (aside,) = [p for p in data.iterdir() if ".damaged-" in p.name]
    assert [line for line in err.split("\n") if line.startswith("osteo: warning:")] == [(f"osteo: warning: the history database was damaged: it was moved to {aside} (the "
                                  "earlier results are there) and a new, empty history was started")]


@pytest.mark.parametrize("raised, status, said", [
    (Terminated(), 143, "osteo: terminated\n"),
    (KeyboardInterrupt(), 130, "osteo: interrupted\n"),
    (OsteoError("the model is missing"), 1, "osteo: error: the model is missing\n"),
    (PermissionError(13, "Permission denied", "/out/rows.csv"), 1, "osteo: error: /out/rows.csv: Permission denied\n"),
    (OSError(28, "No space left on device"), 1, "osteo: error: No space left on device\n"),
    (OSError("plain"), 1, "osteo: error: plain\n"),
    (RuntimeError("boom"), 1, "osteo: internal error: RuntimeError: boom (run with -vv for details)\n"),
    (BrokenPipeError(32, "Broken pipe"), 1, ""),
])
def test_every_way_a_command_fails_is_one_line_and_a_status(capsys, monkeypatch, raised, status, said):
    from osteo_desktop import cli

    def fails(argv):
        raise raised

    monkeypatch.setattr(cli, "_dispatch", fails)
    assert _caught(main, []) == status
    assert capsys.readouterr().err == said


def test_a_closed_pipe_points_stdout_at_the_null_device(monkeypatch, tmp_path):
    import os
    import sys

    from osteo_desktop import cli

    target = tmp_path / "stdout"
    with target.open("w") as stream:
        saved = os.dup(stream.fileno())
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(cli, "_dispatch", lambda argv: (_ for _ in ()).throw(BrokenPipeError(32, "Broken pipe")))
        assert main([]) == 1
        os.write(stream.fileno(), b"lost")  # now the null device
        os.dup2(saved, stream.fileno())
        os.close(saved)
    assert target.read_bytes() == b""


def test_stop_on_signal_asks_once_then_stops(monkeypatch):
    asked = []
    stopper = StopOnSignal(lambda: asked.append(1))
    assert stopper.exit_status is None
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stopper:
        assert signal.getsignal(signal.SIGINT) == stopper._handle and signal.getsignal(signal.SIGTERM) == stopper._handle
        assert _caught(stopper._handle, signal.SIGTERM, None) is None
        assert asked == [1] and stopper.exit_status == 143
        assert type(_caught(stopper._handle, signal.SIGTERM, None)) is Terminated  # a second signal stops at once
        assert type(_caught(stopper._handle, signal.SIGINT, None)) is KeyboardInterrupt
        assert asked == [1]
    assert {s: signal.getsignal(s) for s in before} == before
    interrupted = StopOnSignal(lambda: None)
    assert _caught(interrupted._handle, signal.SIGINT, None) is None
    assert interrupted.exit_status == 130
    # Outside the main thread no handler can be installed: the block runs without one.
    seen = []
    worker = threading.Thread(target=lambda: seen.append(StopOnSignal(lambda: None).__enter__()._saved))
    worker.start()
    worker.join()
    assert seen == [{}]


def test_model_description_from_the_card_alone(tmp_path):
    from osteo_desktop.core.paths import default_model_dir

    card = json.loads((default_model_dir() / "model_card.json").read_text())
    assert common.model_description() == f"{card['name']} {card['version']}"
    assert common.model_description(tmp_path) == f"unavailable (no model card at {tmp_path / 'model_card.json'}; the model is missing)"


def test_the_arguments_reach_the_model_and_the_scan(capsys, planned, folder, tmp_path, monkeypatch):
    """--model-dir names the model loaded; --batch-size is the films per inference call (the stand-in counts them);
    --workers reaches the scan; the scan closes the history it was given."""
    made = []
    real = batch.BatchScan

    def spying(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "BatchScan", spying)
    (folder / "b.png").unlink()
    model = planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    models = tmp_path / "models"
    models.mkdir()
    status, _, _ = _run(capsys, "scan", folder, "--json", "--batch-size", "1", "--workers", "3", "--model-dir", models)
    assert status == 0 and model.loaded_from == models and model.batches == [1, 1]
    assert made[-1]["workers"] == 3 and made[-1]["close_history"] is True and made[-1]["backend"] is None
    assert made[-1]["history"] is not None and made[-1]["history"]._connection is not None
    with pytest.raises(Exception, match="closed database"):
        made[-1]["history"].count()  # closed by the scan
    model = planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status, _, _ = _run(capsys, "predict", "--json", folder / "a.png", folder / "c.png")
    assert status == 0 and model.loaded_from is None and model.batches == [2]  # default batch: both films at once
    assert made[-1]["workers"] is None and made[-1]["history"] is None  # predict records only with --history


def test_scan_options_choose_the_files(capsys, planned, folder):
    (folder / "b.png").unlink()
    (folder / "deeper").mkdir()
    _film(folder / "deeper" / "d.png", 4)
    _film(folder / ".hidden.png", 5)
    planned([(0.2, IN_SCOPE)] * 4)
    status, out, err = _run(capsys, "scan", folder, "--json", "--no-history")
    assert [Path(r["path"]).name for r in json.loads(out)] == ["a.png", "c.png"]
    assert err.startswith(f"osteo: 2 files in {folder}\n")
    planned([(0.2, IN_SCOPE)] * 4)
    status, out, _ = _run(capsys, "scan", folder, "--json", "--no-history", "-r")
    assert sorted(Path(r["path"]).name for r in json.loads(out)) == ["a.png", "c.png", "d.png"]
    planned([(0.2, IN_SCOPE)] * 4)
    status, out, _ = _run(capsys, "scan", folder, "--json", "--no-history", "--include-hidden")
    assert sorted(Path(r["path"]).name for r in json.loads(out)) == [".hidden.png", "a.png", "c.png"]


def test_a_scans_own_earlier_csv_in_the_folder_is_not_an_input(capsys, planned, folder):
    (folder / "b.png").unlink()
    planned([(0.2, IN_SCOPE)] * 2)
    target = folder / "rows.csv"
    assert _run(capsys, "scan", folder, "--no-history", "--csv", target)[0] == 0
    planned([(0.2, IN_SCOPE)] * 2)
    status, _, err = _run(capsys, "scan", folder, "--no-history", "--csv", target)
    assert status == 0 and err.startswith(f"osteo: 2 files in {folder}\n")  # not 3: rows.csv is left out


def test_the_history_itself_is_never_an_output(capsys, planned, folder, tmp_path):
    from osteo_desktop.core.results.history import History

    planned([])
    history_file = tmp_path / "data" / "history.sqlite3"
    History(history_file).close()  # the user's history exists
    status, _, err = _run(capsys, "predict", "--csv", history_file, folder / "a.png")
    assert status == 2 and err.split("\n")[-2] == (f"osteo: error: --csv {history_file} is the history database; "
                                                   "refusing to overwrite it")


def test_patient_identifiers_only_on_request(capsys, planned, tmp_path):
    from imaging_factories import PATIENT, dicom_bytes, make_dicom

    rng = np.random.default_rng(3)
    film = tmp_path / "knee.dcm"
    film.write_bytes(dicom_bytes(make_dicom(rng.integers(30, 220, (128, 128), dtype=np.uint8))))
    target = tmp_path / "rows.csv"
    planned([(0.2, IN_SCOPE)])
    status, out, _ = _run(capsys, "predict", "--json", "--csv", target, film)
    assert status == 0 and "patient" not in json.loads(out)[0] and PATIENT["PatientID"] not in out
    assert "patient_id" not in next(csv.DictReader(target.open(newline="")))
    planned([(0.2, IN_SCOPE)])
    status, out, _ = _run(capsys, "predict", "--json", "--include-patient", "--csv", target, film)
    assert status == 0 and PATIENT["PatientID"] in json.dumps(json.loads(out)[0]["patient"])
    assert next(csv.DictReader(target.open(newline="")))["patient_id"] == PATIENT["PatientID"]
    planned([(0.2, IN_SCOPE)])
    status, out, _ = _run(capsys, "predict", "--include-patient", film)
    assert status == 0 and [line for line in out.split("\n") if "patient: " in line][0].startswith(" " * 39 + "patient: ")
    planned([(0.2, IN_SCOPE)])
    assert PATIENT["PatientID"] not in _run(capsys, "predict", film)[1]


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_stops_the_scan_and_says_how_far_it_got(capsys, planned, folder, signum, status, word):
    """Ctrl-C or SIGTERM during a scan: the scan is asked to stop, the rows done are written, and the command says
    how far it got (the signal is sent by the stand-in model itself, at its first call)."""
    import os

    model = planned([(0.2, IN_SCOPE)] * 3)
    real_run = model.run

    def run_and_signal(inputs):
        if not model.batches:
            os.kill(os.getpid(), signum)
        return real_run(inputs)

    model.run = run_and_signal
    _film(folder / "d.png", 4)
    got, out, err = _run(capsys, "scan", folder, "--json", "--no-history", "--batch-size", "1")
    assert got == status
    said = [line for line in err.split("\n") if line.startswith("osteo: " + word)]
    assert len(said) == 1
    import re

    assert re.fullmatch(rf"osteo: {word}: stopped after [0-4] of 4 files; their rows were written", said[0]), said
    done = int(said[0].split("stopped after ")[1].split(" ")[0])
    assert len(json.loads(out)) == done  # the rows done were written, a complete JSON array


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name=None, **options):
        self.calls.append((name, options))
        return "a backend"


@pytest.mark.parametrize("backend, address, workers, expected", [
    (None, None, None, None),
    (None, None, 4, None),  # no backend named: the local pool, which takes --workers itself
    ("threads", None, 4, ("threads", {})),  # threads: --workers goes to the scan, not to the backend
    ("ray", None, None, ("ray", {})),
    ("ray", None, 4, ("ray", {"workers": 4})),  # ray: --workers is the number of model actors
    (None, "auto", None, ("ray", {"address": "auto"})),  # --address alone means ray
    (None, "auto", 3, ("ray", {"address": "auto", "workers": 3})),  # ... and --workers its model actors
    ("ray", "10.0.0.1:6379", 2, ("ray", {"address": "10.0.0.1:6379", "workers": 2})),
])
def test_the_backend_options(monkeypatch, backend, address, workers, expected):
    import argparse

    from osteo_desktop.core.pipeline import backends

    recorder = Recorder()
    monkeypatch.setattr(backends, "get_backend", recorder)
    chosen = batch._backend(argparse.Namespace(backend=backend, address=address, workers=workers))
    assert recorder.calls == ([] if expected is None else [expected])
    assert chosen == (None if expected is None else "a backend")


def test_an_unknown_backend_is_one_line_and_status_2(capsys):
    import argparse

    assert batch._backend(argparse.Namespace(backend="carrier-pigeon", address=None, workers=None)) == 2
    assert capsys.readouterr().err.startswith("osteo: error: unknown scan backend 'carrier-pigeon'; available: ")
    assert batch._backend(argparse.Namespace(backend="threads", address="auto", workers=None)) == 2
    assert capsys.readouterr().err == "osteo: error: --address is for --backend ray\n"


def test_loading_the_model_says_what_was_loaded_and_why_not(monkeypatch, caplog, capsys, tmp_path):
    from osteo_desktop.core.model import runtime

    loaded = []
    model = StandIn([])

    def load(model_dir):
        loaded.append(model_dir)
        return model

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(load))
    with caplog.at_level("INFO", logger="osteo_desktop.cli"):
        assert common.load_classifier(tmp_path) is model
    assert loaded == [tmp_path]
    # Only the command line's own records: another library's thread (Ray's, left by an earlier test) may log meanwhile.
    assert [r.getMessage() for r in caplog.records if r.name == "osteo_desktop.cli"] == [
        f"model {model.card.name} 2.1.0 loaded from {model.card.directory}"]
    caplog.clear()

    def garbage(model_dir):
        raise ValueError("bad npz")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(garbage))
    with caplog.at_level("DEBUG", logger="osteo_desktop.cli"):
        assert common.load_classifier(None) is None
    (record,) = caplog.records
    assert record.getMessage() == "model load failed" and record.levelname == "DEBUG"
    assert record.exc_info is not None and record.exc_info[0] is ValueError  # the traceback, with -vv


def test_a_named_backend_is_the_one_the_scan_uses(capsys, planned, folder, monkeypatch):
    from osteo_desktop.core.pipeline import backends

    made = []
    real = batch.BatchScan
    monkeypatch.setattr(batch, "BatchScan", lambda *args, **kwargs: made.append(kwargs) or real(*args, **kwargs))
    chosen = backends.get_backend("threads")
    monkeypatch.setattr(backends, "get_backend", lambda name=None, **options: chosen)
    (folder / "b.png").unlink()
    planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status, out, _ = _run(capsys, "scan", folder, "--json", "--no-history", "--backend", "threads")
    assert status == 0 and len(json.loads(out)) == 2 and made[-1]["backend"] is chosen


def test_on_a_terminal_the_progress_line_is_cleared_before_each_table_line(capsys, planned, folder, monkeypatch):
    """stdout and stderr on one terminal: a table line must never be glued to the progress line before it."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    (folder / "b.png").unlink()
    planned([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert _caught(main, ["scan", str(folder), "--no-history", "--batch-size", "1"]) == 0
    shown = terminal.getvalue()
    assert "scanned 1/2" in shown  # the progress line was drawn
    rows = [line for line in shown.split("\n") if line.endswith(".png")]
    assert len(rows) == 2
    for line in rows:
        assert line.split("\r\x1b[K")[-1].startswith(("normal ", "osteoporosis ")), repr(line)


def test_without_arguments_main_reads_the_command_line(capsys, planned, folder, monkeypatch):
    import sys

    planned([(0.2, IN_SCOPE)])
    monkeypatch.setattr(sys, "argv", ["osteo", "predict", "--json", str(folder / "a.png")])
    assert _caught(main) == 0
    assert [row["probability"] for row in json.loads(capsys.readouterr().out)] == [0.2]


def test_a_training_command_is_handed_its_own_arguments(monkeypatch):
    """`osteo -v train --epochs 3`: the training package parses its own arguments; only -v before it is ours."""
    import logging

    from osteo_desktop import cli

    handed = []
    monkeypatch.setattr(cli, "run_training", lambda command, rest: handed.append((command, rest)) or 7)
    assert _caught(main, ["-v", "train", "--epochs", "3", "-v"]) == 7
    assert handed == [("train", ["--epochs", "3", "-v"])]
    assert logging.getLogger("osteo_desktop").level == logging.INFO  # one -v: INFO
    assert _caught(main, ["-vv", "evaluate"]) == 7 and handed[-1] == ("evaluate", [])
    assert logging.getLogger("osteo_desktop").level == logging.DEBUG


def test_an_internal_error_keeps_its_traceback_for_minus_vv(monkeypatch, caplog, capsys):
    from osteo_desktop import cli

    def fails(argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_dispatch", fails)
    with caplog.at_level("DEBUG", logger="osteo_desktop.cli"):
        assert _caught(main, []) == 1
    (record,) = [r for r in caplog.records if r.name == "osteo_desktop.cli"]
    assert record.getMessage() == "internal error" and record.levelname == "DEBUG"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
