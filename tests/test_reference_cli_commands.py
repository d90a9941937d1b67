"""`osteo predict` and `osteo scan` run in process with a stand-in model whose answers the test plans (issue 15).

The end-to-end tests (test_cli.py, test_cli_failures.py, test_reference_cli_gaps.py) run the real `osteo` in a child
process with the shipped model; these run `cli.main` in this process, so that the mutation driver sees which lines
they reach (key `cli-commands`), and fast, because the model is `tests/planned_model.py`'s stand-in: each film's
probability is planned, so every printed number, message and exit status is written out here by hand.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

import osteo_desktop.core.model.runtime as runtime
import osteo_desktop.core.results.history as history_module
from osteo_desktop.cli import common, main
from osteo_desktop.cli.output import Table
from osteo_desktop.core.errors import ModelFormatError, OsteoError

from imaging_factories import grey_film as _film
from planned_model import DECLINE, IN_SCOPE, THRESHOLD, Model
from shared_paths import REPO_ROOT

CARD = json.loads((REPO_ROOT / "model_weights" / "model_card.json").read_text(encoding="utf-8"))
DISCLAIMER = ("Research tool, not a diagnostic device. The result is a screening estimate from a machine-learning "
              "model and must not be used on its own to diagnose or treat a patient.")
MODEL_LINE = f"Model {CARD['name']} 2.1.0 (threshold 0.339)"


class PlannedClassifier(Model):
    """The stand-in with what the command line reads besides the pipeline's needs."""

    threshold = THRESHOLD


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    yield


@pytest.fixture
def unhandled_signals():
    """Signals that reached the test's own handlers (i.e. that the code under test did not catch), recorded instead
    of interrupting the test run; the handlers from before are given back afterwards."""
    seen: list[int] = []
    saved = {signum: signal.signal(signum, lambda signum, frame: seen.append(signum))
             for signum in (signal.SIGINT, signal.SIGTERM)}
    yield seen
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
def plan(monkeypatch):
    """``plan([...])``: the answers the next loaded model gives, film by film; records the folders it was loaded from."""
    loads: list[object] = []

    def planned(answers):
        def load(model_dir=None, *args, **kwargs):
            loads.append(model_dir)
            return PlannedClassifier(list(answers))

        monkeypatch.setattr(runtime.Classifier, "load", staticmethod(load))
        return loads

    return planned




@pytest.fixture
def folder(tmp_path) -> Path:
    where = tmp_path / "films"
    where.mkdir()
    _film(where / "a.png", 1)
    _film(where / "b.png", 2)
    (where / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return where


def _json(out: str) -> list[dict]:
    return json.loads(out)


def test_predict_json_rows_have_the_planned_answers_and_the_disclaimer_goes_to_stderr(plan, folder, capsys):
    loads = plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    status = main(["predict", "--json", str(folder / "a.png"), str(folder / "b.png")])
    out, err = capsys.readouterr()
    rows = _json(out)
    assert status == 0
    assert [(Path(r["path"]).name, r["label"], r["probability"]) for r in rows] == [
        ("a.png", "normal", 0.2), ("b.png", "osteoporosis", 0.7)]
    assert rows[0]["confidence"] == pytest.approx(0.8) and rows[1]["confidence"] == 0.7
    assert err.strip().splitlines()[-1] == f"osteo: model 2.1.0. {DISCLAIMER}"
    assert MODEL_LINE not in out and DISCLAIMER not in out  # stdout is the JSON array alone
    assert loads == [None]  # the shipped model: no --model-dir given
    assert "files in" not in err  # predict shows no progress and no file count


def test_predict_table_starts_with_the_model_line_and_ends_with_the_disclaimer(plan, folder, capsys):
    plan([(0.9, IN_SCOPE)])
    assert main(["predict", str(folder / "a.png")]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == MODEL_LINE
    assert lines[-1] == DISCLAIMER
    assert any("a.png" in line and "osteoporosis" in line and "0.900" in line for line in lines[1:-1]), out
    assert err == ""  # every file gave a result, and predict prints no summary then


def test_a_file_that_fails_makes_the_exit_status_1_and_a_summary(plan, folder, capsys):
    plan([(0.2, IN_SCOPE)])
    status = main(["predict", "--json", str(folder / "a.png"), str(folder / "c.png")])
    out, err = capsys.readouterr()
    rows = _json(out)
    assert status == 1
    assert rows[0]["probability"] == 0.2 and rows[1]["probability"] is None and rows[1]["error"]
    assert "osteo: 2 files: 1 results, 1 failed, in " in err


def test_a_declined_film_is_an_answer_exit_0(plan, folder, capsys):
    plan([(0.9, DECLINE)])
    assert main(["predict", "--json", str(folder / "a.png")]) == 0
    row = _json(capsys.readouterr().out)[0]
    assert row["out_of_scope"] == "not a knee radiograph: looks like a hand"
    assert (row["label"], row["probability"], row["confidence"], row["error"]) == (None, None, None, None)


def test_scan_says_how_many_files_then_a_summary_and_writes_the_csv(plan, folder, tmp_path, capsys):
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    out_csv = tmp_path / "out.csv"
    status = main(["scan", "--json", "--no-history", "--csv", str(out_csv), str(folder)])
    out, err = capsys.readouterr()
    assert status == 1  # c.png is not an image
    assert [r["probability"] for r in _json(out)] == [0.2, 0.7, None]
    lines = [line for line in err.splitlines() if line.startswith("osteo: ")]
    assert lines[0] == f"osteo: 3 files in {folder}"
    assert f"osteo: wrote 3 rows to {out_csv}" in lines
    assert any(line.startswith("osteo: 3 files: 2 results, 1 failed, in ") for line in lines)
    text = out_csv.read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("path,") and len(text) == 4
    assert ",0.200000," in text[1] and ",0.700000," in text[2]


def test_scan_of_a_file_or_a_missing_folder_is_a_usage_error(plan, folder, capsys):
    plan([])
    assert main(["scan", str(folder / "a.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: osteo ")
    assert f"osteo: error: {folder / 'a.png'} is not a folder" in err


def test_a_usage_error_after_a_command_shows_that_commands_usage(plan, folder, capsys):
    plan([])
    assert main(["predict", "--bogus", str(folder / "a.png")]) == 2
    err = capsys.readouterr().err
    # The predict command's usage (it names FILE and --history), not the list of commands, and the option named.
    assert err.startswith("usage: osteo predict ") and "FILE [FILE ...]" in err and "--history" in err
    assert err.rstrip("\n").endswith("osteo predict: error: unrecognized arguments: --bogus")
    assert main(["scan", str(folder / "a.png")]) == 2
    assert capsys.readouterr().err.startswith("usage: osteo scan ")


def test_a_model_dir_that_is_not_a_folder_is_a_usage_error(plan, folder, tmp_path, capsys):
    loads = plan([(0.2, IN_SCOPE)])
    assert main(["predict", "--model-dir", str(tmp_path / "nowhere"), str(folder / "a.png")]) == 2
    assert f"osteo: error: --model-dir {tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err
    assert loads == []
    assert main(["predict", "--json", "--model-dir", str(tmp_path), str(folder / "a.png")]) == 0
    assert loads == [tmp_path]


def test_a_model_that_cannot_be_used_is_one_line_and_exit_1(monkeypatch, folder, capsys):
    def refuse(model_dir=None, *args, **kwargs):
        raise ModelFormatError("the card says format 9")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(refuse))
    assert main(["predict", str(folder / "a.png")]) == 1
    assert capsys.readouterr().err == "osteo: error: cannot use the model: the card says format 9\n"

    def garbage(model_dir=None, *args, **kwargs):
        raise ValueError("not a flatbuffer")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(garbage))
    assert main(["predict", str(folder / "a.png")]) == 1
    assert capsys.readouterr().err == (
        "osteo: error: cannot use the model in the default folder: ValueError: not a flatbuffer\n")
    assert main(["predict", "--model-dir", str(folder), str(folder / "a.png")]) == 1
    assert capsys.readouterr().err == f"osteo: error: cannot use the model in {folder}: ValueError: not a flatbuffer\n"


def test_the_csv_may_not_overwrite_an_input(plan, folder, capsys):
    plan([(0.2, IN_SCOPE)])
    before = (folder / "a.png").read_bytes()
    assert main(["predict", "--csv", str(folder / "a.png"), str(folder / "a.png")]) == 2
    err = capsys.readouterr().err
    assert "osteo: error: --csv " in err and err.startswith("usage: ")
    assert (folder / "a.png").read_bytes() == before


def test_a_previous_export_in_the_folder_is_not_scanned_again(plan, folder, capsys):
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    (folder / "c.png").unlink()
    target = folder / "results.csv"
    assert main(["scan", "--no-history", "--json", "--csv", str(target), str(folder)]) == 0
    assert "osteo: 2 files in" in capsys.readouterr().err
    plan([(0.3, IN_SCOPE), (0.4, IN_SCOPE)])
    assert main(["scan", "--no-history", "--json", "--csv", str(target), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "osteo: 2 files in" in err  # results.csv, our own export, is not an input
    assert [r["probability"] for r in _json(out)] == [0.3, 0.4]


def test_the_history_is_reused_by_scan_and_only_written_by_predict_when_asked(plan, folder, capsys):
    (folder / "c.png").unlink()
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--json", str(folder)]) == 0
    capsys.readouterr()
    plan([])  # nothing planned: a film that reached the model now would fail the stand-in
    assert main(["scan", "--json", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert [r["probability"] for r in _json(out)] == [0.2, 0.7]
    assert "(2 reused from the history)" in err
    # predict neither reads nor writes the history unless asked: the newly planned 0.5, not the recorded 0.2.
    plan([(0.5, IN_SCOPE)])
    assert main(["predict", "--json", str(folder / "a.png")]) == 0
    assert _json(capsys.readouterr().out)[0]["probability"] == 0.5


def test_a_history_that_cannot_open_is_a_warning_and_exit_1(plan, folder, monkeypatch, capsys):
    (folder / "c.png").unlink()
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])

    class Broken:
        def __init__(self, *args, **kwargs):
            raise OsteoError("the disk is full")

    monkeypatch.setattr(history_module, "History", Broken)
    status = main(["scan", "--json", str(folder)])
    out, err = capsys.readouterr()
    assert [r["probability"] for r in _json(out)] == [0.2, 0.7]  # the results are still given
    assert "osteo: warning: history not used: the disk is full" in err
    assert "osteo: error: 2 results were given but not recorded in the history: the disk is full" in err
    assert status == 1


def test_backend_choices_and_their_refusals(plan, folder, capsys):
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--no-history", "--json", "--address", "auto", "--backend", "threads", str(folder)]) == 2
    assert "osteo: error: --address is for --backend ray" in capsys.readouterr().err
    assert main(["scan", "--no-history", "--json", "--backend", "no-such-backend", str(folder)]) == 2
    assert "osteo: error: " in capsys.readouterr().err
    assert main(["scan", "--no-history", "--json", "--backend", "threads", str(folder)]) == 1  # c.png fails
    assert [r["probability"] for r in _json(capsys.readouterr().out)] == [0.2, 0.7, None]


@pytest.mark.parametrize(("signum", "status", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                        (signal.SIGTERM, 143, "terminated")])
def test_a_signal_during_a_scan_writes_the_rows_done_and_exits_with_its_status(
        plan, folder, tmp_path, monkeypatch, capsys, unhandled_signals, signum, status, word):
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    real_write = Table.write

    escaped: list[BaseException | None] = []

    def write_then_signal(self, row):
        real_write(self, row)
        escaped.append(_raised_by(signum))  # in the main thread: the handler runs before the next row

    monkeypatch.setattr(Table, "write", write_then_signal)
    before = signal.getsignal(signum)
    out_csv = tmp_path / "partial.csv"
    assert main(["scan", "--no-history", "--csv", str(out_csv), str(folder)]) == status
    err = capsys.readouterr().err
    assert f"osteo: {word}: stopped after " in err and " of 3 files; their rows were written" in err
    assert out_csv.read_text(encoding="utf-8").startswith("path,")  # the CSV was closed, not left as a temp file
    assert signal.getsignal(signum) is before  # the handlers given back
    assert unhandled_signals == []  # the command caught it, not the test's own handler
    assert escaped[0] is None  # the first signal only asks the scan to stop


def _raised_by(signum: int) -> BaseException | None:
    """What raising ``signum`` here raised (KeyboardInterrupt and Terminated caught, so that a wrong one fails the
    test instead of ending the test run)."""
    try:
        signal.raise_signal(signum)
    except KeyboardInterrupt as exc:
        return exc
    return None


def test_stop_on_signal_asks_once_then_stops_at_once(unhandled_signals):
    asked: list[str] = []
    watcher = common.StopOnSignal(lambda: asked.append("stop"))
    assert watcher.exit_status is None
    with watcher:
        assert _raised_by(signal.SIGTERM) is None
        assert asked == ["stop"] and watcher.exit_status == 143
        assert type(_raised_by(signal.SIGTERM)) is common.Terminated
        assert type(_raised_by(signal.SIGINT)) is KeyboardInterrupt
    assert asked == ["stop"]
    other = common.StopOnSignal(lambda: None)
    with other:
        assert _raised_by(signal.SIGINT) is None
    assert other.exit_status == 130
    assert unhandled_signals == []
    signal.raise_signal(signal.SIGINT)  # after the block: the handler from before is back
    assert unhandled_signals == [signal.SIGINT]


@pytest.mark.parametrize(("raised", "status", "line"), [
    (common.Terminated(), 143, "osteo: terminated\n"),
    (KeyboardInterrupt(), 130, "osteo: interrupted\n"),
    (OsteoError("model missing"), 1, "osteo: error: model missing\n"),
    (PermissionError(13, "Permission denied", "/x/out.csv"), 1, "osteo: error: /x/out.csv: Permission denied\n"),
    (OSError("no space"), 1, "osteo: error: no space\n"),
    (ZeroDivisionError("division by zero"), 1,
     "osteo: internal error: ZeroDivisionError: division by zero (run with -vv for details)\n"),
])
def test_every_way_a_command_fails_is_one_line_and_a_status(monkeypatch, capsys, raised, status, line):
    def handler(args, parser):
        raise raised

    monkeypatch.setattr("osteo_desktop.cli.info.info_command", handler)
    assert main(["info", "x.png"]) == status
    assert capsys.readouterr().err == line


def test_say_escapes_what_could_drive_the_terminal(capsys):
    common.say("file \x1b[2Jname\n")
    err = capsys.readouterr().err
    assert err.startswith("osteo: file ") and "\x1b" not in err and err.count("\n") == 1


def test_model_description_reads_the_card_without_loading_the_model(tmp_path):
    assert common.model_description() == f"{CARD['name']} {CARD['version']}"
    assert common.model_description(tmp_path).startswith("unavailable (")


def test_scan_shows_its_last_progress_line_and_counts_declined_films(plan, folder, capsys):
    plan([(0.2, IN_SCOPE), (0.7, DECLINE)])
    assert main(["scan", "--no-history", "--json", str(folder)]) == 1
    err = capsys.readouterr().err
    # Not a terminal: a line every few seconds, and always the last one.
    assert "scanned 3/3 (1 failed), " in err
    assert "osteo: 3 files: 1 results, 1 out of scope (no result), 1 failed, in " in err


def test_scan_recursive_and_hidden_files_only_when_asked(plan, folder, capsys):
    (folder / "c.png").unlink()
    (folder / "sub").mkdir()
    _film(folder / "sub" / "d.png", 4)
    _film(folder / ".e.png", 5)
    for argv, count in ((["scan"], 2), (["scan", "-r"], 3), (["scan", "--include-hidden"], 3),
                        (["scan", "-r", "--include-hidden"], 4)):
        plan([(0.2, IN_SCOPE)] * count)
        assert main([*argv, "--no-history", "--json", str(folder)]) == 0
        out, err = capsys.readouterr()
        assert f"osteo: {count} files in {folder}" in err and len(_json(out)) == count, argv


def test_scan_refuses_a_csv_that_is_one_of_its_inputs(plan, folder, capsys):
    plan([(0.2, IN_SCOPE)] * 3)
    notes = folder / "notes.csv"
    notes.write_text("not an export of ours\n", encoding="utf-8")
    assert main(["scan", "--no-history", "--csv", str(notes), str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: osteo ") and "osteo: error: --csv " in err
    assert notes.read_text(encoding="utf-8") == "not an export of ours\n"


def test_the_csv_may_not_overwrite_the_history(plan, folder, capsys):
    from osteo_desktop.core.paths import user_data_dir

    plan([(0.2, IN_SCOPE)])
    assert main(["predict", "--history", "--json", str(folder / "a.png")]) == 0  # the history now exists
    capsys.readouterr()
    database = next(user_data_dir().glob("*.sqlite*"), None) or next(user_data_dir().glob("*.db"))
    before = database.read_bytes()
    assert main(["predict", "--csv", str(database), str(folder / "a.png")]) == 2
    assert "osteo: error: --csv " in capsys.readouterr().err
    assert database.read_bytes() == before


def test_predict_writes_its_csv_and_records_in_the_history_only_with_history(plan, folder, tmp_path, capsys):
    (folder / "c.png").unlink()
    plan([(0.2, IN_SCOPE)])
    out_csv = tmp_path / "one.csv"
    assert main(["predict", "--csv", str(out_csv), str(folder / "a.png")]) == 0
    assert f"osteo: wrote 1 rows to {out_csv}" in capsys.readouterr().err
    assert ",0.200000," in out_csv.read_text(encoding="utf-8").splitlines()[1]
    # Not recorded without --history: a scan then analyses the film again (and meets the plan's 0.6).
    plan([(0.6, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--json", str(folder)]) == 0
    assert [r["probability"] for r in _json(capsys.readouterr().out)] == [0.6, 0.7]
    # Recorded with --history: a new film's answer then comes back from the history instead of the next plan.
    _film(folder / "d.png", 4)
    plan([(0.3, IN_SCOPE)])
    assert main(["predict", "--history", "--json", str(folder / "d.png")]) == 0
    capsys.readouterr()
    plan([(0.9, IN_SCOPE)] * 3)
    assert main(["scan", "--json", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert [r["probability"] for r in _json(out)] == [0.6, 0.7, 0.3] and "(3 reused from the history)" in err


def test_a_damaged_history_is_set_aside_with_a_warning(plan, folder, capsys):
    from osteo_desktop.core.results.history import default_history_path

    (folder / "c.png").unlink()
    path = default_history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database" * 100)
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--json", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "osteo: warning: the history database was damaged: it was moved to " in err
    assert list(path.parent.glob(f"{path.name}.damaged-*"))


def test_unrecorded_counts_only_the_results(plan, folder, monkeypatch, capsys):
    plan([(0.2, IN_SCOPE), (0.7, DECLINE)])

    class Broken:
        def __init__(self, *args, **kwargs):
            raise OsteoError("read-only file system")

    monkeypatch.setattr(history_module, "History", Broken)
    assert main(["scan", "--json", str(folder)]) == 1
    err = capsys.readouterr().err
    # a.png's result; b.png was declined and c.png failed: neither is a result to record
    assert "osteo: error: 1 result was given but not recorded in the history: read-only file system" in err


def test_the_scan_gets_what_the_arguments_say(plan, folder, monkeypatch, capsys):
    import osteo_desktop.cli.batch as cli_batch

    given: list[dict] = []
    real = cli_batch.BatchScan

    def recording(paths, classifier, **kwargs):
        given.append(kwargs)
        return real(paths, classifier, **kwargs)

    monkeypatch.setattr(cli_batch, "BatchScan", recording)
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--json", "--backend", "threads", "--workers", "3", "--batch-size", "5", str(folder)]) == 1
    kwargs = given[0]
    assert kwargs["workers"] == 3 and kwargs["batch_size"] == 5 and kwargs["include_patient"] is False
    assert kwargs["close_history"] is True and kwargs["history"] is not None
    assert kwargs["backend"] is not None and kwargs["on_progress"] is not None
    capsys.readouterr()
    plan([(0.2, IN_SCOPE)])
    assert main(["predict", "--json", "--include-patient", str(folder / "a.png")]) == 0
    assert given[1]["include_patient"] is True and given[1]["history"] is None and given[1]["workers"] is None


def test_backend_arguments_reach_get_backend(plan, folder, monkeypatch, capsys):
    import osteo_desktop.core.pipeline.backends as backends

    calls: list[tuple] = []

    def get_backend(name=None, **kwargs):
        calls.append((name, kwargs))
        raise ValueError("recorded")

    monkeypatch.setattr(backends, "get_backend", get_backend)
    plan([(0.2, IN_SCOPE)] * 3)
    for argv in (["--backend", "ray", "--address", "auto", "--workers", "3"], ["--address", "10.0.0.1:6379"],
                 ["--backend", "threads", "--workers", "3"], ["--backend", "ray"],
                 ["--address", "auto", "--workers", "2"]):
        assert main(["scan", "--no-history", "--json", *argv, str(folder)]) == 2
        assert "osteo: error: recorded" in capsys.readouterr().err
    assert calls == [("ray", {"address": "auto", "workers": 3}), ("ray", {"address": "10.0.0.1:6379"}),
                     ("threads", {}), ("ray", {}), ("ray", {"address": "auto", "workers": 2})]


def test_patient_fields_only_with_include_patient(plan, tmp_path, capsys):
    from imaging_factories import dicom_bytes, make_dicom

    rng = np.random.default_rng(9)
    pixels = np.clip(np.linspace(200, 3000, 128)[None, :] + rng.normal(0, 50, (128, 128)), 0, 4095).astype(np.uint16)
    film = tmp_path / "knee.dcm"
    film.write_bytes(dicom_bytes(make_dicom(pixels, bits_stored=12, PatientName="Doe^Jane", PatientID="P-77")))
    for flag in ([], ["--include-patient"]):
        plan([(0.2, IN_SCOPE)])
        out_csv = tmp_path / f"patient{len(flag)}.csv"
        assert main(["predict", "--json", *flag, "--csv", str(out_csv), str(film)]) == 0
        out = capsys.readouterr().out
        header = out_csv.read_text(encoding="utf-8").splitlines()[0]
        if flag:
            assert "Doe" in out and "P-77" in out and "P-77" in out_csv.read_text(encoding="utf-8")
            assert "patient" in header
        else:
            assert "Doe" not in out and "P-77" not in out and "patient" not in header
        plan([(0.2, IN_SCOPE)])
        assert main(["predict", *flag, str(film)]) == 0
        table = capsys.readouterr().out
        assert ("P-77" in table) == bool(flag), table


def test_the_log_says_which_model_was_loaded_and_keeps_the_traceback_of_one_that_was_not(plan, monkeypatch, caplog):
    import logging

    plan([])
    with caplog.at_level(logging.DEBUG, logger="osteo_desktop.cli"):
        assert common.load_classifier(None) is not None
    loaded = [r for r in caplog.records if r.levelno == logging.INFO and r.name == "osteo_desktop.cli"]
    assert [r.getMessage() for r in loaded] == [f"model {CARD['name']} 2.1.0 loaded from {REPO_ROOT / 'model_weights'}"]
    caplog.clear()

    def garbage(model_dir=None, *args, **kwargs):
        raise ValueError("not a flatbuffer")

    monkeypatch.setattr(runtime.Classifier, "load", staticmethod(garbage))
    with caplog.at_level(logging.DEBUG, logger="osteo_desktop.cli"):
        assert common.load_classifier(None) is None
    [failed] = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "osteo_desktop.cli"]
    assert failed.getMessage() == "model load failed"
    assert failed.exc_info is not None and failed.exc_info[0] is ValueError


class FakeTerminal:
    """stdout and stderr sharing one terminal, as they do when a scan runs in a shell."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_line_is_cleared_before_each_table_line(plan, folder, monkeypatch):
    import re

    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr("sys.stderr", terminal)
    plan([(0.2, IN_SCOPE), (0.7, IN_SCOPE)])
    assert main(["scan", "--no-history", str(folder)]) == 1
    shown = list(re.finditer(r"\r\x1b\[Kscanned \d+/3 [^\r\n]*", terminal.text))
    assert shown, terminal.text
    for line in shown:  # what follows a progress line is a redraw or a clear, never a table line on top of it
        assert terminal.text[line.end():].startswith("\r\x1b[K"), terminal.text
    assert MODEL_LINE in terminal.text and "a.png" in terminal.text


def test_the_command_list_names_what_each_training_command_trains(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "train-knee train the per-knee head on the checked boxes" in out
    assert "train-knee-detector train the knee detector on the checked boxes" in out
    assert "train-knee a model" not in out  # the old generic words read "train-knee a model"
