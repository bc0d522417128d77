"""The export's streaming plumbing: a ZIP archive written as it goes into a sealed file, with flat
memory. It knows nothing about what the archive holds; :mod:`portal.exports.package` decides which
files go in, their names and the manifest.

- :class:`SealedZip`: members written one after another, each counted and hashed on its way in;
  the archive's bytes hashed and sealed (:mod:`portal.crypto.streams`) on their way out.
- :func:`write_table`: a table as JSON Lines and as CSV in one pass over its batches: the JSON
  Lines go into the archive as they come, the CSV into a :class:`Spool` (a temporary file sealed
  with a key that exists only in this process's memory), copied into the archive afterwards.
  Nothing personal ever touches the disk unencrypted.
- Reading: :func:`reading_connection` and :func:`keyset_rows` read rows in batches on a
  connection of their own; :func:`prefetch` reads ahead in a thread while the archive is written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import queue
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine

from portal.crypto.streams import SealingWriter, open_stream

from .formatting import Formatted

READ_CACHE_KIB = -4096  # SQLite page cache of the bulk read: 4 MiB
COMPRESS_LEVEL = 1  # deflate's fastest: the data is text and compresses well even so
T = TypeVar("T")


@dataclass
class Progress:
    """Items written of ``total``, reported as they go (the export's progress bar)."""

    total: int
    done: int = 0
    report: Callable[[int, int], None] = lambda done, total: None

    def add(self, n: int = 1) -> None:
        self.done += n
        self.report(self.done, self.total)


# -- reading --------------------------------------------------------------------------------------

def prefetch(batches: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Run ``batches`` in a thread of its own, ``depth`` items ahead of the consumer, so that
    reading and decrypting overlap compressing, hashing and sealing (which release the GIL).
    An error on either side stops both; the producer's error is raised to the consumer."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("end", None))
        except BaseException as exc:  # handed over to the consumer
            items.put(("error", exc))

    thread = threading.Thread(target=produce, name="export-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.1)
        thread.join()
        close = getattr(batches, "close", None)
        if close is not None and not thread.is_alive():
            close()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextmanager
def reading_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of its own for the bulk read. On SQLite its page cache is kept small while it
    reads (the portal's connections have a large one for ingestion) and restored after."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            kept = conn.exec_driver_sql("PRAGMA cache_size").scalar()
            conn.exec_driver_sql(f"PRAGMA cache_size={READ_CACHE_KIB}")
        try:
            yield conn
        finally:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA cache_size={int(kept or -2000)}")


def keyset_rows(conn: Connection, first: Any, following: Any, params: dict[str, Any]) -> Iterator[Any]:
    """Rows in (time, id) order, a batch per query: ``first``, then ``following`` from after the
    last row's (time, id), its first two columns; rows compare by (time, id)."""
    query = first
    while True:
        result = conn.execute(query, params)
        rows = result.cursor.fetchall()  # the driver's own tuples: no processing is needed
        result.close()
        conn.rollback()  # no read transaction stays open between batches
        if not rows:
            return
        yield from rows
        params["after_time"], params["after_id"] = rows[-1][0], rows[-1][1]
        query = following


# -- writing --------------------------------------------------------------------------------------

class HashingEntry:
    """Counts and hashes what goes into one archive member."""

    def __init__(self, member: IO[bytes]) -> None:
        self.member = member
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.member.write(data)
        return len(data)


class _HashingSink:
    """Passes the archive's bytes on to the sealing writer, hashing them on the way."""

    def __init__(self, inner: SealingWriter) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.inner.write(data)

    def tell(self) -> int:
        return self.inner.tell()

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self.inner.flush()


class _TextSink:
    """Text in, UTF-8 out (what ``csv.writer`` needs, without a buffer of its own)."""

    def __init__(self, out: SealingWriter) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text.encode())
        return len(text)


class Spool:
    """A temporary file sealed with a key that lives only in this object."""

    def __init__(self, directory: Path) -> None:
        self._key = AESGCM(AESGCM.generate_key(bit_length=256))
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in read_into
        self.writer = SealingWriter(self._file, self._key, b"spool")
        self.text = _TextSink(self.writer)

    def chunks(self) -> Iterator[bytes]:
        """Close for writing, then yield what was written (verified), and discard the file."""
        self.writer.close()
        self._file.seek(0)
        try:
            yield from open_stream(self._file, self._key, b"spool")
        finally:
            self._file.close()

    def read_into(self, out: HashingEntry) -> None:
        for chunk in self.chunks():
            out.write(chunk)

    def lines(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self.chunks():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending


class SealedZip:
    """A ZIP archive streamed into ``sealed`` (a sealing writer), members dated ``stamp``.

    Used as a context manager: leaving it closes the archive; without an error, the sealed stream
    is finished too, and :attr:`sha256` and :attr:`size` say what was written."""

    def __init__(self, sealed: SealingWriter, stamp: tuple[int, int, int, int, int, int]) -> None:
        self._sealed = sealed
        self._sink = _HashingSink(sealed)
        self._stamp = stamp
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED,  # type: ignore[call-overload]
                                    compresslevel=COMPRESS_LEVEL)

    def __enter__(self) -> SealedZip:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._zip.close()
        if kind is None:
            self._sealed.close()

    def member(self, path: str, *, compress: bool = True, large: bool = False) -> tuple[IO[bytes], HashingEntry]:
        """A member opened for writing (close it before the next), and what counts and hashes it."""
        info = zipfile.ZipInfo(path, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # what ZipFile.open(name) would set
        info.external_attr = 0o600 << 16
        member = self._zip.open(info, "w", force_zip64=large)
        return member, HashingEntry(member)

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the archive, as it is before sealing and after opening."""
        return self._sink.hash.hexdigest()

    @property
    def size(self) -> int:
        """Bytes of the archive, as it is before sealing and after opening."""
        return self._sealed.tell()


def write_table(archive: SealedZip, jsonl_path: str, csv_path: str, columns: tuple[str, ...],
                batches: Iterable[Formatted], *, spool_dir: Path, large: bool = False,
                on_batch: Callable[[Formatted], None] | None = None) -> tuple[int, HashingEntry, HashingEntry]:
    """``jsonl_path`` written batch by batch as they come, ``csv_path`` (``columns`` its header
    row) spooled and then copied in after it: the rows written, and each member's entry."""
    spool = Spool(spool_dir)
    member, jsonl = archive.member(jsonl_path, large=large)
    count = 0
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(columns)
    spool.writer.write(header.getvalue().encode())
    with member:
        for batch in batches:
            if not batch.count:
                continue
            jsonl.write(batch.jsonl)
            spool.writer.write(batch.csv)
            count += batch.count
            if on_batch is not None:
                on_batch(batch)
    member, table = archive.member(csv_path, large=large)
    with member:
        spool.read_into(table)
    return count, jsonl, table
