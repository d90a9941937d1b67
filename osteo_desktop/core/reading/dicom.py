"""DICOM to :class:`Radiograph` with pydicom 3: modality LUT, VOI LUT or window, MONOCHROME1, colour, first frame.

Everything a hostile file declares (rows, columns, the size inside a compressed codestream, the inflated size of a
deflated dataset) is checked before anything is decoded. Any failure becomes an :class:`ImageReadError` whose cause
says which step failed.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, get_decoder, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from osteo_desktop.core.reading import colour
from osteo_desktop.core.reading.body_parts import may_show_a_knee
from osteo_desktop.core.reading.levels import to_levels
from osteo_desktop.core.reading.window import apply_window, choose_window, modality_values, sample_step, voi_lut
from osteo_desktop.core.errors import ImageReadError, ImageTooLargeError, NotAnImageError
from osteo_desktop.core.reading.limits import MAX_INFLATED_BYTES, brief, check_dimensions
from osteo_desktop.core.reading.radiograph import COLOUR_DROPPED, DicomIdentity, PatientIdentity, Radiograph, dicom_keywords


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
# A compact read leaves pixel data longer than this in the file's bytes (see _share_pixel_data). Larger than any
# other element a reader touches (a 16-bit VOI LUT is 128 KiB), so only the pixel data is deferred.
_SHARED_PIXELS_BYTES = 1 << 20
# Pixels per band of a compact read's windowing: 1 MiB of float32 per temporary.
_BAND_PIXELS = 1 << 18


def read_dicom(path: Path, data: bytes, target_size: int | None = None, *, compact: bool = False) -> Radiograph:
    """Decode the DICOM file ``path`` whose bytes are ``data`` (already read, so the file is touched once).

    ``target_size`` is accepted for symmetry with the raster reader; DICOM is always decoded at full resolution.
    ``compact`` (see ``read_radiograph``): a monochrome image is windowed a band of rows at a time straight to grey
    levels (uint8), without its float32 modality values, and uncompressed pixel data is read where it lies in
    ``data`` instead of being copied twice (by the parser, then by the decoder): at 50 megapixels of 16 bits each
    copy is 95 MiB, the modality values and the windowed image 191 MiB each.
    """
    ds = _parse(path, data, share_pixels=compact)
    warnings: list[str] = []
    frame, unused_bits = _decode_first_frame(path, ds, warnings, view=compact)
    metadata = _metadata(ds)
    metadata.update(width=int(frame.shape[1]), height=int(frame.shape[0]))
    photometric = metadata["photometric"]
    if frame.ndim == 3 or photometric == "PALETTE COLOR":
        pixels, is_colour = _colour_to_grey(path, ds, frame, photometric)
        if is_colour:
            warnings.append(f"colour DICOM ({photometric}) {COLOUR_DROPPED}")
        metadata["window_source"] = "none (colour image)"
        radiograph = Radiograph(path, pixels, "dicom", metadata, warnings)
    else:
        radiograph = (_monochrome_levels(path, ds, frame, unused_bits, metadata, warnings) if compact
                      else _monochrome(path, ds, frame, metadata, warnings))
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


def _parse(path: Path, data: bytes, *, share_pixels: bool = False) -> Dataset:
    """The dataset of ``data``. ``share_pixels``: its PixelData, when stored uncompressed and whole, is a read-only
    view of ``data`` instead of the parser's copy (the dataset is otherwise what a plain parse gives)."""
    deflated = _check_deflated_size(path, data)
    ds = None
    if share_pixels and not deflated:  # a deflated dataset's offsets are in the inflated stream, not in data
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True, defer_size=_SHARED_PIXELS_BYTES)
            if not _share_pixel_data(ds, data):
                ds = None
        except Exception:  # noqa: BLE001 - parsed again as usual just below, which says what is wrong
            ds = None
    try:
        if ds is None:
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


def _share_pixel_data(ds: Dataset, data: bytes) -> bool:
    """Make the deferred PixelData of ``ds`` (parsed from ``data`` with a ``defer_size``) a view of ``data``.

    pydicom defers an element longer than ``defer_size``, noting where its value starts (it reads it from the
    buffer when asked). Only whole, uncompressed pixel data is shared; False when there is something else (a
    truncated file, a sequence, encapsulated fragments), which is then parsed again as usual, so that every error
    and warning stays what a plain parse gives.
    """
    # get_item(keep_deferred=True): iterating the dataset itself would read every deferred value.
    elements = (ds.get_item(tag, keep_deferred=True) for tag in ds.keys())
    deferred = [elem for elem in elements if isinstance(elem, RawDataElement) and elem.value is None]
    raw = ds.get_item("PixelData", keep_deferred=True)
    if not deferred:
        return True  # nothing as long: the dataset is a plain parse's
    if len(deferred) > 1 or deferred[0] is not raw:
        return False  # another long element (a private blob, say): parsed as usual, so it reads as usual
    start, length = int(raw.value_tell), int(raw.length)
    if length == 0xFFFFFFFF or start + length > len(data):
        return False
    vr = raw.VR or ("OW" if int(ds.get("BitsAllocated", 16) or 16) > 8 else "OB")  # implicit VR files name none
    ds["PixelData"] = DataElement(0x7FE00010, vr, memoryview(data)[start : start + length], validation_mode=config.IGNORE)
    return True


def _check_deflated_size(path: Path, data: bytes) -> bool:
    """pydicom inflates a deflated dataset whole; make sure that cannot be a zip bomb. True for a deflated file."""
    if str(DeflatedExplicitVRLittleEndian).encode() not in data[:4096]:
        return False
    start = _end_of_file_meta(data)
    if start is None:
        return True
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
    return True


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


def _decode_first_frame(path: Path, ds: Dataset, warnings: list[str], *, view: bool = False) -> tuple[np.ndarray, int]:
    """The first frame as pydicom decodes it, and how many unused high bits are left in it (0 but with ``view``).

    ``view``: uncompressed monochrome data comes as pydicom's read-only view of the pixel data instead of a copy,
    and the unused high bits (BitsStored < BitsAllocated), which pydicom would clear or sign-extend in that copy,
    are left for the caller to correct band by band (:func:`_stored_values`).
    """
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
    unused_bits = _unused_bits(ds, syntax, samples, bits_allocated) if view else None
    try:
        if unused_bits is None:
            frame, unused_bits = pixel_array(ds, index=0), 0
        else:
            frame = pixel_array(ds, index=0, view_only=True, correct_unused_bits=False)
    except MemoryError as exc:
        raise ImageTooLargeError(path, "not enough memory to decode the DICOM pixel data") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise anything from ValueError to RuntimeError
        raise ImageReadError(path, f"DICOM pixel data could not be decoded ({syntax.name}): {brief(exc)}") from exc
    if frame.ndim not in (2, 3) or frame.shape[:2] != (rows, columns):
        raise ImageReadError(path, f"decoded DICOM frame has shape {frame.shape}, expected {rows} x {columns}")
    return frame, unused_bits


def _unused_bits(ds: Dataset, syntax: UID, samples: int, bits_allocated: int) -> int | None:
    """BitsAllocated - BitsStored where the first frame can be read as a view (uncompressed monochrome, one sample
    of 8, 16 or 32 bits, a sound BitsStored); None where pydicom must decode it as usual."""
    if syntax.is_encapsulated or samples != 1 or bits_allocated not in (8, 16, 32):
        return None
    try:
        if str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip().upper() not in ("MONOCHROME1", "MONOCHROME2"):
            return None  # a palette is looked up from the corrected values: pydicom's own decode
        bits_stored = int(ds.BitsStored)
    except Exception:  # noqa: BLE001 - missing or malformed: pydicom's own decode says what it makes of it
        return None
    if not 0 < bits_stored <= bits_allocated:
        return None
    return bits_allocated - bits_stored


def _stored_values(frame: np.ndarray, unused_bits: int) -> np.ndarray:
    """``frame`` (or a band of it) with its unused high bits cleared, or sign-extended for signed data: what
    pydicom's decode does to a whole frame (``_correct_unused_bits``: the same two shifts in the same dtype)."""
    if not unused_bits:
        return frame
    values = np.left_shift(frame, unused_bits)
    np.right_shift(values, unused_bits, out=values)
    return values


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
    mapping = _grey_mapping(ds, values, metadata, warnings, sampled=False)
    pixels = mapping.grey(values)
    return Radiograph(path, pixels, "dicom", metadata, warnings, modality_values=values, window=mapping.window,
                      invert_for_display=mapping.invert)


def _monochrome_levels(path: Path, ds: Dataset, frame: np.ndarray, unused_bits: int, metadata: dict[str, Any],
                       warnings: list[str]) -> Radiograph:
    """:func:`_monochrome` for a compact read: the same mapping, chosen on the same grid of values, applied a band
    of rows at a time and rounded to grey levels as the reader rounds :func:`_monochrome`'s image, so every level
    stands for exactly its pixel; no modality values are kept. The value range is checked over the bands."""
    step = sample_step(frame.shape[0] * frame.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        sample = modality_values(ds, _stored_values(frame[::step, ::step], unused_bits), warnings)
        mapping = _grey_mapping(ds, sample, metadata, warnings, sampled=True)
    levels = np.empty(frame.shape, dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, frame.shape[1]))
    if frame.dtype in (np.uint8, np.uint16, np.int16):
        _levels_by_table(path, ds, frame, unused_bits, mapping, levels, rows)
        return Radiograph(path, levels, "dicom", metadata, warnings, window=mapping.window, invert_for_display=mapping.invert)
    lows, highs, made = [], [], False
    for top in range(0, frame.shape[0], rows):
        stored = _stored_values(frame[top : top + rows], unused_bits)
        with np.errstate(over="ignore", invalid="ignore"):
            values = modality_values(ds, stored, [])  # its warnings were given once, for the sample
        lows.append(np.min(values))
        highs.append(np.max(values))
        if not (np.isfinite(lows[-1]) and np.isfinite(highs[-1])):
            with np.errstate(invalid="ignore"):
                made = made or bool((~np.isfinite(values) & np.isfinite(stored)).any())
        to_levels(mapping.grey(values), out=levels[top : top + rows])
    _refuse_value_range(path, ds, float(np.min(lows)), float(np.max(highs)), lambda: made)
    return Radiograph(path, levels, "dicom", metadata, warnings, window=mapping.window, invert_for_display=mapping.invert)


def _levels_by_table(path: Path, ds: Dataset, frame: np.ndarray, unused_bits: int, mapping: "_GreyMapping",
                     levels: np.ndarray, rows: int) -> None:
    """:func:`_monochrome_levels` for 8- and 16-bit integer pixels: every step from a stored value to its grey level
    is elementwise, so each of the 65,536 possible stored values is mapped once, by the very same functions, into a
    table, and the image is looked up in it a band at a time (several times faster than the float steps on every
    pixel). The value range is checked on the values the image holds (a count of each stored value) when the
    table's own values do not already pass it."""
    unsigned = np.dtype(f"u{frame.dtype.itemsize}")
    possible = np.arange(2 ** (8 * frame.dtype.itemsize), dtype=unsigned).view(frame.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        values = modality_values(ds, _stored_values(possible, unused_bits), [])  # its warnings came with the sample
        table = to_levels(mapping.grey(values))
    # When every possible value passes the range check, the values the image holds pass it too: they are not
    # counted (a pass over the image that costs more than the lookup). Only a rescale past float32 needs them.
    counts = None
    if not (np.isfinite(values).all() and float(np.max(values)) - float(np.min(values)) <= _FLOAT32_MAX):
        counts = np.zeros(possible.size, dtype=np.int64)
    for top in range(0, frame.shape[0], rows):
        index = frame[top : top + rows].view(unsigned)
        np.take(table, index, out=levels[top : top + rows])
        if counts is not None:
            counts += np.bincount(index.ravel(), minlength=possible.size)
    if counts is not None:
        held = values[counts > 0]
        # Stored integers are finite, so a value that is not was made by the rescale.
        _refuse_value_range(path, ds, float(np.min(held)), float(np.max(held)), lambda: not bool(np.isfinite(held).all()))


@dataclass(frozen=True)
class _GreyMapping:
    """Modality values to grey values in [0, 1]: a VOI LUT (first mapped value, table, its range) or a window, then
    MONOCHROME1's inversion. Elementwise, so a band of rows maps as it would within the whole image."""

    window: tuple[float, float]
    function: str
    invert: bool
    voi: tuple[int, np.ndarray, float, float] | None = None

    def grey(self, values: np.ndarray) -> np.ndarray:
        if self.voi is not None:
            first_map, lut, low, high = self.voi
            index = np.clip(np.rint(values) - first_map, 0, lut.size - 1).astype(np.int64)
            # Normalised by the table's own range: some tables declare 16 bits but hold 12-bit values.
            pixels = (lut[index] - low) / max(high - low, 1.0)
        else:
            pixels = apply_window(values, self.window, self.function)
        pixels = pixels.astype(np.float32, copy=False)
        if self.invert:
            np.subtract(np.float32(1.0), pixels, out=pixels)
        if np.isnan(np.min(pixels)):  # one pass without a copy; only a NaN in a float image or table gets here
            np.nan_to_num(pixels, copy=False, nan=0.0)
        return pixels


def _grey_mapping(ds: Dataset, values: np.ndarray, metadata: dict[str, Any], warnings: list[str], *,
                  sampled: bool) -> _GreyMapping:
    """The mapping of a monochrome image, recorded in ``metadata``; ``values`` are its modality values, or the
    grid of them :func:`window.sample_step` picks (``sampled``): a window is chosen on that grid either way."""
    invert = metadata["photometric"] == "MONOCHROME1"
    voi = voi_lut(ds, warnings)
    if voi is not None:
        first_map, lut = voi
        mapping = _GreyMapping((first_map + lut.size / 2.0, float(lut.size)), "LINEAR", invert,
                               (first_map, lut, float(lut.min()), float(lut.max())))
        metadata["window_source"] = "VOI LUT sequence"
    else:
        window, function, source = choose_window(ds, values, warnings, sampled=sampled)
        mapping = _GreyMapping(window, function, invert)
        metadata["window_source"] = source
        metadata["voi_lut_function"] = function
    metadata["window_center"], metadata["window_width"] = round(mapping.window[0], 3), round(mapping.window[1], 3)
    return mapping


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_value_range(path: Path, ds: Dataset, frame: np.ndarray, values: np.ndarray) -> None:
    """Refuse modality values the rescale (or modality LUT) pushed beyond float32, or so far apart that their span does.

    Such values (a RescaleSlope of 1e36, say) are not a radiograph's: they became inf or NaN, and the window made
    from them is NaN, which read as an all-black image with no word of why. Two passes (min, max) over the values;
    the full comparison with the stored pixels runs only when one of them is not finite.
    """
    def made_by_rescale() -> bool:
        with np.errstate(invalid="ignore"):
            return bool((~np.isfinite(values) & np.isfinite(frame)).any())

    _refuse_value_range(path, ds, float(np.min(values)), float(np.max(values)), made_by_rescale)


def _refuse_value_range(path: Path, ds: Dataset, low: float, high: float, made_by_rescale) -> None:
    """:func:`_check_value_range` from the values' range; ``made_by_rescale()`` says whether a value that is not
    finite was made by the rescale (asked only then)."""
    if np.isfinite(low) and np.isfinite(high):
        if high - low <= _FLOAT32_MAX:
            return
    elif not made_by_rescale():
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

