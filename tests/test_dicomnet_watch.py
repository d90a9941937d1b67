"""`osteo watch`: a file is handled once, and only after it has stopped growing."""

from __future__ import annotations

from osteo_desktop.dicomnet.watch import FolderWatch


def test_a_growing_file_waits_and_each_file_is_handled_once(tmp_path):
    handled = []
    watch = FolderWatch(tmp_path, handled.append)
    growing = tmp_path / "a.dcm"
    growing.write_bytes(b"x" * 10)
    assert watch.poll_once() == []  # first sight: not yet known to be stable
    with open(growing, "ab") as handle:
        handle.write(b"y" * 10)
    assert watch.poll_once() == []  # it grew since the last look
    assert watch.poll_once() == [growing]  # unchanged across two looks
    assert watch.poll_once() == [] and handled == [growing]
    (tmp_path / ".partial").write_bytes(b"z")  # hidden temporary files are not radiographs
    watch.poll_once()
    assert watch.poll_once() == []


def test_one_failing_file_does_not_stop_the_watch(tmp_path):
    seen = []

    def handle(path):
        seen.append(path.name)
        if path.name == "bad.dcm":
            raise ValueError("unreadable")

    watch = FolderWatch(tmp_path, handle)
    for name in ("bad.dcm", "good.dcm"):
        (tmp_path / name).write_bytes(b"data")
    watch.poll_once()
    watch.poll_once()
    assert seen == ["bad.dcm", "good.dcm"]
