"""The PDF report as printed (read back with Ghostscript's text output): titled by what was analysed, the result
as its headline, every warning whole, patient ID and study date only when ticked (issue 14)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pydicom
import pytest

from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.gui.report_pdf import write_report_pdf

GS = shutil.which("gs")
pytestmark = pytest.mark.skipif(GS is None, reason="Ghostscript (gs) reads the PDF's text back; it is not installed")


def printed_text(pdf) -> str:
    out = subprocess.run([GS, "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=txtwrite", "-sOutputFile=-", str(pdf)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return re.sub(r"\s+", " ", out).strip()  # words as one run, whatever the line breaks and column spacing


def test_a_hip_film_is_not_called_a_knee_report_and_ticked_patient_details_are_printed(qapp, classifier, dicom_dir, tmp_path):
    path = dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm"
    header = pydicom.dcmread(path, stop_before_pixels=True)
    analysis = analyse_file(path, classifier)
    assert analysis.prediction is None  # the gate declines a hip film
    ticked = printed_text(write_report_pdf(tmp_path / "hip.pdf", analysis, include_patient=True))
    assert ticked.startswith("Screening: no result")
    assert "knee report" not in ticked.lower() and "Knee radiograph screening" not in ticked
    assert f"Patient ID {header.PatientID}" in ticked
    d = header.StudyDate
    assert f"Study date {d[:4]}-{d[4:6]}-{d[6:]}" in ticked
    family, given = str(header.PatientName).split("^")[:2]
    assert f"Patient name {family}, {given}" in ticked and "^" not in ticked
    # The result line comes before any patient line.
    assert ticked.index("Result No result:") < ticked.index("Patient name")

    plain = printed_text(write_report_pdf(tmp_path / "hip-plain.pdf", analysis))
    assert header.PatientID not in plain and "Patient" not in plain.replace("a patient", "")


def test_a_knee_report_heads_with_the_result_and_prints_long_warnings_whole(qapp, classifier, knee_png, tmp_path):
    analysis = analyse_file(knee_png, classifier)
    # Worded without fi/fl/ff: the PDF's font sets those as ligatures, which a text extractor cannot split back.
    long_warning = ("The image was resampled from a very unusual pixel spacing and the plate edge crosses the joint, "
                    "so the model may see less of the tibial plateau than it was trained on; the last word is ZEBRA")
    analysis = dataclasses.replace(analysis, warnings=[*analysis.warnings, long_warning])
    printed = printed_text(write_report_pdf(tmp_path / "knee.pdf", analysis, include_patient=True))
    assert printed.startswith("Knee radiograph screening")
    assert re.search(r"Result (Osteoporosis suspected|No sign of osteoporosis)", printed)
    assert long_warning in printed  # every word, the last one included


def test_each_knee_in_the_report_says_where_its_side_came_from(qapp, classifier, knee_png, tmp_path):
    analysis = analyse_file(knee_png, classifier, explain=False)
    assert analysis.knees
    knee = analysis.knees[0]
    # As a burnt-in R would name it (the reader's own figures are elsewhere): the report prints the source's words.
    knee.side, knee.side_source = "right", "film_marker"
    printed = printed_text(write_report_pdf(tmp_path / "marked.pdf", analysis))
    # The font sets "fi" as one ligature glyph, which Ghostscript's text output gives back as "û" (or U+FB01).
    printed = printed.replace("û", "fi").replace("\ufb01", "fi")
    assert re.search(r"Right knee \(film marker\) (Osteoporosis suspected|No sign of osteoporosis|Borderline)", printed)
    assert "Model input: right knee" in printed  # the panel caption is short (main), the source is in the line


def test_a_declined_chest_film_s_report_has_no_model_input_nor_knee_or_probability_wording(qapp, classifier,
                                                                                           dicom_dir, tmp_path):
    """The window captions a declined file's second image "Checked before analysis: no result": the report says the
    same, and nothing on the page reads as a knee's result (no model input, no knee by side, no probability or
    threshold). The scope gate's reason itself ("not a knee radiograph") is the result, as in the window."""
    analysis = analyse_file(dicom_dir / "CR_chest_RG1_J2KI_MONO1_15bit_j2k-lossy.dcm", classifier)
    assert analysis.prediction is None and analysis.model_input is not None  # declined, its whole film checked
    printed = printed_text(write_report_pdf(tmp_path / "chest.pdf", analysis))
    assert printed.startswith("Screening: no result")
    assert "Checked before analysis: no result" in printed and "Radiograph" in printed  # the two images' captions
    lowered = printed.lower()
    for words in ("model input", "right knee", "left knee", "knee (side", "probability", "threshold", "borderline",
                  "suspected"):
        assert words not in lowered, words
