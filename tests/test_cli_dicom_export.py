"""`osteo dicom-export`: DICOM in gives three objects in the source study; PNG/JPEG without study details says why not."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image

from osteo_desktop.cli import main
from shared_paths import DICOM_DIR, KNEE_DIR

SOURCE = DICOM_DIR / "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm"


@pytest.mark.skipif(not SOURCE.is_file(), reason="shared DICOM test image missing")
def test_dicom_export_writes_sr_capture_and_pdf_in_the_source_study(tmp_path, capsys):
    assert main(["dicom-export", str(SOURCE), "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.dcm"))
    assert [p.name.split(".")[-2] for p in written] == ["annotated", "report", "sr"]
    study = pydicom.dcmread(SOURCE, stop_before_pixels=True).StudyInstanceUID
    assert {pydicom.dcmread(p).StudyInstanceUID for p in written} == {study}
    assert isinstance(hd.sr.srread(tmp_path / f"{SOURCE.stem}.sr.dcm"), hd.sr.Comprehensive3DSR)


def test_jpeg_without_study_details_is_refused_with_a_reason(tmp_path, capsys):
    jpeg = next(iter(sorted(KNEE_DIR.rglob("*.jpg"))), None)
    if jpeg is None:
        pytest.skip("shared knee JPEGs missing")
    assert main(["dicom-export", str(jpeg), "--out", str(tmp_path), "--no-pdf"]) == 1
    assert "no DICOM study to join" in capsys.readouterr().err
    assert list(tmp_path.glob("*.dcm")) == []
    assert main(["dicom-export", str(jpeg), "--out", str(tmp_path), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane", "--study-date", "20250301"]) == 0
    assert {pydicom.dcmread(p).PatientID for p in tmp_path.glob("*.dcm")} == {"P-1"}


@pytest.mark.parametrize("date", ["2026-13-01", "2025-02-30", "01.03.2025", "2025031"])
def test_a_study_date_that_is_not_a_date_is_a_usage_error_before_anything_is_written(tmp_path, capsys, date):
    # A new user typed 2026-01-01 before YYYY-MM-DD was accepted, and pydicom's "Unable to convert" came out as an
    # internal error. Each of these is not a calendar date, worked out by hand (month 13, 30 February, dots, 7 digits).
    png = tmp_path / "knee.png"
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(png)
    out = tmp_path / "out"
    assert main(["dicom-export", str(png), "--out", str(out), "--patient-id", "P-1", "--patient-name", "Doe^Jane",
                 "--study-date", date]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: osteo dicom-export") and f"The study date {date!r} is not a calendar date (write YYYY-MM-DD or YYYYMMDD)." in err
    assert not out.exists()


def test_a_patient_name_without_an_id_is_named_as_the_problem(tmp_path, capsys):
    png = tmp_path / "knee.png"
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(png)
    assert main(["dicom-export", str(png), "--out", str(tmp_path / "out"), "--patient-name", "Doe^Jane"]) == 2
    assert "The patient ID and family name are needed." in capsys.readouterr().err


def _grey_png(tmp_path):
    png = tmp_path / "knee.png"
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(png)
    return png


@pytest.mark.parametrize("typed, written, components", [
    # Family^Given^Middle^Prefix^Suffix (PS3.5 6.2.1): every component where it was typed. Before, everything after
    # the family name was flattened into the given name: "Doe^Jane Quinn Dr III".
    ("Doe^Jane^Quinn^Dr^III", "Doe^Jane^Quinn^Dr^III", ("Doe", "Jane", "Quinn", "Dr", "III")),
    ("Doe^^Quinn", "Doe^^Quinn", ("Doe", "", "Quinn", "", "")),
    ("Doe", "Doe^", ("Doe", "", "", "", "")),  # a family name alone keeps its caret
])
def test_the_patient_names_components_are_kept(tmp_path, capsys, typed, written, components):
    out = tmp_path / "out"
    assert main(["dicom-export", str(_grey_png(tmp_path)), "--out", str(out), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", typed]) == 0
    names = {str(pydicom.dcmread(p).PatientName) for p in out.glob("*.dcm")}
    assert names == {written}
    name = pydicom.dcmread(next(out.glob("*.dcm"))).PatientName
    assert (name.family_name, name.given_name, name.middle_name, name.name_prefix, name.name_suffix) == components


@pytest.mark.parametrize("typed", ["Doe^Jane^Q^Dr^III^X", "Doe^Jane=Yamada^Hanako"])
def test_a_patient_name_pydicom_would_cut_short_is_a_usage_error(tmp_path, capsys, typed):
    out = tmp_path / "out"
    assert main(["dicom-export", str(_grey_png(tmp_path)), "--out", str(out), "--patient-id", "P-1",
                 "--patient-name", typed]) == 2
    assert "at most five components, and no =" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(not SOURCE.is_file(), reason="shared DICOM test image missing")
def test_dicom_input_keeps_its_own_patient_whatever_patient_id_says(tmp_path, capsys):
    # As --patient-id's help says: the typed details are for PNG/JPEG input only.
    own = pydicom.dcmread(SOURCE, stop_before_pixels=True)
    assert own.PatientID != "P-TYPED"
    assert main(["dicom-export", str(SOURCE), "--out", str(tmp_path), "--no-pdf", "--patient-id", "P-TYPED",
                 "--patient-name", "Typed^Name"]) == 0
    written = [pydicom.dcmread(p) for p in tmp_path.glob("*.dcm")]
    assert written and {ds.PatientID for ds in written} == {own.PatientID}
    assert {str(ds.PatientName) for ds in written} == {str(own.PatientName)}


def test_a_both_knee_film_gives_one_finding_per_knee_where_the_hand_checked_boxes_are(tmp_path, capsys):
    # annotations/knee_boxes.csv, checked by eye: the viewer-left knee (the patient's right on a frontal film)
    # spans x 42-418, the viewer-right knee x 570-950.
    film = KNEE_DIR / "osteopenia" / "osteopenia_09999db31d5b.jpg"
    if not film.is_file():
        pytest.skip("shared knee film missing")
    assert main(["dicom-export", str(film), "--out", str(tmp_path), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 0
    sr = hd.sr.srread(next(tmp_path.glob("*.sr.dcm")))
    centres = {}
    for group in sr.content.get_planar_roi_measurement_groups():
        side = group.finding_sites[0].laterality.meaning
        centres[side] = float(group.roi.value[:, 0].mean())
    assert set(centres) == {"Right", "Left"}
    assert 42 < centres["Right"] < 418 and 570 < centres["Left"] < 950


CHEST = DICOM_DIR / "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm"  # its ReferringPhysicianName is the single word "ward"
TRUNCATED = DICOM_DIR / "MR_truncated_pixeldata.dcm"


@pytest.mark.skipif(not (CHEST.is_file() and TRUNCATED.is_file()), reason="shared DICOM samples missing")
def test_the_terminal_gets_our_words_only_and_a_failed_file_is_named_once(tmp_path):
    import subprocess
    import sys

    from shared_paths import REPO_ROOT

    # A child process, as a user runs it: Python prints a library's warnings to stderr unless the code keeps them.
    run = subprocess.run([sys.executable, "-m", "osteo_desktop", "dicom-export", str(CHEST), str(TRUNCATED),
                          "--out", str(tmp_path), "--no-pdf"], capture_output=True, text=True, cwd=REPO_ROOT,
                         timeout=300)
    assert run.returncode == 1  # the truncated file failed
    assert "Warning" not in run.stderr and "site-packages" not in run.stderr  # no highdicom UserWarning on "ward"
    (line,) = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert line.count(TRUNCATED.name) == 1 and "truncated" in line
    assert len(list(tmp_path.glob(f"{CHEST.stem}.*.dcm"))) == 2  # the chest's SR and annotated image were written


@pytest.mark.skipif(not SOURCE.is_file(), reason="shared DICOM test image missing")
@pytest.mark.parametrize("no_pdf", [False, True])
def test_the_pdf_gets_each_knees_heat_map_and_without_a_pdf_none_is_computed(tmp_path, monkeypatch, no_pdf):
    """The Encapsulated PDF is the same report as File > Export report, heat maps included (it had none)."""
    from osteo_desktop.cli import dicom_export

    seen = []
    monkeypatch.setattr(dicom_export, "export_analysis", lambda analysis, *a, **k: seen.append(analysis) or [])
    knee_film = next(iter(sorted(KNEE_DIR.rglob("*.jpg"))), None)
    if knee_film is None:
        pytest.skip("shared knee JPEGs missing")
    args = ["dicom-export", str(knee_film), "--out", str(tmp_path), "--patient-id", "P-1", "--patient-name", "Doe^Jane"]
    assert main(args + (["--no-pdf"] if no_pdf else [])) == 0
    (analysis,) = seen
    assert analysis.knees  # a knee film: knees found
    assert all((knee.explanation is None) == no_pdf for knee in analysis.knees)


def test_a_full_disk_leaves_nothing_of_the_films_results(tmp_path, capsys, monkeypatch):
    # Trial 22b: a full --out left a 0-byte knee1.sr.tmp. Here the disk fills at the annotated image (the second
    # object), after the SR's bytes were written: neither is left, nor a temporary.
    import errno
    import os

    png = _grey_png(tmp_path)
    out = tmp_path / "out"
    real = os.fsync

    def full(fd):
        if ".annotated.dcm." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", full)
    assert main(["dicom-export", str(png), "--out", str(out), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 1
    assert f"the results cannot be written to --out {out} (No space left on device)" in capsys.readouterr().err
    assert list(out.iterdir()) == []


@pytest.mark.skipif(not SOURCE.is_file(), reason="shared DICOM test image missing")
def test_the_same_film_exported_twice_gives_the_same_objects(tmp_path, capsys):
    # Trial 22b: each export or send of one film's result added a result set with new UIDs. Every object, the PDF
    # included, comes back under the same SOP and series UIDs, so a PACS given both sets holds one.
    def uids(folder):
        assert main(["dicom-export", str(SOURCE), "--out", str(tmp_path / folder)]) == 0
        return {p.name: (pydicom.dcmread(p).SOPInstanceUID, pydicom.dcmread(p).SeriesInstanceUID)
                for p in (tmp_path / folder).glob("*.dcm")}

    first = uids("first")
    assert len(first) == 3 and uids("again") == first
    assert len({uid for pair in first.values() for uid in pair}) == 6


def test_the_written_paths_are_printed_escaped(tmp_path, capsys, knee_png):
    """The objects are named after the source, so a name with an escape sequence or a byte that is not UTF-8 reaches
    the list of written paths: printed as the table prints names (\\xNN, \\x1b), not raw (a UTF-8 terminal's strict
    stdout refused the undecodable byte with an internal error, and the files after it were never exported)."""
    import os
    import shutil

    sources = [os.path.join(tmp_path, os.fsdecode(b"k\xffnee.png")), str(tmp_path / "k\x1b[31mred.png")]
    for source in sources:
        shutil.copy(knee_png, source)
    out = tmp_path / "out"
    assert main(["dicom-export", *sources, "--out", str(out), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:-1] == [f"{out}/k\\xffnee.sr.dcm", f"{out}/k\\xffnee.annotated.dcm",
                             f"{out}/k\\x1b[31mred.sr.dcm", f"{out}/k\\x1b[31mred.annotated.dcm"]
    assert sorted(os.listdir(os.fsencode(out))) == sorted([b"k\xffnee.sr.dcm", b"k\xffnee.annotated.dcm",
                                                           b"k\x1b[31mred.sr.dcm", b"k\x1b[31mred.annotated.dcm"])


def test_a_file_whose_export_fails_unexpectedly_does_not_stop_the_others(tmp_path, capsys, monkeypatch, knee_png):
    """'A file that cannot be read gets an error and the others still run': an unexpected failure while one file's
    objects are built (a source tag a DICOM library refuses; here a stand-in for such a bug) is that file's error,
    and the next file is still exported. Before, it ended the whole run with 'internal error'."""
    import shutil

    from osteo_desktop.cli import dicom_export

    first, second = tmp_path / "first.png", tmp_path / "second.png"
    shutil.copy(knee_png, first)
    shutil.copy(knee_png, second)
    real_export = dicom_export.export_analysis

    def export(analysis, *args, **kwargs):
        if str(analysis.radiograph.path).endswith("first.png"):
            raise ValueError("'' is not a valid SpecificCharacterSetValues")
        return real_export(analysis, *args, **kwargs)

    monkeypatch.setattr(dicom_export, "export_analysis", export)
    out = tmp_path / "out"
    assert main(["dicom-export", str(first), str(second), "--out", str(out), "--no-pdf", "--patient-id", "P-1",
                 "--patient-name", "Doe^Jane"]) == 1
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["second.annotated.dcm", "second.sr.dcm"]
    assert captured.out.splitlines()[1:-1] == [f"{out}/second.sr.dcm", f"{out}/second.annotated.dcm"]
    assert ("first.png: unexpected error (ValueError: '' is not a valid SpecificCharacterSetValues)"
            in captured.err)
    assert "internal error" not in captured.err
