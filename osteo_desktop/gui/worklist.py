"""The scanned folder as a worklist, without widgets: what kind each row is, which rows a filter keeps, the next and
previous file, the reader's agree/disagree, and the words of the warnings.

The batch dialog (:mod:`osteo_desktop.gui.batch_dialog`) shows these; the main window steps through them with N/P
(Page Down/Up). Nothing here imports a widget, so each rule is tested on plain rows.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from osteo_desktop.core.model.card import sha256_of
from osteo_desktop.core.results import text
from osteo_desktop.core.results.history import AGREEMENTS, History, HistoryError
from osteo_desktop.core.results.result import FileResult

log = logging.getLogger(__name__)

SUSPECTED, BORDERLINE, NORMAL, NO_RESULT, ERROR = "suspected", "borderline", "normal", "no result", "error"
ALL = "all"
FILTERS: tuple[tuple[str, str], ...] = (
    (ALL, "All files"),
    (SUSPECTED, "Suspected"),
    (BORDERLINE, "Borderline (undecided)"),
    (NORMAL, "Normal"),
    (NO_RESULT, "No result (out of scope)"),
    (ERROR, "Could not be read"),
)
# A study fetched from a PACS (File ▸ PACS…) lies in <data folder>/pacs/<study UID>/<SOP instance UID>.dcm.
PACS_FOLDER = "pacs"
_UID = re.compile(r"[0-9]+(\.[0-9]+)+")
_FETCHED_KEYS = ("PatientName", "PatientID", "AccessionNumber", "StudyDate", "SOPInstanceUID")


# The reader's mark in a cell: "Agree", "Disagree", or "" (the words are core.results.text's, shared by every face).
agreement_words = text.agreement_words


def category(row: FileResult) -> str:
    """What a row is for the reader: a suspected finding, a borderline one, a normal result, no result (declined) or
    an error.

    A result is borderline when its probability lies within the borderline margin of the threshold it was given
    with (the window heads it "read as undecided", so it is neither suspected nor normal here); otherwise suspected
    when the probability reaches the threshold.
    """
    if row.declined:
        return NO_RESULT
    if not row.ok:
        return ERROR
    if text.is_borderline(row.probability, row.threshold):
        return BORDERLINE
    return SUSPECTED if row.probability is not None and row.threshold is not None and row.probability >= row.threshold else NORMAL


def accepts(row: FileResult, choice: str) -> bool:
    """Whether the filter ``choice`` (a key of :data:`FILTERS`) keeps ``row``."""
    return choice == ALL or category(row) == choice


def step(paths: Sequence[str], current: str | None, delta: int) -> str | None:
    """The file ``delta`` places from ``current`` in the table's order (sorted and filtered as shown).

    From a file not in the list (none open yet, or one the filter hides), next is the first and previous the last.
    None past either end: the worklist does not wrap round, so the reader knows when it is done.
    """
    if not paths:
        return None
    try:
        index = list(paths).index(current) + delta if current is not None else None
    except ValueError:
        index = None
    if index is None:
        return paths[0] if delta > 0 else paths[-1]
    return paths[index] if 0 <= index < len(paths) else None


def position(paths: Sequence[str], current: str | None) -> tuple[int, int] | None:
    """Where ``current`` stands in the list as shown: (its place counted from 1, the number of files), or None when
    it is not one of them (no file open, one from elsewhere, or one the filter hides)."""
    try:
        return list(paths).index(current) + 1, len(paths)
    except ValueError:
        return None


def position_words(place: int, total: int) -> str:
    """Where the reader is, as the status bar says it: "12 of 36 in the scan list"."""
    return f"{place} of {total} in the scan list"


def mark(row: FileResult, agreement: str | None, history: History | None) -> str | None:
    """Set the reader's ``agreement`` ("agree", "disagree" or None) on a row with a result, and in the history.

    Returns None when done, else why not in plain words (a row with no result has nothing to agree with; an
    unwritable history keeps the mark on the row only and says so).
    """
    if agreement is not None and agreement not in AGREEMENTS:
        raise ValueError(f"agreement must be one of {AGREEMENTS} or None")
    if not row.ok:
        return f"{Path(row.path).name} has no result to agree or disagree with."
    row.reader_agreement = agreement
    if history is None or row.model_sha256 is None:  # the history keys a result on the exact model
        return None
    try:
        if row.file_sha256 is None:
            row.file_sha256 = sha256_of(Path(row.path))
        if not history.set_agreement(row.file_sha256, row.model_sha256, agreement):
            history.record(row.path, row, row.file_sha256)  # scanned without a history entry: record it now
    except (HistoryError, OSError) as exc:
        log.warning("could not store the reader's agreement for %s: %s", row.path, exc)
        return f"Marked, but not saved in the history: {exc}"
    return None


def wrapped_tooltip(lines: Sequence[str]) -> str:
    """A tooltip that wraps: Qt shows rich text at a readable width, while plain text runs off the screen."""
    if not lines:
        return ""
    return "<p style='white-space:pre-wrap'>" + "<br>".join(html.escape(str(line)) for line in lines) + "</p>"


def fetched_from_pacs(path: str | Path) -> bool:
    """Whether ``path`` is a radiograph the PACS dialog fetched (named by its UID, in its study's folder)."""
    path = Path(path)
    return (path.suffix == ".dcm" and _UID.fullmatch(path.stem) is not None and _UID.fullmatch(path.parent.name) is not None
            and path.parent.parent.name == PACS_FOLDER)


class FileCell(NamedTuple):
    text: str
    tooltip: str


def file_cell(path: str | Path, shown: str) -> FileCell:
    """The scan table's File cell (text, tooltip; both plain text) for a row.

    A file fetched from a PACS is named by its SOP instance UID, which tells the reader nothing: its cell says whose
    film it is, from its own header ("Doe, Jane · ID P-1 · Acc. A-1 · 2025-03-01"), and the UID moves to the tooltip
    with the path. Any other file keeps ``shown`` (its name) with the path as tooltip.
    """
    if not fetched_from_pacs(path):
        return FileCell(shown, str(path))
    try:
        from pydicom import dcmread

        header = dcmread(str(path), stop_before_pixels=True, specific_tags=list(_FETCHED_KEYS))
    except Exception as exc:  # noqa: BLE001 - an unreadable header keeps the file name; the scan says what is wrong
        log.debug("no header for the worklist cell of %s: %s", path, exc)
        return FileCell(shown, str(path))
    name = text.person_name(header.get("PatientName", ""))
    patient_id = str(header.get("PatientID", "") or "").strip()
    accession = str(header.get("AccessionNumber", "") or "").strip()
    date = text.dicom_date(header.get("StudyDate", ""))
    parts = [name, f"ID {patient_id}" if patient_id else "", f"Acc. {accession}" if accession else "", date]
    label = " · ".join(part for part in parts if part)
    if not label:
        return FileCell(shown, str(path))
    uid = str(header.get("SOPInstanceUID", "") or Path(path).stem)
    return FileCell(label, f"{path}\nSOP Instance UID {uid}")


# Characters no file name may hold on some system the app runs on (path separators; Windows' reserved punctuation).
_NOT_IN_NAMES = re.compile(r'[/\\:*?"<>|]')
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                              *(f"LPT{i}" for i in range(1, 10))})
NAME_BYTES = 100  # a shown name without ".dcm": room for "-report.pdf" and a temporary file's additions
_NAMED_KEYS = ("PatientName", "PatientID", "AccessionNumber", "StudyDate", "BodyPartExamined", "ImageLaterality",
               "Laterality")


def _name_part(value: object) -> str:
    """One header value as a piece of a file name: control and format characters (newlines, escapes, bidi overrides)
    dropped, path separators and Windows' reserved characters as "_", white space runs as one space. A value with a
    backslash is several values in pydicom (a list): joined as they were written, then made "_"."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(item) for item in value)
    shown = "".join(char for char in str(value or "") if char.isspace() or not unicodedata.category(char).startswith("C"))
    return " ".join(_NOT_IN_NAMES.sub("_", shown).split())  # split(): every white space (tab, newline) is a break


def readable_name(header: object, *, with_patient: bool = True) -> str | None:
    """A fetched film's name as a reader knows it, without ".dcm": "Doe^Jane P-1 ACC-31 2025-03-01 knee R" (the
    patient's name as DICOM writes it, patient ID, accession number, study date, body part, laterality; those
    missing left out), from its DICOM ``header``. ``with_patient=False`` leaves the name and ID out ("ACC-31
    2025-03-01 knee R"). Safe as a file name on any system (no separators or control characters, no leading dot, no
    trailing dot or space, no Windows device name; at most :data:`NAME_BYTES` bytes of UTF-8, cut between
    characters). None when the header names no patient (when asked for), accession or date."""
    get = getattr(header, "get")
    raw_name = str(get("PatientName", "") or "")
    name = next((group for group in raw_name.split("=") if group.strip("^ ")), "").rstrip("^ ")
    date = str(get("StudyDate", "") or "").strip()
    if len(date) == 8 and date.isdigit():
        date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    who = [name, get("PatientID", "")] if with_patient else []
    which = [_name_part(part) for part in (*who, get("AccessionNumber", ""), date)]
    if not any(which):
        return None
    laterality = get("ImageLaterality", "") or get("Laterality", "")
    what = [_name_part(get("BodyPartExamined", "")).lower(), _name_part(laterality)]
    stem = " ".join(part for part in (*which, *what) if part)
    stem = stem.encode("utf-8")[:NAME_BYTES].decode("utf-8", "ignore").strip(" .")
    if not stem:
        return None
    if stem.split(".")[0].strip().upper() in _WINDOWS_DEVICES:
        stem = f"_{stem}"
    return stem


def shown_name(path: str | Path, *, with_patient: bool = True) -> str:
    """The name the window shows for ``path`` (title, status bar, Image details, the report's suggested name): for a
    film fetched from a PACS, which lies under its SOP Instance UID and so told the reader nothing, its
    :func:`readable_name` with ".dcm"; any other file (or a fetched one whose header names no one or cannot be read)
    its own name. The file stays where and as it is: its path is what the history, the scan's CSV and the log carry,
    and they never hold the patient's name or ID unless the user asks."""
    path = Path(path)
    if not fetched_from_pacs(path):
        return path.name
    try:
        from pydicom import dcmread

        header = dcmread(str(path), stop_before_pixels=True, specific_tags=list(_NAMED_KEYS))
    except Exception as exc:  # noqa: BLE001 - an unreadable header keeps the file name; the analysis says what is wrong
        log.debug("no header for the shown name of %s: %s", path.name, exc)
        return path.name
    stem = readable_name(header, with_patient=with_patient)
    return f"{stem}.dcm" if stem else path.name
