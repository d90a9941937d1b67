"""File ▸ PACS…: configure a PACS, find studies (patient ID, accession number, date), fetch a study's radiographs
to analyse them in the scan dialog, and send the results back.

The network code is :mod:`osteo_desktop.dicomnet.pacs`; every call runs through the worker mechanism
(:mod:`osteo_desktop.gui.worker`). Nothing connects until the user has saved a PACS here and asks for something.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from osteo_desktop.core.results import text
from osteo_desktop.gui.jobs import pacs_echo_job, pacs_fetch_job, pacs_find_job, pacs_send_job, plain_error
from osteo_desktop.gui.settings import AppSettings
from osteo_desktop.gui.style import read_only_table
from osteo_desktop.gui.worker import Worker, start_worker
from osteo_desktop.gui.plain import PlainLabel

if TYPE_CHECKING:
    from osteo_desktop.dicomnet.pacs import FetchedStudy, Pacs, StudyMatch
    from osteo_desktop.gui.logic import AppLogic

log = logging.getLogger(__name__)
COLUMNS = ["Patient", "Patient ID", "Study date", "Accession number", "Description", "Modalities", "Images"]
_AE_TITLE = re.compile(r"[ -~]{1,16}")  # up to 16 printable ASCII characters, not all spaces


def pacs_settings_problem(ae_title: str, host: str, port: str, calling_ae: str) -> str | None:
    """Why these PACS settings cannot be used, in words; None when they can."""
    for name, value in (("The PACS AE title", ae_title), ("This app's AE title", calling_ae)):
        if not _AE_TITLE.fullmatch(value) or not value.strip() or "\\" in value:
            return f"{name} must be 1 to 16 characters (letters, digits, spaces)."
    if not host.strip():
        return "Give the PACS's host name or address."
    if not port.strip().isdigit() or not 1 <= int(port) <= 65535:
        return "The port is a number from 1 to 65535."
    return None


NO_NETWORK = ("DICOM networking is not part of this installation (the pynetdicom package is missing), so Find, "
              "Fetch and Send are off. Install the app with its dicom-network extra, or ask for a build that has it.")


def network_missing() -> str | None:
    """Why this installation cannot talk to a PACS, in words; None when it can (pynetdicom is importable)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("pynetdicom") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else NO_NETWORK


def pacs_from_fields(ae_title: str, host: str, port: str, calling_ae: str) -> "Pacs | None":
    """The PACS these settings name, or None when they cannot be used or this installation has no networking."""
    if pacs_settings_problem(ae_title, host, port, calling_ae):
        return None
    try:  # pynetdicom (the dicom-network extra): loaded only once a PACS is configured
        from osteo_desktop.dicomnet.forward import Destination
        from osteo_desktop.dicomnet.pacs import Pacs
    except ImportError:
        log.warning("a PACS is configured but pynetdicom is not installed (pip install 'osteo-desktop[dicom-network]')")
        return None

    return Pacs(Destination(ae_title.strip(), host.strip(), int(port)), calling_ae.strip())


def pacs_from_settings(settings: AppSettings) -> "Pacs | None":
    """The configured PACS, or None while none is (then nothing may connect anywhere)."""
    return pacs_from_fields(settings.pacs_ae_title, settings.pacs_host, settings.pacs_port, settings.pacs_calling_ae)


def _listed(multi_value: str) -> str:
    """A DICOM multi-value as a reader lists it: "DX\\OT\\SR" (ModalitiesInStudy as the PACS sends it) is
    "DX, OT, SR"."""
    return ", ".join(part.strip() for part in multi_value.split("\\") if part.strip())


class PacsDialog(QDialog):
    study_fetched = Signal(str)  # the folder the study's radiographs were written to: to be scanned
    results_sent = Signal(int)  # how many objects the PACS confirmed

    def __init__(self, logic: "AppLogic", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.logic, self.settings = logic, logic.settings
        self.studies: list["StudyMatch"] = []
        self.fetched: list[Path] = []
        self.worker: Worker | None = None
        self.touched = False  # the settings' warning waits until the user edits them or presses a button
        self.setWindowTitle("PACS")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        self.network_problem = PlainLabel(network_missing() or "")
        self.network_problem.setObjectName("warnings")
        self.network_problem.setWordWrap(True)
        self.network_problem.setVisible(network_missing() is not None)
        layout.addWidget(self.network_problem)
        layout.addWidget(self._build_settings())
        layout.addWidget(self._build_search(), 1)
        self.status = PlainLabel("Nothing is sent or fetched until you ask.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self._update()

    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("PACS")
        form = QFormLayout(box)
        s = self.settings
        self.ae_title, self.host = QLineEdit(s.pacs_ae_title), QLineEdit(s.pacs_host)
        self.port, self.calling_ae = QLineEdit(s.pacs_port), QLineEdit(s.pacs_calling_ae)
        self.ae_title.setPlaceholderText("e.g. ORTHANC")
        self.host.setPlaceholderText("host name or address")
        self.port.setPlaceholderText("e.g. 4242")
        form.addRow("PACS AE title", self.ae_title)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("This app's AE title", self.calling_ae)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save_settings)
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Ask the PACS as typed here for a C-ECHO (saves nothing)")
        self.test_button.clicked.connect(self.test_connection)
        self.settings_problem = PlainLabel()
        self.settings_problem.setObjectName("warnings")
        row.addWidget(self.settings_problem, 1)
        row.addStretch(0)
        row.addWidget(self.test_button, 0)
        row.addWidget(self.save_button, 0)
        form.addRow(row)
        for edit in (self.ae_title, self.host, self.port, self.calling_ae):
            edit.textChanged.connect(self._edited)
        return box

    def _build_search(self) -> QGroupBox:
        box = QGroupBox("Find studies")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.patient_id, self.accession, self.study_date = QLineEdit(), QLineEdit(), QLineEdit()
        self.patient_id.setPlaceholderText("Patient ID")
        self.accession.setPlaceholderText("Accession number")
        self.study_date.setPlaceholderText("Study date YYYY-MM-DD")
        self.study_date.setToolTip("One day (YYYY-MM-DD), or a range as DICOM writes it: 20250101-20250131")
        self.find_button = QPushButton("Find")
        self.find_button.clicked.connect(self.find)
        for widget in (self.patient_id, self.accession, self.study_date):
            row.addWidget(widget, 1)
            widget.returnPressed.connect(self.find)
        row.addWidget(self.find_button)
        layout.addLayout(row)
        self.table = read_only_table(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((160, 110, 95, 130, 150, 90)):
            self.table.setColumnWidth(column, width)
        self.table.itemSelectionChanged.connect(self._update)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        self.fetch_button = QPushButton("Fetch and analyse")
        self.fetch_button.setToolTip("Fetch the selected study's radiographs (C-GET) and scan them as a worklist")
        self.fetch_button.clicked.connect(self.fetch_selected)
        self.send_button = QPushButton("Send results to the PACS")
        self.send_button.setToolTip("Structured report, annotated image and PDF of each fetched radiograph "
                                    "(or of the DICOM on screen), stored in its study (C-STORE)")
        self.send_button.clicked.connect(self.send_results)
        self._tooltips = {button: button.toolTip() for button in (self.find_button, self.fetch_button, self.send_button)}
        buttons.addStretch(1)
        buttons.addWidget(self.fetch_button)
        buttons.addWidget(self.send_button)
        layout.addLayout(buttons)
        return box

    # --- state ---------------------------------------------------------------------------------------------------
    def _typed_problem(self) -> str | None:
        return pacs_settings_problem(self.ae_title.text(), self.host.text(), self.port.text(), self.calling_ae.text())

    def _edited(self) -> None:
        self.touched = True
        self._update()

    def _update(self) -> None:
        problem = self._typed_problem()
        shown = problem if self.touched else None  # a fresh form is not an error: nothing was typed yet
        self.settings_problem.setText(shown or "")
        self.settings_problem.setVisible(shown is not None)
        no_network = network_missing()
        configured = no_network is None and pacs_from_settings(self.settings) is not None
        idle = self.worker is None
        self.test_button.setEnabled(no_network is None and idle)
        self.find_button.setEnabled(configured and idle)
        self.fetch_button.setEnabled(configured and idle and bool(self.table.selectionModel().selectedRows()))
        self.send_button.setEnabled(configured and idle and bool(self._send_sources()))
        why = no_network or ("" if configured else "Save a PACS (AE title, host and port) first.")
        for button in (self.find_button, self.fetch_button, self.send_button):
            button.setToolTip(why or self._tooltips.get(button, ""))

    def save_settings(self) -> None:
        self.touched = True
        if self._typed_problem() is None:
            self.settings.update(pacs_ae_title=self.ae_title.text().strip(), pacs_host=self.host.text().strip(),
                                 pacs_port=self.port.text().strip(), pacs_calling_ae=self.calling_ae.text().strip())
            self.status.setText(f"PACS saved: {self.settings.pacs_ae_title} at {self.settings.pacs_host}:{self.settings.pacs_port}.")
        self._update()

    def test_connection(self) -> None:
        """C-ECHO the PACS as typed (before saving it, too), on the worker: a PACS that does not answer takes up to
        its timeout, and the window must stay responsive meanwhile."""
        self.touched = True
        self._update()
        if self.worker is not None or network_missing() is not None:
            return
        pacs = pacs_from_fields(self.ae_title.text(), self.host.text(), self.port.text(), self.calling_ae.text())
        if pacs is None:
            self.status.setText(self._typed_problem() or "")
            return
        where = pacs.where()  # worded as the failures are: "The PACS (AE title X) at host:port ..."
        self._run(pacs_echo_job(pacs), lambda _: self.status.setText(f"The PACS {where} answered (C-ECHO)."),
                  f"Testing the connection to the PACS {where}…")

    def _send_sources(self) -> list[Path]:
        if self.fetched:
            return list(self.fetched)
        current = self.logic.current
        if current is not None and current.analysis.radiograph.source_format.lower() == "dicom":
            return [Path(current.path)]
        return []

    def _run(self, job, done, what: str) -> None:
        self.status.setText(what)
        self.worker = start_worker(job, returned=done, errored=self._failed, finished=self._finished)
        self._update()

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(plain_error(exc))

    def _finished(self) -> None:
        self.worker = None
        self._update()

    # --- the three operations ------------------------------------------------------------------------------------
    def find(self) -> None:
        pacs = pacs_from_settings(self.settings)
        if pacs is None or self.worker is not None:
            return
        criteria = (self.patient_id.text().strip(), self.accession.text().strip(), self.study_date.text().strip())
        if not any(criteria):
            self.status.setText("Give a patient ID, an accession number or a study date.")
            return
        if criteria[2]:
            from osteo_desktop.dicomnet.pacs import date_query

            try:
                date_query(criteria[2])
            except ValueError as exc:
                self.status.setText(f"{str(exc)[0].upper()}{str(exc)[1:]}.")
                return
        self._run(pacs_find_job(pacs, *criteria), self._show_studies, "Searching…")

    def _show_studies(self, studies: list["StudyMatch"]) -> None:
        self.studies = studies
        self.table.setRowCount(len(studies))
        for row, study in enumerate(studies):
            cells = [text.person_name(study.patient_name), study.patient_id, text.dicom_date(study.study_date),
                     study.accession_number, study.description, _listed(study.modalities), study.instances]
            for column, value in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.status.setText(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found.")
        if studies:
            self.table.selectRow(0)

    def fetch_selected(self) -> None:
        pacs = pacs_from_settings(self.settings)
        rows = self.table.selectionModel().selectedRows()
        if pacs is None or not rows or self.worker is not None:
            return
        study = self.studies[rows[0].row()]
        folder = Path(self.settings.data_dir) / "pacs" / study.study_instance_uid
        self._run(pacs_fetch_job(pacs, study.study_instance_uid, folder), self._fetched, "Fetching the study…")

    def _fetched(self, result: tuple[Path, "FetchedStudy"]) -> None:
        folder, fetched = result
        self.fetched = list(fetched.files)
        skipped = (f" ({fetched.skipped_own} skipped: made by osteo-desktop)" if fetched.skipped_own else "")
        if not fetched.files:
            self.status.setText(f"The study holds no radiograph (CR, DX or secondary capture) to analyse{skipped}.")
            return
        count = len(fetched.files)
        self.status.setText(f"{count} radiograph{'s' if count != 1 else ''} fetched to {folder}{skipped}; "
                            "analysing them in the scan window.")
        self.study_fetched.emit(str(folder))

    def send_results(self) -> None:
        pacs = pacs_from_settings(self.settings)
        sources = self._send_sources()
        if pacs is None or not sources or self.worker is not None or self.logic.classifier is None:
            return
        self._run(pacs_send_job(pacs, sources, self.logic.classifier), self._sent,
                  f"Sending the results of {len(sources)} radiograph{'s' if len(sources) != 1 else ''}…")

    def _sent(self, confirmed: list[Path]) -> None:
        self.status.setText(f"The PACS stored {len(confirmed)} result objects.")
        self.results_sent.emit(len(confirmed))

    def wait(self, timeout_s: float = 10.0) -> None:
        if self.worker is not None:
            self.worker.wait(timeout_s)
