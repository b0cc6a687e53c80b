"""Atomic file writes: outputs either appear complete or not at all.

A crash or exception mid-write must never leave a truncated head.glb or params.json that a
later run or a viewer would mistake for a good file. Every writer here writes to a hidden
temporary file in the destination folder (so the final `os.replace` is a same-filesystem
rename) and only moves it into place once the write succeeded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

PathLike = str | os.PathLike[str]


@contextlib.contextmanager
def atomic_paths(paths: Sequence[PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path per destination; move them all into place on success.

    For files that belong together (an OBJ with its MTL and PNG): nothing is moved until
    every one of them was written, and on any error every temporary file is removed.
    Temporary names keep the destination's suffix so that writers which pick a format from
    the extension (Pillow, trimesh) still work.
    """
    destinations = [Path(path) for path in paths]
    temporaries: list[Path] = []
    try:
        for destination in destinations:
            temporaries.append(_create_temporary(destination))
        yield list(temporaries)
        for temporary in temporaries:
            _fsync(temporary)
        for temporary, destination in zip(temporaries, destinations, strict=True):
            os.replace(temporary, destination)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; it replaces `path` only if the block succeeds."""
    with atomic_paths([path]) as (temporary,):
        yield temporary


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_write(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def write_text_atomic(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (no newline translation) and return the path."""
    return write_bytes_atomic(path, text.encode(encoding))


def _create_temporary(destination: Path) -> Path:
    """Create an empty, uniquely named hidden file next to `destination`.

    Created with mode 0o666 minus the umask, like a normal file, because `os.replace` keeps
    the temporary's permissions (tempfile.mkstemp would leave outputs private, 0o600).
    """
    folder = destination.parent
    if destination.is_dir():
        raise IsADirectoryError(f"cannot write {destination}: it is a folder")
    temporary = folder / f".{destination.stem}.{secrets.token_hex(4)}.tmp{destination.suffix}"
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise type(error)(error.errno, f"cannot write to output folder {folder}: "
                                       f"{error.strerror}") from error
    return temporary


def _fsync(path: Path) -> None:
    """Flush file contents to disk so the rename never exposes an empty file after a crash."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
