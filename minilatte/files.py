"""Reading and writing the small text files of a run, with errors that name the file.

Every file minilatte reads (configs, caption indexes, ``settings.json``, evaluation results) goes
through :func:`read_text` or :func:`read_json`: a missing file, a file that is not UTF-8 or not JSON is
one :class:`FileFormatError` line naming the file and what was expected. Every result it writes goes
through :func:`write_atomic`: a temporary file in the same folder, renamed into place, so a crash or a
full disk never leaves a half-written file under the final name.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


class FileFormatError(ValueError):
    """A file that cannot be read as what it should be; the message is one line naming it."""


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped); one line naming the file otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise FileFormatError(f"{what} {str(path)!r} is a folder, not a file") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FileFormatError(f"{what} {str(path)!r} is not UTF-8 text (byte {err.start}: "
                              f"{data[err.start:err.start + 1]!r}); save it as UTF-8") from None


def read_json(path: str | os.PathLike, what: str = "JSON file"):
    """The JSON value in ``path``; one line naming the file and where the JSON breaks otherwise."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise FileFormatError(f"{what} {str(path)!r} is not valid JSON ({err.msg}: line {err.lineno}, "
                              f"column {err.colno})") from None


def read_json_object(path: str | os.PathLike, what: str, keys: tuple[str, ...] = ()) -> dict:
    """A JSON object holding at least ``keys``; one line naming the file otherwise."""
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise FileFormatError(f"{what} {str(path)!r} must hold a JSON object; it holds a {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise FileFormatError(f"{what} {str(path)!r} lacks {', '.join(map(repr, missing))}; it is not a "
                              f"{what} minilatte wrote (delete it to make it again)")
    return value


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` for a temporary file next to ``path``, then rename it to ``path``.

    On any error the temporary file is removed and ``path`` (a previous version, or nothing) is left
    as it was; an OSError says which file could not be written.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``path.write_text(text)`` (UTF-8), whole or not at all."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
