"""DICOM to :class:`Radiograph` with pydicom 3: modality LUT, VOI LUT or window, MONOCHROME1, colour, first frame.

Everything a hostile file declares (rows, columns, the size inside a compressed codestream, the inflated size of a
deflated dataset) is checked before anything is decoded. Any failure becomes an :class:`ImageReadError` whose cause
says which step failed.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from osteo_desktop.core.reading import colour
from osteo_desktop.core.reading.body_parts import may_show_a_knee
from osteo_desktop.core.reading.window import apply_window, choose_window, modality_values, voi_lut
from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading.limits import MAX_INFLATED_BYTES, brief, check_dimensions
from osteo_desktop.core.reading.radiograph import DicomIdentity, PatientIdentity, Radiograph, dicom_keywords


RADIOGRAPH_MODALITIES = frozenset({"CR", "DX", "DR", "RG", "OT", "SC"})

_PATIENT_TAGS = {
    "name": "PatientName",
    "id": "PatientID",
    "birth_date": "PatientBirthDate",
    "sex": "PatientSex",
    "age": "PatientAge",
    "accession_number": "AccessionNumber",
    "institution": "InstitutionName",
}
# Tags safe to show and log: they describe the acquisition, not the person.
_METADATA_TAGS = {
    "modality": "Modality",
    "body_part": "BodyPartExamined",
    "view_position": "ViewPosition",
    "laterality": "ImageLaterality",
    "study_date": "StudyDate",
    "manufacturer": "Manufacturer",
    "manufacturer_model": "ManufacturerModelName",
    "pixel_spacing": "PixelSpacing",
    "imager_pixel_spacing": "ImagerPixelSpacing",
}
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # baseline..lossless, and JPEG-LS


def read_dicom(path: Path, data: bytes, target_size: int | None = None) -> Radiograph:
    """Decode the DICOM file ``path`` whose bytes are ``data`` (already read, so the file is touched once).

    ``target_size`` is accepted for symmetry with the raster reader; DICOM is always decoded at full resolution.
    """
    ds = _parse(path, data)
    warnings: list[str] = []
    frame = _decode_first_frame(path, ds, warnings)
    metadata = _metadata(ds)
    metadata.update(width=int(frame.shape[1]), height=int(frame.shape[0]))
    photometric = metadata["photometric"]
    if frame.ndim == 3 or photometric == "PALETTE COLOR":
        pixels, is_colour = _colour_to_grey(path, ds, frame, photometric)
        if is_colour:
            warnings.append(f"colour DICOM ({photometric}) converted to greyscale; the model was trained on greyscale radiographs")
        metadata["window_source"] = "none (colour image)"
        radiograph = Radiograph(path, pixels, "dicom", metadata, warnings)
    else:
        radiograph = _monochrome(path, ds, frame, metadata, warnings)
    warnings.extend(_content_warnings(metadata))
    radiograph.patient = _patient(ds)
    radiograph.dicom = _identity(ds)
    return radiograph


def read_dicom_patient(path: Path, data: bytes) -> dict[str, str]:
    """The patient identifiers of the DICOM file ``path`` (bytes ``data``), without decoding its pixels."""
    return _patient(_parse(path, data))


def _patient(ds: Dataset) -> dict[str, str]:
    patient = {}
    for key, keyword in _PATIENT_TAGS.items():
        try:
            value = ds.get(keyword)
            if value not in (None, ""):
                patient[key] = str(value)
        except Exception:  # noqa: BLE001 - an undecodable name is left out, never fatal
            continue
    return patient


def _identity(ds: Dataset) -> DicomIdentity:
    patient = PatientIdentity(**{name: _text(ds, keyword) for name, keyword in dicom_keywords(PatientIdentity).items()})
    values = {name: _text(ds, keyword) for name, keyword in dicom_keywords(DicomIdentity).items()}
    return DicomIdentity(patient=patient, **values)


def _text(ds: Dataset, keyword: str) -> str | None:
    """A tag's value as text (multi-valued joined by a backslash, as DICOM writes them), or None."""
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        if isinstance(value, (list, tuple, MultiValue)):
            text = "\\".join(str(item).strip() for item in value)
        else:
            text = str(value).strip()
    except Exception:  # noqa: BLE001 - an undecodable value is left out, never fatal
        return None
    return text or None


# --- parsing ---------------------------------------------------------------------------------------------------


def _parse(path: Path, data: bytes) -> Dataset:
    _check_deflated_size(path, data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged headers
        raise ImageReadError(path, f"damaged DICOM header ({brief(exc)})") from exc
    try:
        has_pixels = "PixelData" in ds
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"damaged DICOM header ({brief(exc)})") from exc
    if not has_pixels:
        kind = _sop_class_name(ds)
        if kind == "unknown SOP class":
            raise ImageReadError(path, "DICOM file with neither pixel data nor a SOP class: damaged, or not an image")
        if "Image" in kind:
            # An image storage class without pixels is a file cut short or damaged, not a report.
            raise ImageReadError(path, f"DICOM image ({kind}) has no pixel data: the file is truncated or damaged")
        raise NotAnImageError(path, f"DICOM file without pixel data ({kind}), not an image")
    if not _transfer_syntax(ds):
        # A bare dataset without a file meta header: record the encoding pydicom found so the decoders know it.
        implicit, little = ds.original_encoding
        ds.file_meta = getattr(ds, "file_meta", None) or pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def _check_deflated_size(path: Path, data: bytes) -> None:
    """pydicom inflates a deflated dataset whole; make sure that cannot be a zip bomb."""
    if str(DeflatedExplicitVRLittleEndian).encode() not in data[:4096]:
        return
    start = _end_of_file_meta(data)
    if start is None:
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending, total = data[start:], 0
    try:
        while pending:
            total += len(inflater.decompress(pending, 1 << 20))
            if total > MAX_INFLATED_BYTES:
                raise ImageTooLargeError(
                    path, f"deflated DICOM inflates to more than {MAX_INFLATED_BYTES // 2**20} MiB; refused"
                )
            if inflater.eof:
                break
            pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise ImageReadError(path, f"deflated DICOM data is corrupt ({exc})") from exc


def _end_of_file_meta(data: bytes) -> int | None:
    """Offset of the first byte after the (explicit VR little endian) file meta group, or None if there is none."""
    offset = 132 if data[128:132] == b"DICM" else 0
    while offset + 8 <= len(data):
        group, _element = struct.unpack_from("<HH", data, offset)
        if group != 0x0002:
            return offset
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > len(data):
                return None
            offset += 12 + struct.unpack_from("<I", data, offset + 8)[0]
        else:
            offset += 8 + struct.unpack_from("<H", data, offset + 6)[0]
    return None


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def _sop_class_name(ds: Dataset) -> str:
    try:
        uid = ds.get("SOPClassUID") or getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID")
        return UID(str(uid)).name if uid else "unknown SOP class"
    except Exception:  # noqa: BLE001 - only used to word a message
        return "unknown SOP class"


# --- pixel data ------------------------------------------------------------------------------------------------


def _decode_first_frame(path: Path, ds: Dataset, warnings: list[str]) -> np.ndarray:
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits_allocated = int(ds.BitsAllocated)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        pixel_data = ds.PixelData
    except Exception as exc:  # noqa: BLE001 - a missing or malformed attribute in the image pixel module
        raise ImageReadError(path, f"DICOM image attributes missing or invalid ({brief(exc)})") from exc
    check_dimensions(path, columns, rows, what="DICOM image")
    if samples not in (1, 3) or bits_allocated not in (1, 8, 16, 32, 64) or frames < 1:
        raise ImageReadError(
            path, f"unsupported DICOM pixel layout ({samples} samples per pixel, {bits_allocated} bits allocated, {frames} frames)"
        )
    if not pixel_data:
        raise ImageReadError(path, "DICOM pixel data element is empty (0 bytes)")
    syntax = _transfer_syntax(ds)
    if syntax is None:
        raise ImageReadError(path, "DICOM file has no transfer syntax")
    if not syntax.is_transfer_syntax:
        raise ImageReadError(path, f"DICOM transfer syntax {str(syntax)[:64]!r} is not a known transfer syntax")
    if syntax.is_encapsulated:
        _check_codestream(path, syntax, pixel_data)
    else:
        frame_bytes = (rows * columns * samples * bits_allocated + 7) // 8
        if len(pixel_data) < frame_bytes:
            raise ImageReadError(
                path, f"DICOM pixel data is truncated: {len(pixel_data)} of the {frame_bytes} bytes of the first frame are present"
            )
        if samples == 3 and bits_allocated in (8, 16):
            _check_planar_configuration(path, ds, pixel_data, rows, columns, bits_allocated)
        if frames > 1 and len(pixel_data) < frame_bytes * frames:
            warnings.append(f"DICOM pixel data holds fewer frames than the {frames} declared")
            ds.NumberOfFrames = len(pixel_data) // frame_bytes
            frames = int(ds.NumberOfFrames)
    if frames > 1:
        warnings.append(f"multi-frame DICOM ({frames} frames): only the first frame is shown and analysed")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise ImageReadError(path, f"DICOM transfer syntax {syntax.name or syntax} is not supported") from exc
    if not decoder.is_available:
        raise ImageReadError(path, f"no decoder installed for {syntax.name} (install the pylibjpeg plugins)")
    try:
        frame = pixel_array(ds, index=0)
    except MemoryError as exc:
        raise ImageTooLargeError(path, "not enough memory to decode the DICOM pixel data") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise anything from ValueError to RuntimeError
        raise ImageReadError(path, f"DICOM pixel data could not be decoded ({syntax.name}): {brief(exc)}") from exc
    if frame.ndim not in (2, 3) or frame.shape[:2] != (rows, columns):
        raise ImageReadError(path, f"decoded DICOM frame has shape {frame.shape}, expected {rows} x {columns}")
    return frame


def _roughness(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels (both directions, all channels)."""
    image = image.astype(np.float32)
    return float(np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())


def _check_planar_configuration(path: Path, ds: Dataset, pixel_data: bytes, rows: int, columns: int, bits: int) -> None:
    """Refuse uncompressed colour pixel data laid out otherwise than its PlanarConfiguration says.

    Read with the wrong layout, a radiograph becomes a scramble of thirds of the image or of its channels, which the
    model would score like any other image. The two layouts are told apart by the content: read the right way, a
    radiograph is smooth (neighbouring pixels close); read the wrong way it is 2 to 30 times rougher (measured on
    knee films: 3-5 grey levels between neighbours against 6-11 and 110-140). A block of rows from the middle is
    enough, so the cost does not grow with the image.
    """
    try:
        declared = int(ds.get("PlanarConfiguration", 0) or 0)
    except (TypeError, ValueError):
        declared = 0
    if declared not in (0, 1) or rows < 16 or columns < 16:
        return
    dtype = np.dtype(np.uint8 if bits == 8 else "<u2")
    raw = np.frombuffer(pixel_data, dtype=dtype, count=rows * columns * 3)
    block = slice(max(0, rows // 2 - 128), min(rows, rows // 2 + 128))
    interleaved = raw.reshape(rows, columns, 3)[block]
    planar = raw.reshape(3, rows, columns)[:, block].transpose(1, 2, 0)
    as_declared, other = (interleaved, planar) if declared == 0 else (planar, interleaved)
    if _roughness(other) < 0.75 * _roughness(as_declared):
        raise ImageReadError(
            path,
            f"DICOM colour pixel data does not match its PlanarConfiguration ({declared}: "
            f"{'interleaved' if declared == 0 else 'one plane per colour'}); the data is laid out "
            f"{'one plane per colour' if declared == 0 else 'interleaved'}, so the image would be scrambled; not read",
        )


def _check_codestream(path: Path, syntax: UID, pixel_data: bytes) -> None:
    """Read the size a compressed first frame declares, so a small file cannot make a decoder allocate gigabytes."""
    try:
        fragments = generate_fragments(pixel_data)
        next(fragments)  # the basic offset table
        first = next((fragment for fragment in fragments if fragment), b"")
    except Exception as exc:  # noqa: BLE001 - malformed encapsulation
        raise ImageReadError(path, f"DICOM encapsulated pixel data is malformed ({brief(exc)})") from exc
    if not first:
        raise ImageReadError(path, "DICOM encapsulated pixel data holds no fragments")
    size = _codestream_size(first[:65536])
    if size is not None:
        check_dimensions(path, size[0], size[1], what=f"{syntax.name} codestream")


def _codestream_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG 2000 SIZ or JPEG / JPEG-LS SOF marker, or None if not found."""
    siz = head.find(b"\xff\x4f\xff\x51")
    if siz >= 0 and len(head) >= siz + 24:
        x_size, y_size, x_offset, y_offset = struct.unpack_from(">IIII", head, siz + 8)
        return max(0, x_size - x_offset), max(0, y_size - y_offset)
    if head[:2] == b"\xff\xd8":
        offset = 2
        while offset + 4 <= len(head) and head[offset] == 0xFF:
            marker = head[offset + 1]
            length = struct.unpack_from(">H", head, offset + 2)[0]
            if marker in _JPEG_SOF and offset + 9 <= len(head):
                height, width = struct.unpack_from(">HH", head, offset + 5)
                return width, height
            offset += 2 + length
    return None


# --- grey values -----------------------------------------------------------------------------------------------


def _monochrome(path: Path, ds: Dataset, frame: np.ndarray, metadata: dict[str, Any], warnings: list[str]) -> Radiograph:
    # A rescale that overflows float32 is refused just below; numpy's overflow warnings would only repeat that.
    with np.errstate(over="ignore", invalid="ignore"):
        values = modality_values(ds, frame, warnings)
    _check_value_range(path, ds, frame, values)
    voi = voi_lut(ds, warnings)
    if voi is not None:
        first_map, lut = voi
        index = np.clip(np.rint(values) - first_map, 0, lut.size - 1).astype(np.int64)
        low, high = float(lut.min()), float(lut.max())
        # Normalised by the table's own range: some tables declare 16 bits but hold 12-bit values.
        pixels = (lut[index] - low) / max(high - low, 1.0)
        window = (first_map + lut.size / 2.0, float(lut.size))
        metadata["window_source"] = "VOI LUT sequence"
    else:
        window, function, source = choose_window(ds, values, warnings)
        pixels = apply_window(values, window, function)
        metadata["window_source"] = source
        metadata["voi_lut_function"] = function
    metadata["window_center"], metadata["window_width"] = round(window[0], 3), round(window[1], 3)
    invert = metadata["photometric"] == "MONOCHROME1"
    pixels = pixels.astype(np.float32, copy=False)
    if invert:
        np.subtract(np.float32(1.0), pixels, out=pixels)
    if np.isnan(np.min(pixels)):  # one pass without a copy; only a NaN in a float image or table gets here
        np.nan_to_num(pixels, copy=False, nan=0.0)
    return Radiograph(
        path, pixels, "dicom", metadata, warnings, modality_values=values, window=window, invert_for_display=invert
    )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_value_range(path: Path, ds: Dataset, frame: np.ndarray, values: np.ndarray) -> None:
    """Refuse modality values the rescale (or modality LUT) pushed beyond float32, or so far apart that their span does.

    Such values (a RescaleSlope of 1e36, say) are not a radiograph's: they became inf or NaN, and the window made
    from them is NaN, which read as an all-black image with no word of why. Two passes (min, max) over the values;
    the full comparison with the stored pixels runs only when one of them is not finite.
    """
    low, high = float(np.min(values)), float(np.max(values))
    if np.isfinite(low) and np.isfinite(high):
        if high - low <= _FLOAT32_MAX:
            return
    else:
        with np.errstate(invalid="ignore"):
            made = ~np.isfinite(values) & np.isfinite(frame)
        if not made.any():
            return  # NaN or inf stored in float pixel data itself, not made by the rescale: handled downstream
    try:
        rescale = f"RescaleSlope {ds.get('RescaleSlope', 1)}, RescaleIntercept {ds.get('RescaleIntercept', 0)}"
    except Exception:  # noqa: BLE001 - only used to word the message
        rescale = "rescale unreadable"
    raise ImageReadError(
        path,
        f"DICOM pixel values out of range after rescale ({rescale}): beyond 32-bit floating point, "
        "not a real radiograph; not read",
    )


def _colour_to_grey(path: Path, ds: Dataset, frame: np.ndarray, photometric: str) -> tuple[np.ndarray, bool]:
    try:
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(frame, ds)
            bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
        else:
            # pydicom converts YBR to RGB while decoding.
            rgb = frame
            bits = int(ds.get("BitsStored", 8 * frame.dtype.itemsize) or 8)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(path, f"DICOM colour ({photometric}) could not be converted ({brief(exc)})") from exc
    rgb = rgb.astype(np.float32) / float(max(2 ** min(bits, 16) - 1, 1))
    identical = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    grey = rgb[..., 0] if identical else rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # Grey pixels stored as RGB/YBR (with JPEG chroma noise) are not "colour": only a real difference warns.
    return np.clip(grey, 0.0, 1.0).astype(np.float32), not identical and colour.is_colour(np.clip(rgb, 0.0, 1.0))


# --- metadata and warnings -------------------------------------------------------------------------------------


def _metadata(ds: Dataset) -> dict[str, Any]:
    metadata: dict[str, Any] = {"format": "DICOM"}
    for key, keyword in _METADATA_TAGS.items():
        try:
            value = ds.get(keyword)
            if value not in (None, ""):
                metadata[key] = [float(v) for v in value] if "spacing" in key else str(value).strip()
        except Exception:  # noqa: BLE001 - a malformed descriptive tag is left out, not fatal
            continue
    syntax = _transfer_syntax(ds)
    metadata["transfer_syntax"] = syntax.name if syntax else "unknown"
    metadata["sop_class"] = _sop_class_name(ds)
    metadata["photometric"] = str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip().upper()
    for key, keyword in (("bits_allocated", "BitsAllocated"), ("bits_stored", "BitsStored"), ("frames", "NumberOfFrames"),
                         ("original_width", "Columns"), ("original_height", "Rows")):
        try:
            metadata[key] = int(ds.get(keyword, 1 if key == "frames" else 0) or 0)
        except (TypeError, ValueError):
            pass
    try:
        metadata["signed"] = bool(int(ds.get("PixelRepresentation", 0) or 0))
        if "RescaleSlope" in ds or "RescaleIntercept" in ds:
            metadata["rescale_slope"] = float(ds.get("RescaleSlope", 1) or 1)
            metadata["rescale_intercept"] = float(ds.get("RescaleIntercept", 0) or 0)
    except (TypeError, ValueError):
        pass
    return metadata


def _content_warnings(metadata: dict[str, Any]) -> list[str]:
    warnings = []
    modality = str(metadata.get("modality", "")).upper()
    if modality and modality not in RADIOGRAPH_MODALITIES:
        warnings.append(f"Not a plain X-ray: the DICOM modality is {modality}; the model was trained on knee X-rays (CR/DX) only")
    body_part = str(metadata.get("body_part", ""))
    if not may_show_a_knee(body_part):  # LEG, EXTREMITY, ... are how knees are often filed: no warning for them
        warnings.append(f"Not a knee: the DICOM body part is {body_part}; the model was trained on knee radiographs only")
    return warnings

