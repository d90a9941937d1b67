"""The scan table's File cell for a study fetched from a PACS (trial 22): whose film it is from its own header, not the
SOP instance UID it is named by; the UID in the tooltip; any other file keeps its name."""

from __future__ import annotations

import numpy as np
from pydicom.uid import generate_uid

from osteo_desktop.gui.worklist import file_cell, fetched_from_pacs
from tests.imaging_factories import make_dicom


def _fetched(tmp_path, **tags):
    uid, study = generate_uid(), generate_uid()
    ds = make_dicom(np.zeros((8, 8), np.uint16), modality="DX", SOPInstanceUID=uid, StudyInstanceUID=study, **tags)
    folder = tmp_path / "data" / "pacs" / study
    folder.mkdir(parents=True)
    path = folder / f"{uid}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, uid


def test_a_fetched_film_reads_as_patient_id_accession_and_date(tmp_path):
    path, uid = _fetched(tmp_path, PatientName="Doe^Jane", PatientID="P-1", AccessionNumber="ACC-31", StudyDate="20250301")
    assert fetched_from_pacs(path)
    cell = file_cell(str(path), path.name)
    assert cell.text == "Doe, Jane · ID P-1 · Acc. ACC-31 · 2025-03-01"
    assert cell.tooltip == f"{path}\nSOP Instance UID {uid}" and uid not in cell.text


def test_header_text_stays_text(tmp_path):
    """A PatientName that looks like markup is shown as written (item cells draw plain text; no HTML is built)."""
    path, _ = _fetched(tmp_path, PatientName="<b>Evil</b>^Jane", PatientID="", AccessionNumber="", StudyDate="")
    assert file_cell(path, path.name).text == "<b>Evil</b>, Jane"


def test_other_files_keep_their_name(tmp_path):
    plain = tmp_path / "study" / "knee1.dcm"
    assert not fetched_from_pacs(plain)
    assert file_cell(plain, "study/knee1.dcm") == ("study/knee1.dcm", str(plain))
    # named like a fetched film but not in a pacs/<study UID>/ folder: a folder the user scanned, left as it is
    elsewhere = tmp_path / "1.2.3" / "1.2.3.4.dcm"
    assert not fetched_from_pacs(elsewhere) and file_cell(elsewhere, elsewhere.name).text == elsewhere.name


def test_an_unreadable_or_anonymous_fetched_file_keeps_its_name(tmp_path):
    path, _ = _fetched(tmp_path, PatientName="", PatientID="", AccessionNumber="", StudyDate="")
    assert file_cell(path, path.name).text == path.name
    broken = path.parent / "1.2.3.4.dcm"
    broken.write_bytes(b"not DICOM")
    assert file_cell(broken, broken.name) == (broken.name, str(broken))


# --- the name the window shows for a fetched film (title, status bar, Image details, the report's suggested name) ---

import pydicom  # noqa: E402
import pytest  # noqa: E402

from osteo_desktop.gui.worklist import readable_name, shown_name  # noqa: E402


def _header(**tags) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns of values no VR allows: a PACS sends them anyway
@pytest.mark.parametrize(("tags", "expected"), [
    ({"PatientName": "Doe^John", "PatientID": "12345", "AccessionNumber": "ACC001", "StudyDate": "20240131",
      "BodyPartExamined": "KNEE"}, "Doe^John 12345 ACC001 2024-01-31 knee"),
    # path separators and Windows' reserved characters as "_"; no leading dot: no way out of a folder, no hidden file
    ({"PatientName": "../../etc^x", "PatientID": "a/b\\c", "AccessionNumber": 'q:*?"<>|'}, "_.._etc^x a_b_c q_______"),
    # control and format characters (a newline faking a second line, a terminal escape, a right-to-left override
    # turning "gpj.dcm" round) dropped; tabs and runs of spaces one space
    ({"PatientName": "Doe^Jane\n2nd line", "PatientID": "P\x1b[31m1", "AccessionNumber": "A\u202eC\tC",
      "StudyDate": "2025"}, "Doe^Jane 2nd line P[31m1 AC C 2025"),
    # the first group of a name with ideographic and phonetic groups; trailing carets; markup is only text
    ({"PatientName": "Yamada^Tarou^^=山田^太郎=やまだ^たろう"}, "Yamada^Tarou"),
    ({"PatientName": "^=山田^太郎"}, "山田^太郎"),
    ({"PatientName": "X^", "PatientID": "XP-1X"}, "X XP-1X"),  # a one-letter family name is a name
    ({"PatientName": "<b>Evil</b>^Jane"}, "_b_Evil__b_^Jane"),
    # the series' laterality when the image has none
    ({"PatientID": "P-1", "BodyPartExamined": "KNEE", "Laterality": "L"}, "P-1 knee L"),
    ({"PatientID": "P-1", "ImageLaterality": "R", "Laterality": "L"}, "P-1 R"),
    # no trailing dot or space (Windows drops them), no device name
    ({"PatientID": ".hidden ."}, "hidden"),
    ({"PatientID": "NUL"}, "_NUL"),
    ({"PatientID": "con.x"}, "_con.x"),
    ({"PatientID": "NUL", "BodyPartExamined": "KNEE"}, "NUL knee"),  # not a device name: only "NUL" or "NUL.x" is
    # body part and laterality alone do not say whose film it is
    ({"BodyPartExamined": "KNEE", "ImageLaterality": "R"}, None),
    ({"PatientName": "^^", "PatientID": " ", "StudyDate": ""}, None),
    ({"PatientID": "..."}, None),
])
def test_readable_name_is_safe_as_a_file_name(tags, expected):
    assert readable_name(_header(**tags)) == expected


def test_readable_name_without_the_patient_and_cut_to_a_hundred_bytes_between_characters():
    full = _header(PatientName="Doe^John", PatientID="12345", AccessionNumber="ACC001", StudyDate="20240131")
    assert readable_name(full, with_patient=False) == "ACC001 2024-01-31"
    assert readable_name(_header(PatientName="Doe^John", PatientID="12345"), with_patient=False) is None
    name = readable_name(_header(PatientName="é" * 80, PatientID="P-1"))  # 160 bytes of UTF-8 in the name alone
    assert name == "é" * 50 and len(name.encode("utf-8")) == 100
    assert readable_name(_header(PatientName="a" * 99 + "é")) == "a" * 99  # not half a character


def test_a_fetched_film_is_shown_by_whose_it_is_and_stays_where_it_is(tmp_path):
    """Trial 22b: the title, status bar, Image details and report name said "1.2.826.0.1.3680043.8.498....dcm". The
    file keeps that name (the history, the scan's CSV and the log carry the path, never the patient's name)."""
    path, uid = _fetched(tmp_path, PatientName="Doe^Jane", PatientID="P-1", AccessionNumber="ACC-31", StudyDate="20250301",
                         ImageLaterality="R")
    assert shown_name(path) == "Doe^Jane P-1 ACC-31 2025-03-01 knee R.dcm"
    assert shown_name(path, with_patient=False) == "ACC-31 2025-03-01 knee R.dcm"
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{uid}.dcm"]


def test_other_files_and_fetched_files_without_names_are_shown_by_their_own_name(tmp_path):
    plain = tmp_path / "study" / "knee1.dcm"
    assert shown_name(plain) == "knee1.dcm"  # not read at all (it does not even exist)
    anonymous, _ = _fetched(tmp_path, PatientName="", PatientID="", AccessionNumber="", StudyDate="")
    assert shown_name(anonymous) == anonymous.name
    broken = anonymous.parent / "1.2.3.4.dcm"
    broken.write_bytes(b"not DICOM")
    assert shown_name(broken) == "1.2.3.4.dcm"


def test_the_report_name_says_whose_report_only_when_the_report_does(qtbot, tmp_path):
    """The export dialog suggests the report of a fetched film under its UID while the patient's details stay out of
    the PDF (the default), under the name the reader knows once they go in; a name the user typed stays."""
    from osteo_desktop.gui.export_dialog import ExportDialog

    plain, identified = tmp_path / "1.2.3-report.pdf", tmp_path / "Doe^Jane P-1 ACC-31 2025-03-01 knee-report.pdf"
    dialog = ExportDialog(plain, [("Patient name", "Doe, Jane")], identified=identified)
    qtbot.addWidget(dialog)
    assert dialog.path_edit.text() == str(plain)
    dialog.include_patient.setChecked(True)
    assert dialog.path_edit.text() == str(identified)
    dialog.include_patient.setChecked(False)
    assert dialog.path_edit.text() == str(plain)
    dialog.path_edit.setText(str(tmp_path / "mine.pdf"))
    dialog.include_patient.setChecked(True)
    assert dialog.path_edit.text() == str(tmp_path / "mine.pdf")
    unnamed = ExportDialog(plain, [("Patient name", "Doe, Jane")])  # any other file: one name either way
    qtbot.addWidget(unnamed)
    unnamed.include_patient.setChecked(True)
    assert unnamed.path_edit.text() == str(plain)
