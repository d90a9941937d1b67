"""Send files to a destination AE by C-STORE."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import (ComprehensiveSRStorage, Comprehensive3DSRStorage, EncapsulatedPDFStorage,
                                  SecondaryCaptureImageStorage)

log = logging.getLogger(__name__)
SENT_CLASSES = (Comprehensive3DSRStorage, ComprehensiveSRStorage, SecondaryCaptureImageStorage, EncapsulatedPDFStorage)


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> "Destination":
        """``AET@HOST:PORT``."""
        try:
            ae_title, rest = text.split("@", 1)
            host, port = rest.rsplit(":", 1)
            number = int(port)
        except ValueError as exc:
            raise ValueError(f"expected AET@HOST:PORT, got {text!r}") from exc
        if not (ae_title.strip() and host.strip() and 1 <= number <= 65535):
            raise ValueError(f"expected AET@HOST:PORT with a port from 1 to 65535, got {text!r}")
        return cls(ae_title, host, number)


def send_files(paths: list[Path], destination: Destination, calling_ae: str, timeout_s: float = 10.0) -> list[Path]:
    """Send what can be sent in one association; return the paths the destination confirmed."""
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    for sop_class in SENT_CLASSES:
        ae.add_requested_context(sop_class)
    assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not assoc.is_established:
        log.warning("cannot reach %s@%s:%d", destination.ae_title, destination.host, destination.port)
        return []
    confirmed = []
    try:
        for path in paths:
            try:
                dataset = dcmread(path)
                status = assoc.send_c_store(dataset)
            except Exception as exc:  # noqa: BLE001 - one file must not stop the rest
                # A class the destination did not accept (an older PACS without Comprehensive 3D SR), or a file that
                # cannot be read: this file is not sent; the others still are (the sender thread died here).
                log.warning("%s: not sent to %s: %s", path.name, destination.ae_title, exc)
                continue
            if status and getattr(status, "Status", 0xFFFF) == 0x0000:
                log.info("sent %s to %s", path.name, destination.ae_title)
                confirmed.append(path)
            else:
                log.warning("%s refused %s (status %s)", destination.ae_title, path.name,
                            hex(status.Status) if status else "none")
    finally:
        assoc.release()
    return confirmed
