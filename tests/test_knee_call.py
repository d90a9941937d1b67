"""Each knee's ``call`` in the public JSON/CSV contract: the file's rule on the knee's probability against the file's
threshold.

The rule, as README ("Command line") states it and worked out by hand below: the label, or ``borderline-above`` /
``borderline-below`` / ``borderline-at`` when the probability lies within 0.05 of the threshold (strictly), on the
side it falls. The thresholds and probabilities are chosen so that the distances are far from the 0.05 edge in
floating point (0.049 and 0.051, never 0.05 itself). The expected headers are written out by hand, the old one as
version 0.2.0 published it.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass, field

import pytest

from osteo_desktop.cli.output import Table
from osteo_desktop.core.results import columns
from osteo_desktop.core.results.columns import Output, declared, text
from osteo_desktop.core.results.history import History
from osteo_desktop.core.results.knee import KneeResult, knee_cells
from osteo_desktop.core.results.result import FileResult, csv_columns

# The CSV header as version 0.2.0 published it (README, "Command line"), written out by hand: it must stay a prefix.
OLD_HEADER = [
    "path", "label", "probability", "confidence", "threshold", "model_version", "warnings", "error", "timings_ms",
    "out_of_scope", "reader_agreement", "model_sha256",
    "knee_right_label", "knee_right_probability", "knee_right_confidence", "knee_right_box",
    "knee_left_label", "knee_left_probability", "knee_left_confidence", "knee_left_box",
    "knee_unknown_label", "knee_unknown_probability", "knee_unknown_confidence", "knee_unknown_box",
    "knee_right_side_source", "knee_left_side_source", "call",
]
KNEE_CALLS = ["knee_right_call", "knee_left_call", "knee_unknown_call"]
PATIENT = ["patient_name", "patient_id", "patient_birth_date"]
THRESHOLD = 0.375  # 3/8: exact in binary, as are most of the probabilities below


def _knee(side: str, probability: float, box: tuple[int, int, int, int] = (0, 0, 10, 10)) -> KneeResult:
    """A knee labelled as the model labels it: positive from the threshold up."""
    label = "osteoporosis" if probability >= THRESHOLD else "normal"
    return KneeResult(side, box, label, probability, probability if label == "osteoporosis" else 1 - probability)


def _file(*knees: KneeResult, threshold: float = THRESHOLD) -> FileResult:
    worst = max(knees, key=lambda knee: knee.probability)
    return FileResult(path="f.png", label=worst.label, probability=worst.probability, confidence=worst.confidence,
                      threshold=threshold, model_version="m", model_sha256="ab" * 32, knees=list(knees))


# (probability, expected call against 0.375), each worked out by hand: distance to the threshold, then the side.
CASES = [
    (0.875, "osteoporosis"),  # 0.5 above: far, the label
    (0.125, "normal"),  # 0.25 below: far, the label
    (0.4, "borderline-above"),  # 0.025 above
    (0.35, "borderline-below"),  # 0.025 below
    (0.375, "borderline-at"),  # equal: labelled osteoporosis (positive from the threshold up), but "at"
    (0.424, "borderline-above"),  # 0.049 above: just inside the margin
    (0.326, "borderline-below"),  # 0.049 below: just inside
    (0.426, "osteoporosis"),  # 0.051 above: just outside, the label
    (0.324, "normal"),  # 0.051 below: just outside, the label
]


@pytest.mark.parametrize("probability, expected", CASES)
def test_a_knees_call_by_hand(probability, expected):
    # The knee is the file's second knee, under a far more suspicious one: its call is its own, not the file's.
    row = _file(_knee("right", 0.875), _knee("left", probability))
    assert row.call == "osteoporosis"
    assert row.knees[1].call == expected
    assert row.to_dict()["knees"][1]["call"] == expected
    assert row.csv_record()["knee_left_call"] == expected


def test_the_knee_is_called_against_the_files_threshold_not_a_fixed_one():
    # 0.4 is 0.025 above 0.375 (borderline) but 0.2 above 0.2 (far) and 0.1 below 0.5 (far): the file's threshold
    # decides. The label is the model's (given against the file's threshold), kept as is.
    knee = KneeResult("right", (0, 0, 10, 10), "osteoporosis", 0.4, 0.4)
    assert _file(knee).knees[0].call == "borderline-above"
    assert _file(knee, threshold=0.2).knees[0].call == "osteoporosis"
    assert knee.called(0.2).call == "osteoporosis" and knee.called(None).call is None
    assert knee.call is None  # a knee alone has no threshold, so no call; called() returns a new knee


@dataclass
class _Verdict:
    label: str
    probability: float
    confidence: float
    threshold: float = THRESHOLD
    model_version: str = "m"
    model_sha256: str | None = "ab" * 32
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def test_the_pipelines_way_gives_each_knee_its_call_and_declining_drops_them():
    row = FileResult(path="f.png")
    knees = [_knee("right", 0.35), _knee("left", 0.125)]
    row.apply_knees(knees, _Verdict("normal", 0.35, 0.65))  # the file's verdict: its most suspicious knee's
    assert [knee.call for knee in row.knees] == ["borderline-below", "normal"]
    assert row.call == "borderline-below"
    assert [knee.call for knee in knees] == [None, None]  # the pipeline's own knees are left as they were
    row.decline("not a knee radiograph")
    assert row.knees == [] and row.to_dict()["knees"] == [] and row.call is None
    assert row.csv_record()["knee_right_call"] == row.csv_record()["knee_left_call"] == ""


def test_a_row_without_a_result_has_empty_knee_call_cells():
    failed = FileResult(path="broken.png", error="not an image")
    cells = failed.csv_record()
    assert [cells[name] for name in KNEE_CALLS] == ["", "", ""] and failed.to_dict()["knees"] == []


def test_json_round_trip_keeps_each_knees_call_and_it_is_the_last_key():
    row = _file(_knee("right", 0.875, (0, 0, 40, 40)), _knee("left", 0.35, (50, 0, 90, 40)))
    text_json = json.dumps(row.to_dict())
    data = json.loads(text_json)
    assert [list(knee) for knee in data["knees"]] == [
        ["side", "box", "label", "probability", "confidence", "side_source", "call"]] * 2
    assert [knee["call"] for knee in data["knees"]] == ["osteoporosis", "borderline-below"]
    # Rebuilt as a scan backend rebuilds a row from its JSON: the same result, the same text.
    data["knees"] = [KneeResult.from_dict(knee) for knee in data["knees"]]
    again = FileResult(**data)
    assert again.knees == row.knees and json.dumps(again.to_dict()) == text_json


@pytest.mark.parametrize("with_file_call", [True, False], ids=["0.2.0 JSON", "older JSON"])
def test_json_written_before_knee_calls_reads_back_with_them(with_file_call):
    # A row as version 0.2.0 wrote it (the file's call, no knee calls), and one from before the file's call, by hand.
    data = {"path": "f.png", "label": "osteoporosis", "probability": 0.424, "confidence": 0.424,
            "threshold": THRESHOLD, "model_version": "m", "warnings": [], "error": None, "timings_ms": {},
            "out_of_scope": None, "reader_agreement": None, "model_sha256": "ab" * 32,
            "knees": [{"side": "right", "box": [0, 0, 40, 40], "label": "osteoporosis", "probability": 0.424,
                       "confidence": 0.424, "side_source": "dicom_header"},
                      {"side": "left", "box": [50, 0, 90, 40], "label": "normal", "probability": 0.125,
                       "confidence": 0.875, "side_source": "dicom_header"}]}
    if with_file_call:
        data["call"] = "borderline-above"
    data["knees"] = [KneeResult.from_dict(knee) for knee in data["knees"]]
    row = FileResult(**data)
    # 0.424 is 0.049 above 0.375 (borderline-above); 0.125 is 0.25 below (normal).
    assert [knee.call for knee in row.knees] == ["borderline-above", "normal"]
    assert row.call == "borderline-above"
    assert (row.csv_record()["knee_right_call"], row.csv_record()["knee_left_call"]) == ("borderline-above", "normal")


def test_knees_recorded_without_calls_read_back_from_the_history_with_them(tmp_path):
    # The knees column as version 0.2.0 wrote it: objects without call (text written by hand), threshold 0.375.
    path = tmp_path / "history.sqlite3"
    with History(path):
        pass  # today's table, so the row below needs only the columns 0.2.0 had
    connection = sqlite3.connect(path)
    connection.execute(
        "INSERT INTO predictions (id, recorded_at, path, file_sha256, label, probability, confidence, threshold, "
        "model_version, warnings, model_sha256, knees) VALUES (1, '2026-11-20T00:00:00+00:00', 'a.png', ?, 'normal', "
        "0.35, 0.65, 0.375, 'm', '[]', ?, ?)",
        ("c" * 64, "ab" * 32, '[{"side": "left", "box": [1, 2, 30, 40], "label": "normal", "probability": 0.35, '
                              '"confidence": 0.65, "side_source": "hanging_convention"}, {"side": "right", "box": '
                              '[40, 2, 70, 40], "label": "normal", "probability": 0.25, "confidence": 0.75, '
                              '"side_source": "hanging_convention"}]'))
    connection.commit()
    connection.close()
    with History(path) as history:
        (entry,) = history.entries()
        found = history.find("c" * 64, "ab" * 32)
    # 0.35 is 0.025 below 0.375 (borderline-below); 0.25 is 0.125 below (normal).
    assert [knee.call for knee in entry.knees] == ["borderline-below", "normal"]
    assert [knee["call"] for knee in entry.to_dict()["knees"]] == ["borderline-below", "normal"]
    reused = FileResult(path="copy-of-a.png")
    reused.reuse(found)  # a scan serving the recorded result for the same content
    assert [knee.call for knee in reused.knees] == ["borderline-below", "normal"] and reused.from_history


def test_a_knees_call_recorded_in_the_history_comes_back(tmp_path):
    row = _file(_knee("right", 0.4), _knee("left", 0.125))
    with History(tmp_path / "h.sqlite3") as history:
        entry = history.record(row.path, row, file_sha256="d" * 64)
        assert [knee.call for knee in history.find("d" * 64, "ab" * 32).knees] == ["borderline-above", "normal"]
    assert entry.knees == row.knees


def test_the_old_header_is_a_prefix_of_the_new_one_and_the_knee_calls_come_last():
    assert csv_columns() == OLD_HEADER + KNEE_CALLS
    # The opt-in patient columns stay after every other column, as they always were.
    assert csv_columns(include_patient=True) == OLD_HEADER + KNEE_CALLS + PATIENT
    row = _file(_knee("right", 0.4), _knee("left", 0.125))
    assert list(row.csv_record()) == OLD_HEADER + KNEE_CALLS  # the cells in the header's order
    assert list(row.csv_record(include_patient=True)) == OLD_HEADER + KNEE_CALLS + PATIENT


def test_csv_cells_of_each_side_and_of_two_unknown_knees():
    row = _file(_knee("unknown", 0.35, (0, 0, 10, 10)), _knee("unknown", 0.125, (20, 0, 30, 10)))
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=csv_columns(), lineterminator="\n")
    writer.writeheader()
    writer.writerow(row.csv_record())
    (line,) = list(csv.DictReader(io.StringIO(handle.getvalue())))
    # Two unknown knees share their group, which shows the more suspicious (0.35: 0.025 below, borderline-below).
    assert (line["knee_unknown_probability"], line["knee_unknown_call"]) == ("0.350000", "borderline-below")
    assert line["knee_right_call"] == line["knee_left_call"] == ""
    assert [knee["call"] for knee in row.to_dict()["knees"]] == ["borderline-below", "normal"]  # the JSON has both


def test_the_terminal_table_prints_each_knees_stored_call():
    row = _file(_knee("right", 0.875), _knee("left", 0.35))
    stream = io.StringIO()
    Table(stream).write(row)
    knee_lines = stream.getvalue().splitlines()[2:4]
    assert [line.split()[0] for line in knee_lines] == ["osteoporosis", "borderline-below"]


# --- the declaration that places a field's later columns ---------------------------------------------------------

@dataclass
class _Row:
    name: str = declared(text())
    parts: list[str] = declared(Output(csv_names=("part_a",), csv_added=("tag", ("part_b",)),
                                       to_csv=lambda parts: {"part_a": parts[0], "part_b": parts[1]}),
                                default_factory=list)
    tag: str = declared(text(), "")
    later: str = declared(text(), "")  # declared after the anchor: the added column still goes right after "tag"


def test_a_fields_added_columns_go_right_after_the_named_column():
    assert columns.csv_columns(_Row) == ("name", "part_a", "tag", "part_b", "later")
    assert list(columns.to_csv(_Row("n", ["a", "b"], "t", "l")).items()) == [
        ("name", "n"), ("part_a", "a"), ("tag", "t"), ("part_b", "b"), ("later", "l")]
    assert columns.json_keys(_Row) == ("name", "parts", "tag", "later")  # the JSON is unchanged: one key per field


def test_added_columns_after_a_column_that_does_not_exist_are_a_declaration_error():
    @dataclass
    class Broken:
        parts: list[str] = declared(Output(csv_names=("part_a",), csv_added=("nowhere", ("part_b",))),
                                    default_factory=list)

    with pytest.raises(ValueError):
        columns.csv_columns(Broken)


def test_from_dict_reads_a_knees_recorded_call_and_none_when_it_has_none():
    """KneeResult alone (no file to derive it): the recorded word is kept as written, even one the rule would not give
    today; a knee written before calls were kept has None until its file sets it."""
    written = {"side": "left", "box": [1, 2, 30, 40], "label": "normal", "probability": 0.125, "confidence": 0.875,
               "side_source": "dicom_header"}
    assert KneeResult.from_dict(written).call is None
    assert KneeResult.from_dict({**written, "call": "borderline-below"}).call == "borderline-below"
    assert KneeResult.from_dict({**written, "call": None}).call is None


def test_a_knee_without_a_call_has_an_empty_call_cell():
    cells = knee_cells([KneeResult("right", (0, 0, 10, 10), "normal", 0.125, 0.875)])
    assert cells["knee_right_call"] == "" and cells["knee_right_label"] == "normal"


def test_no_knee_call_without_the_files_verdict():
    """A file whose verdict is incomplete (no label or no probability) gives its knees no call either, though the
    threshold alone would let a knee be called."""
    knee = _knee("right", 0.875)
    for missing in ({"label": None}, {"probability": None}):
        values = dict(path="f.png", label="osteoporosis", probability=0.875, threshold=THRESHOLD, knees=[knee])
        result = FileResult(**{**values, **missing})
        assert result.call is None
        assert [k.call for k in result.knees] == [None]
