"""Error types the core raises on purpose. Anything else escaping the core is a bug."""

from __future__ import annotations

from pathlib import Path


class OsteoError(Exception):
    """Base class of every error the core raises deliberately; its message is fit to show a user."""


class ImageReadError(OsteoError):
    """A file could not be read as a radiograph. The message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{Path(path).name}: {cause}")


class NotAnImageError(ImageReadError):
    """The file is neither a raster image nor DICOM, judged by its content."""

    def __init__(self, path: str | Path, cause: str = "not an image (neither a raster image nor DICOM by its content)") -> None:
        super().__init__(path, cause)


class ImageTooLargeError(ImageReadError):
    """The file declares more pixels than the reader will decode (decompression bomb or absurd header)."""


class ModelIntegrityError(OsteoError):
    """The model file is missing, or its checksum does not match the model card."""


class ModelFormatError(OsteoError):
    """The model card or model file is not in a format this version understands."""
