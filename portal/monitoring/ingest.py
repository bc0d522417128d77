"""Ingestion: validate a batch from the collector, seal it with the subject's key, store it.

All of a batch or none of it: every record is validated before anything is written, and
screenshot files written for a batch whose transaction fails are removed again.  Records whose
collector id was already stored are skipped, so a collector may resend a batch safely.
"""

from __future__ import annotations

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

from PIL import Image, UnidentifiedImageError
from sqlalchemy import case, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession

from portal.audit.services import Actor, record
from portal.consent.models import Purpose
from portal.consent.services import has_consent
from portal.crypto import KeyDestroyed, SubjectCipher, keystore
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.monitoring.aggregates import ActivityTally, zone_of
from portal.monitoring.artifacts import screenshot_path, write_atomically
from portal.monitoring.models import ActivityEvent, CategoryKey, EventKind, Screenshot, SubjectCategoryStats
from portal.people.models import Employee, EmploymentStatus

FIELD_NAME = re.compile(r"^[a-z_]{1,40}$")
SOURCE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
EVENT_FIELDS = {"event_id", "kind", "occurred_at", "application", "site_domain", "duration_ms",
                "url", "title", "x", "y", "payload"}
SCREENSHOT_FIELDS = {"screenshot_id", "captured_at", "application", "site_domain", "image"}
MAX_FUTURE = timedelta(minutes=5)
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # well above any screen (8K is 33M pixels)
MAX_PAYLOAD_BYTES = 4096
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
CHUNK = 5000


class IngestError(ValueError):
    """A record was refused; nothing of its batch was stored."""

    def __init__(self, what: str, index: int | None, reason: str) -> None:
        self.what, self.index, self.reason = what, index, reason
        where = f"{what} {index}" if index is not None else what
        super().__init__(f"{where}: {reason}")


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
        raise ValueError(f"{name} is out of range") from None
    if value.year < 1970:
        raise ValueError(f"{name} is before 1970: no capture agent recorded it")
    if value > now + MAX_FUTURE:
        raise ValueError(f"{name} is in the future")
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
    if any((ord(c) < 32 and c != "\t") or 0x7F <= ord(c) <= 0x9F for c in value):
        raise ValueError(f"{name} contains control characters")
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
        raise ValueError(_unknown_fields(unknown))
    try:
        kind = EventKind(str(raw.get("kind")))
    except ValueError:
        raise ValueError(f"kind must be one of {', '.join(k.value for k in EventKind)}") from None
    url = _text(raw.get("url"), "url", 2048)
    if url is not None:
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
        raise ValueError(_unknown_fields(unknown))
    image = raw.get("image")
    if not isinstance(image, bytes | bytearray) or not image:
        raise ValueError("image must be the image file's bytes")
    if len(image) > MAX_IMAGE_BYTES:
        raise ValueError(f"image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(image)) as probe:
            fmt, (width, height) = probe.format, probe.size
            probe.verify()
    except Image.DecompressionBombError:
        raise ValueError("image has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ValueError("image is not a readable PNG, JPEG or WebP file") from None
    if fmt not in IMAGE_TYPES:
        raise ValueError("image must be PNG, JPEG or WebP")
    if width * height > MAX_PIXELS:
        raise ValueError("image has too many pixels")
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


def _validate_all(kind: str, records: Sequence[Mapping[str, Any]], validator: Any, id_field: str,
                  now: datetime) -> tuple[list[Any], int]:
    """Validate every record; returns the distinct ones and how many repeated an id in the batch."""
    valid = []
    repeated = 0
    seen: set[str] = set()
    for index, raw in enumerate(records):
        if not isinstance(raw, Mapping):
            raise IngestError(kind, index, "must be an object")
        try:
            item = validator(raw, now)
        except ValueError as exc:
            raise IngestError(kind, index, str(exc)) from None
        source = getattr(item, id_field)
        if source in seen:
            repeated += 1  # the same record twice in one batch: keep the first
            continue
        seen.add(source)
        valid.append(item)
    return valid, repeated


def _already_stored(column: Any, subject_column: Any, subject_id: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(db.session.scalars(select(column).where(subject_column == subject_id, column.in_(chunk))))
    return found


def bump_stats(subject_id: str, category: str, count: int, first: datetime, last: datetime) -> None:
    """Add ``count`` items collected between ``first`` and ``last`` to the subject's category totals."""
    table = SubjectCategoryStats.__table__
    dialect = db.session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    db.session.execute(
        maker(table).values(subject_id=subject_id, category=category, item_count=0).on_conflict_do_nothing()
    )
    db.session.execute(
        update(SubjectCategoryStats)
        .where(SubjectCategoryStats.subject_id == subject_id, SubjectCategoryStats.category == category)
        .values(
            item_count=SubjectCategoryStats.item_count + count,
            first_at=case(
                (SubjectCategoryStats.first_at.is_(None) | (SubjectCategoryStats.first_at > first), first),
                else_=SubjectCategoryStats.first_at,
            ),
            last_at=case(
                (SubjectCategoryStats.last_at.is_(None) | (SubjectCategoryStats.last_at < last), last),
                else_=SubjectCategoryStats.last_at,
            ),
        )
        .execution_options(synchronize_session=False)
    )


EVENT_COLUMNS = ("subject_id", "source_event_id", "category", "kind", "occurred_at", "application", "site_domain",
                 "duration_ms", "sealed", "ingested_at")


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


def _activity_tally(subject_id: str) -> ActivityTally:
    """A tally in the employee's time zone (the employee is usually in the session already)."""
    employee = db.session.get(Employee, subject_id)
    return ActivityTally(zone_of(employee.timezone if employee is not None else None))


def store_events(cipher: SubjectCipher, events: Iterable[ValidEvent]) -> dict[str, int]:
    """Seal and insert already validated, not yet stored events; update the totals and the
    activity aggregates (per local day, local hour, site or application)."""
    subject_id = cipher.subject_id
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, None, None])
    tally = _activity_tally(subject_id)
    tally_add = tally.add
    rows: list[Any] = []
    sql, as_time, positional = _bulk_insert_events()
    connection = db.session.connection()

    def write(chunk: list[Any]) -> None:
        connection.exec_driver_sql(sql, chunk if positional else [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in chunk])

    now = as_time(utcnow())
    kinds = {kind: (kind.category.value, kind.value) for kind in EventKind}
    seal = cipher.event_sealer()
    for item in events:
        category, kind = kinds[item.kind]
        rows.append((
            subject_id, item.source_event_id, category, kind, as_time(item.occurred_at),
            item.application, item.site_domain, item.duration_ms, seal(item.source_event_id, item.secret), now,
        ))
        tally_add(item.occurred_at, item.application, item.site_domain, item.duration_ms)
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
    tally.store(subject_id)
    return {category: values[0] for category, values in totals.items()}


def store_screenshots(cipher: SubjectCipher, shots: Iterable[ValidScreenshot], written: list[Path]) -> int:
    """Seal each image into the artifact directory and record its facts; ``written`` collects
    the files so that a caller whose transaction fails can remove them."""
    subject_id = cipher.subject_id
    count, first, last = 0, None, None
    for shot in shots:
        shot_id = new_id()
        path = screenshot_path(subject_id, shot_id)
        write_atomically(path, cipher.seal_bytes("screenshot", shot_id, shot.image))
        written.append(path)
        db.session.add(Screenshot(
            id=shot_id, subject_id=subject_id, source_id=shot.source_id, captured_at=shot.captured_at,
            application=shot.application, site_domain=shot.site_domain, media_type=shot.media_type,
            width=shot.width, height=shot.height, byte_size=len(shot.image),
        ))
        count += 1
        first = shot.captured_at if first is None or shot.captured_at < first else first
        last = shot.captured_at if last is None or shot.captured_at > last else last
    if count and first and last:
        db.session.flush()
        bump_stats(subject_id, CategoryKey.SCREENSHOTS.value, count, first, last)
    return count


def ingest_batch(subject_id: str, events: Sequence[Mapping[str, Any]] = (),
                 screenshots: Sequence[Mapping[str, Any]] = ()) -> IngestResult:
    """Validate, seal and store one batch for one subject, inside the caller's transaction.

    Raises :class:`IngestError` (and stores nothing) for an unknown or former employee or for
    any bad record.  The caller commits; if that fails, it calls :func:`discard_files`."""
    employee = db.session.get(Employee, subject_id)
    if employee is None:
        raise IngestError("batch", None, "unknown subject")
    if employee.employment_status != EmploymentStatus.ACTIVE:
        raise IngestError("batch", None, "the subject is no longer employed; nothing may be collected")
    now = utcnow()
    valid_events, repeated_events = _validate_all("event", events, validate_event, "source_event_id", now)
    valid_shots, repeated_shots = _validate_all("screenshot", screenshots, validate_screenshot, "source_id", now)

    if valid_shots and not has_consent(subject_id, Purpose.SCREENSHOT_CAPTURE):
        raise IngestError("screenshot", 0, "the subject has not consented to screenshot capture (or withdrew it)")

    result = IngestResult()
    try:
        cipher = keystore().cipher(subject_id)
    except KeyDestroyed:
        raise IngestError("batch", None, "the subject's data has been erased; nothing more may be stored") from None
    known = _already_stored(ActivityEvent.source_event_id, ActivityEvent.subject_id, subject_id,
                            [e.source_event_id for e in valid_events])
    fresh_events = [e for e in valid_events if e.source_event_id not in known]
    result.events_duplicate = len(valid_events) - len(fresh_events) + repeated_events
    result.per_category = store_events(cipher, fresh_events)
    result.events_stored = len(fresh_events)

    known_shots = _already_stored(Screenshot.source_id, Screenshot.subject_id, subject_id,
                                  [s.source_id for s in valid_shots])
    fresh_shots = [s for s in valid_shots if s.source_id not in known_shots]
    result.screenshots_duplicate = len(valid_shots) - len(fresh_shots) + repeated_shots
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
    record("monitoring:batch:ingest", actor=Actor.system(), subject_id=subject_id,
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
