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


def test_a_film_fetched_under_its_readable_name_still_reads_from_its_header(tmp_path):
    """Fetched films are now named by whose they are (dicomnet.pacs.fetched_name); the cell still comes from the
    header, as the PACS dialog lists studies, with the UID in the tooltip. A hidden file there (a fetch's temporary
    file) is not a film."""
    path, uid = _fetched(tmp_path, PatientName="Doe^Jane", PatientID="P-1", AccessionNumber="ACC-31", StudyDate="20250301")
    readable = path.with_name("Doe^Jane P-1 ACC-31 2025-03-01 knee.dcm")
    path.rename(readable)
    assert fetched_from_pacs(readable) and not fetched_from_pacs(path.with_name(f".{uid}.dcm"))
    assert file_cell(readable, readable.name) == ("Doe, Jane · ID P-1 · Acc. ACC-31 · 2025-03-01",
                                                  f"{readable}\nSOP Instance UID {uid}")
