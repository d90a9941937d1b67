"""Text that came from outside (file names, DICOM tags, error messages quoting them) made safe to write out.

On Linux a file name is bytes. Python hands a name that is not valid UTF-8 over as a ``str`` with lone surrogates
(``surrogateescape``: byte 0xff becomes U+DCFF), which a UTF-8 file, SQLite and most terminals refuse. The one
documented escape used by every output (CSV, JSON, the history, the terminal): each byte that is not part of valid
UTF-8 is written as the four characters ``\\xNN`` (lower-case hex), everything else unchanged. So ``b"knee\\xff.png"``
is written ``knee\\xff.png``; ``os.fsencode`` of the path the program was given is the exact name. (A name that
already holds the characters ``\\x`` followed by two hex digits reads the same way; such names are not expected.)

On a terminal, control characters (escape sequences, newlines that would fake a table row, carriage returns) are
written as Python-style escapes as well (:func:`for_terminal`).
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["escape_undecodable", "escape_undecodable_in", "file_named", "for_terminal", "unescape_undecodable"]

# C0 controls, DEL, C1 controls (0x80-0x9f start escape sequences on some terminals), and line/paragraph separators.
_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_undecodable(text: str) -> str:
    """``text`` with every undecodable byte (a lone surrogate from ``surrogateescape``) written as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte (outside U+DC80-U+DCFF)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def unescape_undecodable(text: str) -> str:
    """The inverse of :func:`escape_undecodable` for a name read back (from the history, say): each ``\\xNN`` is
    the byte NN again, the result a ``str`` as Python hands out file names (``os.fsdecode``), so that the file can
    be opened. A name that really contains ``\\x`` and two hex digits reads differently; callers that can check
    should try the text as it is first."""
    if "\\x" not in text:
        return text
    raw = _ESCAPED_BYTE.sub(lambda match: bytes([int(match.group(1), 16)]), text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def file_named(text: str) -> str:
    """The file a written-out name stands for: ``text`` itself when such a file exists, else ``text`` with its
    ``\\xNN`` escapes turned back into bytes. Names cross Qt signals escaped (a QString cannot hold the lone
    surrogates of an undecodable name) and are turned back here, on the Python side, before a file is opened."""
    return text if os.path.lexists(text) else unescape_undecodable(text)


def escape_undecodable_in(value: Any) -> Any:
    """:func:`escape_undecodable` applied to every string in ``value`` (nested dicts, lists and tuples; dict keys
    too), so that a UTF-8 file, stream or JSON document can take it. Other values are returned as they are."""
    if isinstance(value, str):
        return escape_undecodable(value)
    if isinstance(value, dict):
        return {escape_undecodable_in(key): escape_undecodable_in(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_undecodable_in(item) for item in value]
    return value


def _control_escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: object) -> str:
    """``str(text)`` fit to print: undecodable bytes and control characters escaped, so that neither an escape
    sequence nor a newline in a file name or a tag can change what the terminal shows."""
    return _CONTROL.sub(_control_escape, escape_undecodable(str(text)))
