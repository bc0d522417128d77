"""Opening and formatting an export's event rows: pure work, no Flask and no database.

A batch of rows, as the database driver returns them, goes in; its JSON Lines and CSV lines come
out as UTF-8 bytes (:class:`Formatted`). For a large export the batches are handed to worker
processes (:class:`FormatterPool`), so that opening and formatting run beside the reading,
compressing, hashing and sealing of the main process instead of taking turns with them for the
GIL.

This module imports only the standard library, msgspec, cryptography and :mod:`portal.files`
(standard library only). A worker loads it straight from its file, without ``portal.exports`` or
anything that imports Flask or SQLAlchemy, and so starts in a fraction of a second. The data key reaches a worker through the
pipe that starts it, never through the disk, the command line or the environment.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import pickle
import queue
import selectors
import struct
import subprocess
import sys
import threading
import zlib
from collections import deque
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not on POSIX
    fcntl = None  # type: ignore[assignment]

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.files import read_exactly, write_all

log = logging.getLogger(__name__)

# As in portal.crypto.keys, which cannot be imported here (it imports Flask); a test checks them.
FORMAT_V1 = b"\x01"
NONCE_BYTES = 12
SEALED_BODY = 1 + NONCE_BYTES  # where a sealed value's ciphertext starts
NULL_JSON = msgspec.Raw(b"null")
NOT_SEALED = "not a sealed value"
DOES_NOT_OPEN = "sealed value does not open with this key and binding"


class Unsealable(ValueError):
    """A sealed value failed to open. The caller raises ``portal.crypto.keys.SealError`` with the
    same message (it cannot be raised here, see above)."""


class _Secret(msgspec.Struct):
    """An event's sealed fields (see :func:`portal.monitoring.ingest.validate_event`)."""

    url: str | None = None
    title: str | None = None
    x: int | None = None
    y: int | None = None
    payload: msgspec.Raw = NULL_JSON


class _EventRecord(msgspec.Struct):
    """One line of ``data/<category>.jsonl``: the event columns of the package, in order."""

    id: int
    occurred_at: str
    category: str
    kind: str
    application: str
    site_domain: str | None
    duration_ms: int | None
    url: str | None
    title: str | None
    x: int | None
    y: int | None
    payload: msgspec.Raw
    source_event_id: str
    ingested_at: str


_SECRET = msgspec.json.Decoder(_Secret)
_NAMES = msgspec.json.Decoder(tuple[str, str | None]).decode  # an event's sealed application and site
_ENCODER = msgspec.json.Encoder()
Row = tuple[Any, tuple[Any, ...]]  # a record as its JSON object (a dict or struct) and as its CSV values


@dataclass
class Formatted:
    """A batch of records, ready for the archive: JSON Lines and CSV lines, UTF-8."""

    jsonl: bytes
    csv: bytes
    count: int
    first: Any = None  # the first and last record's second CSV value (an event's time)
    last: Any = None


def format_batch(rows: list[Row]) -> Formatted:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([values for _obj, values in rows])
    return Formatted(_ENCODER.encode_lines([obj for obj, _values in rows]), buffer.getvalue().encode(), len(rows),
                     rows[0][1][1] if rows else None, rows[-1][1][1] if rows else None)


def _csv_text(value: str) -> str:
    """A text cell as ``csv.writer`` (excel dialect, CRLF, minimal quoting) writes it."""
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


class EventFormatter:
    """Opens and formats one subject's event rows.

    A row is ``(raw time, id, kind, app_bidx, site_bidx, duration_ms, sealed, source_event_id,
    occurred_at, ingested_at, sealed_names)``, ``occurred_at`` and ``ingested_at`` as UTC ISO-8601
    text. The application and site are opened from ``sealed_names`` once per pair of blind
    indexes (a subject has a few hundred of them), then taken from what was opened. With
    ``text_times`` (SQLite, which stores times as UTC text, ``YYYY-MM-DD HH:MM:SS.ffffff``) the
    raw time and ``ingested_at`` are that text, made ISO-8601 here (``occurred_at`` is not read):
    cheaper than in SQL, and off the reading process."""

    def __init__(self, data_key: bytes, subject_id: str, *, text_times: bool = False) -> None:
        self._decrypt = AESGCM(data_key).decrypt
        self._prefix = f"event:{subject_id}:"
        self._names_prefix = f"event-names:{subject_id}:"
        self._names: dict[tuple[bytes | None, bytes | None], tuple[str, str | None]] = {}
        self._text_times = text_times

    def _open_names(self, app_bidx: Any, site_bidx: Any, sealed: Any, source_id: str) -> tuple[str, str | None]:
        if sealed is None:  # a row whose subject's key was gone when migration 0027 sealed the names
            return "", None
        if sealed[:1] != FORMAT_V1:
            raise Unsealable(NOT_SEALED)
        try:
            plain = self._decrypt(sealed[1:SEALED_BODY], sealed[SEALED_BODY:], (self._names_prefix + source_id).encode())
        except InvalidTag:
            raise Unsealable(DOES_NOT_OPEN) from None
        names = _NAMES(plain)  # as portal.crypto.keys.split_names
        self._names[bytes(app_bidx) if app_bidx is not None else None,
                    bytes(site_bidx) if site_bidx is not None else None] = names
        return names

    def format(self, raw: list[Any], category: str) -> Formatted:
        """One batch. This loop runs once per event: unseal() is inlined, the sealed JSON is
        decoded into a struct, and the payload is carried as raw JSON throughout. Each CSV line
        is built directly when none of its cells needs quoting but the payload (checked on the
        joined line), else by ``csv.writer``: the same bytes either way."""
        decode = _SECRET.decode
        decrypt = self._decrypt
        prefix = self._prefix
        records: list[_EventRecord] = []
        record = records.append
        lines: list[str] = []
        line = lines.append
        slow: list[tuple[int, tuple[Any, ...]]] = []  # (position in lines, CSV values)
        null = NULL_JSON
        text_times = self._text_times
        known_names = self._names.get
        open_names = self._open_names
        for raw_time, row_id, kind, app_bidx, site_bidx, duration, sealed, source_id, occurred, ingested, \
                sealed_names in raw:
            names = known_names((app_bidx, site_bidx))
            application, site = names if names is not None else open_names(app_bidx, site_bidx, sealed_names,
                                                                            source_id)
            if text_times:  # as replace(t, ' ', 'T') || 'Z' in SQL
                occurred = raw_time.replace(" ", "T") + "Z"
                ingested = ingested.replace(" ", "T") + "Z"
            if sealed[:1] != FORMAT_V1:
                raise Unsealable(NOT_SEALED)
            try:
                secret = decode(decrypt(sealed[1:SEALED_BODY], sealed[SEALED_BODY:], (prefix + source_id).encode()))
            except InvalidTag:
                raise Unsealable(DOES_NOT_OPEN) from None
            url, title, x, y, payload = secret.url, secret.title, secret.x, secret.y, secret.payload
            record(_EventRecord(row_id, occurred, category, kind, application, site, duration, url, title, x, y,
                                payload, source_id, ingested))
            head = (f"{row_id},{occurred},{category},{kind},{application},{'' if site is None else site},"
                    f"{'' if duration is None else duration},{'' if url is None else url},"
                    f"{'' if title is None else title},{'' if x is None else x},{'' if y is None else y},")
            tail = f",{source_id},{ingested}"
            plain = head + tail
            if plain.count(",") == 13 and '"' not in plain and "\n" not in plain and "\r" not in plain:
                line(head)
                if payload is not null:
                    line(_csv_text(bytes(payload).decode()))
                line(tail)
                line("\r\n")
            else:
                slow.append((len(lines), (row_id, occurred, category, kind, application, site, duration, url, title,
                                          x, y, None if payload is null else bytes(payload).decode(), source_id,
                                          ingested)))
                line("")
        if slow:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            for position, values in slow:
                buffer.seek(0)
                buffer.truncate()
                writer.writerow(values)
                lines[position] = buffer.getvalue()
        return Formatted(_ENCODER.encode_lines(records), "".join(lines).encode(), len(records),
                         records[0].occurred_at if records else None, records[-1].occurred_at if records else None)


# -- worker processes ---------------------------------------------------------------------------
#
# A worker is a plain interpreter started with subprocess (not multiprocessing: nothing of the
# parent is imported or run again in it, and it starts in a tenth of a second) that loads this
# file as this module. Frames go both ways over its standard input and output: a 16-byte header
# (a marker, the length, the CRC-32 of the body), then MessagePack (cheaper than pickle both
# ways, and nothing but data crosses). The first frame in carries the data key, the subject and
# the time format, answered by ["ready"] once the worker has loaded; each one after it a batch
# (its rows and category), answered by one frame out: ["ok", jsonl, csv, count, first, last],
# ["unsealable", message], or ["error", the exception pickled, its description].
#
# Every frame is written whole (portal.files.write_all, straight to the descriptor: with
# PYTHONUNBUFFERED=1 sys.stdout.buffer is a raw file, whose write() may stop short when the
# process is stopped and resumed) and read whole and checked: a frame that is cut short, has no
# marker, an impossible length or the wrong checksum means the worker is out of step, and the
# parent treats it as stopped (see FormatterPool.map).
#
# A thread of the worker reads the frames in as they come, so that the parent's writes never
# wait on the worker's own, and end of input (the parent closed it, or died) ends the worker.
# Where the system allows, the pipes hold a whole batch, and that thread gets the worker's GIL
# promptly: else the parent's writes would crawl through a 64 KiB pipe, one GIL switch a time.

_HEADER = struct.Struct(">4sQI")  # marker, body length, CRC-32 of the body
_MARKER = b"PFx1"
MAX_FRAME = 1 << 31  # far above any batch; a larger length is a header read out of step
PIPE_BYTES = 1 << 20  # Linux's limit for unprivileged processes (/proc/sys/fs/pipe-max-size)
_BOOT = """
import importlib.util, sys
sys.path.insert(0, sys.argv[3])
spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
module._serve()
"""
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds portal/
_PACK = msgspec.msgpack.Encoder().encode
_UNPACK = msgspec.msgpack.Decoder(list[Any]).decode
_UNPACK_BATCH = msgspec.msgpack.Decoder(tuple[list[tuple[Any, ...]], str]).decode


class FrameError(RuntimeError):
    """A frame arrived cut short or out of step (its header or checksum is wrong)."""


def _write_frame(out: IO[bytes] | int, data: bytes) -> None:
    """One frame, every byte of it, to a file object (flushed) or a descriptor."""
    write_all(out, _HEADER.pack(_MARKER, len(data), zlib.crc32(data)))
    write_all(out, data)
    if not isinstance(out, int):
        out.flush()


def _read_frame(source: IO[bytes]) -> bytes | None:
    """The next frame's body, checked; None at the end of the input (before a frame starts).
    Raises :class:`FrameError` for a frame cut short or out of step."""
    head = read_exactly(source, _HEADER.size)
    if not head:
        return None
    if len(head) < _HEADER.size:
        raise FrameError("a frame header was cut short")
    marker, size, checksum = _HEADER.unpack(head)
    if marker != _MARKER or size > MAX_FRAME:
        raise FrameError("a frame header is out of step")
    data = read_exactly(source, size)
    if len(data) != size:
        raise FrameError(f"a frame was cut short ({len(data)} of {size} bytes)")
    if zlib.crc32(data) != checksum:
        raise FrameError("a frame does not match its checksum")
    return data


def _serve() -> None:
    """A worker's life: the formatter, then batches in, results out, until the input ends."""
    source, sink = sys.stdin.buffer, sys.stdout.fileno()  # frames go straight to the descriptor
    sys.stdout = sys.stderr  # the output carries frames only
    sys.setswitchinterval(0.0005)
    init = _read_frame(source)
    if init is None:
        return
    data_key, subject_id, text_times = _UNPACK(init)
    formatter = EventFormatter(data_key, subject_id, text_times=text_times)
    _write_frame(sink, _PACK(("ready",)))
    tasks: queue.SimpleQueue[tuple[list[tuple[Any, ...]], str] | None] = queue.SimpleQueue()

    def receive() -> None:
        try:
            while (frame := _read_frame(source)) is not None:
                tasks.put(_UNPACK_BATCH(frame))
        finally:  # a frame out of step ends the worker: the parent sees it stopped
            tasks.put(None)

    threading.Thread(target=receive, name="export-worker-input", daemon=True).start()
    while (task := tasks.get()) is not None:
        raw, category = task
        del task
        try:
            done = formatter.format(raw, category)
            reply = _PACK(("ok", done.jsonl, done.csv, done.count, done.first, done.last))
        except Unsealable as exc:
            reply = _PACK(("unsealable", str(exc)))
        except Exception as exc:  # handed to the parent, which raises it
            try:
                pickled = pickle.dumps(exc)
            except Exception:  # an error that does not pickle
                pickled = b""
            reply = _PACK(("error", pickled, f"{type(exc).__name__}: {exc}"))
        del raw
        try:
            _write_frame(sink, reply)
        except BrokenPipeError:
            return


def _enlarge(pipe: IO[bytes]) -> None:
    """Make the pipe hold :data:`PIPE_BYTES` (one size for both ends), where the system allows."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


class WorkerStopped(RuntimeError):
    """A formatting worker ended before it answered (killed, out of memory)."""


class WorkersUnavailable(OSError):
    """The formatting workers could not be started here (the caller formats in its own process)."""


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this file
            [sys.executable, "-P", "-c", _BOOT, __file__, __name__, _ROOT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None  # noqa: S101 - asked for
        self.input: IO[bytes] = self.process.stdin
        self.output: IO[bytes] = self.process.stdout
        _enlarge(self.input)
        _enlarge(self.output)

    def stopped(self) -> str:
        return f"an export worker stopped (exit status {self.process.wait()})"

    def stop(self, *, kill: bool) -> None:
        """Ask the worker to end (end of its input) or kill it."""
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.input.close()

    def reap(self) -> None:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pipe in (self.input, self.output):
            with contextlib.suppress(OSError):
                pipe.close()


class FormatterPool:
    """Worker processes that open and format batches, handed back in the order they were given.

    At most ``depth`` batches are in flight, so memory stays flat however many rows there are.
    A worker that stops or whose answer arrives out of step (see :func:`_read_frame`) is killed
    and dropped, and each batch it held is formatted again, once, in this process: the result is
    the same as if nothing had happened. Use as a context manager: the workers are stopped on
    every way out, killed at once unless every batch was answered. Raises
    :class:`WorkersUnavailable` if they cannot be started."""

    STARTUP_SECONDS = 30

    def __init__(self, data_key: bytes, subject_id: str, workers: int, *, text_times: bool = False,
                 depth: int | None = None) -> None:
        self.depth = max(depth or 2 * workers, workers)
        self._workers: list[_Worker] = []
        self._finished = False
        self._here = EventFormatter(data_key, subject_id, text_times=text_times)
        self.redone = 0  # batches formatted again here after their worker failed
        # The workers need none of the portal's settings (the master key among them).
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        try:
            for _ in range(max(workers, 1)):
                worker = _Worker(env)
                self._workers.append(worker)
                _write_frame(worker.input, _PACK((data_key, subject_id, text_times)))
            for worker in self._workers:  # they load side by side; each says when it is ready
                with selectors.DefaultSelector() as selector:
                    selector.register(worker.output, selectors.EVENT_READ)
                    ready = selector.select(self.STARTUP_SECONDS)
                frame = _read_frame(worker.output) if ready else None
                if frame is None or _UNPACK(frame) != ["ready"]:
                    raise WorkersUnavailable(f"an export worker did not start (exit status {worker.process.poll()})")
        except BaseException as exc:
            self.close()
            if isinstance(exc, (BrokenPipeError, ConnectionResetError, FrameError)):
                raise WorkersUnavailable(f"an export worker did not start ({exc})") from exc
            raise
        self._all = list(self._workers)  # every worker started, stopped on close
        self._failed: set[_Worker] = set()

    def __enter__(self) -> FormatterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers: told to end when every batch was answered, else killed; then
        waited for."""
        workers = list(getattr(self, "_all", self._workers))
        self._workers = []
        self._all = []
        for worker in workers:
            worker.stop(kill=not self._finished or worker in getattr(self, "_failed", ()))
        for worker in workers:
            worker.reap()

    def _fail(self, worker: _Worker) -> None:
        """Take ``worker`` out of the turn and kill it; what it holds is formatted here."""
        if worker not in self._failed:
            self._failed.add(worker)
            self._workers = [w for w in self._workers if w is not worker]
            worker.stop(kill=True)

    def _send(self, worker: _Worker, raw: list[Any], category: str) -> _Worker | None:
        """Hand a batch to ``worker``; None if it has stopped (the batch is then formatted here)."""
        try:
            _write_frame(worker.input, _PACK((raw, category)))
        except (BrokenPipeError, ConnectionResetError):
            self._fail(worker)
            return None
        return worker

    @staticmethod
    def _receive(worker: _Worker) -> Formatted:
        frame = _read_frame(worker.output)
        if frame is None:
            raise WorkerStopped(worker.stopped())
        kind, *value = _UNPACK(frame)
        if kind == "ok":
            return Formatted(*value)
        if kind == "unsealable":
            raise Unsealable(value[0])
        pickled, description = value
        try:
            error = pickle.loads(pickled)  # noqa: S301 - from the worker this process started
        except Exception:
            error = None
        if isinstance(error, Exception):
            raise error
        raise RuntimeError(f"an export worker failed: {description}")

    def _result(self, worker: _Worker | None, raw: list[Any], category: str) -> Formatted:
        """The answer for one batch: from its worker, or, if that worker failed, formatted here."""
        if worker is not None and worker not in self._failed:
            try:
                return self._receive(worker)
            except (WorkerStopped, FrameError, msgspec.DecodeError, ValueError) as exc:
                if isinstance(exc, Unsealable):  # the rows' own fault: the same here
                    raise
                log.warning("an export worker failed (%s); its batches are formatted again here", exc)
                self._fail(worker)
        self.redone += 1
        return self._here.format(raw, category)

    def map(self, batches: Iterable[tuple[list[Any], str]]) -> Generator[Formatted, None, None]:
        """Each ``(rows, category)`` formatted, in order. An error of the rows is raised here."""
        pending: deque[tuple[_Worker | None, list[Any], str]] = deque()  # in flight, oldest first
        turn = 0
        for raw, category in batches:
            if len(pending) >= self.depth:
                yield self._result(*pending.popleft())
            worker = None
            if self._workers:
                turn %= len(self._workers)
                worker = self._send(self._workers[turn], raw, category)
                turn += 1
            pending.append((worker, raw, category))
            del raw
        while pending:
            yield self._result(*pending.popleft())
        self._finished = True
