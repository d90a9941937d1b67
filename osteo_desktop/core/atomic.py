"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

The content goes to a temporary file in the target's own folder (so ``os.replace`` is a rename on one file
system), is flushed and fsync'ed, and only then replaces the target. A crash or kill before the rename leaves the
target untouched; an exception removes the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO


_TEMP_STEM_BYTES = 100


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open a directory and does not need it.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temporary(directory: Path, name: str) -> tuple[int, Path]:
    # Created like any new file of the user's (0666 less the umask, applied by the kernel), unlike mkstemp's 0600.
    # Reading the umask instead would mean setting it for a moment, which races with files other threads create.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    # The temporary name adds 14 bytes to (at most) the first 100 bytes of the target's: a target name near the
    # 255-byte limit of most file systems must not make its temporary name too long (ENAMETOOLONG).
    stem = os.fsdecode(os.fsencode(name)[:_TEMP_STEM_BYTES])
    for _ in range(100):
        temp = directory / f".{stem}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name for {name} in {directory}")


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, newline: str | None = None, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """Open a text stream whose content replaces ``path`` atomically when the ``with`` block ends without error."""
    with _atomic_stream(path, "w", encoding=encoding, newline=newline) as handle:
        yield handle


def _naming(exc: OSError, target: Path) -> OSError:
    """``exc`` naming the file the user asked for, not the hidden temporary beside it ("No such file or directory
    (/reports/.knee.pdf.6e67fd1c.tmp)" when the folder was missing)."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(target))


@contextlib.contextmanager
def _synced_temporary(target: Path, mode: str, **open_args: str | None) -> Iterator[tuple[IO, Path]]:
    """A new temporary beside ``target``, open for writing, and its path. When the block ends without error it is
    flushed, synced and given the permissions of the file it will replace, and left for the caller to rename; any
    failure removes it, and an error naming no file or the temporary names ``target`` instead."""
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = _create_temporary(directory, target.name)
    except OSError as exc:
        raise _naming(exc, target) from exc
    try:
        # os.fdopen closes the descriptor itself if it fails (an unknown encoding, say).
        with os.fdopen(fd, mode, **open_args) as handle:
            yield handle, temp
            handle.flush()
            os.fsync(handle.fileno())
        # A file being replaced keeps its permissions: an export the user made private (it may name patients)
        # must not become readable by others on the next write.
        with contextlib.suppress(OSError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        # A failed write or sync (a full disk) names no file: say the target.
        if exc.filename is None or os.fspath(exc.filename) == os.fspath(temp):
            raise _naming(exc, target) from exc
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _replace(temp: Path, target: Path) -> None:
    """Rename ``temp`` over ``target``; a failure removes ``temp`` and names ``target`` (not the hidden temporary)."""
    try:
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise _naming(exc, target) from exc


@contextlib.contextmanager
def _atomic_stream(path: str | Path, mode: str, **open_args: str | None) -> Iterator[IO]:
    target = Path(path)
    with _synced_temporary(target, mode, **open_args) as (handle, temp):
        yield handle
    _replace(temp, target)
    _fsync_directory(target.parent if str(target.parent) else Path("."))


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_writer(path, encoding=encoding, newline="") as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with _atomic_stream(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def _write_temporary(target: Path, data: bytes) -> Path:
    """``data`` in a new temporary beside ``target``, flushed and fsync'ed, with the permissions of the file it will
    replace; the temporary's path. A failure removes the temporary and names ``target``."""
    with _synced_temporary(target, "wb") as (handle, temp):
        handle.write(data)
    return temp


def atomic_write_group(items: list[tuple[str | Path, bytes]]) -> list[Path]:
    """Write several files as one: each ``(path, data)``'s content goes to its own temporary first, and only when
    every one is written and synced are they renamed into place; the paths written.

    Objects that belong together (an SR and the annotated image it describes) must not be left half written: a full
    disk while writing any of them removes every temporary and leaves each target as it was (an earlier export's
    files included). A rename needs no space; should one still fail (a viewer holding the file open on Windows), the
    targets this call already renamed are put back as they were: the earlier file from a hard link kept while
    renaming, or removed where there was none, so neither a partial set nor a mix of two exports is left.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            target = Path(path)
            temps.append((_write_temporary(target, data), target))
    except BaseException:
        for temp, _ in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    renamed: list[tuple[Path, Path | None]] = []  # (target, the hard link to the file it replaced)
    try:
        for temp, target in temps:
            earlier = _link_earlier(target)
            try:
                _replace(temp, target)
            except BaseException:
                if earlier is not None:
                    with contextlib.suppress(OSError):
                        earlier.unlink()
                raise
            renamed.append((target, earlier))
    except BaseException:
        for temp, _ in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        for target, earlier in renamed:
            with contextlib.suppress(OSError):
                if earlier is not None:
                    os.replace(earlier, target)
                else:
                    target.unlink()
        raise
    for _, earlier in renamed:
        if earlier is not None:
            with contextlib.suppress(OSError):
                earlier.unlink()
    for directory in {target.parent if str(target.parent) else Path(".") for _, target in temps}:
        _fsync_directory(directory)
    return [target for target, _ in renamed]


def _link_earlier(target: Path) -> Path | None:
    """A hidden hard link to the file at ``target`` (no copy, no space), to put it back if the group fails; None
    when there is none or the file system has no hard links."""
    if not target.is_file():
        return None
    stem = os.fsdecode(os.fsencode(target.name)[:_TEMP_STEM_BYTES])
    for _ in range(100):
        link = target.parent / f".{stem}.{secrets.token_hex(4)}.earlier"
        try:
            os.link(target, link)
            return link
        except FileExistsError:
            continue
        except OSError:
            return None
    return None
