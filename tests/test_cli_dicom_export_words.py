"""`osteo dicom-export` speaks as `osteo predict` does: its model line and research-use notice, and the same words for
the same faults (a missing file, a folder, a pipe, a file that is not an image, a bad --model-dir or --out)."""

from __future__ import annotations

import json
import os

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.results.text import DISCLAIMER
from shared_paths import KNEE_DIR


@pytest.fixture
def faulty(tmp_path):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "notes.png").write_text("not an image at all")
    os.mkfifo(tmp_path / "pipe.png")
    return [tmp_path / name for name in ("missing.png", "folder.png", "notes.png", "pipe.png")]


def _predict_errors(paths, capsys) -> list[str]:
    main(["predict", "--json", *map(str, paths)])
    return [row["error"] for row in json.loads(capsys.readouterr().out)]


def test_a_faulty_file_is_named_in_predicts_words(tmp_path, capsys, faulty):
    expected = _predict_errors(faulty, capsys)
    assert all(expected)
    assert main(["dicom-export", *map(str, faulty), "--out", str(tmp_path / "out"), "--no-pdf"]) == 1
    captured = capsys.readouterr()
    said = [line.split(": ", 2)[2] for line in captured.err.splitlines() if line.startswith("osteo: ERROR: ")]
    assert said == expected
    assert captured.out.splitlines()[-1] == DISCLAIMER  # said even when nothing was written


def test_the_model_line_and_the_notice_are_predicts(tmp_path, capsys):
    png = next(iter(sorted(KNEE_DIR.rglob("*.png"))), None)
    if png is None:
        pytest.skip("shared knee PNGs missing")
    assert main(["predict", str(png)]) == 0
    predicted = capsys.readouterr().out.splitlines()
    assert main(["dicom-export", str(png), "--out", str(tmp_path), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert predicted[0].startswith("Model ") and predicted[-1] == DISCLAIMER
    assert exported == [predicted[0], str(tmp_path / f"{png.stem}.sr.dcm"),
                        str(tmp_path / f"{png.stem}.annotated.dcm"), DISCLAIMER]


@pytest.mark.parametrize("option", ["--model-dir", "--out"])
def test_a_file_where_a_folder_is_wanted_is_a_usage_error_in_the_same_words(tmp_path, capsys, option):
    not_a_folder = tmp_path / "plain.txt"
    not_a_folder.write_text("x")
    png = tmp_path / "knee.png"
    extra = ["--out", str(tmp_path / "out")] if option == "--model-dir" else []
    assert main(["dicom-export", str(png), option, str(not_a_folder), *extra]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"osteo: error: {option} {not_a_folder} is not a folder"
    if option == "--model-dir":  # predict says it the same way
        assert main(["predict", str(png), option, str(not_a_folder)]) == 2
        assert capsys.readouterr().err.splitlines()[-1] == f"osteo: error: {option} {not_a_folder} is not a folder"


def test_an_out_folder_that_cannot_be_made_is_named_as_the_fault_not_the_input(tmp_path, capsys):
    """--out under a plain file: the input was read and analysed; what failed is the writing. The message said
    "knee.png: cannot be read (Not a directory)" and sent the user to a good radiograph."""
    png = next(iter(sorted(KNEE_DIR.rglob("*.png"))), None)
    if png is None:
        pytest.skip("shared knee PNGs missing")
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "out"
    assert main(["dicom-export", str(png), "--out", str(out), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "cannot be read" not in errors[0]
    assert f"cannot be written to --out {out}" in errors[0] and "Not a directory" in errors[0]
