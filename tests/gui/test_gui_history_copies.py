"""The history view lists each copy of one file in its own folder (copies share the result, found by content)."""

from __future__ import annotations


from osteo_desktop.core.pipeline.scanning import scan_files
from osteo_desktop.gui.history_view import COLUMNS, HistoryDialog


def test_each_copy_is_listed_in_its_own_folder(qtbot, tmp_path, classifier, history, knee_png):
    folders = [tmp_path / name for name in ("ward-a", "ward-b")]
    for folder in folders:
        folder.mkdir()
        (folder / "knee.png").write_bytes(knee_png.read_bytes())
    # one scan of the first copy, a later one of the second: the second reuses the first's result
    list(scan_files([folders[0] / "knee.png"], classifier, history=history))
    (later,) = scan_files([folders[1] / "knee.png"], classifier, history=history)
    assert later.from_history
    dialog = HistoryDialog(history)
    qtbot.addWidget(dialog)
    dialog.refresh()
    folder = COLUMNS.index("Folder")
    shown = {(dialog.table.item(row, folder).text(), dialog.path_at(row)) for row in range(dialog.table.rowCount())}
    assert shown == {(str(f), str(f / "knee.png")) for f in folders}
