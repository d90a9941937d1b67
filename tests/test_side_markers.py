"""Burnt-in R/L side markers: the proposal rule on drawn films, the reader's file format, drawn glyphs read by the
shipped reader, the knee detector passing markers to the side rules, and a few shared films read by eye.

Expectations come from the drawings (where the box was drawn, which letter) and from annotations/side_markers.csv
(markers read by eye), never from the code under test.
"""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from osteo_desktop.core.errors import ModelFormatError, ModelIntegrityError
from osteo_desktop.core.model.knee_detector import KneeDetector
from osteo_desktop.core.model.side_markers import (
    CLASSES, MARKER_FILE, PATCH, MarkerReader, SideMarker, find_candidates, mirror_patch, patch, prepare,
)
from osteo_desktop.training.side_markers_guard import film_with_glyph as guard_film
from tests.knee_phantom import two_knee_phantom
from tests.shared_paths import KNEE_DIR, REPO_ROOT

SHARED_FILMS = pytest.mark.skipif(not (KNEE_DIR / "manifest.csv").is_file(), reason="shared knee films not available")

MODEL_DIR = REPO_ROOT / "model_weights"


def film_with_glyph(letter: str | None, mirrored: bool = False, light_box: bool = True, side: int = 30,
                    at: tuple[int, int] = (40, 60), size: tuple[int, int] = (420, 1000), seed: int = 0) -> np.ndarray:
    """A drawn film with a boxed letter in Pillow's own font, which the reader never trained on (the drawing is the
    guard study's, training/side_markers_guard.film_with_glyph, so both draw the same films)."""
    return guard_film(letter, None, mirrored, light_box, side, at, size, seed)


# --- the proposal rule ------------------------------------------------------------------------------------------

def test_the_best_candidate_is_the_drawn_box():
    film = film_with_glyph("R", at=(40, 60), side=30)
    image, scale = prepare(film)
    best = find_candidates(image)[0]
    # The box spans x 40-70, y 60-90 in the film; the working copy is scaled by 512/1000.
    expected = np.array([40, 60, 70, 90]) * scale
    assert np.abs(np.array(best.box) - expected).max() <= 3


def test_a_step_edge_or_flat_film_proposes_nothing_that_stands_out():
    # No rectangle differs from its surroundings on all four sides with one sign: every score is 0 (to rounding).
    step = np.zeros((200, 300), np.float32)
    step[:, 150:] = 1.0
    assert find_candidates(step) == [] and find_candidates(np.full((200, 300), 0.5, np.float32)) == []  # the floor
    candidates = find_candidates(step, floor=-1.0)  # without the score floor: every rectangle, none standing out
    assert candidates and max(c.score for c in candidates) < 1e-6
    assert max(c.score for c in find_candidates(np.full((200, 300), 0.5, np.float32), floor=-1.0)) < 1e-6


def test_the_score_floor_only_drops_rectangles_below_it():
    # A drawn R box and a faint (0.01 contrast) box: the floor (0.015) keeps the R's candidate and drops the faint one.
    film = film_with_glyph("R", at=(40, 60), side=30)
    film[700:730, 300:330] += 0.01
    image, _ = prepare(film)
    everything = find_candidates(image, keep=40, floor=-1.0)
    floored = find_candidates(image, keep=40)
    assert floored == [c for c in everything if c.score > 0.015][:len(floored)]
    assert floored[0].box == everything[0].box and all(c.score > 0.015 for c in floored)


def test_a_patch_of_the_mirrored_film_is_the_mirrored_patch():
    rng = np.random.default_rng(1)
    image = rng.random((80, 120)).astype(np.float32)
    box = (30, 20, 50, 44)
    mirrored_box = (120 - 50, 20, 120 - 30, 44)
    np.testing.assert_allclose(mirror_patch(patch(image, box)), patch(image[:, ::-1], mirrored_box), atol=1e-4)


def test_patches_are_normalised_and_a_flat_patch_stays_flat():
    rng = np.random.default_rng(2)
    values = patch(rng.random((50, 50)).astype(np.float32), (10, 10, 30, 30))
    assert values.shape == (PATCH * PATCH,)
    assert abs(values.mean()) < 1e-5
    assert np.abs(patch(np.full((50, 50), 0.7, np.float32), (10, 10, 30, 30))).max() < 1e-5


# --- the file -----------------------------------------------------------------------------------------------------

def tiny_reader(threshold: float = 0.5, members: int = 2, hidden: int = 3, seed: int = 0) -> MarkerReader:
    rng = np.random.default_rng(seed)
    d, k = PATCH * PATCH, len(CLASSES)
    return MarkerReader(rng.normal(0, 0.05, (members, d, hidden)), rng.normal(0, 0.1, (members, hidden)),
                        rng.normal(0, 1, (members, hidden, k)), rng.normal(0, 1, (members, k)), threshold)


def test_ensemble_probabilities_are_the_mean_of_each_networks_softmax():
    reader = tiny_reader()
    x = np.random.default_rng(3).normal(size=(4, PATCH * PATCH))
    expected = np.zeros((4, len(CLASSES)))
    for m in range(2):  # written out: ReLU layer, linear layer, softmax by its definition
        h = np.maximum(x @ reader.w1[m].astype(np.float64) + reader.b1[m], 0)
        z = h @ reader.w2[m].astype(np.float64) + reader.b2[m]
        expected += np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) / 2
    np.testing.assert_allclose(reader.probabilities(x), expected, rtol=1e-4, atol=1e-6)


def test_a_written_reader_loads_back_and_a_single_network_is_an_ensemble_of_one(tmp_path):
    reader = tiny_reader(threshold=0.9)
    np.savez(tmp_path / MARKER_FILE, **reader.to_arrays())
    loaded = MarkerReader.load(tmp_path / MARKER_FILE)
    assert loaded.threshold == pytest.approx(0.9)
    x = np.random.default_rng(4).normal(size=(3, PATCH * PATCH))
    np.testing.assert_allclose(loaded.probabilities(x), reader.probabilities(x), rtol=1e-6)
    single = MarkerReader(reader.w1[0], reader.b1[0], reader.w2[0], reader.b2[0], 0.5)
    assert single.w1.shape == (1, PATCH * PATCH, 3)


@pytest.mark.parametrize("change", ["format", "patch", "shape", "threshold", "pickle"])
def test_other_files_are_format_errors_and_never_unpickled(tmp_path, change):
    arrays = tiny_reader().to_arrays()
    if change == "format":
        arrays["format"] = np.array("osteo-side-markers/0")
    elif change == "patch":
        arrays["patch"] = np.array(PATCH + 1)
    elif change == "shape":
        arrays["w2"] = arrays["w2"][:, :, :4]
    elif change == "threshold":
        arrays["threshold"] = np.array(0.0)
    else:
        arrays["w1"] = np.array([{"not": "numbers"}], dtype=object)
    np.savez(tmp_path / MARKER_FILE, **arrays)
    with pytest.raises(ModelFormatError):
        MarkerReader.load(tmp_path / MARKER_FILE)


# --- the trained reader (model_weights/side_markers.npz; NOT listed in the model card, so the app does not use it) ---

@pytest.fixture(scope="module")
def reader():
    return MarkerReader.load(MODEL_DIR / MARKER_FILE)


def test_the_shipped_card_does_not_wire_the_reader_in():
    # reports/side_markers.md: precise on the films of its one source, but on glyphs of a typeface it never saw it
    # reads some boxed letters and digits (B, I, T, D, 1, ...) as markers. Listing it in the card wires it in.
    import json

    card = json.loads((MODEL_DIR / "model_card.json").read_text(encoding="utf-8"))
    assert "side_markers" not in card["files"]
    assert KneeDetector.load(MODEL_DIR).marker_reader is None


@pytest.mark.parametrize("letter", ["R", "L"])
@pytest.mark.parametrize("light_box", [True, False])
def test_a_drawn_r_or_l_in_an_unseen_typeface_is_never_read_as_the_other_side(reader, letter, light_box):
    # Pillow's built-in font is not among the training fonts; most of these are not read at all (a side left
    # unknown), and none may be read with the opposite letter.
    other = "L" if letter == "R" else "R"
    for side in (18, 24, 30, 36, 44):
        for mirrored in (False, True):
            read = reader.read(film_with_glyph(letter, mirrored=mirrored, light_box=light_box, side=side))
            assert other not in [m.letter for m in read], (side, mirrored, read)


@pytest.mark.parametrize("letter", ["A", "P", "7"])
def test_a_drawn_boxed_a_p_or_7_is_not_read_as_a_marker(reader, letter):
    for side in (18, 30, 44):
        for light_box in (True, False):
            assert reader.read(film_with_glyph(letter, light_box=light_box, side=side)) == [], (side, light_box)


def test_the_guard_turns_away_a_symmetric_glyph_the_bare_networks_read_as_r(reader):
    # A grey-box "I" (24 px, lower right) reads as R at 0.99 without the guard; its mirror image is the same I and
    # reads as R again, not as a mirrored R, so the guard turns it away (reports/side_markers.md, "Guard").
    film = film_with_glyph("I", light_box=False, side=24, at=(340, 880))
    assert [m.letter for m in reader.read(film, guarded=False)] == ["R"]
    assert reader.read(film) == []


def _constant_reader(logits) -> MarkerReader:
    """A reader that ignores its input: zero weights, so every patch gets softmax(``logits``)."""
    d, k = PATCH * PATCH, len(CLASSES)
    return MarkerReader(np.zeros((1, d, 2)), np.zeros((1, 2)), np.zeros((1, 2, k)), np.array([logits], float), 0.9)


def test_the_guard_by_hand_on_a_reader_that_ignores_its_input():
    image = np.random.default_rng(5).random((100, 100)).astype(np.float32)
    box = (40.0, 40.0, 60.0, 60.0)
    # R and mirrored R equally likely (e^5 each against e^0 and e^-5): P(R) + P(mirrored R) = 0.9966 > 0.9, but the
    # mirror image reads as a mirrored R with 0.4983 only, under the 0.9 floor: turned away.
    reader = _constant_reader([5.0, 0.0, 5.0, 0.0, -5.0])
    probability = (2 * np.exp(5)) / (2 * np.exp(5) + 2 + np.exp(-5))
    assert reader.probabilities(np.zeros((1, PATCH * PATCH)))[0, [0, 2]].sum() == pytest.approx(probability)
    assert not reader.passes_guard(image, box, "R", mirrored=False)
    # With the mirror floor under 0.4983 it passes (every jittered crop reads R at 0.9966 >= 0.8) ...
    assert reader.passes_guard(image, box, "R", mirrored=False, mirror_floor=0.49)
    # ... and with a steadiness floor above 0.9966 the crops fail it.
    assert not reader.passes_guard(image, box, "R", mirrored=False, mirror_floor=0.49, steady_floor=0.997)
    # An R-mirrored-only reader: a plain read's mirror image is a mirrored R (passes); a mirrored read's is a plain
    # R, which it never gives (fails).
    mirrored_only = _constant_reader([-5.0, -5.0, 8.0, -5.0, -5.0])
    assert mirrored_only.passes_guard(image, box, "R", mirrored=False)
    assert not mirrored_only.passes_guard(image, box, "R", mirrored=True)


def test_a_lone_knees_film_that_also_reads_the_other_letter_names_nothing():
    from osteo_desktop.core.model.side_markers import Candidate

    image = np.random.default_rng(6).random((100, 100)).astype(np.float32)
    reader = _constant_reader([-5.0, -5.0, 8.0, -5.0, -5.0])  # every crop: mirrored R (a plain R read passes the guard)
    r_box, l_box = Candidate((10, 10, 30, 30), 0.5), Candidate((60, 10, 80, 30), 0.4)
    sure_r = [0.99, 0.0, 0.005, 0.0, 0.005]  # R, plain, over the 0.9 threshold
    for weak_l, lone, expected in (([0.0, 0.6, 0.0, 0.0, 0.4], True, []),  # an L at 0.6 >= 0.5: both letters, none
                                   ([0.0, 0.6, 0.0, 0.0, 0.4], False, ["R"]),  # two knees: the L says nothing here
                                   ([0.0, 0.4, 0.0, 0.0, 0.6], True, ["R"])):  # an L at 0.4 only: not read at all
        found = reader.accepted(image, [r_box, l_box], np.array([sure_r, weak_l]), lone=lone)
        assert [letter for _, letter, _, _ in found] == expected, (weak_l, lone)
    # Unguarded (the reader as first trained) has no veto either.
    assert len(reader.accepted(image, [r_box, l_box], np.array([sure_r, [0.0, 0.6, 0.0, 0.0, 0.4]]), guarded=False,
                               lone=True)) == 1


def test_odd_inputs_read_no_marker(reader):
    assert reader.read(np.zeros((8, 8), np.float32)) == []
    assert reader.read(np.zeros((3, 40, 40), np.float32)) == []
    assert reader.read(np.full((300, 200), 0.5, np.float32)) == []
    assert reader.read(film_with_glyph(None)) == []


# --- the knee detector passes markers to the side rules -------------------------------------------------------------

@pytest.fixture(scope="module")
def detector():
    return KneeDetector.load(MODEL_DIR / "knee_detector.npz")


def test_markers_given_to_detect_turn_the_convention_round_and_the_header_still_wins(detector):
    pixels, _ = two_knee_phantom()
    knees = detector.detect(pixels)
    assert [k.side for k in knees] == ["right", "left"]  # phantom: no marker, the hanging convention
    left_x0 = knees[0].box[0]
    marker = SideMarker("L", (max(0, left_x0 - 30), 10, max(1, left_x0 - 10), 30), 0.99, False)
    assert [k.side for k in detector.detect(pixels, markers=[marker])] == ["left", "right"]
    header = {"patient_orientation": "L\\F", "image_laterality": None, "view_position": "AP"}
    assert [k.side for k in detector.detect(pixels, header, markers=[marker])] == ["right", "left"]


def test_a_folder_whose_card_lists_the_reader_wires_it_into_the_detector(tmp_path):
    import json

    from osteo_desktop.core.model.card import sha256_of

    for name in ("model_card.json", "knee_detector.npz", MARKER_FILE):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    card = json.loads((tmp_path / "model_card.json").read_text(encoding="utf-8"))
    card["files"]["side_markers"] = {"path": MARKER_FILE, "sha256": sha256_of(tmp_path / MARKER_FILE)}
    (tmp_path / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    assert isinstance(KneeDetector.load(tmp_path).marker_reader, MarkerReader)
    with open(tmp_path / MARKER_FILE, "ab") as handle:  # and a changed file is refused
        handle.write(b"\0")
    with pytest.raises(ModelIntegrityError):
        KneeDetector.load(tmp_path)
    (tmp_path / MARKER_FILE).unlink()
    with pytest.raises(ModelIntegrityError):
        MarkerReader.load(tmp_path)


# --- shared films read by eye (annotations/side_markers.csv) that the reader's training left out ---------------

def eye_labels() -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    out: dict[str, list] = {}
    with open(REPO_ROOT / "annotations" / "side_markers.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["file"], [])
            if row["letter"] in ("R", "L"):
                out[row["file"]].append((row["letter"], tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1"))))
    return out


# The films the hash hold-out (training.knee_detector.is_test_holdout) keeps out of the trained reader, with what the
# eye read on them: c43c44 a light-box R top left (lone knee); ebbe8c no marker; a6b27e R beside the viewer-left
# knee and L beside the viewer-right one (plus a "D 001" label that is not a marker); 85accf R and L between the legs.
HELD_OUT = ["normal/normal_c43c446612ec.jpg", "normal/normal_ebbe8ca2f7f9.png", "osteopenia/osteopenia_a6b27ee2d7a5.jpg",
            "osteopenia/osteopenia_85accfac02a8.jpg"]


def _on_marker(marker: SideMarker, truth, width: int | None = None) -> bool:
    """Whether a read lies on a marker of its letter (mirrored to x -> width - x when ``width`` is given); "on" is
    within one box side, as the larger grey glyphs' boxes can cover only part of the glyph."""
    x, y = marker.centre
    if width is not None:
        x = width - x
    return any(letter == marker.letter and b[0] - (b[2] - b[0]) <= x <= b[2] + (b[2] - b[0])
               and b[1] - (b[3] - b[1]) <= y <= b[3] + (b[3] - b[1]) for letter, b in truth)


@SHARED_FILMS
@pytest.mark.parametrize("name", HELD_OUT)
def test_held_out_films_and_their_mirror_images_read_no_wrong_letter(reader, name):
    from osteo_desktop.core.reading.reader import read_radiograph

    truth = eye_labels()[name]
    pixels = read_radiograph(KNEE_DIR / name).pixels
    read = reader.read(pixels)
    assert all(_on_marker(m, truth) and not m.mirrored for m in read), (read, truth)
    # The mirror image: the same letters, now mirrored glyphs, at the mirrored places.
    flipped = reader.read(np.ascontiguousarray(pixels[:, ::-1]))
    assert all(_on_marker(m, truth, pixels.shape[1]) and m.mirrored for m in flipped), (flipped, truth)
    if name == "normal/normal_c43c446612ec.jpg":
        assert [m.letter for m in read] == [m.letter for m in flipped] == ["R"]
    if name == "normal/normal_ebbe8ca2f7f9.png":
        assert read == flipped == []
    if name == "osteopenia/osteopenia_a6b27ee2d7a5.jpg":
        assert sorted(m.letter for m in read) == sorted(m.letter for m in flipped) == ["L", "R"]


@SHARED_FILMS
def test_a_real_marker_pasted_beside_a_lone_phantom_knee_names_it_even_mirrored(reader, detector):
    from osteo_desktop.core.reading.reader import read_radiograph

    film = read_radiograph(KNEE_DIR / "normal/normal_c43c446612ec.jpg").pixels
    (letter, (x0, y0, x1, y1)), = eye_labels()["normal/normal_c43c446612ec.jpg"]
    assert letter == "R"
    glyph = film[int(y0) - 6:int(y1) + 6, int(x0) - 6:int(x1) + 6]  # the R box with a little film around it
    pixels, _ = two_knee_phantom()
    lone = np.ascontiguousarray(pixels[:, : pixels.shape[1] // 2])  # the viewer-left knee alone
    wired = KneeDetector(detector.weights, detector.bias, detector.min_score, detector.pair_score,
                         detector.pair_ratio, detector.pair_height, detector.pair_gap, marker_reader=reader)
    assert [k.side for k in wired.detect(lone)] == ["unknown"]  # nothing on it names the knee
    for patch_pixels in (glyph, glyph[:, ::-1]):  # the glyph as it is, and mirrored: both name the right knee
        marked = lone.copy()
        marked[20:20 + patch_pixels.shape[0], 10:10 + patch_pixels.shape[1]] = patch_pixels
        assert [k.side for k in wired.detect(marked)] == ["right"]
        header = {"patient_orientation": None, "image_laterality": "L", "view_position": "AP"}
        assert [k.side for k in wired.detect(marked, header)] == ["left"]  # the header wins


def test_the_guard_measurement_reads_what_the_reader_reads(reader):
    # training/side_markers_guard.py counts reads from one proposal search; they must be the product's own reads.
    from osteo_desktop.training.side_markers_guard import film_with_glyph as drawn, reads_both_ways

    for glyph, light, side, at in (("I", False, 24, (340, 880)), ("R", True, 30, (40, 60)), ("7", False, 24, (340, 880))):
        film = drawn(glyph, None, False, light, side, at)
        np.testing.assert_array_equal(film, film_with_glyph(glyph, light_box=light, side=side, at=at))  # the tests' drawing
        both = reads_both_ways(reader, film, lone=True)
        assert [letter for letter, _ in both["guarded"]] == [m.letter for m in reader.read(film, lone=True)]
        assert [letter for letter, _ in both["unguarded"]] == [m.letter for m in reader.read(film, guarded=False)]
    assert [letter for letter, _ in reads_both_ways(reader, drawn("I", None, False, False, 24, (340, 880)))["unguarded"]] == ["R"]
