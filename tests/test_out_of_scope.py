"""A file that is not a frontal knee radiograph gets no result, end to end (issue 11, scope gate).

The expectations are set by hand from what each input is (a colour-bar test pattern, a blank image, a chest film,
a hand film, the shared DICOM samples as their README describes them), not read from the gate. The chest and hand
films of data/scope were in the gate's training set (its leave-source-out figures are in reports/scope_gate.md);
here they check the wiring: that the pipeline, the outputs and the exit status carry the gate's answer.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from osteo_desktop.cli import main
from osteo_desktop.core.paths import sample_image_path
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.pipeline.film import declined_warnings
from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.core.results import text
from osteo_desktop.core.results.history import History
from osteo_desktop.core.reading.reader import read_radiograph
from osteo_desktop.core.results.result import ROW_KEYS, FileResult, csv_columns
from shared_paths import DICOM_DIR, SHARED

SCOPE_DIR = SHARED / "data" / "scope"
FULLSIZE_DIR = SHARED / "data" / "knee-xray-fullsize"
BROKEN_SHARED_DICOM = {"MR_truncated_pixeldata.dcm", "no_file_meta.dcm"}
# What each readable shared DICOM is (its README and its header), and the words its reason must contain.
DICOM_REASONS = {
    "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm": "chest radiograph",
    "MR_emri_small_multiframe10_j2k-lossless.dcm": "not a radiograph: MR image",
    "US_palette_color_RLE_2frame.dcm": "not a radiograph: ultrasound image",
    # CR radiographs by their header (Modality CR): of the hip, the cervical spine and the distal tibia. Whatever
    # the pixels resemble, the reason must not deny that they are radiographs.
    "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm": "not a knee radiograph",
    "CR_hip_RG2_JPLL_MONO2_10bit_jpeg-lossless-sv1.dcm": "not a knee radiograph",
    # The distal tibia is filed as EXTREMITY: the reason must not call it a hand, a chest or a skull.
    "CR_tibia_RG3_J2KI_MONO1_10bit_j2k-lossy.dcm": "not a knee radiograph: looks like a radiograph of another bone or joint",
    "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm": "not a knee radiograph: looks like a radiograph of another bone or joint",
    "CR_cspine_16x16_MONO1_12bit_uncompressed_tiny.dcm": "not a knee radiograph",
}
SHARED_DICOMS = sorted(p for p in DICOM_DIR.glob("*.dcm") if p.name not in BROKEN_SHARED_DICOM) if DICOM_DIR.is_dir() else []


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


def _scope_file(category: str) -> Path:
    if not (SCOPE_DIR / "manifest.csv").is_file():
        pytest.skip(f"shared scope data not found at {SCOPE_DIR}")
    with open(SCOPE_DIR / "manifest.csv", newline="") as handle:
        return next(SCOPE_DIR / row["file"] for row in csv.DictReader(handle) if row["category"] == category)


@pytest.fixture
def colour_bars(tmp_path) -> Path:
    bars = np.array([[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]])
    image = np.repeat(bars, 90, axis=0)[None].repeat(480, axis=0).astype(np.uint8)
    path = tmp_path / "colour_bars.png"
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def blank(tmp_path) -> Path:
    path = tmp_path / "blank.png"
    Image.new("L", (512, 512), 0).save(path)
    return path


def _predict_json(capsys, *files: Path) -> tuple[int, list[dict]]:
    code = main(["predict", "--json", *map(str, files)])
    return code, json.loads(capsys.readouterr().out)


def _assert_declined(row: dict, reason_words: str) -> None:
    assert row["out_of_scope"] and reason_words in row["out_of_scope"], row
    assert row["label"] is None and row["probability"] is None and row["confidence"] is None, row
    assert row["threshold"] is None and row["error"] is None, row


def test_a_declined_result_has_no_verdict_and_is_neither_ok_nor_failed():
    row = FileResult(path="x.png", label="osteoporosis", probability=0.7, confidence=0.7, threshold=0.34,
                     model_version="m")
    row.decline("not a radiograph: the image is blank")
    assert (row.label, row.probability, row.confidence, row.threshold) == (None, None, None, None)
    assert row.model_version == "m" and row.error is None
    assert row.declined and not row.ok
    # out_of_scope follows the original keys (issue 11); only later additions come after it, in the order they came:
    # reader_agreement (issue 14, published first), then model_sha256 (issue 12), then knees (issue 11), then call.
    assert list(row.to_dict()).index("out_of_scope") == ROW_KEYS.index("out_of_scope") == 9
    assert list(row.to_dict())[-5:] == ["out_of_scope", "reader_agreement", "model_sha256", "knees", "call"] == list(ROW_KEYS[-5:])
    assert row.to_dict()["call"] is None  # no result, no call
    assert csv_columns()[9] == "out_of_scope"
    assert csv_columns()[9:12] == ["out_of_scope", "reader_agreement", "model_sha256"]
    assert row.to_dict()["knees"] == []  # a declined file has no knees
    assert FileResult(path="y.png", error="y.png: unreadable").declined is False


def test_colour_bars_and_blank_image_get_no_result_and_exit_0(capsys, colour_bars, blank):
    code, rows = _predict_json(capsys, colour_bars, blank)
    assert code == 0  # declining is an answer, not a failure
    _assert_declined(rows[0], "not a radiograph")
    _assert_declined(rows[1], "not a radiograph: the image is blank")


def test_chest_and_hand_films_get_no_result_with_the_right_reason(capsys):
    chest, hand = _scope_file("chest"), _scope_file("hand")
    code, rows = _predict_json(capsys, chest, hand)
    assert code == 0
    _assert_declined(rows[0], "chest radiograph")
    _assert_declined(rows[1], "hand or wrist radiograph")


@pytest.mark.skipif(not SHARED_DICOMS, reason="shared DICOM samples not found (OSTEO_SHARED_DIR)")
def test_every_non_knee_shared_dicom_gets_no_result_and_exit_0(capsys):
    code, rows = _predict_json(capsys, *SHARED_DICOMS)
    assert code == 0
    assert len(rows) == len(SHARED_DICOMS)
    for row in rows:
        name = Path(row["path"]).name
        # None of them is a knee: chest, hip, cervical spine, distal tibia, MR, US, test objects.
        _assert_declined(row, DICOM_REASONS.get(name, "not a "))


def test_the_table_says_no_result_with_the_reason(capsys, colour_bars):
    code = main(["predict", str(colour_bars)])
    out = capsys.readouterr().out
    assert code == 0
    line = next(i for i, line in enumerate(out.splitlines()) if line.endswith(str(colour_bars)))
    lines = out.splitlines()
    assert lines[line].split()[:2] == ["NO", "RESULT"]
    assert lines[line + 1].strip().startswith("No result: not a radiograph")


def test_a_knee_film_is_in_scope_with_a_label(classifier, knee_images):
    # Held out from the model's training fold 0 is not claimed here: the gate saw every knee-xray film; the
    # full-size originals below are a different resolution of them, and the phantom was never seen.
    analysis = analyse_file(knee_images["normal"][0], classifier, explain=True)
    assert analysis.scope.in_scope and analysis.out_of_scope is None
    assert analysis.prediction is not None and analysis.prediction.label in classifier.card.labels
    assert analysis.explanation is not None and analysis.result.ok


@pytest.mark.skipif(not (FULLSIZE_DIR / "manifest.csv").is_file(), reason="shared full-size knee films not found")
def test_full_size_knee_films_are_in_scope(classifier):
    with open(FULLSIZE_DIR / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # One of each source and format: the largest and smallest file of each label.
    picked = {min(rows, key=lambda r: int(r["bytes"]))["file"], max(rows, key=lambda r: int(r["bytes"]))["file"]}
    for name in sorted(picked):
        analysis = analyse_file(FULLSIZE_DIR / name, classifier, explain=False)
        assert analysis.scope.in_scope, (name, analysis.out_of_scope)
        assert analysis.result.label in classifier.card.labels


def test_the_bundled_sample_gets_a_result(classifier):
    analysis = analyse_file(sample_image_path(), classifier, explain=False)
    assert analysis.scope.in_scope, analysis.out_of_scope  # what a new user opens first must give a result


def test_declined_analysis_has_no_prediction_and_no_explanation(classifier, colour_bars):
    analysis = analyse_file(colour_bars, classifier, explain=True)
    assert analysis.declined and analysis.prediction is None and analysis.explanation is None
    assert analysis.explanation_on_original() is None
    row = analysis.result
    assert row.declined and row.out_of_scope == analysis.scope.reason and row.model_version == classifier.version
    assert set(analysis.timings_ms) >= {"read", "preprocess"}


def test_a_declined_colour_photograph_carries_no_colour_warning(classifier):
    """The reader warns that a colour image was made grey; beside "no result: looks like a photograph" that says
    nothing more, so a declined file does not carry it (single file, its result record, and a scan alike)."""
    photo = SCOPE_DIR / "not-knee" / "non-medical" / "97066e0a8baf4cd0be9859f9825aa3a2.png"  # scikit-image astronaut
    if not photo.is_file():
        pytest.skip(f"shared scope data not found at {SCOPE_DIR}")
    colour = "colour PNG image (RGB) converted to greyscale; the model was trained on greyscale radiographs"
    assert read_radiograph(photo).warnings == [colour]
    analysis = analyse_file(photo, classifier, explain=False)
    assert analysis.declined and analysis.out_of_scope.startswith("not a radiograph")
    assert analysis.warnings == [] and analysis.result.warnings == []
    (row,) = scan_files([photo], classifier)
    assert row.declined and row.warnings == []


def test_a_declined_file_keeps_the_warnings_that_may_explain_why():
    warnings = [
        "colour PNG image (RGB) converted to greyscale; the model was trained on greyscale radiographs",
        "colour DICOM (YBR_FULL) converted to greyscale; the model was trained on greyscale radiographs",
        "transparent areas of the image are shown as black",
        "Not a knee: the DICOM body part is CHEST; the model was trained on knee radiographs only",
        "the image is only 90 x 120 pixels; the model needs at least 128 pixels a side, too few to be read reliably",
        "multi-frame DICOM (3 frames): only the first frame is shown and analysed",
    ]
    assert declined_warnings(warnings) == warnings[3:]


def test_an_mr_header_keeps_its_modality_warning_beside_the_decline(classifier):
    if not SHARED_DICOMS:
        pytest.skip("shared DICOM samples not found")
    mr = DICOM_DIR / "MR_emri_small_multiframe10_j2k-lossless.dcm"
    modality = "Not a plain X-ray: the DICOM modality is MR; the model was trained on knee X-rays (CR/DX) only"
    assert modality in read_radiograph(mr).warnings
    assert modality in analyse_file(mr, classifier).warnings
    (row,) = scan_files([mr], classifier)
    assert row.declined and modality in row.warnings


def test_an_mr_header_declines_without_running_the_model(classifier, monkeypatch):
    if not SHARED_DICOMS:
        pytest.skip("shared DICOM samples not found")

    def no_inference(inputs):
        raise AssertionError("a file the header already declines must not reach the model")

    monkeypatch.setattr(classifier, "run", no_inference)
    mr = DICOM_DIR / "MR_emri_small_multiframe10_j2k-lossless.dcm"
    assert analyse_file(mr, classifier).out_of_scope == "not a radiograph: MR image"
    (row,) = scan_files([mr], classifier)
    assert row.out_of_scope == "not a radiograph: MR image"


def test_scan_and_single_file_give_the_same_answer(classifier, colour_bars, blank, knee_images):
    paths = [knee_images["osteoporosis"][0], colour_bars, blank, knee_images["normal"][0]]
    rows = list(scan_files(paths, classifier, batch_size=2))
    for path, row in zip(paths, rows):
        single = analyse_file(path, classifier, explain=False).result
        assert (row.out_of_scope, row.label) == (single.out_of_scope, single.label), path.name
        if row.ok:
            assert row.probability == pytest.approx(single.probability, abs=1e-5)
    assert [row.declined for row in rows] == [False, True, True, False]


def test_csv_has_the_out_of_scope_column_and_empty_numbers(tmp_path, capsys, colour_bars, knee_png):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a_knee.png").symlink_to(knee_png)
    (folder / "b_bars.png").symlink_to(colour_bars)
    out = tmp_path / "rows.csv"
    code = main(["scan", "--no-history", "--csv", str(out), str(folder)])
    assert code == 0
    err = capsys.readouterr().err
    assert "1 out of scope (no result)" in err
    with open(out, newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames[9] == "out_of_scope"
        assert reader.fieldnames[9:12] == ["out_of_scope", "reader_agreement", "model_sha256"]  # then the knee groups
        table = {Path(r["path"]).name: r for r in reader}
    assert table["a_knee.png"]["out_of_scope"] == "" and table["a_knee.png"]["label"]
    bars = table["b_bars.png"]
    assert bars["out_of_scope"].startswith("not a radiograph")
    assert bars["label"] == bars["probability"] == bars["confidence"] == bars["threshold"] == bars["error"] == ""
    assert all(bars[c] == "" for c in bars if c.startswith("knee_"))  # no knees on a declined file


def test_declined_files_are_not_recorded_and_old_results_are_not_reused(tmp_path, classifier, colour_bars, knee_png):
    db = tmp_path / "history.sqlite3"
    with History(db) as history:
        rows = list(scan_files([colour_bars, knee_png], classifier, history=history))
        assert [row.declined for row in rows] == [True, False]
        assert history.count() == 1  # only the knee's result
        # A history written before the gate: a result for the test pattern, with no gate named.
        old = FileResult(path=str(colour_bars), label="osteoporosis", probability=0.62, confidence=0.62,
                         threshold=0.339, model_version=classifier.version, model_sha256=classifier.model_sha256)
        history.record(colour_bars, old)
        again = list(scan_files([colour_bars, knee_png], classifier, history=history))
    assert again[0].declined and not again[0].from_history  # analysed again, not the stale "osteoporosis"
    assert again[1].from_history and again[1].ok  # the knee, recorded behind this gate, is reused
    connection = sqlite3.connect(db)
    gates = {row[0] for row in connection.execute("SELECT scope_gate FROM predictions WHERE label IS NOT NULL")}
    connection.close()
    assert gates == {None, classifier.scope_gate_id}


def test_report_words_of_a_declined_file(colour_bars, classifier):
    from datetime import datetime

    row = analyse_file(colour_bars, classifier, explain=False).result
    lines = text.report_lines(row, "osteoporosis", file_name="bars.png", created=datetime(2026, 12, 2, 9, 0))
    fields = dict(lines)
    assert lines[0][0] == "Result" and fields["Result"].startswith("No result: not a radiograph")
    assert "Confidence" not in fields and "Probability of osteoporosis" not in fields
    assert "Decision threshold" not in fields and fields["Model version"] == classifier.version
    assert text.result_headline(row, "osteoporosis") == fields["Result"]


@pytest.mark.skipif(not SHARED_DICOMS, reason="shared DICOM samples not found (OSTEO_SHARED_DIR)")
def test_dicom_export_of_a_declined_film_has_no_finding(tmp_path, capsys):
    hd = pytest.importorskip("highdicom")
    chest = DICOM_DIR / "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm"
    code = main(["dicom-export", "--no-pdf", "--out", str(tmp_path / "out"), str(chest)])
    assert code == 0
    sr_path = next((tmp_path / "out").glob("*.sr.dcm"))
    sr = hd.sr.srread(sr_path)
    assert sr.content.get_planar_roi_measurement_groups() == []  # no knee finding, no probability
    dumped = str(sr)
    assert "chest radiograph" in dumped and "Osteoporosis probability" not in dumped


@pytest.mark.parametrize(("tags", "expected"), [
    ({"modality": "DX", "body_part": "KNEE", "ViewPosition": "LATERAL"}, "lateral knee view: the model reads frontal views"),
    ({"modality": "CT", "body_part": "KNEE"}, "not a radiograph: CT image"),
    ({"modality": "DX", "body_part": "KNEE", "ViewPosition": "AP"}, None),
], ids=["lateral", "ct", "frontal"])
def test_dicom_tags_read_from_the_file_reach_the_gate(tmp_path, classifier, knee_png, tags, expected):
    """The header as the reader gives it (its metadata keys) is what the gate reads: a knee film's pixels wrapped
    with a lateral ViewPosition or a CT Modality are declined by the tag; with AP they are in scope."""
    from imaging_factories import dicom_bytes, make_dicom, write

    with Image.open(knee_png) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.uint8)
    path = write(tmp_path / "knee.dcm", dicom_bytes(make_dicom(pixels, **tags)))
    analysis = analyse_file(path, classifier, explain=False)
    assert analysis.out_of_scope == expected
    assert (analysis.prediction is None) == (expected is not None)


def test_a_film_the_header_calls_a_radiograph_is_never_declined_as_not_a_radiograph():
    """A hand-made gate whose pixels say "test pattern" first and "hand" second: for a PNG (no header) the reason
    is the test pattern; for a CR or DX film the likeliest radiograph kind is named instead."""
    from osteo_desktop.core.model.scope import ScopeGate, look

    categories = ["knee", "synthetic", "hand", "chest"]
    gate = ScopeGate(np.zeros((1, 4)), np.log([0.05, 0.6, 0.25, 0.1]), np.zeros(1), np.ones(1), categories, 0.5, 0.9)
    gate_features = "osteo_desktop.core.model.scope._features"
    pixels = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gate_features, lambda statistics, activations: np.zeros(1))
        png = gate.judge(look(pixels, {}), np.zeros(4))
        cr = gate.judge(look(pixels, {"modality": "CR"}), np.zeros(4))
        dx = gate.judge(look(pixels, {"modality": "dx "}), np.zeros(4))
    assert png.reason == "not a radiograph: looks like a test pattern or graphic"
    assert cr.reason == dx.reason == "not a knee radiograph: looks like a hand or wrist radiograph"
    assert not cr.in_scope and cr.category == "hand"
