"""The `osteo` command line contract: JSON keys, CSV columns, exit status, progress and usage errors."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from osteo_desktop import DISCLAIMER
from osteo_desktop.cli import main
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.core.results.result import ROW_KEYS, csv_columns

# The two files of the shared DICOM set that are damaged on purpose (see its README); every other one must load.
BROKEN_SHARED_DICOM = {"MR_truncated_pixeldata.dcm", "no_file_meta.dcm"}


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_json_contract(tmp_path, capsys, classifier, knee_png, knee_jpeg):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    missing = tmp_path / "missing.jpg"
    code, out, err = _run(capsys, "predict", "--json", knee_png, text, knee_jpeg, missing)
    assert code == 1
    rows = json.loads(out)
    assert [tuple(row) for row in rows] == [ROW_KEYS] * 4
    assert [row["path"] for row in rows] == [str(knee_png), str(text), str(knee_jpeg), str(missing)]
    for image, row in ((knee_png, rows[0]), (knee_jpeg, rows[2])):
        expected = analyse_file(image, classifier, explain=False).prediction
        assert row["error"] is None and row["label"] == expected.label
        assert row["probability"] == pytest.approx(expected.probability, abs=1e-5)
        assert row["threshold"] == classifier.card.raw["knee_model"]["threshold"]  # results are per knee
        assert row["model_version"] == classifier.version
        assert set(row["timings_ms"]) == {"read", "preprocess", "detect", "inference"}
        assert isinstance(row["warnings"], list)
        assert row["knees"] and max(k["probability"] for k in row["knees"]) == row["probability"]
    assert "not an image" in rows[1]["error"] and rows[1]["error"].startswith("notes.png")
    assert rows[3]["error"].startswith("missing.jpg") and rows[3]["label"] is None
    assert classifier.version in err


def test_predict_table_shows_model_version_and_disclaimer(capsys, classifier, knee_images):
    files = knee_images["normal"][:1] + knee_images["osteoporosis"][:1]
    code, out, _ = _run(capsys, "predict", *files)
    assert code == 0
    assert classifier.version in out and DISCLAIMER in out
    for path in files:
        expected = analyse_file(path, classifier, explain=False).prediction
        line = next(line for line in out.splitlines() if line.endswith(str(path)))
        # The call: the label, or borderline-above/below within 0.05 of the threshold; then probability, threshold.
        p, t = expected.probability, expected.threshold
        call = expected.label if abs(p - t) >= 0.05 else ("borderline-above" if p > t else "borderline-below")
        assert line.split()[0] == call
        assert float(line.split()[1]) == pytest.approx(p, abs=1e-3)
        assert float(line.split()[2]) == pytest.approx(t, abs=1e-3)


def test_predict_table_has_a_line_per_knee_under_the_file(capsys, classifier, knee_images):
    path = knee_images["normal"][0]
    code, out, _ = _run(capsys, "predict", path)
    assert code == 0
    knees = analyse_file(path, classifier, explain=False).result.knees
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(str(path)))
    names = {"right": "Right knee", "left": "Left knee", "unknown": "Knee (side unknown)"}
    for line, knee in zip(lines[at + 1 : at + 1 + len(knees)], knees):
        # "  <call> <probability> <threshold>    <side>", the numbers under the file's own columns; the call is the
        # knee's label, or borderline-above/below within 0.05 of the threshold
        assert line.startswith("  ") and line.endswith(names[knee.side])
        call, probability, threshold = line.split()[:3]
        p, t = knee.probability, classifier.knee_head.threshold
        expected = knee.label if abs(p - t) >= 0.05 else ("borderline-above" if p > t else "borderline-below")
        assert (call, float(probability), float(threshold)) == (expected, round(p, 3), round(t, 3))


def test_predict_every_readable_shared_dicom(capsys, dicom_dir):
    files = sorted(dicom_dir.glob("*.dcm"))
    code, out, _ = _run(capsys, "predict", "--json", *files)
    rows = {Path(row["path"]).name: row for row in json.loads(out)}
    assert set(rows) == {f.name for f in files}
    failed = {name for name, row in rows.items() if row["error"]}
    assert failed == BROKEN_SHARED_DICOM & set(rows)
    assert code == (1 if failed else 0)
    for name in failed:
        assert rows[name]["error"].startswith(name)
    # None of them is a knee radiograph (chest, hip, spine, tibia, MR, US, test objects): each is answered with no
    # result and a reason, never with a label (issue 11); declining is not a failure, so it leaves the exit status.
    for name, row in rows.items():
        if name not in failed:
            assert row["out_of_scope"] and row["error"] is None, name
            assert row["label"] is None and row["probability"] is None and row["confidence"] is None, name


def _folder(tmp_path: Path, knee_png: Path, knee_jpeg: Path) -> Path:
    folder = tmp_path / "clinic"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(knee_png, folder / "knee.png")
    shutil.copy(knee_jpeg, folder / "knee.jpg")
    shutil.copy(knee_jpeg, folder / "sub" / "deep.jpg")
    (folder / "readme.txt").write_text("scanned by the night shift")
    (folder / "broken.png").write_bytes(knee_png.read_bytes()[:500])
    return folder


def test_scan_csv_and_json_agree_and_report_every_file(tmp_path, capsys, classifier, knee_png, knee_jpeg):
    folder = _folder(tmp_path, knee_png, knee_jpeg)
    out_csv = tmp_path / "report.csv"
    code, out, err = _run(capsys, "scan", folder, "--csv", out_csv, "--json")
    assert code == 1
    rows = json.loads(out)
    assert [Path(row["path"]).name for row in rows] == ["broken.png", "knee.jpg", "knee.png", "readme.txt"]
    by_name = {Path(row["path"]).name: row for row in rows}
    assert "not an image" in by_name["readme.txt"]["error"]
    assert by_name["broken.png"]["error"].startswith("broken.png")
    assert by_name["knee.png"]["label"] and by_name["knee.jpg"]["label"]
    assert "scanned 4/4 (2 failed" in err  # progress on stderr
    with open(out_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == tuple(csv_columns())  # knees spread over a column group per side
        records = list(reader)
    assert [r["path"] for r in records] == [row["path"] for row in rows]
    for record, row in zip(records, rows):
        assert (record["label"] or None) == row["label"] and (record["error"] or None) == row["error"]
        if row["probability"] is not None:
            assert float(record["probability"]) == pytest.approx(row["probability"], abs=1e-6)
        assert record["model_version"] == row["model_version"] == classifier.version


def test_scan_recursive_and_human_output(tmp_path, capsys, classifier, knee_png, knee_jpeg):
    folder = _folder(tmp_path, knee_png, knee_jpeg)
    (folder / "broken.png").unlink()
    (folder / "readme.txt").unlink()
    code, out, err = _run(capsys, "scan", "--recursive", folder, "--no-history")
    assert code == 0
    assert str(folder / "sub" / "deep.jpg") in out
    assert classifier.version in out and DISCLAIMER in out
    assert "3 files: 3 results, 0 failed" in err


def test_scan_records_history_by_default_and_reuses_it(tmp_path, capsys, knee_png, knee_jpeg):
    folder = _folder(tmp_path, knee_png, knee_jpeg)
    first = _run(capsys, "scan", folder, "--json")
    second = _run(capsys, "scan", folder, "--json")
    assert "(2 reused from the history)" in second[2]
    assert "reused" not in first[2]
    strip = lambda rows: [{k: v for k, v in row.items() if k != "timings_ms"} for row in rows]  # noqa: E731
    assert strip(json.loads(second[1])) == strip(json.loads(first[1]))
    assert (tmp_path / "data" / "history.sqlite3").is_file()


def test_info_describes_a_file(tmp_path, capsys, knee_png, dicom_dir):
    code, out, _ = _run(capsys, "info", knee_png)
    assert code == 0 and DISCLAIMER in out
    from PIL import Image

    width, height = Image.open(knee_png).size
    assert str(width) in out and str(height) in out
    code, out, _ = _run(capsys, "info", "--json", dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm")
    assert code == 0
    description = json.loads(out)
    assert "CR" in json.dumps(description) and description["warnings"]
    text = tmp_path / "x.dcm"
    text.write_text("hello")
    code, out, err = _run(capsys, "info", text)
    assert code == 1 and out == "" and "x.dcm" in err and "not an image" in err


@pytest.mark.parametrize(
    "argv",
    [[], ["predict"], ["frobnicate"], ["predict", "--no-such-option", "x.png"], ["scan", "/no/such/folder"],
     ["--model-dir", "/no/such/model", "predict", "x.png"], ["predict", "--batch-size", "0", "x.png"]],
)
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and "usage" in err


def test_version_names_the_model(capsys, classifier):
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and "osteo 0." in out and classifier.version in out


def test_model_dir_selects_another_model(tmp_path, capsys, knee_png):
    other = tmp_path / "other_model"
    other.mkdir()
    for item in default_model_dir().iterdir():
        (other / item.name).symlink_to(item)
    card = json.loads((default_model_dir() / "model_card.json").read_text())
    card["version"] = "relabelled-for-test"
    (other / "model_card.json").unlink()
    (other / "model_card.json").write_text(json.dumps(card))
    code, out, _ = _run(capsys, "predict", "--json", "--model-dir", other, knee_png)
    assert code == 0 and json.loads(out)[0]["model_version"] == "relabelled-for-test"


def test_train_and_evaluate_dispatch_lazily(monkeypatch):
    calls = []
    fake = types.ModuleType("osteo_desktop.training.commands")
    fake.train_main = lambda argv: calls.append(("train", argv)) or 0
    fake.evaluate_main = lambda argv: calls.append(("evaluate", argv)) or 3
    monkeypatch.setitem(sys.modules, "osteo_desktop.training.commands", fake)
    import osteo_desktop.training as training_package

    monkeypatch.setattr(training_package, "commands", fake, raising=False)
    assert main(["train", "--epochs", "2", "-v"]) == 0
    assert main(["-v", "evaluate", "--folds", "5"]) == 3
    assert calls == [("train", ["--epochs", "2", "-v"]), ("evaluate", ["--folds", "5"])]


def test_training_commands_without_the_training_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "osteo_desktop.training.commands", None)  # makes the import fail
    import osteo_desktop.training as training_package

    monkeypatch.delattr(training_package, "commands", raising=False)
    code, out, err = _run(capsys, "train")
    assert code == 1 and "training extra" in err


@pytest.mark.parametrize("before", [["--model-dir", "{model}"], ["-v", "--model-dir", "{model}"]])
def test_an_option_before_a_training_command_is_a_usage_error(capsys, tmp_path, before):
    """`osteo --model-dir DIR train-knee` (train-knee has a --model-dir of its own, after the command) ended in
    'internal error: AttributeError'; the training commands read their own arguments, so an option of ours before
    one is a usage error that says where it goes."""
    argv = [a.format(model=tmp_path) for a in before] + ["train-knee", "--allow-unchecked"]
    code, out, err = _run(capsys, *argv)
    assert code == 2, err
    assert "internal error" not in err
    assert "osteo: error: options before 'train-knee' are not read; give them after it (osteo train-knee --help)" in err


def test_ctrl_c_writes_a_complete_export_of_the_rows_done_so_far(tmp_path, knee_manifest):
    import os
    import signal
    import subprocess

    from shared_paths import KNEE_DIR

    out = tmp_path / "report.csv"
    out.write_text("earlier export\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OSTEO_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen(
        [sys.executable, "-m", "osteo_desktop", "scan", "--recursive", str(KNEE_DIR), "--csv", str(out), "--no-history"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if line.startswith("scanned "):  # rows are being written to the temporary export
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted: stopped after" in err
    # The earlier export is replaced by a complete one holding the rows done before Ctrl-C (issue 12).
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert 0 < len(rows) < len(knee_manifest)
    assert all(row["model_version"] and (row["label"] or row["error"]) for row in rows)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["report.csv"]  # no temporary left behind


@pytest.mark.parametrize("error, expected", [
    (OSError(28, "No space left on device"), "osteo: error: No space left on device\n"),
    (PermissionError(13, "Permission denied", "/exports/out.csv"), "osteo: error: /exports/out.csv: Permission denied\n"),
])
def test_an_export_that_cannot_be_written_is_one_clear_line(tmp_path, capsys, monkeypatch, knee_png, error, expected):
    from osteo_desktop.core.results import exports

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(exports, "open_csv_export", refuse)
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(knee_png, folder / knee_png.name)
    code, _out, err = _run(capsys, "scan", folder, "--csv", tmp_path / "out.csv", "--no-history")
    assert code == 1
    assert err.endswith(expected)
