"""Per-knee results end to end (issue 11): each knee found, its side, its own result; the file's is the most
suspicious knee's; no knee found, no result.

Expectations come from outside the code under test: the knee boxes drawn by hand in ``annotations/knee_boxes.csv``
(each film looked at by eye), the viewing convention (on a frontal film the viewer's left is the patient's right),
DICOM PS3.3 (ImageLaterality names a lone knee's side), mirror geometry worked out by hand, and Otsu's threshold on
hand-made grey levels.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from imaging_factories import dicom_bytes, make_dicom
from osteo_desktop.core.model.explain import otsu_threshold, share_on_bone
from osteo_desktop.core.pipeline import analysis as analysis_module
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.pipeline.scanning import scan_files
from shared_paths import KNEE_DIR, REPO_ROOT

# Chosen by the hand annotations (both knees / one knee, checked by eye), not by what the detector finds on them.
BOTH = "normal/normal_033406ac8904.jpg"
SINGLE = "normal/normal_029e573347ad.jpg"


def _annotated(name: str) -> list[tuple[int, int, int, int]]:
    with open(REPO_ROOT / "annotations" / "knee_boxes.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] == "knee-xray" and r["file"] == name and r["x0"].strip()]
    return sorted((int(r["x0"]), int(r["y0"]), int(r["x1"]), int(r["y1"])) for r in rows)


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _centre_x(box) -> float:
    return (box[0] + box[2]) / 2


@pytest.fixture(scope="module")
def films():
    if not (KNEE_DIR / BOTH).is_file() or not (KNEE_DIR / SINGLE).is_file():
        pytest.skip(f"shared knee films not found under {KNEE_DIR}")
    return {"both": KNEE_DIR / BOTH, "single": KNEE_DIR / SINGLE}


@pytest.fixture(scope="module")
def both(films, classifier):
    return analyse_file(films["both"], classifier)


def test_a_both_knee_film_gives_two_knees_right_at_the_viewers_left(both):
    row = both.result
    assert [k.side for k in sorted(row.knees, key=lambda k: _centre_x(k.box))] == ["right", "left"]
    # A JPEG has no header: the hanging convention names the knees, and every output says so.
    assert [k["side_source"] for k in row.to_dict()["knees"]] == ["hanging_convention"] * 2
    assert row.csv_record()["knee_right_side_source"] == row.csv_record()["knee_left_side_source"] == "hanging_convention"
    assert [k.side_source for k in both.knees] == ["hanging_convention"] * 2
    for found, drawn in zip(sorted(k.box for k in row.knees), _annotated(BOTH)):
        assert _iou(found, drawn) >= 0.5, (found, drawn)


def test_the_files_result_is_its_most_suspicious_knee(both, classifier):
    row = both.result
    worst = max(row.knees, key=lambda k: k.probability)
    assert (row.label, row.probability, row.confidence) == (worst.label, worst.probability, worst.confidence)
    assert row.threshold == classifier.knee_head.threshold
    for knee in row.knees:  # each knee's label is its own probability against the threshold
        positive = knee.probability >= row.threshold
        assert knee.label == ("osteoporosis" if positive else "normal")
        assert knee.confidence == pytest.approx(knee.probability if positive else 1 - knee.probability, abs=1e-12)


def test_each_knees_heat_map_lies_in_its_region_over_the_original(both):
    heat = both.explanation_on_original()
    assert heat.shape == both.radiograph.pixels.shape
    inside = np.zeros(heat.shape, bool)
    for knee in both.knees:
        x0, y0, x1, y1 = knee.geometry.region
        inside[max(0, y0) : y1, max(0, x0) : x1] = True
        assert knee.explanation.shape == knee.model_input.shape[:2]
        assert 0.0 <= knee.share_on_bone <= 1.0
    assert heat[~inside].max() == 0.0 and heat[inside].max() > 0.0


def test_a_mirrored_film_swaps_the_sides(both, films, classifier, tmp_path):
    mirrored = tmp_path / "mirrored.png"
    Image.open(films["both"]).convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    row = analyse_file(mirrored, classifier, explain=False).result
    width = both.radiograph.pixels.shape[1]
    original = {k.side: k for k in both.result.knees}
    assert sorted(k.side for k in row.knees) == ["left", "right"]
    for knee in row.knees:
        # The patient's right knee of the mirrored film is the original's left knee, mirrored: x -> width - x.
        other = original["left" if knee.side == "right" else "right"]
        expected = (width - other.box[2], other.box[1], width - other.box[0], other.box[3])
        assert _iou(knee.box, expected) >= 0.8, (knee.box, expected)
        assert knee.probability == pytest.approx(other.probability, abs=0.05)


def test_a_lone_knee_without_a_header_has_no_side_and_dicom_laterality_names_it(films, classifier, tmp_path):
    row = analyse_file(films["single"], classifier, explain=False).result
    assert [k.side for k in row.knees] == ["unknown"]
    assert row.to_dict()["knees"][0]["side_source"] is None  # nothing tells: no source, JSON null
    assert "knee_unknown_side_source" not in row.csv_record()  # an unknown side has no source, so no column
    assert _iou(row.knees[0].box, _annotated(SINGLE)[0]) >= 0.5
    assert row.probability == row.knees[0].probability
    pixels = np.asarray(Image.open(films["single"]).convert("L"))
    dicom = tmp_path / "single.dcm"
    dicom.write_bytes(dicom_bytes(make_dicom(pixels, ImageLaterality="L", ViewPosition="AP")))
    tagged = analyse_file(dicom, classifier, explain=False).result
    assert [k.side for k in tagged.knees] == ["left"]
    assert tagged.to_dict()["knees"][0]["side_source"] == "dicom_header"
    assert tagged.csv_record()["knee_left_side_source"] == "dicom_header"


def test_a_both_knee_dicom_stored_mirrored_takes_its_sides_from_the_header(films, classifier, tmp_path):
    # Patient Orientation "R\F": x grows towards the patient's right, so the viewer's left knee is the LEFT knee
    # (PS3.3 C.7.6.1.1.1), against the hanging convention; the header is the source.
    pixels = np.asarray(Image.open(films["both"]).convert("L"))
    dicom = tmp_path / "both.dcm"
    dicom.write_bytes(dicom_bytes(make_dicom(pixels, PatientOrientation=["R", "F"], ViewPosition="AP")))
    row = analyse_file(dicom, classifier, explain=False).result
    ordered = sorted(row.knees, key=lambda k: _centre_x(k.box))
    assert [(k.side, k.side_source) for k in ordered] == [("left", "dicom_header"), ("right", "dicom_header")]


def test_a_header_naming_one_knee_on_a_two_knee_film_is_a_warning_in_every_path(films, classifier, tmp_path):
    """Image Laterality L on a film showing both knees: the file and the film disagree. Both knees are read, their
    sides follow the film (the hanging convention: no Patient Orientation), and the result says so, in the window's
    single-file path and in a scan alike; the same film without the tag has no such warning."""
    pixels = np.asarray(Image.open(films["both"]).convert("L"))
    tagged, plain = tmp_path / "tagged.dcm", tmp_path / "plain.dcm"
    tagged.write_bytes(dicom_bytes(make_dicom(pixels, ImageLaterality="L", ViewPosition="AP")))
    plain.write_bytes(dicom_bytes(make_dicom(pixels, ViewPosition="AP")))
    expected = ("The DICOM header names one knee (Image Laterality L, the left), but 2 knees were found on the film: "
                "each is read, and their sides come from the film, not from that tag")
    single = analyse_file(tagged, classifier, explain=False).result
    assert sorted((k.side, k.side_source) for k in single.knees) == [("left", "hanging_convention"),
                                                                     ("right", "hanging_convention")]
    assert expected in single.warnings
    scanned = {row.path.rsplit("/", 1)[-1]: row for row in scan_files([tagged, plain], classifier)}
    assert expected in scanned["tagged.dcm"].warnings
    assert not any("Image Laterality" in w for w in scanned["plain.dcm"].warnings)


class _NoKnees:
    def detect(self, pixels, orientation=None):
        return []


def test_no_knee_found_on_a_film_in_scope_is_no_result(films, classifier, monkeypatch):
    monkeypatch.setattr(classifier, "knee_detector", _NoKnees())
    for row in (analyse_file(films["single"], classifier).result, next(scan_files([films["single"]], classifier))):
        assert row.out_of_scope == "no knee joint found on the film"
        assert row.knees == [] and row.label is None and row.probability is None and row.error is None


def test_the_scan_gives_each_knee_what_the_single_file_analysis_gives(films, classifier, tmp_path):
    bars = tmp_path / "bars.png"
    Image.fromarray(np.repeat(np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8), 160, axis=0)[None]
                    .repeat(480, axis=0)).save(bars)
    paths = [films["both"], bars, films["single"]]
    rows = list(scan_files(paths, classifier, batch_size=2))
    declined = rows[1]
    assert declined.declined and declined.knees == [] and declined.to_dict()["knees"] == []
    for path, row in zip(paths, rows):
        single = analyse_file(path, classifier, explain=False).result
        assert [(k.side, k.box, k.label, k.side_source) for k in row.knees] == [
            (k.side, k.box, k.label, k.side_source) for k in single.knees]
        for a, b in zip(row.knees, single.knees):
            assert a.probability == pytest.approx(b.probability, abs=1e-5)
        assert set(row.timings_ms) >= ({"read", "preprocess"} if row.declined else {"read", "preprocess", "detect", "inference"})


def test_otsu_splits_two_grey_levels_and_the_share_on_bone_follows_the_map():
    values = np.array([0.2] * 60 + [0.8] * 40, np.float32)
    assert 0.2 <= otsu_threshold(values) < 0.8
    pixels = np.zeros((10, 10), np.float32)
    pixels[:, 5:] = 0.9  # "bone" on the right half
    heat = np.zeros((10, 10), np.float32)
    heat[:, 6:] = 1.0
    assert share_on_bone(heat, pixels) == pytest.approx(1.0)
    heat[:] = 0.0
    heat[:, :2] = 1.0
    assert share_on_bone(heat, pixels) == pytest.approx(0.0)
    heat[:, 8:] = 1.0  # 2 columns off bone, 2 on
    assert share_on_bone(heat, pixels) == pytest.approx(0.5)
    assert share_on_bone(np.zeros((10, 10)), pixels) is None


def test_a_knee_whose_heat_map_lies_off_bone_is_warned_about(films, classifier, monkeypatch):
    monkeypatch.setattr(analysis_module, "share_on_bone", lambda heat, pixels: 0.25)
    row = analyse_file(films["single"], classifier).result
    assert "Knee (side unknown): most of the heat map (75 %) lies outside bone; the result may rest on soft tissue, " \
           "background or markers rather than on the bone" in row.warnings
    monkeypatch.setattr(analysis_module, "share_on_bone", lambda heat, pixels: 0.75)
    assert not any("outside bone" in w for w in analyse_file(films["single"], classifier).result.warnings)


def _accept_every_film(monkeypatch, classifier):
    """The scope gate (rightly) declines a drawing; these tests are about the knees, so it lets every film through."""
    from osteo_desktop.core.model.scope import ScopeDecision

    monkeypatch.setattr(classifier.scope_gate, "judge", lambda evidence, activations: ScopeDecision(True, None, "knee", 1.0))


def _save(pixels, path):
    Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def test_a_drawn_two_knee_phantom_gives_right_at_the_viewers_left_and_a_mirror_swaps(classifier, tmp_path, monkeypatch):
    from knee_phantom import one_knee_phantom, two_knee_phantom

    pixels, drawn = two_knee_phantom()
    film = _save(pixels, tmp_path / "phantom.png")
    assert analyse_file(film, classifier).result.knees == []  # the gate declines a drawing: no knees either
    _accept_every_film(monkeypatch, classifier)
    row = analyse_file(film, classifier).result
    assert [k.side for k in row.knees] == ["right", "left"]  # viewer-left first: the patient's right
    assert [k.side_source for k in row.knees] == ["hanging_convention"] * 2  # a PNG with no marker drawn
    for knee, box in zip(row.knees, drawn):
        assert _iou(knee.box, box) >= 0.5, (knee.box, box)
    width = pixels.shape[1]
    mirrored = analyse_file(_save(pixels[:, ::-1], tmp_path / "mirrored.png"), classifier).result
    assert [k.side for k in mirrored.knees] == ["right", "left"]
    for knee, box in zip(mirrored.knees, drawn[::-1]):  # the viewer-left knee is now the drawn right-hand one
        assert _iou(knee.box, (width - box[2], box[1], width - box[0], box[3])) >= 0.5
    pixels, (box,) = one_knee_phantom()
    lone = analyse_file(_save(pixels, tmp_path / "lone.png"), classifier).result
    assert [k.side for k in lone.knees] == ["unknown"] and _iou(lone.knees[0].box, box) >= 0.5
    assert lone.to_dict()["knees"][0]["side_source"] is None
