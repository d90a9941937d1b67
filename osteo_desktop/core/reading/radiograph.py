"""The in-memory radiograph every reader returns and every consumer takes, with the DICOM identity it came with."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np


# The ends of the reader's warnings that only say how the pixels were turned into the grey image shown (colour
# dropped, transparency painted black): words that qualify a result, superfluous beside a file that gets none.
COLOUR_DROPPED = "converted to greyscale; the model was trained on greyscale radiographs"
TRANSPARENT_AS_BLACK = "transparent areas of the image are shown as black"


def about_appearance_only(warning: str) -> bool:
    """Whether a reader's warning only concerns the image's appearance (its colour or transparency was dropped).

    Every other warning may explain why a file gets no result, and is kept beside a declined one: a DICOM header
    naming another modality or body part, the image being too small, which frame or image was judged, a window or
    an orientation that could not be applied.
    """
    return warning.endswith(COLOUR_DROPPED) or warning == TRANSPARENT_AS_BLACK


def _tag(keyword: str, *, identifying: bool = False) -> Any:
    # The DICOM keyword each field is read from is declared beside the field, so the reader fills it generically.
    # Identifying values are kept out of repr(), so a logged or printed identity never shows them.
    return field(default=None, repr=not identifying, metadata={"dicom": keyword})


@dataclass(frozen=True)
class PatientIdentity:
    """Who the image is of. Never logged, shown or exported unless the user asks (``--include-patient``)."""

    name: str | None = _tag("PatientName", identifying=True)
    id: str | None = _tag("PatientID", identifying=True)
    birth_date: str | None = _tag("PatientBirthDate", identifying=True)
    sex: str | None = _tag("PatientSex", identifying=True)


@dataclass(frozen=True)
class DicomIdentity:
    """Which study, series and instance a DICOM radiograph is, as DICOM output (reports, SR, PACS) must cite it.

    Every value is the header's text (stripped; multi-valued ones such as PatientOrientation joined by a
    backslash, as DICOM writes them), or None when the tag is absent or cannot be decoded.
    """

    patient: PatientIdentity = field(default_factory=PatientIdentity, repr=False)
    study_instance_uid: str | None = _tag("StudyInstanceUID")
    series_instance_uid: str | None = _tag("SeriesInstanceUID")
    sop_instance_uid: str | None = _tag("SOPInstanceUID")
    sop_class_uid: str | None = _tag("SOPClassUID")
    accession_number: str | None = _tag("AccessionNumber", identifying=True)
    study_date: str | None = _tag("StudyDate")
    study_id: str | None = _tag("StudyID")
    referring_physician_name: str | None = _tag("ReferringPhysicianName", identifying=True)
    modality: str | None = _tag("Modality")
    body_part_examined: str | None = _tag("BodyPartExamined")
    view_position: str | None = _tag("ViewPosition")
    image_laterality: str | None = _tag("ImageLaterality")
    patient_orientation: str | None = _tag("PatientOrientation")


def dicom_keywords(identity_type: type) -> dict[str, str]:
    """{field name: DICOM keyword} of a :class:`DicomIdentity` or :class:`PatientIdentity` (nested patient excluded)."""
    return {f.name: f.metadata["dicom"] for f in fields(identity_type) if "dicom" in f.metadata}


@dataclass
class Radiograph:
    """A decoded radiograph.

    ``pixels`` is what the display shows by default and what preprocessing turns into the model input: a 2-D
    array, bright bone on a dark background (MONOCHROME1 already inverted, DICOM already windowed), either float32
    in [0, 1] (a plain read) or, from a compact read (``read_radiograph(compact=True)``, what ``osteo scan`` makes),
    uint8 grey levels k standing for k / 255 (:mod:`~osteo_desktop.core.reading.levels`; an 8-bit colour raster's
    luma stays float32 there too, or, above 16 megapixels, a :class:`~osteo_desktop.core.reading.luma.LumaPixels`
    that computes it where it is taken). Every consumer on the model path takes all three. ``modality_values`` keeps the
    DICOM values after the modality LUT so the viewer can re-window; it is None for raster images and in a compact
    read. Patient identifiers live in ``patient`` (and ``dicom.patient``) only, so that code which logs or exports
    ``metadata`` never leaks them by accident. ``dicom`` is the study/series/instance identity of a DICOM file,
    None for raster files.
    """

    path: Path
    pixels: np.ndarray
    source_format: str
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    modality_values: np.ndarray | None = None
    window: tuple[float, float] | None = None
    invert_for_display: bool = False
    patient: dict[str, str] = field(default_factory=dict, repr=False)
    dicom: DicomIdentity | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])
