"""What kind of file this is, judged by its first bytes and never by its name."""

from __future__ import annotations

import re
import struct

SNIFF_BYTES = 1024

# Recognised but not read: the message can then say what the file is instead of just "not an image".
_OTHER_KINDS = (
    (b"GIF87a", "a GIF image (unsupported format)"),
    (b"GIF89a", "a GIF image (unsupported format)"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image (unsupported outside DICOM)"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream (unsupported outside DICOM)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program or library"),
)
_VRS = (
    b"AE|AS|AT|CS|DA|DS|DT|FD|FL|IS|LO|LT|OB|OD|OF|OL|OV|OW|PN|SH|SL|SQ|SS|ST|SV|TM|UC|UI|UL|UN|UR|US|UT|UV"
)
_VR_SET = frozenset(_VRS.split(b"|"))
# An explicit-VR little-endian element of group 0008 somewhere past the first byte: DICOM data that starts late.
_LATE_DICOM_ELEMENT = re.compile(rb"\x08\x00[\x00-\xff]{2}(?:" + _VRS + rb")")
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff_format(head: bytes) -> str | None:
    """Return "DICOM", "PNG", "JPEG", "TIFF" or "BMP" for the first bytes of a file, or None for anything else.

    The DICOM preamble is tested first: a DICOM file's 128-byte preamble may itself hold a TIFF header.
    """
    if head[128:132] == b"DICM":
        return "DICOM"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in _BMP_HEADER_SIZES:
        return "BMP"
    if _is_bare_dicom(head):
        return "DICOM"
    return None


def _is_bare_dicom(head: bytes) -> bool:
    """A dataset written without preamble and file meta: it must open on a group 0002 or 0008 element."""
    if len(head) < 8:
        return False
    little_group, little_element = struct.unpack_from("<HH", head)
    big_group, _ = struct.unpack_from(">HH", head)
    explicit_vr = head[4:6] in _VR_SET
    if little_group in (0x0002, 0x0008) and little_element < 0x1000:
        if explicit_vr:
            return True
        # Implicit VR: a 4-byte length follows the tag; a sane first element is short.
        return struct.unpack_from("<I", head, 4)[0] < 1024
    return big_group == 0x0008 and explicit_vr


def describe_content(head: bytes) -> str:
    """A few plain words about what a file that is not a readable image seems to be."""
    if not head:
        return "an empty file (0 bytes)"
    for magic, kind in _OTHER_KINDS:
        if head.startswith(magic):
            return kind
    if looks_like_damaged_dicom(head):
        return "damaged DICOM"
    if _is_text(head):
        return "a text file"
    return "unrecognised binary data"


def looks_like_damaged_dicom(head: bytes) -> bool:
    """DICOM elements near the start, but no preamble and no element at byte 0 (a cut or shifted file)."""
    return b"DICM" in head or _LATE_DICOM_ELEMENT.search(head[:256], 1) is not None


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The sample may end inside a multi-byte character; try again without the last few bytes.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)
