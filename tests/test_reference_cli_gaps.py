"""The CLI behaviours issue 15 found untested, checked end to end through the `osteo` command.

Exit status 1 on an internal error, a quiet exit when the reader of stdout goes away, a new model version that
recomputes instead of reusing the history, a file the user cannot read even when the suite runs as root, and the
progress line on a terminal.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from test_reference_contract import MODEL_DIR, NORMAL_FILM, POSITIVE_FILM, run_osteo

pytestmark = pytest.mark.skipif(not NORMAL_FILM.is_file(), reason="shared knee films not found")


def test_an_internal_error_exits_1_with_one_line(monkeypatch, capsys):
    from osteo_desktop.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("planted bug")

    # Writing the JSON is the last step of every predict; a bug there is an internal error, not a crash dump.
    monkeypatch.setattr(json, "dumps", broken)
    monkeypatch.setattr(json, "dump", broken)
    status = main(["predict", "--json", str(NORMAL_FILM)])
    err = capsys.readouterr().err
    assert status == 1
    assert "internal error" in err and "planted bug" in err
    assert "Traceback" not in err


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`osteo predict ... | head`: the reader is gone before the first row; no traceback, no 'Exception ignored'."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, deterministically, whatever the pipe buffer size
    try:
        result = run_osteo("predict", "--json", str(NORMAL_FILM), str(POSITIVE_FILM), check=False,
                           capture_output=False, stdout=write_end, stderr=subprocess.PIPE, data_dir=tmp_path)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert "BrokenPipe" not in result.stderr
    assert result.returncode in (0, 1, 141), result.stderr  # 120 is Python failing to flush stdout at exit


def _model_copy(where: Path, version: str) -> Path:
    """The shipped model under another version number: the weights linked in place, the card rewritten."""
    where.mkdir()
    for item in MODEL_DIR.iterdir():
        if item.name != "model_card.json":
            (where / item.name).symlink_to(item)
    card = json.loads((MODEL_DIR / "model_card.json").read_text())
    card["version"] = version
    (where / "model_card.json").write_text(json.dumps(card, indent=2))
    return where


def test_a_new_model_version_recomputes_instead_of_reusing_the_history(tmp_path):
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "a.jpg").symlink_to(NORMAL_FILM)
    (folder / "b.jpg").symlink_to(POSITIVE_FILM)
    data = tmp_path / "data"
    shipped = json.loads((MODEL_DIR / "model_card.json").read_text())["version"]

    first = run_osteo("scan", "--json", str(folder), data_dir=data)
    assert {r["model_version"] for r in json.loads(first.stdout)} == {shipped}
    again = run_osteo("scan", "--json", str(folder), data_dir=data)
    assert "2 reused from the history" in again.stderr  # the control: the same model does reuse

    other = _model_copy(tmp_path / "model", "9.9.9-test")
    second = run_osteo("scan", "--json", "--model-dir", str(other), str(folder), data_dir=data)
    rows = json.loads(second.stdout)
    assert {r["model_version"] for r in rows} == {"9.9.9-test"}
    assert "reused" not in second.stderr and "from history" not in second.stderr
    assert all(r["timings_ms"]["inference"] > 0 for r in rows)  # computed now, not read back


PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _without_file_override() -> None:
    """Runs in the child before exec: root keeps its uid (it still owns the interpreter) but loses the two
    capabilities that let it read a file whatever its mode, so a mode-000 file is refused as it is for a user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


@pytest.mark.skipif(os.name != "posix", reason="permissions are POSIX here")
def test_a_file_the_user_cannot_read_gets_permission_denied_even_for_root():
    """Root reads any file, so when the suite runs as root the command runs without root's file-read override."""
    folder = Path(tempfile.mkdtemp(prefix="osteo-perm-"))
    try:
        os.chmod(folder, 0o755)
        locked = folder / "locked.jpg"
        shutil.copyfile(NORMAL_FILM, locked)  # a temporary copy outside the repository, removed below
        os.chmod(locked, 0o000)
        readable = folder / "open.jpg"
        shutil.copyfile(NORMAL_FILM, readable)
        os.chmod(readable, 0o644)
        drop = _without_file_override if os.geteuid() == 0 else None
        result = run_osteo("predict", "--json", str(locked), str(readable), check=False, data_dir=folder / "data",
                           preexec_fn=drop)
        assert result.returncode == 1, result.stderr
        rows = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
        assert rows["locked.jpg"]["label"] is None
        assert "permission denied" in rows["locked.jpg"]["error"]
        assert rows["open.jpg"]["error"] is None  # the other file still runs
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_progress_line_on_a_terminal(tmp_path):
    """On a terminal, `osteo scan` redraws one line on stderr: files done of total, failures, and rate."""
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "a.jpg").symlink_to(NORMAL_FILM)
    (folder / "b.jpg").symlink_to(POSITIVE_FILM)
    (folder / "c.png").write_bytes(b"not an image")
    primary, secondary = pty.openpty()
    try:
        result = run_osteo("scan", "--no-history", str(folder), check=False, capture_output=False,
                           stdout=subprocess.PIPE, stderr=secondary)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO once the child's end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if secondary != -1:
            os.close(secondary)
        os.close(primary)
    err = b"".join(chunks).decode(errors="replace")
    assert result.returncode == 1  # one file failed
    assert "3 files in" in err
    assert "\r\x1b[K" in err  # redrawn in place, then cleared
    assert "scanned 3/3 (1 failed)" in err
    assert "files/s" in err
    assert "3 files: 2 results, 1 failed" in err
