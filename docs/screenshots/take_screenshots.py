"""Screenshots of the real application for the README. Run under a virtual X server:

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python docs/screenshots/take_screenshots.py [KNEE_DIR [OUT_DIR]]

It opens a knee radiograph from the shared data set in the main window and scans a small folder (a copy of a few
shared radiographs plus one damaged file) in the batch dialog, then grabs both from the X server's screen.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QEventLoop, QSettings, QTimer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from osteo_desktop.core.results.history import History  # noqa: E402
from osteo_desktop.gui.app import create_application  # noqa: E402
from osteo_desktop.gui.main_window import MainWindow  # noqa: E402

OUT = Path(__file__).resolve().parent
MAX_BYTES = 400_000


def wait_for(signal, timeout_ms: int = 60000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save_small_png(image, path: Path) -> None:
    """Grab -> PNG under MAX_BYTES: screenshots are mostly flat UI colour, an adaptive palette keeps them sharp."""
    tmp = path.with_suffix(".raw.png")
    image.save(str(tmp))
    with Image.open(tmp) as raw:
        rgb = raw.convert("RGB")
    tmp.unlink()
    for colours in (256, 128, 64):
        rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        if path.stat().st_size < MAX_BYTES:
            break
    print(f"{path.name}: {rgb.size[0]}x{rgb.size[1]}, {path.stat().st_size / 1000:.0f} kB")


def main() -> int:
    knee_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data" / "knee-xray"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
    with open(knee_dir / "manifest.csv", newline="") as handle:
        manifest = list(csv.DictReader(handle))
    app = create_application()
    scratch = Path(tempfile.mkdtemp(prefix="osteo-shots-"))
    try:
        history = History(scratch / "history.sqlite3")
        window = MainWindow(settings=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat), history=history)
        window.resize(1600, 980)
        window.move(0, 0)
        window.show()
        wait_for(window.model_ready)
        # A film with both knees (by the hand-drawn boxes), so the screenshot shows a result per knee.
        with open(REPO / "annotations" / "knee_boxes.csv", newline="") as handle:
            both = {r["file"] for r in csv.DictReader(handle) if r["source"] == "knee-xray" and r["knee_count"] == "2"}
        shown = next(r for r in manifest if r["label"] == "osteoporosis" and r["file"] in both)
        window.open_file(knee_dir / shown["file"])
        wait_for(window.analysis_shown)
        settle()
        save_small_png(app.primaryScreen().grabWindow(window.winId()), out / "main-window.png")

        folder = scratch / "knee-study"
        folder.mkdir()
        picked = [r for r in manifest if r["fold"] == "1"][:10] + [r for r in manifest if r["fold"] == "1" and r["label"] == "osteoporosis"][:8]
        for row in picked:
            shutil.copy(knee_dir / row["file"], folder / Path(row["file"]).name)
        (folder / "scan_notes.png").write_text("this is a text file with an image name\n")
        window.show_batch_dialog()
        dialog = window._batch_dialog
        dialog.resize(1600, 720)
        dialog.move(40, 40)
        dialog.start_scan(folder)
        wait_for(dialog.scan_finished)
        dialog.sort_most_suspicious_first()
        dialog.table.selectRow(0)
        dialog.mark_selected("agree")
        settle()
        save_small_png(app.primaryScreen().grabWindow(dialog.winId()), out / "batch-scan.png")
        dialog.close()
        window.close()
        history.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
