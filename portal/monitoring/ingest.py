"""Ingestion: validate a batch from the collector, seal it with the subject's key, store it.

All of a batch or none of it: every record is validated before anything is written (and every
refused record is named, with a machine-readable reason, not only the first), and screenshot files
written for a batch whose transaction fails are removed again.  Records whose collector id was
already stored are skipped, so a collector may resend a batch safely.  Every way in (the API, the
demo, the tests) comes through :func:`ingest_batch`, so every check here applies to all of them.
"""

from __future__ import annotations

import enum
import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from PIL import Image, UnidentifiedImageError
from sqlalchemy import String, bindparam, case, event, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession

from portal.audit.services import Actor, record
from portal.consent.models import Purpose
from portal.consent.services import has_consent
from portal.consent.services import latest as latest_consent
from portal.crypto import KeyDestroyed, SubjectCipher, keystore
from portal.db import new_id, upsert, utcnow
from portal.extensions import db
from portal.monitoring import partitions
from portal.monitoring.aggregates import APP, SITE, ActivityTally, zone_of
from portal.monitoring.artifacts import screenshot_path, write_atomically
from portal.monitoring.models import ActivityEvent, CategoryKey, EventKind, Screenshot, SubjectCategoryStats
from portal.people.models import Employee, EmploymentStatus

FIELD_NAME = re.compile(r"^[a-z_]{1,40}$")
SOURCE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
EVENT_FIELDS = {"event_id", "kind", "occurred_at", "application", "site_domain", "duration_ms",
                "url", "title", "x", "y", "payload"}
SCREENSHOT_FIELDS = {"screenshot_id", "captured_at", "application", "site_domain", "image"}
MAX_FUTURE = timedelta(days=1)  # a collector's clock may run ahead; beyond a day it is wrong
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no capture agent recorded anything before
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 7680 * 4320  # 8K UHD (33.2M pixels): larger screens than any monitor, refused from the header
MAX_SIDE = 16_384
# Characters that change how text is shown without being seen: bidi embeddings, overrides,
# isolates and marks, and zero-width characters. In an application name or window title they can
# make a DPO or the employee read something else than was stored (Trojan Source, CVE-2021-42574).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 but tab, DEL, C1
HIDDEN_CHARACTERS = frozenset("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                              "\u2060\u2066\u2067\u2068\u2069\ufeff")
# Either kind, in one pass: text without any (nearly all of it) is checked by one search.
_SUSPECT_CHARACTERS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f" + "".join(sorted(HIDDEN_CHARACTERS)) + "]")
# A URL that urlsplit reads as http(s) with a host, without calling it: scheme, a host of ASCII
# letters, digits, dots and hyphens, an optional numeric port, then nothing or a path, query or
# fragment without brackets (which urlsplit reads as an IPv6 host). Anything else takes urlsplit.
_PLAIN_URL = re.compile(r"(?i:https?)://[a-z0-9.-]*[a-z0-9][a-z0-9.-]*(?::[0-9]{1,5})?(?:[/?#][^\[\]]*)?",
                        re.IGNORECASE)
MAX_PAYLOAD_BYTES = 4096
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
CHUNK = 5000


class Reason(enum.StrEnum):
    """Why a batch or a record was refused, for machines (the API's ``reason`` fields)."""

    UNKNOWN_EMPLOYEE = "unknown_employee"
    FORMER_EMPLOYEE = "former_employee"
    ERASED_SUBJECT = "erased_subject"
    INVALID = "invalid"  # a field's value or type (the text says which)
    UNKNOWN_FIELD = "unknown_field"
    TIME_OUT_OF_RANGE = "time_out_of_range"  # before 2000, or off the calendar
    TIME_IN_FUTURE = "time_in_future"  # more than a day ahead
    HIDDEN_CHARACTERS = "hidden_characters"  # bidi controls or zero-width characters
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    IMAGE_UNREADABLE = "image_unreadable"
    SCREENSHOT_CONSENT_WITHDRAWN = "screenshot_consent_withdrawn"
    SCREENSHOT_CONSENT_NOT_GIVEN = "screenshot_consent_not_given"
    RESTRICTED = "restricted"  # processing of the record's category is restricted (GDPR Art. 18)


class Refused(ValueError):
    """A value was refused, with a machine-readable reason."""

    def __init__(self, reason: str, code: Reason = Reason.INVALID) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Refusal:
    what: str  # batch, event or screenshot
    index: int | None
    code: Reason
    reason: str


class IngestError(ValueError):
    """A batch was refused; nothing of it was stored. ``refusals`` names every refused record (the
    first is also ``what``, ``index``, ``code`` and ``reason``)."""

    def __init__(self, what: str, index: int | None, reason: str, code: Reason = Reason.INVALID,
                 refusals: Sequence[Refusal] = ()) -> None:
        self.what, self.index, self.reason, self.code = what, index, reason, code
        self.refusals = list(refusals) or [Refusal(what, index, code, reason)]
        where = f"{what} {index}" if index is not None else what
        super().__init__(f"{where}: {reason}")

    @classmethod
    def of(cls, refusals: Sequence[Refusal]) -> IngestError:
        first = refusals[0]
        return cls(first.what, first.index, first.reason, first.code, refusals)


# What may keep a subject's new data out, beyond this module's own rules: functions registered by
# the domains that record it (restriction of processing lives with the requests), each giving the
# register categories it blocks for a subject. Registered at import, as job handlers are.
CollectionBlock = Callable[[str], Mapping[str, "Reason"]]
COLLECTION_BLOCKS: list[CollectionBlock] = []


def collection_block(check: CollectionBlock) -> CollectionBlock:
    """Register ``check(subject_id) -> {category: reason}``; an empty category key blocks every one."""
    if check not in COLLECTION_BLOCKS:
        COLLECTION_BLOCKS.append(check)
    return check


def _blocked_categories(subject_id: str) -> dict[str, Reason]:
    blocked: dict[str, Reason] = {}
    for check in COLLECTION_BLOCKS:
        blocked.update(check(subject_id))
    return blocked


@dataclass
class ValidEvent:
    source_event_id: str
    kind: EventKind
    occurred_at: datetime
    application: str
    site_domain: str | None
    duration_ms: int | None
    secret: dict[str, Any]


@dataclass
class ValidScreenshot:
    source_id: str
    captured_at: datetime
    application: str
    site_domain: str | None
    image: bytes
    media_type: str
    width: int
    height: int


@dataclass
class IngestResult:
    events_stored: int = 0
    events_duplicate: int = 0
    screenshots_stored: int = 0
    screenshots_duplicate: int = 0
    per_category: dict[str, int] = field(default_factory=dict)
    duplicate_event_ids: set[str] = field(default_factory=set)  # stored before this batch
    duplicate_screenshot_ids: set[str] = field(default_factory=set)


def _unknown_fields(names: set[str]) -> str:
    """Name unexpected fields when they look like field names; never echo anything else."""
    shown = sorted(n for n in names if isinstance(n, str) and FIELD_NAME.match(n))
    hidden = len(names) - len(shown)
    return "unknown field(s): " + ", ".join(shown + ([f"{hidden} more"] if hidden else []))


def _time(value: Any, name: str, now: datetime) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} is not an ISO-8601 time") from None
    if value is None:
        raise ValueError(f"{name} is required")
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an ISO-8601 time with a time zone offset")
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone offset")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # within hours of year 1 or 9999, a zone offset leaves the calendar
        raise Refused(f"{name} is out of range", Reason.TIME_OUT_OF_RANGE) from None
    if value < EARLIEST:
        raise Refused(f"{name} is before 2000: no capture agent recorded it", Reason.TIME_OUT_OF_RANGE)
    if value > now + MAX_FUTURE:
        raise Refused(f"{name} is in the future (more than a day ahead)", Reason.TIME_IN_FUTURE)
    return value


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    if _SUSPECT_CHARACTERS.search(value) is None:
        return value
    if CONTROL_CHARACTERS.search(value):
        raise ValueError(f"{name} contains control characters")
    if not HIDDEN_CHARACTERS.isdisjoint(value):
        raise Refused(f"{name} contains bidirectional-control or zero-width characters", Reason.HIDDEN_CHARACTERS)
    return value


def _int(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


def _domain(value: Any) -> str | None:
    text = _text(value, "site_domain", 253)
    if text is None:
        return None
    text = text.lower()
    if not DOMAIN.match(text):
        raise ValueError("site_domain is not a host name")
    return text


def _source_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not SOURCE_ID.match(value):
        raise ValueError(f"{name} must be 1-64 letters, digits or . _ : -")
    return value


def validate_event(raw: Mapping[str, Any], now: datetime) -> ValidEvent:
    unknown = set(raw) - EVENT_FIELDS
    if unknown:
        raise Refused(_unknown_fields(unknown), Reason.UNKNOWN_FIELD)
    try:
        kind = EventKind(str(raw.get("kind")))
    except ValueError:
        raise ValueError(f"kind must be one of {', '.join(k.value for k in EventKind)}") from None
    url = _text(raw.get("url"), "url", 2048)
    if url is not None and not _PLAIN_URL.fullmatch(url):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http or https URL")
    payload = raw.get("payload")
    if payload is not None:
        if not isinstance(payload, dict):
            raise ValueError("payload must be an object")
        try:
            size = len(json.dumps(payload, separators=(",", ":")).encode())
        except (TypeError, ValueError):
            raise ValueError("payload must hold JSON values") from None
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    secret = {
        "url": url,
        "title": _text(raw.get("title"), "title", 1000),
        "x": _int(raw.get("x"), "x", -100_000, 100_000),
        "y": _int(raw.get("y"), "y", -100_000, 100_000),
        "payload": payload,
    }
    return ValidEvent(
        source_event_id=_source_id(raw.get("event_id"), "event_id"),
        kind=kind,
        occurred_at=_time(raw.get("occurred_at"), "occurred_at", now),
        application=_text(raw.get("application"), "application", 120, required=True) or "",
        site_domain=_domain(raw.get("site_domain")),
        duration_ms=_int(raw.get("duration_ms"), "duration_ms", 0, 86_400_000),
        secret={k: v for k, v in secret.items() if v is not None},
    )


def validate_screenshot(raw: Mapping[str, Any], now: datetime) -> ValidScreenshot:
    unknown = set(raw) - SCREENSHOT_FIELDS
    if unknown:
        raise Refused(_unknown_fields(unknown), Reason.UNKNOWN_FIELD)
    image = raw.get("image")
    if not isinstance(image, bytes | bytearray) or not image:
        raise ValueError("image must be the image file's bytes")
    if len(image) > MAX_IMAGE_BYTES:
        raise Refused(f"image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB", Reason.IMAGE_TOO_LARGE)
    fmt, width, height = _image_header(bytes(image))
    return ValidScreenshot(
        source_id=_source_id(raw.get("screenshot_id"), "screenshot_id"),
        captured_at=_time(raw.get("captured_at"), "captured_at", now),
        application=_text(raw.get("application"), "application", 120, required=True) or "",
        site_domain=_domain(raw.get("site_domain")),
        image=bytes(image),
        media_type=IMAGE_TYPES[fmt],
        width=width,
        height=height,
    )


def _image_header(image: bytes) -> tuple[str, int, int]:
    """The format and size from the file's header, checked before a single pixel is decoded (a
    38 KB PNG may claim 40 million pixels: it is refused here, not unpacked), then the file's
    structure (chunks and checksums, without decoding)."""
    try:
        with Image.open(io.BytesIO(image)) as probe:  # reads the header only
            fmt, (width, height) = probe.format, probe.size
            if fmt not in IMAGE_TYPES:
                raise Refused("image must be PNG, JPEG or WebP", Reason.IMAGE_UNREADABLE)
            if width * height > MAX_PIXELS or width > MAX_SIDE or height > MAX_SIDE:
                raise Refused(f"image has too many pixels ({width} x {height}; at most {MAX_PIXELS:,} "
                              f"and {MAX_SIDE} a side)", Reason.IMAGE_TOO_MANY_PIXELS)
            probe.verify()
    except Image.DecompressionBombError:
        raise Refused("image has too many pixels", Reason.IMAGE_TOO_MANY_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, Refused):
            raise
        raise Refused("image is not a readable PNG, JPEG or WebP file", Reason.IMAGE_UNREADABLE) from None
    return fmt, width, height


MAX_REFUSALS = 100  # named in an answer; the count says how many more


def _validate_all(kind: str, records: Sequence[Mapping[str, Any]], validator: Any, id_field: str,
                  now: datetime, refusals: list[Refusal]) -> tuple[list[tuple[int, Any]], int]:
    """Validate every record; returns the distinct ones with their index, and how many repeated an
    id in the batch. Each refused record is added to ``refusals``."""
    valid = []
    repeated = 0
    seen: set[str] = set()
    for index, raw in enumerate(records):
        if not isinstance(raw, Mapping):
            refusals.append(Refusal(kind, index, Reason.INVALID, "must be an object"))
            continue
        try:
            item = validator(raw, now)
        except Refused as exc:
            refusals.append(Refusal(kind, index, exc.code, str(exc)))
            continue
        except ValueError as exc:
            refusals.append(Refusal(kind, index, Reason.INVALID, str(exc)))
            continue
        source = getattr(item, id_field)
        if source in seen:
            repeated += 1  # the same record twice in one batch: keep the first
            continue
        seen.add(source)
        valid.append((index, item))
    return valid, repeated


def _already_stored(column: Any, subject_column: Any, subject_id: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the subject has stored already: one query for the whole batch, its ids
    passed as one value (an array on PostgreSQL, a JSON array read by ``json_each`` on SQLite), so
    the statement is the same, and prepared once, whatever the batch's size."""
    if not ids:
        return set()
    if db.session.get_bind().dialect.name == "postgresql":
        wanted: Any = column == func.any(bindparam("ids", type_=ARRAY(String)))
        value: Any = ids
    else:
        wanted = column.in_(select(literal_column("value")).select_from(
            func.json_each(bindparam("ids", type_=String)).table_valued("value")))
        value = json.dumps(ids)
    statement = select(column).where(subject_column == bindparam("subject"), wanted)
    return set(db.session.scalars(statement, {"subject": subject_id, "ids": value}))


def bump_stats(subject_id: str, category: str, count: int, first: datetime, last: datetime) -> None:
    """Add ``count`` items collected between ``first`` and ``last`` to the subject's category totals,
    in one statement (``INSERT ... ON CONFLICT DO UPDATE``, the same SQL on SQLite and PostgreSQL)."""
    table = SubjectCategoryStats.__table__
    upsert(table, {"subject_id": subject_id, "category": category, "item_count": count, "first_at": first,
                   "last_at": last},
           [table.c.subject_id, table.c.category], set_=lambda new: {
               "item_count": table.c.item_count + new.item_count,
               "first_at": case((table.c.first_at.is_(None) | (table.c.first_at > new.first_at), new.first_at),
                                else_=table.c.first_at),
               "last_at": case((table.c.last_at.is_(None) | (table.c.last_at < new.last_at), new.last_at),
                               else_=table.c.last_at),
           })


EVENT_COLUMNS = ("subject_id", "source_event_id", "category", "kind", "occurred_at", "app_bidx", "site_bidx",
                 "duration_ms", "sealed", "sealed_names", "ingested_at")


def _bulk_insert_events() -> tuple[str, Callable[[datetime], Any], bool]:
    """The INSERT for events in the driver's own parameter style, and how to pass a time.

    Bulk ingestion (a collector's batch, or a million demo events) goes straight to the driver's
    executemany: SQLAlchemy's per-value type processing would otherwise cost more than sealing.
    The stored values are exactly what :class:`portal.db.UTCDateTime` writes and reads."""
    dialect = db.session.get_bind().dialect
    compiled = insert(ActivityEvent.__table__).compile(dialect=dialect, column_keys=list(EVENT_COLUMNS))
    if dialect.name == "sqlite":
        def as_time(value: datetime) -> Any:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    else:
        def as_time(value: datetime) -> Any:
            return value
    return str(compiled), as_time, bool(compiled.positional)


# PostgreSQL takes a chunk of events by binary COPY: the driver writes each row in its binary form
# (in C), with no SQL text and no arrays built per column; rows go to the subject's partition.
_COPY_EVENTS = f"COPY activity_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("varchar", "varchar", "varchar", "varchar", "timestamptz", "bytea", "bytea", "int4", "bytea",
               "bytea", "timestamptz")


def _copy_rows(connection: Any, rows: list[Any]) -> None:
    """COPY ``rows`` into activity_events in the connection's transaction. A driver error comes out as
    SQLAlchemy's (a duplicate as IntegrityError), as from any other statement."""
    try:
        with connection.connection.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            copy.set_types(_COPY_TYPES)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(_COPY_EVENTS, None, exc, psycopg.Error) from exc


def _activity_tally(subject_id: str) -> ActivityTally:
    """A tally in the employee's time zone (the employee is usually in the session already)."""
    employee = db.session.get(Employee, subject_id)
    return ActivityTally(zone_of(employee.timezone if employee is not None else None))


def target_labels(cipher: SubjectCipher, tally: ActivityTally, names: Mapping[tuple[str, bytes], str],
                  ) -> dict[tuple[str, bytes], bytes | None]:
    """The sealed name of each site and application the tally counted (from ``names``, by kind and
    blind index): one seal per distinct name in a batch, not per event."""
    return {(kind, bidx): cipher.seal_label(kind, bidx, names[kind, bidx]) for kind, bidx in tally.targets()}


def store_events(cipher: SubjectCipher, events: Iterable[ValidEvent]) -> dict[str, int]:
    """Seal and insert already validated, not yet stored events; update the totals and the
    activity aggregates (per local day, local hour, site or application).

    The application and site of each event are sealed (``sealed_names``) and stored as blind
    indexes under the subject's key, computed once per distinct name in the batch."""
    events = list(events)
    if not events:  # a retry of what is stored already
        return {}
    subject_id = cipher.subject_id
    partitions.ensure([subject_id])
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, None, None])
    tally = _activity_tally(subject_id)
    tally_add = tally.add
    rows: list[Any] = []
    sql, as_time, positional = _bulk_insert_events()
    connection = db.session.connection()
    columnar = connection.dialect.name == "postgresql"

    def write(chunk: list[Any]) -> None:
        if columnar:
            _copy_rows(connection, chunk)
        else:
            connection.exec_driver_sql(sql, chunk if positional else [dict(zip(EVENT_COLUMNS, r, strict=True))
                                                                     for r in chunk])

    now = as_time(utcnow())
    kinds = {kind: (kind.category.value, kind.value) for kind in EventKind}
    seal = cipher.event_sealer()
    seal_names = cipher.names_sealer()
    app_index, site_index = cipher.name_indexer(APP), cipher.name_indexer(SITE)
    names: dict[tuple[str, bytes], str] = {}
    for item in events:
        category, kind = kinds[item.kind]
        application, site = item.application, item.site_domain
        app_bidx = app_index(application)
        site_bidx: bytes | None
        if site is None:
            site_bidx = None
            names[APP, app_bidx] = application
        else:
            site_bidx = site_index(site)
            names[SITE, site_bidx] = site
        rows.append((
            subject_id, item.source_event_id, category, kind, as_time(item.occurred_at), app_bidx, site_bidx,
            item.duration_ms, seal(item.source_event_id, item.secret), seal_names(item.source_event_id, application, site),
            now,
        ))
        tally_add(item.occurred_at, app_bidx, site_bidx, item.duration_ms)
        total = totals[category]
        total[0] += 1
        if total[1] is None or item.occurred_at < total[1]:
            total[1] = item.occurred_at
        if total[2] is None or item.occurred_at > total[2]:
            total[2] = item.occurred_at
        if len(rows) >= CHUNK:
            write(rows)
            rows = []
    if rows:
        write(rows)
    for category, (count, first, last) in totals.items():
        bump_stats(subject_id, category, count, first, last)
    tally.store(subject_id, target_labels(cipher, tally, names))
    return {category: values[0] for category, values in totals.items()}


def store_screenshots(cipher: SubjectCipher, shots: Iterable[ValidScreenshot], written: list[Path]) -> int:
    """Seal each image into the artifact directory and record its facts; ``written`` collects
    the files so that a caller whose transaction fails can remove them."""
    shots = list(shots)
    if not shots:
        return 0
    subject_id = cipher.subject_id
    partitions.ensure([subject_id])
    count, first, last = 0, None, None
    for shot in shots:
        shot_id = new_id()
        path = screenshot_path(subject_id, shot_id)
        write_atomically(path, cipher.seal_bytes("screenshot", shot_id, shot.image))
        written.append(path)
        db.session.add(Screenshot(
            id=shot_id, subject_id=subject_id, source_id=shot.source_id, captured_at=shot.captured_at,
            app_bidx=cipher.name_index(APP, shot.application),
            site_bidx=None if shot.site_domain is None else cipher.name_index(SITE, shot.site_domain),
            sealed_names=cipher.seal_names(Screenshot.names.label, shot_id, shot.application, shot.site_domain),
            media_type=shot.media_type, width=shot.width, height=shot.height, byte_size=len(shot.image),
        ))
        count += 1
        first = shot.captured_at if first is None or shot.captured_at < first else first
        last = shot.captured_at if last is None or shot.captured_at > last else last
    if count and first and last:
        db.session.flush()
        bump_stats(subject_id, CategoryKey.SCREENSHOTS.value, count, first, last)
    return count


def ingest_batch(subject_id: str, events: Sequence[Mapping[str, Any]] = (),
                 screenshots: Sequence[Mapping[str, Any]] = (), *, actor: Actor | None = None) -> IngestResult:
    """Validate, seal and store one batch for one subject, inside the caller's transaction.

    Raises :class:`IngestError` (and stores nothing) for an unknown, former or erased employee, or
    naming every refused record: a bad value, a screenshot without consent, a category whose
    processing is restricted.  The caller commits; if that fails, it calls :func:`discard_files`.
    ``actor`` (the system by default) is who the batch's audit entry names."""
    employee = db.session.get(Employee, subject_id)
    if employee is None:
        raise IngestError("batch", None, "unknown subject", Reason.UNKNOWN_EMPLOYEE)
    if employee.employment_status != EmploymentStatus.ACTIVE:
        raise IngestError("batch", None, "the subject is no longer employed; nothing may be collected",
                          Reason.FORMER_EMPLOYEE)
    now = utcnow()
    refusals: list[Refusal] = []
    valid_events, repeated_events = _validate_all("event", events, validate_event, "source_event_id", now, refusals)
    valid_shots, repeated_shots = _validate_all("screenshot", screenshots, validate_screenshot, "source_id", now,
                                                refusals)
    if valid_shots and not has_consent(subject_id, Purpose.SCREENSHOT_CAPTURE):
        withdrawn = latest_consent(subject_id, Purpose.SCREENSHOT_CAPTURE) is not None
        code = Reason.SCREENSHOT_CONSENT_WITHDRAWN if withdrawn else Reason.SCREENSHOT_CONSENT_NOT_GIVEN
        refusals.extend(Refusal("screenshot", index, code, "the subject has not consented to screenshot capture"
                                + (" (they withdrew it)" if withdrawn else "")) for index, _ in valid_shots)
    blocked = _blocked_categories(subject_id)
    if blocked:
        def block(what: str, index: int, category: str) -> None:
            code = blocked.get(category) or blocked.get("")
            if code is not None:
                refusals.append(Refusal(what, index, code, f"the processing of {category} is restricted for the subject"))

        for index, item in valid_events:
            block("event", index, item.kind.category.value)
        for index, _ in valid_shots:
            block("screenshot", index, CategoryKey.SCREENSHOTS.value)
    if refusals:
        order = {"event": 0, "screenshot": 1}
        raise IngestError.of(sorted(refusals, key=lambda r: (order.get(r.what, 2), r.index or 0)))

    result = IngestResult()
    try:
        cipher = keystore().cipher(subject_id)
    except KeyDestroyed:
        raise IngestError("batch", None, "the subject's data has been erased; nothing more may be stored",
                          Reason.ERASED_SUBJECT) from None
    known = _already_stored(ActivityEvent.source_event_id, ActivityEvent.subject_id, subject_id,
                            [e.source_event_id for _, e in valid_events])
    fresh_events = [e for _, e in valid_events if e.source_event_id not in known]
    result.events_duplicate = len(valid_events) - len(fresh_events) + repeated_events
    result.duplicate_event_ids = known
    result.per_category = store_events(cipher, fresh_events)
    result.events_stored = len(fresh_events)

    known_shots = _already_stored(Screenshot.source_id, Screenshot.subject_id, subject_id,
                                  [s.source_id for _, s in valid_shots])
    fresh_shots = [s for _, s in valid_shots if s.source_id not in known_shots]
    result.screenshots_duplicate = len(valid_shots) - len(fresh_shots) + repeated_shots
    result.duplicate_screenshot_ids = known_shots
    written: list[Path] = []
    try:
        result.screenshots_stored = store_screenshots(cipher, fresh_shots, written)
        db.session.flush()
    except Exception:
        discard_files(written)
        raise
    if result.screenshots_stored:
        result.per_category[CategoryKey.SCREENSHOTS.value] = result.screenshots_stored
    db.session.info.setdefault("portal.written_files", []).extend(written)
    record("monitoring:batch:ingest", actor=actor or Actor.system(), subject_id=subject_id,
           details={"events": result.events_stored, "events_duplicate": result.events_duplicate,
                    "screenshots": result.screenshots_stored, "screenshots_duplicate": result.screenshots_duplicate})
    return result


def discard_files(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


@event.listens_for(OrmSession, "after_commit")
def _keep_written_files(session: OrmSession) -> None:
    session.info.pop("portal.written_files", None)


@event.listens_for(OrmSession, "after_rollback")
def _remove_written_files(session: OrmSession) -> None:
    """A batch whose transaction rolled back leaves no sealed file behind."""
    discard_files(session.info.pop("portal.written_files", []))
