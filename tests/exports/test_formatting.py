"""Opening and formatting an export's event rows (portal.exports.formatting): the same bytes as
``csv.writer`` and msgspec make, in this process and in the worker processes alike, and the same
error for a row that does not open."""

from __future__ import annotations

import csv
import io
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.crypto import keys
from portal.crypto.keys import SealError, SubjectCipher
from portal.exports import formatting, package
from portal.exports.formatting import (
    EventFormatter,
    Formatted,
    FormatterPool,
    Unsealable,
    WorkersUnavailable,
)
from portal.exports.package import PackageWriter, Scope
from portal.extensions import db
from portal.monitoring.models import ActivityEvent
from portal.people.models import Employee
from tests.conftest import both_databases
from tests.exports.test_exports import alice_id, fill
from tests.helpers import signed_in_as

SUBJECT = "5" * 32
KEY = AESGCM.generate_key(bit_length=256)
ABSENT = object()


def sealed(source_id: str, secret: dict[str, Any] | bytes, *, subject: str = SUBJECT) -> bytes:
    plain = secret if isinstance(secret, bytes) else msgspec.json.encode(secret)
    return SubjectCipher(subject, KEY).seal_bytes("event", source_id, plain)


def row(n: int, *, text_times: bool = False, application: str = "Slack", site: str | None = "slack.com",
        duration: int | None = None, secret: dict[str, Any] | bytes | None = None) -> tuple[Any, ...]:
    """A row as the reader hands it over (see EventFormatter)."""
    source_id = f"ev-{n}"
    stored = f"2026-01-02 03:04:{n % 60:02d}.{n:06d}"
    shown = stored.replace(" ", "T") + "Z"
    blob = sealed(source_id, secret if secret is not None else {"x": n, "y": -n, "payload": {"n": n}})
    cipher = SubjectCipher(SUBJECT, KEY)  # the application and site: blind indexes, and sealed
    app_bidx = cipher.name_index("app", application)
    site_bidx = None if site is None else cipher.name_index("site", site)
    names = cipher.seal_names("event-names", source_id, application, site)
    if text_times:
        return (stored, n, "click", app_bidx, site_bidx, duration, blob, source_id, None, "2026-01-03 00:00:00.000001",
                names)
    return (stored, n, "click", app_bidx, site_bidx, duration, blob, source_id, shown, "2026-01-03T00:00:00.000001Z",
            names)


def reference(raw: list[tuple[Any, ...]], category: str, *, text_times: bool = False) -> Formatted:
    """What the export wrote before the formatter existed: a struct per event for JSON Lines,
    ``csv.writer`` for CSV."""
    aead = AESGCM(KEY)
    rows: list[Any] = []
    for raw_time, row_id, kind, _app, _site, duration, blob, source_id, occurred, ingested, names in raw:
        application, site = SubjectCipher(SUBJECT, KEY).open_names("event-names", source_id, names)
        if text_times:
            occurred = raw_time.replace(" ", "T") + "Z"
            ingested = ingested.replace(" ", "T") + "Z"
        secret = formatting._SECRET.decode(aead.decrypt(blob[1:13], blob[13:], f"event:{SUBJECT}:{source_id}".encode()))
        payload = secret.payload
        rows.append((formatting._EventRecord(row_id, occurred, category, kind, application, site, duration,
                                             secret.url, secret.title, secret.x, secret.y, payload, source_id,
                                             ingested),
                     (row_id, occurred, category, kind, application, site, duration, secret.url, secret.title,
                      secret.x, secret.y, None if payload is formatting.NULL_JSON else bytes(payload).decode(),
                      source_id, ingested)))
    return formatting.format_batch(rows)


AWKWARD = ["plain", "", " ", "a,b", 'say "hi"', '"', ",", "line\nbreak", "carriage\rreturn", "crlf\r\n",
           "tab\there", "nul\x00byte", "ünïcode ✓ 𝄞", "trailing,", ",leading", "'single'", "semi;colon"]


def awkward_rows(*, text_times: bool) -> list[tuple[Any, ...]]:
    rows = []
    for n, text in enumerate(AWKWARD):
        rows.append(row(n, text_times=text_times, application=text, site=None if n % 3 else text,
                        duration=None if n % 2 else n * 1000,
                        secret={"url": text, "title": f"Title {n}: {text}", "x": 0, "y": None, "payload": text}))
        rows.append(row(100 + n, text_times=text_times, application=text, secret={"title": text}))
    payloads: list[dict[str, Any] | bytes] = [
        {}, {"payload": None}, {"payload": 0}, {"payload": -1.5}, {"payload": True}, {"payload": "a,b"},
        {"payload": [1, 2, 3]}, {"payload": {"k": 'v "quoted", with comma'}}, {"payload": "line\nbreak"},
        b'{"payload": {"spaced": [1, 2]},\r\n "x": 2}', b'{"payload":"x"}', b'{"x": 12345678901234567890}',
    ]
    rows += [row(200 + n, text_times=text_times, secret=p) for n, p in enumerate(payloads)]
    return rows


@pytest.mark.parametrize("text_times", [False, True])
def test_the_formatter_writes_what_csv_writer_and_msgspec_write(text_times: bool) -> None:
    rows = awkward_rows(text_times=text_times)
    got = EventFormatter(KEY, SUBJECT, text_times=text_times).format(rows, "app_activity")
    want = reference(rows, "app_activity", text_times=text_times)
    assert got == want
    assert got.count == len(rows) and got.first == "2026-01-02T03:04:00.000000Z"
    assert list(csv.reader(io.StringIO(got.csv.decode(), newline="")))[2][4] == ""  # application "" stays ""


cells = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\t\x00é✓;')) | st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cells, st.none() | cells, st.none() | st.integers(), st.none() | cells, st.none() | cells,
                          st.none() | st.integers(-(2**63), 2**63), st.none() | cells), min_size=1, max_size=8))
def test_any_text_comes_out_as_csv_writer_writes_it(values: list[tuple[Any, ...]]) -> None:
    rows = [row(n, application=application, site=site, duration=duration,
                secret={"url": url, "title": title, "x": x, "y": 1, **({"payload": payload} if payload else {})})
            for n, (application, site, duration, url, title, x, payload) in enumerate(values)]
    assert EventFormatter(KEY, SUBJECT).format(rows, "input_events") == reference(rows, "input_events")


def test_the_constants_agree_with_the_key_module() -> None:
    assert (formatting.FORMAT_V1, formatting.NONCE_BYTES) == (keys.FORMAT_V1, keys.NONCE_BYTES)


def test_a_worker_loads_without_flask_or_the_portal_application() -> None:
    probe = formatting._BOOT.replace("module._serve()", "print(sorted(m for m in sys.modules "
                                     "if m.split('.')[0] in ('flask', 'sqlalchemy', 'portal')))")
    out = subprocess.run([sys.executable, "-P", "-c", probe, formatting.__file__, formatting.__name__,
                          formatting._ROOT], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.strip() == "['portal', 'portal.exports.formatting', 'portal.files']"  # all three: standard library only


def batches(*, text_times: bool = False) -> list[list[tuple[Any, ...]]]:
    rows = awkward_rows(text_times=text_times) + [row(1000 + n, text_times=text_times) for n in range(60)]
    sizes = [1, 7, 13, 2, 30, 5, 11, 40]
    out, start = [], 0
    for size in sizes:
        out.append(rows[start:start + size])
        start += size
    assert start >= len(rows) - 40 and out[-1]
    return out


@pytest.mark.parametrize("text_times", [False, True])
def test_the_pool_hands_back_the_same_bytes_in_the_same_order(text_times: bool) -> None:
    given_batches = batches(text_times=text_times)
    here = EventFormatter(KEY, SUBJECT, text_times=text_times)
    with FormatterPool(KEY, SUBJECT, 2, text_times=text_times, depth=3) as pool:
        pooled = list(pool.map((raw, "input_events") for raw in given_batches))
    assert pooled == [here.format(raw, "input_events") for raw in given_batches]


def tampered() -> list[list[tuple[Any, ...]]]:
    """The fourth batch holds a row whose sealed value belongs to another row."""
    given_batches = batches()
    raw = list(given_batches[3])
    raw[1] = (*raw[1][:6], raw[0][6], *raw[1][7:])
    given_batches[3] = raw
    return given_batches


def not_sealed() -> list[list[tuple[Any, ...]]]:
    given_batches = batches()
    given_batches[2] = [(*r[:6], b"\x02" + r[6][1:], *r[7:]) for r in given_batches[2]]
    return given_batches


@pytest.mark.parametrize(("make", "message"), [(tampered, "does not open"), (not_sealed, "not a sealed value")])
def test_a_row_that_does_not_open_fails_alike_in_the_pool_and_here(make: Any, message: str) -> None:
    given_batches = make()
    here = EventFormatter(KEY, SUBJECT)
    with pytest.raises(Unsealable, match=message):
        for raw in given_batches:
            here.format(raw, "input_events")
    with FormatterPool(KEY, SUBJECT, 2) as pool:
        workers = list(pool._workers)
        with pytest.raises(Unsealable, match=message):
            list(pool.map((raw, "input_events") for raw in given_batches))
    assert all(w.process.poll() is not None for w in workers)  # stopped on the way out


def test_a_wrong_key_fails_in_the_pool_too() -> None:
    with FormatterPool(AESGCM.generate_key(bit_length=256), SUBJECT, 1) as pool, \
            pytest.raises(Unsealable, match="does not open"):
        list(pool.map([(batches()[0], "input_events")]))


def test_workers_are_stopped_when_the_reader_stops_early() -> None:
    pool = FormatterPool(KEY, SUBJECT, 2, depth=2)
    workers = list(pool._workers)
    results = pool.map((raw, "input_events") for raw in batches())
    assert next(results).count == 1
    results.close()
    pool.close()
    assert all(w.process.poll() is not None for w in workers)


def in_process(given_batches: list[list[tuple[Any, ...]]]) -> list[Formatted]:
    here = EventFormatter(KEY, SUBJECT)
    return [here.format(raw, "input_events") for raw in given_batches]


def test_a_worker_that_dies_is_dropped_and_its_batches_are_formatted_again_here() -> None:
    given_batches = batches()
    with FormatterPool(KEY, SUBJECT, 2, depth=2) as pool:
        workers = list(pool._workers)
        results = pool.map((raw, "input_events") for raw in given_batches)
        first = next(results)
        workers[1].process.kill()
        workers[1].process.wait()
        assert [first, *results] == in_process(given_batches)
        assert pool.redone >= 1 and pool._workers == [workers[0]]
    assert all(w.process.poll() is not None for w in workers)


def test_an_answer_out_of_step_stops_its_worker_and_the_result_is_unchanged() -> None:
    """Bytes that are not a frame reach the parent (as when a worker's write stopped short):
    written into the worker's own standard output through /proc, so the parent reads them
    where it expects a frame. The checks catch them; nothing wrong is handed back."""
    given_batches = batches()
    with FormatterPool(KEY, SUBJECT, 2, depth=2) as pool:
        workers = list(pool._workers)
        results = pool.map((raw, "input_events") for raw in given_batches)
        first = next(results)
        with open(f"/proc/{workers[1].process.pid}/fd/1", "wb") as intruder:
            intruder.write(b"\x00" * 3 + b"not a frame at all")
        assert [first, *results] == in_process(given_batches)
        assert pool.redone >= 1 and pool._workers == [workers[0]]
    assert workers[1].process.poll() is not None


@pytest.mark.parametrize(("stream", "message"), [
    (b"PFx1" + bytes(5), "header was cut short"),
    (b"XXXX" + bytes(12), "out of step"),
    (formatting._HEADER.pack(b"PFx1", formatting.MAX_FRAME + 1, 0), "out of step"),
    (formatting._HEADER.pack(b"PFx1", 10, 0) + b"12345", "cut short \\(5 of 10 bytes\\)"),
    (formatting._HEADER.pack(b"PFx1", 5, 1) + b"12345", "checksum"),
])
def test_a_frame_that_is_not_whole_and_right_is_refused(stream: bytes, message: str) -> None:
    with pytest.raises(formatting.FrameError, match=message):
        formatting._read_frame(io.BytesIO(stream))


def test_frames_go_and_come_back_whole() -> None:
    buffer = io.BytesIO()
    for body in (b"", b"one", bytes(range(256)) * 100):
        formatting._write_frame(buffer, body)
    buffer.seek(0)
    assert [formatting._read_frame(buffer) for _ in range(4)] == [b"", b"one", bytes(range(256)) * 100, None]


def test_workers_that_cannot_start_are_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatting, "_BOOT", "import sys; sys.exit(3)")
    with pytest.raises(WorkersUnavailable, match="did not start"):
        FormatterPool(KEY, SUBJECT, 2)


# -- through the export, on the database ----------------------------------------------------------

@pytest.fixture
def subject(app: Flask, client: FlaskClient) -> str:
    signed_in_as(client)
    subject_id = alice_id(app)
    fill(app, subject_id, events=90, shots=0)
    return subject_id


def event_batches(app: Flask, subject_id: str, tmp_path: Path, category: str) -> list[Formatted]:
    with app.app_context():
        employee = db.session.get(Employee, subject_id)
        assert employee is not None
        writer = PackageWriter(employee, secrets.token_hex(16), Scope(["input_events", "app_activity"]),
                               spool_dir=tmp_path)
        return list(writer._event_batches(category))


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FormatterPool]]:
    """Small batches; records the pools the export starts."""
    monkeypatch.setattr(package, "BATCH_ROWS", 7)
    started: list[FormatterPool] = []

    class Recorded(FormatterPool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.started = list(self._workers)
            started.append(self)

    monkeypatch.setattr(package, "FormatterPool", Recorded)
    yield started


@both_databases
def test_the_pooled_export_writes_the_same_bytes_as_the_export_in_process(
        app: Flask, subject: str, tmp_path: Path, spawned: list[FormatterPool],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for category in ("input_events", "app_activity"):
        here = event_batches(app, subject, tmp_path, category)
        assert not spawned and sum(b.count for b in here) > 14  # a few batches, below the threshold
        monkeypatch.setattr(package, "POOL_MIN_ROWS", 1)
        pooled = event_batches(app, subject, tmp_path, category)
        assert len(spawned) == 1
        assert pooled == here
        monkeypatch.setattr(package, "POOL_MIN_ROWS", 20_000)
        spawned.clear()


def test_the_export_formats_in_process_when_workers_cannot_start(
        app: Flask, subject: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = event_batches(app, subject, tmp_path, "input_events")
    monkeypatch.setattr(package, "POOL_MIN_ROWS", 1)
    monkeypatch.setattr(formatting, "_BOOT", "import sys; sys.exit(3)")
    assert event_batches(app, subject, tmp_path, "input_events") == here


@both_databases
def test_a_tampered_row_raises_seal_error_pooled_or_not(app: Flask, subject: str, tmp_path: Path,
                                                        spawned: list[FormatterPool],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with app.app_context():  # a later event gets an earlier one's sealed value
        events = db.session.execute(sa.select(ActivityEvent.id, ActivityEvent.sealed).where(
            ActivityEvent.subject_id == subject, ActivityEvent.category == "input_events")
            .order_by(ActivityEvent.occurred_at, ActivityEvent.id)).all()
        db.session.execute(sa.update(ActivityEvent).where(ActivityEvent.id == events[-3].id)
                           .values(sealed=events[0].sealed))
        db.session.commit()
    with pytest.raises(SealError, match="does not open"):
        event_batches(app, subject, tmp_path, "input_events")
    monkeypatch.setattr(package, "POOL_MIN_ROWS", 1)
    with pytest.raises(SealError, match="does not open"):
        event_batches(app, subject, tmp_path, "input_events")
    assert len(spawned) == 1
    assert all(w.process.poll() is not None for w in spawned[0].started)  # type: ignore[attr-defined]

