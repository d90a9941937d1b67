"""An on-disk queue of DICOM objects waiting to be sent.

States are folders: ``pending/`` (written atomically: a temporary name, then a rename) and ``sent/``. A file moves
to ``sent/`` by one rename right after the destination confirms it, so a restart resends only what was not
confirmed; should the process die between the confirmation and the rename, the resend carries the same SOP
Instance UID, which a PACS treats as the same object.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 60.0


@dataclass
class Outbox:
    root: Path
    first_backoff_s: float = 1.0
    _attempts: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)
        self.sent.mkdir(parents=True, exist_ok=True)

    @property
    def pending(self) -> Path:
        return self.root / "pending"

    @property
    def sent(self) -> Path:
        return self.root / "sent"

    def put(self, dataset: Dataset) -> Path:
        return self.put_all([dataset])[0]

    def put_all(self, datasets: list[Dataset]) -> list[Path]:
        """Queue a film's results, all or none: each is written under a temporary name first, and only once all are
        on disk are they renamed into the queue. Put one by one, a full disk at the second left the first queued, and
        the sender sent it alone (a second SR with new UIDs once the film was analysed again)."""
        names = [(self.pending / f".{ds.SOPInstanceUID}.part", self.pending / f"{ds.SOPInstanceUID}.dcm")
                 for ds in datasets]
        try:
            for dataset, (temp, _) in zip(datasets, names):
                self._write(dataset, temp)
        except BaseException:
            for temp, _ in names:
                temp.unlink(missing_ok=True)  # a full disk must not stay full of half a result
            raise
        for temp, target in names:
            os.replace(temp, target)
        return [target for _, target in names]

    @staticmethod
    def _write(dataset: Dataset, temp: Path) -> None:
        dataset.save_as(temp, enforce_file_format=True)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())

    def due(self, now: float | None = None) -> list[Path]:
        """Pending files whose backoff has passed, oldest first."""
        now = time.monotonic() if now is None else now
        files = sorted(self.pending.glob("*.dcm"), key=lambda p: p.stat().st_mtime)
        return [p for p in files if self._not_before.get(p.name, 0.0) <= now]

    def mark_sent(self, path: Path) -> None:
        os.replace(path, self.sent / path.name)
        self._attempts.pop(path.name, None)
        self._not_before.pop(path.name, None)

    def mark_failed(self, path: Path, now: float | None = None) -> float:
        """Back off exponentially (1, 2, 4 ... 60 s); return the delay chosen."""
        attempts = self._attempts.get(path.name, 0) + 1
        self._attempts[path.name] = attempts
        delay = min(MAX_BACKOFF_S, self.first_backoff_s * 2 ** (attempts - 1))
        self._not_before[path.name] = (time.monotonic() if now is None else now) + delay
        return delay
