"""The app's own DICOM output is not a film (trial 22): an annotated image it wrote, read back by `osteo predict` or a
folder scan, gets no result with a reason that says what it is, instead of a second result for the same film."""

from __future__ import annotations

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import generate_uid

from osteo_desktop.core.model.scope import OWN_OBJECT_REASON, decide_from_tags, made_by_osteo_desktop
from osteo_desktop.core.pipeline.analysis import analyse_file
from osteo_desktop.core.results.dicom_adapter import export_input
from osteo_desktop.core.results.dicom_objects import write_all
from tests.imaging_factories import make_dicom


def test_the_manufacturer_the_app_writes_is_what_it_recognises():
    assert made_by_osteo_desktop("osteo-desktop") and made_by_osteo_desktop(" OSTEO-DESKTOP ")
    assert not made_by_osteo_desktop("") and not made_by_osteo_desktop(None)
    assert not made_by_osteo_desktop("Agfa") and not made_by_osteo_desktop("osteo-desktop-clone")
    decision = decide_from_tags({"manufacturer": "osteo-desktop", "modality": "OT"})
    assert (decision.in_scope, decision.reason) == (False, "an image made by osteo-desktop (annotated result)")
    assert decide_from_tags({"manufacturer": "Agfa", "modality": "DX", "body_part": "KNEE"}) is None


def test_an_annotated_image_the_app_wrote_is_declined_when_read_back(classifier, knee_png, tmp_path):
    film = make_dicom(np.asarray(Image.open(knee_png).convert("L")), modality="DX", StudyDate="20250301",
                      AccessionNumber="A-1", StudyID="1", StudyInstanceUID=generate_uid(),
                      SeriesInstanceUID=generate_uid())
    source = tmp_path / "film.dcm"
    film.save_as(source, enforce_file_format=True)
    analysis = analyse_file(source, classifier, explain=False)
    assert not analysis.declined  # the film itself is read: the check is not a blanket refusal of DICOM
    written = write_all(export_input(analysis, "ab" * 32, None, classifier.card.name), tmp_path / "out", "film")
    annotated = next(p for p in written if p.name.endswith(".annotated.dcm"))
    header = pydicom.dcmread(annotated)
    assert header.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # a class the app reads as a film
    assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"  # and deflated, as the app writes it

    again = analyse_file(annotated, classifier, explain=False)
    assert again.declined and again.out_of_scope == OWN_OBJECT_REASON
    assert again.result.out_of_scope == OWN_OBJECT_REASON and again.result.probability is None


def test_osteo_watch_with_out_in_the_watched_folder_does_not_answer_its_own_files(classifier, knee_png, tmp_path):
    """`osteo watch DIR --out DIR`: each result written is a new file in the watched folder. They are the app's own
    (SR and annotated image): skipped, so no "no result" SR is written for them, and no endless chain of files."""
    from osteo_desktop.dicomnet.commands import watch_handler
    from osteo_desktop.dicomnet.watch import FolderWatch

    folder = tmp_path / "watched"
    folder.mkdir()
    film = make_dicom(np.asarray(Image.open(knee_png).convert("L")), modality="DX", StudyDate="20250301",
                      AccessionNumber="A-1", StudyID="1", StudyInstanceUID=generate_uid(),
                      SeriesInstanceUID=generate_uid())
    film.save_as(folder / "film.dcm", enforce_file_format=True)
    watch = FolderWatch(folder, watch_handler(classifier, None, folder))
    watch.poll_once()  # first look: sizes noted
    assert watch.poll_once() == [folder / "film.dcm"]  # unchanged since: analysed, results written beside it
    results = sorted(p.name for p in folder.iterdir() if p.name != "film.dcm")
    assert len(results) == 2  # the SR and the annotated image
    annotated = next(name for name in results if name.endswith(".annotated.dcm"))
    assert pydicom.dcmread(folder / annotated).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"  # deflated
    watch.poll_once()
    handled = watch.poll_once()
    assert sorted(p.name for p in handled) == results  # the watch saw them ...
    assert sorted(p.name for p in folder.iterdir() if p.name != "film.dcm") == results  # ... and wrote nothing more


def test_the_annotated_image_of_the_largest_film_read_inflates_within_the_reader_s_deflate_bound():
    """The reader refuses a deflated file that inflates past MAX_INFLATED_BYTES (a zip bomb) before it looks at the
    Manufacturer. The annotated image of the largest film the app reads (MAX_PIXELS, as RGB: 3 bytes a pixel, plus a
    header well under a megabyte) must stay within it, or the app's own deflated output of such a film would be
    refused as a bomb instead of declined as its own."""
    from osteo_desktop.core.reading.limits import MAX_INFLATED_BYTES, MAX_PIXELS

    assert MAX_PIXELS * 3 + 2**20 <= MAX_INFLATED_BYTES
