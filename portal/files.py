"""Bytes that are written in full, and files that appear only when complete.

``os.write``, a raw (unbuffered) file's ``write`` and a socket's ``send`` may write fewer bytes
than they are given: when the process is stopped and resumed in the middle of a write (SIGSTOP
and SIGCONT, a debugger or profiler attaching, ``docker pause``), when a pipe or a non-blocking
descriptor is full, or at the edge of a full disk. :func:`write_all` loops until every byte is
out or raises; every write of bytes to a descriptor, pipe or socket in the portal goes through it
or through a buffered file object (``open(..., "wb")``, ``os.fdopen``), whose ``write`` does the
same loop itself.

:func:`atomic_file` is the one way to put a file in place: it is written under a temporary name
in the same folder, flushed to disk, and only then renamed (or, for a file that must be created
once, linked) to its name, so a reader sees either nothing or the whole file. On any failure the
temporary file is removed and the error is raised.

This module imports only the standard library: the export's formatting workers load it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol


class _Writable(Protocol):
    def write(self, data: Any, /) -> int | None: ...


class ShortWrite(OSError):
    """A write made no progress at all (the descriptor accepted zero bytes)."""


def write_all(target: int | socket.socket | IO[bytes] | _Writable, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``target`` (a descriptor, a socket or a file object), or raise.

    A short write is followed by another of the rest. A non-blocking target that is full (the
    write returns None or raises BlockingIOError) is waited on until it takes more."""
    view = memoryview(data).cast("B")
    if isinstance(target, socket.socket):
        target.sendall(view)
        return
    fd = target if isinstance(target, int) else None
    while view:
        try:
            written = os.write(fd, view) if fd is not None else target.write(view)  # type: ignore[union-attr]
        except BlockingIOError as exc:  # from os.write, or a buffered file's partial write
            written = getattr(exc, "characters_written", 0) or None
        if written is None:  # a non-blocking target is full: wait until it takes more
            _wait_writable(fd if fd is not None else target)
            continue
        if written <= 0:
            raise ShortWrite(f"a write of {len(view)} bytes wrote nothing")
        view = view[written:]


def _wait_writable(target: Any) -> None:
    fileno = target if isinstance(target, int) else target.fileno()
    select.select([], [fileno], [], 1.0)


def read_exactly(source: IO[bytes] | Any, size: int) -> bytes:
    """``size`` bytes from ``source``; fewer only at the end of its input."""
    parts: list[bytes] = []
    missing = size
    while missing > 0:
        part = source.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def unlink_quietly(path: Path) -> None:
    """Remove ``path`` if it is there; a file that cannot be removed is left (and is not an error)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` now ("missing", "not writable"), or None."""
    if not Path(folder).is_dir():
        return "missing"
    return None if os.access(folder, os.W_OK | os.X_OK) else "not writable"


def sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (not every system lets a folder be opened: skip there)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class Placed:
    """What :func:`atomic_file` did: whether the file was put in place (False only with
    ``exclusive`` when another writer's file was there first)."""

    placed: bool = False


@contextlib.contextmanager
def atomic_file(path: Path, *, exclusive: bool = False, mode: int = 0o600,
                make_parents: bool = False) -> Iterator[tuple[BinaryIO, Placed]]:
    """A buffered file to write ``path`` through; it becomes ``path`` only when the block ends
    without an error and its bytes are on disk.

    With ``exclusive`` an existing ``path`` is never replaced: the file is linked into place, and
    if another writer's file is there first this one is dropped (``placed`` stays False).
    Otherwise the file replaces ``path`` by a rename. Whatever happens, no temporary file stays."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    outcome = Placed()
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, outcome
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            try:
                os.link(temp, path)
            except FileExistsError:
                return
        else:
            os.replace(temp, path)
        outcome.placed = True
        sync_directory(path.parent)
    finally:
        unlink_quietly(temp)


def write_file(path: Path, data: bytes, *, exclusive: bool = False, mode: int = 0o600,
               make_parents: bool = False) -> bool:
    """Put ``data`` at ``path`` as :func:`atomic_file` does; returns whether it was put in place."""
    with atomic_file(path, exclusive=exclusive, mode=mode, make_parents=make_parents) as (fh, outcome):
        write_all(fh, data)
    return outcome.placed


def stale_files(folder: Path, keep: set[str], *, older_than: float, suffix: str) -> Iterator[Path]:
    """Files in ``folder`` (not below it) that no row points to: named ``<id><suffix>`` with an id
    not in ``keep``, or a temporary file (``.*.part``) left by a writer that died, and last
    changed more than ``older_than`` seconds ago (younger ones may belong to a write whose row is
    about to commit)."""
    cutoff = time.time() - older_than
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    for path in entries:
        name = path.name
        orphan = name.startswith(".") and name.endswith(".part")
        if not orphan and name.endswith(suffix):
            orphan = name[: -len(suffix)] not in keep
        if not orphan:
            continue
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path
        except OSError:
            continue
