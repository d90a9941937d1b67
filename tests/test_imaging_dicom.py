"""The DICOM reader on the shared awkward files and on DICOMs built here with pydicom."""

from __future__ import annotations

import json
import logging

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing
from pydicom.uid import BasicTextSRStorage, ExplicitVRLittleEndian, generate_uid

from imaging_factories import PATIENT, dicom_bytes, gradient, make_dicom, write
from osteo_desktop.core.reading.dicom import RADIOGRAPH_MODALITIES
from osteo_desktop.core.reading.window import apply_window
from osteo_desktop.core.errors import ImageReadError, NotAnImageError
from osteo_desktop.core.reading.reader import describe_radiograph, read_radiograph

BROKEN = {"MR_truncated_pixeldata.dcm", "no_file_meta.dcm"}
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _shared_dicoms() -> list[str]:
    from shared_paths import DICOM_DIR

    return sorted(p.name for p in DICOM_DIR.glob("*.dcm")) if DICOM_DIR.is_dir() else []


@pytest.mark.parametrize("name", [n for n in _shared_dicoms() if n not in BROKEN])
def test_every_readable_shared_dicom_loads(dicom_dir, name):
    path = dicom_dir / name
    header = pydicom.dcmread(path, stop_before_pixels=True)
    radiograph = read_radiograph(path)

    pixels = radiograph.pixels
    assert pixels.dtype == np.float32 and pixels.shape == (header.Rows, header.Columns)
    assert np.isfinite(pixels).all() and pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert pixels.std() > 0.01, "a windowing mistake shows up as a flat image"
    summary = describe_radiograph(radiograph)
    json.dumps(summary)
    assert summary["format"] == "DICOM"

    photometric = header.PhotometricInterpretation
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    assert any("colour" in w for w in radiograph.warnings) == colour
    assert any("multi-frame" in w for w in radiograph.warnings) == (int(header.get("NumberOfFrames", 1) or 1) > 1)
    modality = header.get("Modality", "")
    assert any("modality" in w for w in radiograph.warnings) == bool(modality and modality not in RADIOGRAPH_MODALITIES)
    body_part = header.get("BodyPartExamined", "")
    # Knees are filed under the joint or the limb around it (PS3.16 CID 4031 and vendor spellings): no warning then.
    limb = {"KNEE", "LEG", "LOWER LIMB", "LOWERLIMB", "LOW_EXM", "EXTREMITY", "TIBIA", "FEMUR", "PATELLA"}
    assert any("body part" in w for w in radiograph.warnings) == bool(body_part and "KNEE" not in body_part
                                                                       and body_part.upper() not in limb)
    if not colour:
        assert radiograph.modality_values.shape == pixels.shape and radiograph.window is not None
        assert radiograph.invert_for_display == (photometric == "MONOCHROME1")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("MR_truncated_pixeldata.dcm", "truncated"), ("no_file_meta.dcm", "damaged DICOM")],
)
def test_broken_shared_dicoms_give_specific_errors(dicom_dir, name, expected):
    with pytest.raises(ImageReadError) as caught:
        read_radiograph(dicom_dir / name)
    assert not isinstance(caught.value, NotAnImageError)
    assert name in str(caught.value) and expected in str(caught.value)


def test_lossless_codecs_decode_to_identical_pixels(dicom_dir):
    jpeg_ls = read_radiograph(dicom_dir / "CR_hip_RG2_JLSL_MONO2_10bit_jpegls-lossless.dcm")
    jpeg_lossless = read_radiograph(dicom_dir / "CR_hip_RG2_JPLL_MONO2_10bit_jpeg-lossless-sv1.dcm")
    np.testing.assert_array_equal(jpeg_ls.modality_values, jpeg_lossless.modality_values)
    lossless = read_radiograph(dicom_dir / "CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm")
    lossy = read_radiograph(dicom_dir / "CR_tibia_RG3_J2KI_MONO1_10bit_j2k-lossy.dcm")
    assert np.abs(lossless.pixels - lossy.pixels).mean() < 0.02


def test_rescale_slope_is_applied(dicom_dir):
    path = dicom_dir / "CR_cspine_16x16_MONO1_12bit_uncompressed_tiny.dcm"
    ds = pydicom.dcmread(path)
    assert float(ds.RescaleSlope) != 1.0
    expected = apply_modality_lut(ds.pixel_array, ds)
    np.testing.assert_allclose(read_radiograph(path).modality_values, expected, rtol=1e-5)


def test_modality_lut_sequence_is_applied(dicom_dir):
    path = dicom_dir / "mlut_18_modality-LUT.dcm"
    ds = pydicom.dcmread(path)
    np.testing.assert_array_equal(read_radiograph(path).modality_values, apply_modality_lut(ds.pixel_array, ds))


def test_voi_lut_sequence_is_applied(dicom_dir):
    path = dicom_dir / "OT_vlut_04_VOI-LUT-sequence.dcm"
    ds = pydicom.dcmread(path)
    reference = apply_voi_lut(ds.pixel_array, ds).astype(np.float64)
    lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float64)
    reference = (reference - lut.min()) / (lut.max() - lut.min())
    radiograph = read_radiograph(path)
    assert radiograph.metadata["window_source"] == "VOI LUT sequence"
    np.testing.assert_allclose(radiograph.pixels, reference, atol=1e-6)


def test_window_matches_pydicom_windowing(tmp_path):
    pixels = gradient()
    ds = make_dicom(pixels, bits_stored=12, window=(2000, 1000))
    radiograph = read_radiograph(write(tmp_path / "w.dcm", dicom_bytes(ds)))
    reference = apply_windowing(pixels.astype(np.float64), ds) / 4095.0
    assert radiograph.metadata["window_source"] == "window centre/width"
    assert radiograph.window == (2000.0, 1000.0)
    # DICOM pixels are read onto the 256 grey levels (issue 12): within half a level of the exact window.
    np.testing.assert_allclose(radiograph.pixels, reference, atol=0.5 / 255 + 1e-4)
    np.testing.assert_allclose(radiograph.pixels * 255.0, np.rint(radiograph.pixels * 255.0), atol=1e-3)


def test_sigmoid_voi_function(tmp_path):
    pixels = gradient()
    ds = make_dicom(pixels, bits_stored=12, window=(1500, 800), VOILUTFunction="SIGMOID")
    radiograph = read_radiograph(write(tmp_path / "s.dcm", dicom_bytes(ds)))
    reference = 1.0 / (1.0 + np.exp(-4.0 * (pixels.astype(np.float64) - 1500) / 800))
    np.testing.assert_allclose(radiograph.pixels, reference, atol=0.5 / 255 + 1e-5)  # on the 256 grey levels


def test_monochrome1_is_inverted_so_bone_is_bright(tmp_path):
    pixels = gradient()
    mono2 = read_radiograph(write(tmp_path / "m2.dcm", dicom_bytes(make_dicom(pixels, bits_stored=12, window=(2048, 4096)))))
    mono1 = read_radiograph(
        write(tmp_path / "m1.dcm", dicom_bytes(make_dicom(pixels, photometric="MONOCHROME1", bits_stored=12, window=(2048, 4096))))
    )
    np.testing.assert_allclose(mono1.pixels, 1.0 - mono2.pixels, atol=1e-6)  # on the grey levels, both ways
    assert mono1.invert_for_display and not mono2.invert_for_display
    # The viewer re-windows the full-precision modality values; the pixels are those on the 256 grey levels.
    np.testing.assert_allclose(1.0 - apply_window(mono1.modality_values, mono1.window), mono1.pixels, atol=0.5 / 255 + 1e-6)


def test_percentile_window_when_the_file_gives_none(tmp_path):
    pixels = gradient()
    radiograph = read_radiograph(write(tmp_path / "p.dcm", dicom_bytes(make_dicom(pixels, bits_stored=12))))
    low, high = np.percentile(pixels, [0.5, 99.5])
    assert radiograph.metadata["window_source"].startswith("percentile")
    assert radiograph.window == pytest.approx(((low + high) / 2, high - low), rel=0.01)
    # Only the tails beyond the percentiles saturate.
    assert (radiograph.pixels == 0.0).mean() < 0.02 and (radiograph.pixels == 1.0).mean() < 0.2


def test_window_that_misses_the_data_falls_back_with_a_warning(tmp_path):
    pixels = gradient(maximum=4095) // 2 + 2000
    ds = make_dicom(pixels.astype(np.uint16), bits_stored=12, window=(100, 50))
    radiograph = read_radiograph(write(tmp_path / "miss.dcm", dicom_bytes(ds)))
    assert radiograph.metadata["window_source"].startswith("percentile")
    assert any("misses almost all pixel values" in w for w in radiograph.warnings)
    assert radiograph.pixels.std() > 0.1


def test_dicom_without_preamble_and_file_meta_loads(tmp_path):
    ds = make_dicom(gradient(), bits_stored=12, window=(2000, 3000))
    full = read_radiograph(write(tmp_path / "full.dcm", dicom_bytes(ds)))
    bare_bytes = dicom_bytes(ds, bare=True)
    assert bare_bytes[128:132] != b"DICM"
    bare = read_radiograph(write(tmp_path / "bare", bare_bytes))
    np.testing.assert_array_equal(bare.pixels, full.pixels)


def test_rgb_stored_grey_dicom_has_no_colour_warning(tmp_path):
    grey = gradient(maximum=255, dtype=np.uint8)
    ds = make_dicom(np.repeat(grey[:, :, None], 3, axis=2), photometric="RGB", bits_stored=8)
    radiograph = read_radiograph(write(tmp_path / "rgb.dcm", dicom_bytes(ds)))
    assert not any("colour" in w for w in radiograph.warnings)
    np.testing.assert_allclose(radiograph.pixels, grey / 255.0, atol=1e-6)


def test_structured_report_without_pixels_is_not_an_image(tmp_path):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = BasicTextSRStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = BasicTextSRStorage, ds.file_meta.MediaStorageSOPInstanceUID, "SR"
    with pytest.raises(NotAnImageError, match="not an image") as caught:
        read_radiograph(write(tmp_path / "report.dcm", dicom_bytes(ds)))
    assert "report.dcm" in str(caught.value) and "Basic Text SR" in str(caught.value)


def test_knee_radiograph_gets_no_content_warnings(tmp_path):
    ds = make_dicom(gradient(height=300, width=256), bits_stored=12, window=(2000, 4000), modality="CR", body_part="KNEE")
    assert read_radiograph(write(tmp_path / "knee.dcm", dicom_bytes(ds))).warnings == []


@pytest.mark.parametrize("body_part", ["LEG", "EXTREMITY", "LOWER LIMB", "LEFT KNEE", "knee", ""])
def test_a_knee_filed_under_its_limb_gets_no_body_part_warning(tmp_path, body_part):
    # A new user's knee DICOMs filed as LEG and EXTREMITY got "Not a knee: the DICOM body part is LEG" beside a result.
    ds = make_dicom(gradient(height=300, width=256), bits_stored=12, window=(2000, 4000), modality="DX", body_part=body_part)
    assert read_radiograph(write(tmp_path / "knee.dcm", dicom_bytes(ds))).warnings == []


@pytest.mark.parametrize("body_part", ["CHEST", "HAND", "HIP", "SKULL"])
def test_another_body_part_gets_the_warning(tmp_path, body_part):
    ds = make_dicom(gradient(height=300, width=256), bits_stored=12, window=(2000, 4000), modality="DX", body_part=body_part)
    assert read_radiograph(write(tmp_path / "other.dcm", dicom_bytes(ds))).warnings == [
        f"Not a knee: the DICOM body part is {body_part}; the model was trained on knee radiographs only"]


def test_out_of_scope_dicom_gets_plain_warnings(tmp_path):
    ds = make_dicom(gradient(height=100, width=256), bits_stored=12, modality="MR", body_part="CHEST")
    warnings = read_radiograph(write(tmp_path / "mr.dcm", dicom_bytes(ds))).warnings
    assert any("modality is MR" in w for w in warnings)
    assert any("CHEST" in w and "knee" in w for w in warnings)
    assert any("256 x 100 pixels" in w for w in warnings)


def test_patient_identifiers_stay_in_patient_only(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ds = make_dicom(gradient(), bits_stored=12, modality="MR", body_part="CHEST")
    radiograph = read_radiograph(write(tmp_path / "patient.dcm", dicom_bytes(ds)))
    assert radiograph.patient["name"] == PATIENT["PatientName"]
    assert radiograph.patient["id"] == PATIENT["PatientID"]
    assert radiograph.patient["birth_date"] == PATIENT["PatientBirthDate"]
    visible = json.dumps(describe_radiograph(radiograph)) + json.dumps(radiograph.metadata, default=str)
    visible += " ".join(radiograph.warnings) + caplog.text
    for value in PATIENT.values():
        assert value not in visible and value.split("^")[0] not in visible


def test_viewer_window_to_grey_levels_by_hand():
    from osteo_desktop.core.reading.window import window_to_uint8

    values = np.array([[-10.0, 0.0, 50.0, 100.0, 200.0, 300.0]], dtype=np.float32)
    # Centre 100, width 200: 0 is black, 200 white, linearly between (LINEAR_EXACT); 127.5 and 63.75 round half-even up.
    shown = window_to_uint8(values, 100, 200)
    assert shown.dtype == np.uint8 and shown.flags.c_contiguous
    assert shown.tolist() == [[0, 0, 64, 128, 255, 255]]
    assert window_to_uint8(values, 100, 200, invert=True).tolist() == [[255, 255, 191, 128, 0, 0]]
    assert window_to_uint8(values, 100, 0).tolist() == [[0, 0, 0, 0, 255, 255]]  # a zero width is a threshold, not NaN


def test_dicom_identity_is_read_from_the_header(tmp_path, knee_png):
    study, series = generate_uid(), generate_uid()
    ds = make_dicom(gradient(), bits_stored=12, modality="DX", body_part="KNEE", StudyInstanceUID=study,
                    SeriesInstanceUID=series, AccessionNumber="ACC-20931", StudyDate="20240611", StudyID="S7",
                    ReferringPhysicianName="House^Gregory", ViewPosition="AP", ImageLaterality="R",
                    PatientOrientation=["L", "F"], PatientSex="F")
    radiograph = read_radiograph(write(tmp_path / "identity.dcm", dicom_bytes(ds)))
    identity = radiograph.dicom
    assert (identity.study_instance_uid, identity.series_instance_uid) == (study, series)
    assert identity.sop_instance_uid == ds.SOPInstanceUID and identity.sop_class_uid == ds.SOPClassUID
    assert (identity.accession_number, identity.study_date, identity.study_id) == ("ACC-20931", "20240611", "S7")
    assert identity.referring_physician_name == "House^Gregory"
    assert (identity.modality, identity.body_part_examined, identity.view_position) == ("DX", "KNEE", "AP")
    assert (identity.image_laterality, identity.patient_orientation) == ("R", "L\\F")
    patient = identity.patient
    assert (patient.name, patient.id, patient.birth_date, patient.sex) == (
        PATIENT["PatientName"], PATIENT["PatientID"], PATIENT["PatientBirthDate"], "F")
    # The identity's text form (as a log line or a debugger would show it) names no person.
    for value in (*PATIENT.values(), "House", "ACC-20931"):
        assert value not in repr(radiograph) and value not in repr(identity)
    assert study in repr(identity)
    # Absent tags are None, not empty strings; a raster file has no DICOM identity at all.
    bare = read_radiograph(write(tmp_path / "bare.dcm", dicom_bytes(make_dicom(gradient(), bits_stored=12))))
    assert bare.dicom.study_instance_uid is None and bare.dicom.accession_number is None
    assert read_radiograph(knee_png).dicom is None


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT"])
def test_apply_window_in_place_is_bit_for_bit_the_plain_formula(function):
    """The window is computed in place (issue 13: no full-size temporaries) with exactly PS3.3 C.11.2.1.2's result."""
    values = np.random.default_rng(7).uniform(-500, 5000, size=(333, 257)).astype(np.float32)
    centre, width = 1800.0, 2300.0
    if function == "LINEAR_EXACT":
        expected = np.clip((values - (centre - width / 2.0)) / width, 0.0, 1.0)
    else:
        expected = np.clip((values - (centre - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)
    got = apply_window(values, (centre, width), function)
    assert got.dtype == np.float32 and got is not values
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert float(values.min()) < 0  # the input (the viewer's modality values) is left as it was
