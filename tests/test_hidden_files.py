"""Dot files and dot folders (.DS_Store, ._name AppleDouble files, .complete markers) are not scanned by default."""

from __future__ import annotations

import json
import shutil

import pytest

from osteo_desktop.cli import main
from osteo_desktop.core.pipeline.listing import list_files


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    """History in tmp_path and logging restored: conftest.py's cli_isolated."""


@pytest.fixture
def mac_folder(tmp_path, knee_png):
    """A folder as copied from a Mac: one radiograph per folder plus the bookkeeping around it."""
    folder = tmp_path / ".exports" / "clinic"  # a hidden parent does not hide the folder the user chose
    (folder / "sub").mkdir(parents=True)
    (folder / ".thumbs").mkdir()
    shutil.copy(knee_png, folder / "a.png")
    shutil.copy(knee_png, folder / "sub" / "b.png")
    shutil.copy(knee_png, folder / ".thumbs" / "c.png")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + b"\0" * 100)
    (folder / "._a.png").write_bytes(b"\0\5\26\7" + b"\0" * 80)  # AppleDouble header, not a PNG
    (folder / ".complete").write_text("")
    return folder


def test_listing_skips_hidden_entries_unless_asked(mac_folder):
    names = [p.relative_to(mac_folder).as_posix() for p in list_files(mac_folder, recursive=True)]
    assert names == ["a.png", "sub/b.png"]
    every = [p.relative_to(mac_folder).as_posix() for p in list_files(mac_folder, recursive=True, include_hidden=True)]
    assert every == [".DS_Store", "._a.png", ".complete", ".thumbs/c.png", "a.png", "sub/b.png"]


def test_scan_of_a_folder_from_a_mac_succeeds(capsys, mac_folder, classifier):
    code = main(["scan", str(mac_folder), "--recursive", "--json", "--no-history"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [row["path"] for row in rows] == [str(mac_folder / "a.png"), str(mac_folder / "sub" / "b.png")]
    assert all(row["error"] is None for row in rows)


def test_include_hidden_scans_them(capsys, mac_folder, classifier):
    code = main(["scan", str(mac_folder), "--include-hidden", "--json", "--no-history"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 1  # .DS_Store and ._a.png are not images
    assert {row["path"].rsplit("/", 1)[1] for row in rows} == {".DS_Store", "._a.png", ".complete", "a.png"}
