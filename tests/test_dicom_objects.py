"""DICOM objects out: each object reads back through highdicom/pydicom, joins the source's study, carries the
numbers it was given, and (where dicom3tools is installed) passes dciodvfy without errors."""

from __future__ import annotations

import shutil
import subprocess
import zlib

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import ComputedRadiographyImageStorage, generate_uid

from osteo_desktop.core.results.dicom_adapter import NoStudyError, StudyDetails, source_for
from osteo_desktop.core.results.annotated_image import annotate
from osteo_desktop.core.results.dicom_objects import DicomExportInput, KneeFinding, write_all
from shared_paths import DICOM_DIR

SHA = "0123456789abcdef" * 4


def _source() -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Doe^Jane", "P-17", "19500102", "F"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.SOPClassUID, ds.Modality = ComputedRadiographyImageStorage, "CR"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20250301", "101500", "S1", "ACC-9"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.Rows, ds.Columns, ds.BodyPartExamined = 400, 600, "KNEE"
    return ds


def _input(findings, reason=None) -> DicomExportInput:
    gray = np.linspace(0, 1, 200 * 300, dtype=np.float32).reshape(200, 300)
    return DicomExportInput(_source(), findings, reason, "osteo-mobilenetv2", "2.1", SHA,
                            annotate(gray, [], "headline"), b"%PDF-1.4\n%%EOF\n")


KNEES = [KneeFinding("R", (10, 20, 250, 380), "osteoporosis", 0.81, 0.42),
         KneeFinding("L", (330, 20, 590, 380), "normal", 0.12, 0.42)]


def _texts(ds: pydicom.Dataset) -> set[str]:
    """Every string value anywhere in the dataset (code meanings, text values, parameters)."""
    return {str(e.value) for e in ds.iterall() if isinstance(e.value, str)}


def _dciodvfy_lines(path) -> list[str]:
    """dciodvfy's messages on ``path``. Debian's dicom3tools (2022) reads no deflated file at all (pydicom's own sample
    image_dfl.dcm fails the same way: "Dicom dataset read failed"), so a deflated file is first inflated by DCMTK's
    dcmconv, which shares no code with pydicom, and the inflated data set is checked."""
    if pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99":
        if shutil.which("dcmconv") is None:
            pytest.skip("dcmconv (DCMTK) not installed: needed to check a deflated file with dciodvfy")
        inflated = path.with_name(path.name + ".inflated")
        subprocess.run(["dcmconv", "+te", str(path), str(inflated)], check=True, capture_output=True, timeout=30)
        path = inflated
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=30)
    return [line for line in (result.stdout + result.stderr).decode("latin-1").splitlines() if line.strip()]


def _dciodvfy_errors(path) -> list[str]:
    return [line for line in _dciodvfy_lines(path) if line.startswith("Error")]


def test_sr_has_one_group_per_knee_with_side_probability_threshold_and_region(tmp_path):
    inp = _input(KNEES)
    sr_path, sc_path, pdf_path = write_all(inp, tmp_path, "knee")
    sr = hd.sr.srread(sr_path)
    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 2
    by_side = {}
    for group in groups:
        site = group.finding_sites[0]
        by_side[site.laterality.meaning] = {m.name.meaning: m.value for m in group.get_measurements()}
        assert group.roi is not None and group.roi.value.shape == (5, 2)  # closed rectangle on the source image
        assert group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == inp.source.SOPInstanceUID
    assert by_side == {"Right": {"Osteoporosis probability": 0.81, "Decision threshold": 0.42},
                       "Left": {"Osteoporosis probability": 0.12, "Decision threshold": 0.42}}
    assert f"model_sha256={SHA}" in _texts(sr)  # algorithm parameters carry the model checksum


def test_all_objects_join_the_source_study_in_new_series_with_patient_copied(tmp_path):
    inp = _input(KNEES)
    paths = write_all(inp, tmp_path, "knee")
    datasets = [pydicom.dcmread(p) for p in paths]
    assert [d.SOPClassUID for d in datasets] == ["1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.7",
                                                "1.2.840.10008.5.1.4.1.1.104.1"]
    for ds in datasets:
        assert ds.StudyInstanceUID == inp.source.StudyInstanceUID
        assert ds.SeriesInstanceUID != inp.source.SeriesInstanceUID
        for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyDate",
                        "StudyID", "ReferringPhysicianName"):
            assert str(ds.get(keyword)) == str(inp.source.get(keyword)), keyword
    assert len({d.SeriesInstanceUID for d in datasets}) == 3
    sc = hd.imread(paths[1])  # highdicom's own image reader
    assert sc.get_frame(1).shape == (200, 300, 3)
    assert datasets[2].EncapsulatedDocument.startswith(b"%PDF")


@pytest.mark.parametrize("findings", [KNEES, []])
def test_the_annotated_image_says_its_annotation_is_burnt_in(tmp_path, findings):
    """Text is burnt into every annotated image (at least the banner's headline and research notice): its header must
    say so (General Image module, BurnedInAnnotation YES), with or without knees."""
    paths = write_all(_input(findings, None if findings else "out of scope"), tmp_path, "burnt")
    sc = pydicom.dcmread(next(p for p in paths if p.name.endswith(".annotated.dcm")))
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # the Secondary Capture
    assert sc.BurnedInAnnotation == "YES"


def _film_input() -> DicomExportInput:
    """A film-like annotated image: a smooth gradient with a little noise, as a radiograph is, and two knee boxes."""
    rows, cols = 240, 320
    gray = np.add.outer(np.linspace(0, 0.7, rows), np.linspace(0, 0.3, cols)).astype(np.float32)
    gray += np.random.default_rng(7).normal(0, 0.01, gray.shape).astype(np.float32)
    knees = [KneeFinding("R", (20, 60, 150, 200), "osteoporosis", 0.81, 0.42),
             KneeFinding("L", (170, 60, 300, 200), "normal", 0.12, 0.42)]
    return DicomExportInput(_source(), knees, None, "osteo-mobilenetv2", "2.1", SHA,
                            annotate(np.clip(gray, 0, 1), knees, "headline", "detail"), b"%PDF-1.4\n%%EOF\n")


def _inflated_body(path) -> bytes:
    """The data set of a deflated file, inflated with zlib here: everything after the File Meta group (its length is
    the value of (0002,0000), the first element after the 128-byte preamble and "DICM"), raw deflate (PS3.5 A.5)."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM" and data[132:140] == b"\x02\x00\x00\x00UL\x04\x00"
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    return zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)


def test_the_annotated_image_is_written_deflated_with_the_same_pixels_and_header(tmp_path):
    """The annotated image is Deflated Explicit VR Little Endian (about a fifth of its size, reports/sc_compression.md);
    read back by pydicom and by highdicom it is the image that was drawn, and it says what the uncompressed one says."""
    inp = _film_input()
    rgb = inp.annotated_rgb
    paths = write_all(inp, tmp_path, "film")
    sc_path = next(p for p in paths if p.name.endswith(".annotated.dcm"))
    sc = pydicom.dcmread(sc_path)
    assert sc.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    # Deflated in fact, not only labelled so: the bytes after the meta group inflate to an explicit VR data set
    # (its first element, Specific Character Set, spelt with its VR) ending in the RGB pixels as drawn.
    body = _inflated_body(sc_path)
    assert body.startswith(b"\x08\x00\x05\x00CS") and body.endswith(rgb.tobytes())
    assert sc_path.stat().st_size < rgb.nbytes / 2
    assert np.array_equal(sc.pixel_array, rgb)
    assert np.array_equal(hd.imread(sc_path).get_frame(1), rgb)  # highdicom's own reader
    # The same object written uncompressed, as before (Implicit VR Little Endian, highdicom's choice): the same data
    # set element for element, pixels included.
    plain = pydicom.dcmread(sc_path)
    plain.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    plain.save_as(tmp_path / "plain.dcm", enforce_file_format=True)
    uncompressed = pydicom.dcmread(tmp_path / "plain.dcm")
    assert uncompressed.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    # (values, not VRs: read implicitly, Pixel Data is OW where the explicit file says OB)
    assert {e.tag: e.value for e in uncompressed} == {e.tag: e.value for e in sc}
    assert np.array_equal(uncompressed.pixel_array, rgb)
    # The SR and the PDF stay uncompressed: deflating saves under 10 kB of an SR, under a tenth of a PDF (whose
    # streams are compressed already): reports/sc_compression.md
    for path in paths:
        if path != sc_path:
            assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1", path.name


@pytest.mark.skipif(shutil.which("dciodvfy") is None or shutil.which("dcmconv") is None,
                    reason="dciodvfy (dicom3tools) and dcmconv (DCMTK) not installed")
def test_dciodvfy_says_of_the_deflated_image_exactly_what_it_says_of_the_uncompressed_one(tmp_path):
    paths = write_all(_film_input(), tmp_path, "film")
    sc_path = next(p for p in paths if p.name.endswith(".annotated.dcm"))
    plain = pydicom.dcmread(sc_path)
    plain.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    plain.save_as(tmp_path / "plain.dcm", enforce_file_format=True)
    deflated_lines = _dciodvfy_lines(sc_path)
    assert deflated_lines and deflated_lines[0] == "SCImage"  # read as the Secondary Capture it is, not a read error
    assert deflated_lines == _dciodvfy_lines(tmp_path / "plain.dcm")
    assert not [line for line in deflated_lines if line.startswith("Error")]


def test_out_of_scope_reason_is_the_finding(tmp_path):
    sr_path, *_ = write_all(_input([], reason="Not a knee: the DICOM body part is CHEST"), tmp_path, "chest")
    sr = hd.sr.srread(sr_path)
    assert sr.content.get_planar_roi_measurement_groups() == []
    assert "Not a knee: the DICOM body part is CHEST" in _texts(sr)


def test_a_long_reason_is_cut_at_a_word_within_the_64_characters_of_a_code_meaning(tmp_path):
    # 70 characters: the SR cut it to "... of another bone o" (new-user trial). Whole words up to 61 characters, "...".
    reason = "not a knee radiograph: looks like a radiograph of another bone or joint"
    sr_path, *_ = write_all(_input([], reason=reason), tmp_path, "hip")
    texts = _texts(hd.sr.srread(sr_path))
    assert "not a knee radiograph: looks like a radiograph of another..." in texts
    assert not any(t.startswith("not a knee radiograph") and t != "not a knee radiograph: looks like a radiograph of another..."
                   for t in texts)


def test_burnt_in_annotation_changes_pixels_inside_the_box_outline():
    gray = np.zeros((200, 300), dtype=np.float32)
    rgb = annotate(gray, [KneeFinding("R", (50, 60, 150, 160), "normal", 0.1, 0.4)], "No sign of osteoporosis")
    assert rgb[100, 50].tolist() == [0x4c, 0xaf, 0x7a]  # left edge of the box: the window's green for a clear normal
    assert rgb[100, 100].tolist() == [0, 0, 0]  # inside untouched
    assert rgb[5:28].any()  # headline banner with the research notice


def test_annotation_colours_follow_the_call_and_text_grows_with_the_film():
    gray = np.full((1800, 1200), 0.5, dtype=np.float32)  # mid-grey, so a black backdrop shows
    boxes = [(100, 900, 500, 1300), (700, 900, 1100, 1300)]
    rgb = annotate(gray, [KneeFinding("R", boxes[0], "osteoporosis", 0.70, 0.36),  # clear positive: orange e8873a
                          KneeFinding("L", boxes[1], "osteoporosis", 0.38, 0.36)],  # 0.02 above: borderline c8ccd2
                   "Osteoporosis suspected", "Probability of osteoporosis 70 %")
    assert rgb[1100, 100].tolist() == [0xe8, 0x87, 0x3a]
    assert rgb[1100, 700].tolist() == [0xc8, 0xcc, 0xd2]
    # the banner's text is about 1/45 of the shorter side (1200 / 45 = 27 px) high, not Pillow's 11 px bitmap font:
    # rows holding white (headline) pixels span well over 11 rows
    white_rows = np.flatnonzero((rgb[:200, :, :] > 250).all(axis=2).any(axis=1))
    assert white_rows.size and white_rows.max() - white_rows.min() >= 16
    # each tag sits on a dark backdrop just above its box, toward the film's middle (the right knee's box is on the
    # left half, so its tag ends at the box's right edge; the left knee's starts at its box's left edge)
    assert (rgb[870:899, 440:500] == [0, 0, 0]).all(axis=2).mean() > 0.4
    assert (rgb[870:899, 700:760] == [0, 0, 0]).all(axis=2).mean() > 0.4
    assert not (rgb[870:899, 100:160] == [0, 0, 0]).all(axis=2).any()  # nothing drawn at the right knee's outer corner


def test_raster_input_needs_patient_and_study_details(tmp_path):
    with pytest.raises(NoStudyError, match="patient ID and name"):
        source_for(tmp_path / "knee.png", "png", 10, 10, None)
    ds = source_for(tmp_path / "knee.png", "png", 10, 10, StudyDetails("P-1", "Doe^J", "20250101", "A1"))
    assert (ds.PatientID, ds.AccessionNumber, ds.Rows) == ("P-1", "A1", 10)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy not installed (apt-get install dicom3tools)")
@pytest.mark.parametrize("findings", [KNEES, [KNEES[0]], []])
def test_dciodvfy_finds_no_errors(tmp_path, findings):
    for path in write_all(_input(findings, None if findings else "out of scope"), tmp_path, "x"):
        assert _dciodvfy_errors(path) == [], path.name


def test_a_tag_is_never_under_the_banner_nor_off_the_image():
    """A knee box from the film's top edge at its left edge (2000 x 1500): the banner stays whole on top, and the
    box's tag sits whole inside the image just under it, not hidden by it."""
    gray = np.full((1500, 2000), 0.5, dtype=np.float32)
    rgb = annotate(gray, [KneeFinding("R", (0, 20, 300, 600), "osteoporosis", 0.9, 0.36)], "Osteoporosis suspected",
                   "Probability of osteoporosis 90 %")
    grey_rows = np.flatnonzero((rgb[:, 1000] == 127).all(axis=1))  # column 1000: the banner, then the film
    banner_bottom = int(grey_rows[0]) - 1
    assert 60 < banner_bottom < 200  # three lines and the legend's row of text about 33 px high (1/45 of 1500)
    orange = (rgb == [0xe8, 0x87, 0x3a]).all(axis=2)
    # nothing of the knee drawn over the banner: its only orange is the legend's, on the last row (from 33 // 4 +
    # 3 x round(1.3 x 33) = 137) and from 33 // 2 = 16 on (the box's edge is columns 0..4)
    assert not orange[:137].any() and orange[137: banner_bottom + 1].any()
    assert np.flatnonzero(orange[: banner_bottom + 1].any(axis=0)).min() >= 16
    size = 1500 // 45
    below = orange[banner_bottom + 1: banner_bottom + 2 * size, 8:292]  # inside the box's 5 px outline
    assert below.any()  # the tag's text, just under the banner
    # whole: toward the film's middle it would end at the box's right edge (x 300), but it is wider than that, so it
    # slides right to start at the image's left edge; one unbroken backdrop, past the box's edge
    backdrop = np.flatnonzero((rgb[banner_bottom + 3, :1000] == 0).all(axis=1))
    assert backdrop.size and backdrop.min() == 0 and backdrop.size == backdrop.max() + 1 and backdrop.max() > 300


def test_the_sr_and_the_image_say_where_each_side_came_from(tmp_path):
    """A side taken from the film's position is an assumption: the SR's knee identifier says so beside the coded
    laterality, and a side from the header says that; a knee with no side says 'side unknown'."""
    findings = [KneeFinding("R", (10, 20, 250, 380), "osteoporosis", 0.81, 0.42, "hanging_convention"),
                KneeFinding("L", (330, 20, 590, 380), "normal", 0.12, 0.42, "dicom_header")]
    sr_path, *_ = write_all(_input(findings), tmp_path, "sides")
    texts = _texts(hd.sr.srread(sr_path))
    assert "knee 1 R (film position)" in texts and "knee 2 L (DICOM header)" in texts
    lone, *_ = write_all(_input([KneeFinding("", (10, 20, 250, 380), "normal", 0.12, 0.42)]), tmp_path / "lone", "x")
    assert "knee 1 side unknown" in _texts(hd.sr.srread(lone))


def test_an_annotated_tag_names_the_side_source_as_the_window_does():
    # The backdrop is as wide as "R (film position) 81 % above threshold" (Pillow's own measure of those words at
    # the image's text size, 900 / 45 = 20 px, plus 20 // 2), not as "R 81 % above threshold": the tag carries them.
    gray = np.full((900, 1200), 0.5, dtype=np.float32)
    box = (700, 400, 1000, 800)  # right half: the tag starts at the box's left edge
    plain = annotate(gray, [KneeFinding("R", box, "osteoporosis", 0.81, 0.42)], "x")
    sourced = annotate(gray, [KneeFinding("R", box, "osteoporosis", 0.81, 0.42, "hanging_convention")], "x")
    font = ImageFont.load_default(size=20)
    measure = lambda words: ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), words, font=font)  # noqa: E731
    for rgb, words in ((sourced, "R (film position) 81 % above threshold"), (plain, "R 81 % above threshold")):
        _, _, width, height = measure(words)
        row = 400 - (height + 20 // 4)  # the backdrop's top row, above the text's glyphs
        backdrop = np.flatnonzero((rgb[row, :] == 0).all(axis=1))
        assert (backdrop.min(), backdrop.max()) == (700, 700 + width + 20 // 2), words


def test_the_exported_image_s_legend_names_the_calls_in_the_model_s_labels(tmp_path):
    """export_input passes the model's positive label to the drawing: with "osteopenia" a clear normal knee's legend
    reads "Normal" (the window's words for that model), not "No sign of osteoporosis"."""
    from types import SimpleNamespace

    from osteo_desktop.core.results import text
    from osteo_desktop.core.results.dicom_adapter import export_input
    from osteo_desktop.core.results.knee import KneeResult

    pixels = np.full((300, 400), 0.5, dtype=np.float32)
    knee = KneeResult("right", (40, 120, 200, 280), "normal", 0.10, 0.90, "film_marker")
    prediction = SimpleNamespace(label="normal", probability=0.10, threshold=0.36, model_version="2.1")
    analysis = SimpleNamespace(radiograph=SimpleNamespace(path=tmp_path / "k.png", pixels=pixels, source_format="png"),
                               prediction=prediction, result=SimpleNamespace(knees=[knee]), out_of_scope=None)
    got = export_input(analysis, SHA, None, "osteo", StudyDetails("P-1", "Doe^J"), positive_label="osteopenia")
    drawn = [KneeFinding("R", (40.0, 120.0, 200.0, 280.0), "normal", 0.10, 0.36, "film_marker")]
    headline, detail = "Normal", text.probability_line(0.10, 0.36, "osteopenia")
    assert (got.annotated_rgb == annotate(pixels, drawn, headline, detail, positive_label="osteopenia")).all()
    assert not (got.annotated_rgb == annotate(pixels, drawn, headline, detail)).all()  # the words differ


def _uids(paths) -> dict[str, tuple[str, str]]:
    """Each written object's (SOP Instance UID, Series Instance UID), by its kind (the file name's middle part)."""
    out = {}
    for path in paths:
        ds = pydicom.dcmread(path)
        out[path.name.split(".")[1]] = (str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID))
    return out


def _valid(uid: str) -> bool:
    return len(uid) <= 64 and pydicom.uid.UID(uid).is_valid


def test_the_same_result_exported_again_has_the_same_uids_and_another_model_film_or_release_new_ones(tmp_path, monkeypatch):
    # Trial 22b: each re-send (the node given the film again, Send results pressed twice) added another SR, image and
    # PDF with new UIDs, four result sets for one film. The same film and the same model must give the same objects.
    source = _source()
    gray = np.linspace(0, 1, 200 * 300, dtype=np.float32).reshape(200, 300)

    def export(folder, src=source, sha=SHA):
        inp = DicomExportInput(src, KNEES, None, "osteo-mobilenetv2", "2.1", sha, annotate(gray, [], "h"),
                               b"%PDF-1.4\n%%EOF\n")
        return _uids(write_all(inp, tmp_path / folder, "knee"))

    first, again = export("first"), export("again")
    assert set(first) == {"sr", "annotated", "report"}
    assert again == first
    every = [uid for pair in first.values() for uid in pair]
    assert len(set(every)) == 6  # three objects, each in its own series: no two UIDs alike
    assert all(_valid(uid) for uid in every), every
    assert source.SOPInstanceUID not in every and source.SeriesInstanceUID not in every

    other_model = export("model", sha="fedcba9876543210" * 4)
    other_film = source.copy()
    other_film.SOPInstanceUID = generate_uid()
    other_source = export("film", src=other_film)
    # Another release may read the same model differently; a PACS keeping the first copy of a UID would keep the old.
    from osteo_desktop.core.results import dicom_objects

    monkeypatch.setattr(dicom_objects, "__version__", "99.0.0")
    other_release = export("release")
    monkeypatch.undo()
    # Other findings under the same source UID (a header corrected in place: the knee now L, not R): new UIDs, or a
    # PACS keeping the first copy would keep the old findings (review of stop 22).
    moved = [KneeFinding("L" if k.side == "R" else "R", k.box, k.label, k.probability, k.threshold) for k in KNEES]
    inp = DicomExportInput(source, moved, None, "osteo-mobilenetv2", "2.1", SHA, annotate(gray, [], "h"),
                           b"%PDF-1.4\n%%EOF\n")
    other_findings = _uids(write_all(inp, tmp_path / "findings", "knee"))
    for other in (other_model, other_source, other_release, other_findings):
        assert set(other) == set(first)
        assert not {uid for pair in other.values() for uid in pair} & set(every)
        assert all(_valid(uid) for pair in other.values() for uid in pair)


def test_a_png_exported_again_with_the_same_details_keeps_its_study_and_uids(tmp_path):
    # A PNG has no UIDs of its own: they come from the file's content and the study details typed, so a re-export of
    # the same file joins the same study with the same objects; another file or other details are another image.
    from types import SimpleNamespace

    from osteo_desktop.core.results.dicom_adapter import export_input

    pixels = np.full((300, 400), 0.5, dtype=np.float32)
    prediction = SimpleNamespace(label="normal", probability=0.10, threshold=0.36, model_version="2.1")

    def export(folder, digest, details):
        analysis = SimpleNamespace(radiograph=SimpleNamespace(path=tmp_path / "k.png", pixels=pixels, source_format="png"),
                                   prediction=prediction, result=SimpleNamespace(knees=[]), out_of_scope=None,
                                   file_sha256=digest)
        paths = write_all(export_input(analysis, SHA, None, "osteo", details), tmp_path / folder, "k")
        return pydicom.dcmread(paths[0]).StudyInstanceUID, _uids(paths)

    details = StudyDetails("P-1", "Doe^J", "20250101", "A1")
    digest = "ab" * 32
    first = export("first", digest, details)
    assert export("again", digest, StudyDetails("P-1", "Doe^J", "20250101", "A1")) == first
    assert _valid(first[0]) and all(_valid(uid) for pair in first[1].values() for uid in pair)
    for other in (export("file", "cd" * 32, details), export("patient", digest, StudyDetails("P-2", "Doe^J", "20250101", "A1"))):
        assert other[0] != first[0]  # another image starts another study
        assert not {uid for pair in other[1].values() for uid in pair} & {uid for pair in first[1].values() for uid in pair}
    joined = export("joined", digest, StudyDetails("P-1", "Doe^J", "20250101", "A1", "1.2.3.4"))
    assert joined[0] == "1.2.3.4" and joined[1]["sr"] != first[1]["sr"]


def _full_at(monkeypatch, call: int) -> list[int]:
    """os.fsync fails with ENOSPC (a full disk) from its ``call``-th call on; returns the list of calls seen."""
    import errno
    import os

    calls = []
    real = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) >= call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_a_full_disk_at_the_second_object_leaves_nothing_of_the_export(tmp_path, monkeypatch):
    # Trial 22b: a full disk left an SR whose annotated image was never written, and a half-written .tmp beside it.
    # The SR's bytes are synced first (call 1), the annotated image's second: that one fails.
    import errno

    _full_at(monkeypatch, 2)
    out = tmp_path / "out"
    with pytest.raises(OSError) as failed:
        write_all(_input(KNEES), out, "knee")
    assert failed.value.errno == errno.ENOSPC
    assert failed.value.filename == str(out / "knee.annotated.dcm")  # the file the user would look for
    assert list(out.iterdir()) == []  # no SR, no temporary


def test_a_failed_export_leaves_an_earlier_export_of_the_film_as_it_was(tmp_path, monkeypatch):
    inp = _input(KNEES)
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in write_all(inp, out, "knee")}
    _full_at(monkeypatch, 3)  # the PDF's bytes: the SR and the image were already in their temporaries
    with pytest.raises(OSError):
        write_all(inp, out, "knee")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_rename_that_fails_takes_back_the_objects_already_renamed(tmp_path, monkeypatch):
    import errno
    import os

    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "out"
    with pytest.raises(OSError):
        write_all(_input(KNEES), out, "knee")
    assert len(calls) == 2 and list(out.iterdir()) == []


@pytest.mark.parametrize("charset, expected", [
    ("", None),  # empty: the default repertoire, as when absent (the shared OT_16bit_VOI-LUT sample has it)
    (["", "ISO 2022 IR 100"], ["ISO 2022 IR 6", "ISO 2022 IR 100"]),  # empty first value: ISO 2022 IR 6
    ("ISO_IR 100", "ISO_IR 100"),  # a named one is kept
])
def test_a_source_with_an_empty_character_set_is_exported_with_the_default_repertoire(tmp_path, charset, expected):
    inp = _input(KNEES)
    inp.source.SpecificCharacterSet = charset
    inp.source.PatientName = "Doe^Jane"  # ASCII: the same bytes in each repertoire
    paths = write_all(inp, tmp_path, "charset")
    for path in paths[:2]:  # the SR and the annotated image copy the source's patient and study
        ds = pydicom.dcmread(path)
        value = ds.get("SpecificCharacterSet")
        assert (list(value) if value is not None and not isinstance(value, str) else value) == expected, path.name
        assert ds.PatientName == "Doe^Jane"
    assert inp.source.SpecificCharacterSet == charset  # the source itself is left as it was


def test_a_dicom_file_without_study_or_instance_uid_is_refused_with_its_reason(tmp_path):
    """The shared OT_16bit_VOI-LUT sample has empty Study, Series and SOP Instance UIDs (and an empty character set):
    its results would be objects with empty Type 1 UIDs (dciodvfy: 10 errors), so the export is refused and says why."""
    sample = DICOM_DIR / "OT_16bit_VOI-LUT_jpeg-lossless-sv1.dcm"
    if not sample.exists():
        pytest.skip("shared DICOM samples not present")
    with pytest.raises(NoStudyError, match="without StudyInstanceUID or SOPInstanceUID: its results cannot be placed"):
        source_for(sample, "dicom", 10, 10, None)
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        ds = _source()
        ds.file_meta = pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3", "1.2.3.4"
        setattr(ds, keyword, "")
        ds.save_as(tmp_path / f"{keyword}.dcm", enforce_file_format=True)
        with pytest.raises(NoStudyError, match=f"without {keyword}:"):
            source_for(tmp_path / f"{keyword}.dcm", "dicom", 10, 10, None)
    whole = _source()
    whole.file_meta = pydicom.dataset.FileMetaDataset()
    whole.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    whole.save_as(tmp_path / "whole.dcm", enforce_file_format=True)
    assert source_for(tmp_path / "whole.dcm", "dicom", 10, 10, None).StudyInstanceUID == whole.StudyInstanceUID


def test_exporting_leaves_the_source_header_as_it_was(tmp_path):
    """The Type 2 defaults and the character set are written into a copy (the copy shared the source's elements)."""
    inp = _input(KNEES)
    del inp.source.StudyID, inp.source.ReferringPhysicianName
    before = {element.keyword: element.value for element in inp.source}
    write_all(inp, tmp_path, "same")
    assert {element.keyword: element.value for element in inp.source} == before
