"""Browsing an employee's own monitoring data: pages of events and screenshots, newest first.

Pagination is by keyset, never by OFFSET: a page is "the next ``limit`` items strictly older than
the cursor" in the order ``(time DESC, id DESC)``, so every page costs the same however deep it
is, and items that arrive between two page loads neither shift nor repeat anything.

A cursor is text: ``<time>~<id>``, the time in ISO 8601, UTC, with microseconds and a ``Z``
(``2025-03-04T09:15:00.123456Z~4711`` for an event; a screenshot's id is its 32-hex-digit
surrogate).  It names the last item shown; the next page starts strictly after it.

Events are read through one of the indexes on ``activity_events``:

* ``(subject_id, site_bidx, occurred_at, id)`` when a site is asked for,
* ``(subject_id, kind, occurred_at, id)`` when a kind is asked for (and no site),
* ``(subject_id, occurred_at, id)`` otherwise.

A site or application is one text field: a site the employee has events on is a site; otherwise
a name the aggregates know as an application is one; any other name that looks like a host
name is a site with nothing recorded (a mistyped site answers at once); the rest are
application names (see :func:`resolve_target`). Sites and applications are stored sealed, so a
name is looked up by its blind index under the employee's own key, computed here from what they
typed.

The date range narrows the same index range.  Whatever else was asked for and is not in the
chosen index (an application, a category, a kind together with a site) is a *residual* filter:
it is applied to at most :data:`SCAN_WINDOW` consecutive index entries per page, so that a
rare or absent application cannot make one request read a million rows.  A page may then hold
fewer than ``limit`` events while older ones may still match; its ``scanned_to`` says how far it
looked, and the next cursor carries on from there.  Walking all pages still yields every
matching event exactly once, in order.

Only the events on the page are decrypted, one by one, for display, with one cipher per page.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from PIL import Image
from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import load_only

from portal.crypto import SubjectCipher
from portal.extensions import db
from portal.monitoring.aggregates import APP, SITE, open_label, subject_cipher
from portal.monitoring.ingest import DOMAIN
from portal.monitoring.models import ActivityEvent, ActivityTarget, EventKind, Screenshot, SubjectCategoryStats
from portal.monitoring.services import open_screenshot

EVENTS_PER_PAGE = 50
SCREENSHOTS_PER_PAGE = 24
SCAN_WINDOW = 50_000
DETAIL_CHARS = 90
THUMB_BOX = (320, 200)
BROWSABLE_CATEGORIES = ("input_events", "app_activity")

NEWEST_FIRST = (ActivityEvent.occurred_at.desc(), ActivityEvent.id.desc())
_EVENT_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_SHOT_ID = re.compile(r"^[0-9a-f]{32}$")
_CURSOR_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class CursorError(ValueError):
    """A ``before`` cursor that is not one this module wrote."""


# --- cursors -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: Any  # int for events, str for screenshots

    def __str__(self) -> str:
        return f"{self.at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}Z~{self.id}"


def _older_than(time_column: Any, id_column: Any, cursor: Cursor) -> ColumnElement[bool]:
    """``(time, id) < (cursor time, cursor id)`` as a row-value comparison: SQLite and PostgreSQL
    both turn it into a range on the (..., time, id) indexes."""
    older: ColumnElement[bool] = tuple_(time_column, id_column) < (cursor.at, cursor.id)
    return older


def _parse_cursor(text: str, id_pattern: re.Pattern[str]) -> tuple[datetime, str]:
    moment, sep, ident = text.partition("~")
    if not sep or not _CURSOR_TIME.match(moment) or not id_pattern.match(ident):
        raise CursorError("not a page position")
    try:
        at = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        raise CursorError("not a page position") from None
    return at, ident


def parse_event_cursor(text: str) -> Cursor:
    at, ident = _parse_cursor(text, _EVENT_ID)
    return Cursor(at, int(ident))


def parse_screenshot_cursor(text: str) -> Cursor:
    at, ident = _parse_cursor(text, _SHOT_ID)
    return Cursor(at, ident)


# --- time zones ----------------------------------------------------------------------------------

def local_day_bounds(start: date | None, end: date | None, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
    """``[from local midnight of start, to local midnight after end)`` in UTC; either may be open."""
    lower = datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC) if start else None
    upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC) if end else None
    return lower, upper


# --- events --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventFilter:
    """What the employee asked for; every field optional. ``target`` is a site or an application."""

    category: str | None = None
    target: str | None = None
    kind: EventKind | None = None
    start: date | None = None
    end: date | None = None

    @property
    def active(self) -> bool:
        return self.category is not None or self.narrowed

    @property
    def narrowed(self) -> bool:
        """Whether anything but a category was asked for (the totals then no longer apply)."""
        return any(v is not None for v in (self.target, self.kind, self.start, self.end))


@dataclass(frozen=True)
class EventRow:
    id: int
    occurred_at: datetime
    local_time: datetime
    kind: str
    application: str
    site_domain: str | None
    detail: str | None  # the window title, else the URL; shortened


@dataclass
class EventPage:
    rows: list[EventRow]
    next_cursor: str | None
    target_type: str | None  # "site" or "application" when a target was asked for
    scanned_to: datetime | None  # set when the page stopped at the scan window, not at its size
    total: int | None  # from the per-category totals; None once anything but a category is asked for
    suggestions: list[str]  # sites and applications to offer in the filter


def _shorten(text: str | None, limit: int = DETAIL_CHARS) -> str | None:
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


NO_MATCH = b"\0" * 16  # no name's blind index once the subject's key is gone: matches nothing


def name_index(cipher: SubjectCipher | None, kind: str, value: str) -> bytes:
    """The blind index of a site (lower case) or application name under the subject's key."""
    return cipher.name_index(kind, value) if cipher is not None else NO_MATCH


def resolve_target(subject_id: str, target: str, cipher: SubjectCipher | None = None) -> str:
    """Whether ``target`` means a web site or an application: ``"site"`` or ``"application"``.

    A site the subject has events on (one probe of the site index) is a site; a name that the
    aggregates know as an application is one; any other name that looks like a host name is a
    site with nothing recorded (so a mistyped site answers at once, without a search); the rest
    are application names."""
    cipher = cipher or subject_cipher(subject_id)
    site = target.lower()
    if db.session.scalar(select(ActivityEvent.id).where(
            ActivityEvent.subject_id == subject_id,
            ActivityEvent.site_bidx == name_index(cipher, SITE, site)).limit(1)) is not None:
        return "site"
    if db.session.scalar(select(ActivityTarget.events).where(
            ActivityTarget.subject_id == subject_id, ActivityTarget.target_type == APP,
            ActivityTarget.bidx == name_index(cipher, APP, target))) is not None:
        return "application"
    return "site" if DOMAIN.match(site) else "application"


def _event_kinds(filters: EventFilter) -> list[str] | None:
    if filters.kind is not None:
        return [filters.kind.value]
    if filters.category is not None:
        return [k.value for k in EventKind if k.category.value == filters.category]
    return None


def event_page(subject_id: str, filters: EventFilter, zone: tzinfo, before: Cursor | None = None,
               limit: int = EVENTS_PER_PAGE, window: int = SCAN_WINDOW) -> EventPage:
    """One page of the subject's events, newest first, with the page's items decrypted for display."""
    e = ActivityEvent
    driving: list[ColumnElement[bool]] = [e.subject_id == subject_id]
    application: bytes | None = None  # the asked application's blind index
    residual_kinds: frozenset[str] | None = None
    target_type = None
    kinds = _event_kinds(filters)
    cipher = subject_cipher(subject_id)

    if filters.target is not None:
        target_type = resolve_target(subject_id, filters.target, cipher)
        if target_type == "site":
            driving.append(e.site_bidx == name_index(cipher, SITE, filters.target.lower()))
        else:
            application = name_index(cipher, APP, filters.target)
    if kinds is not None:
        if target_type != "site" and len(kinds) == 1:
            driving.append(e.kind == kinds[0])
        else:
            residual_kinds = frozenset(kinds)
    lower, upper = local_day_bounds(filters.start, filters.end, zone)
    if lower is not None:
        driving.append(e.occurred_at >= lower)
    if upper is not None:
        driving.append(e.occurred_at < upper)

    scanned_to = None
    if application is None and residual_kinds is None:
        if before is not None:
            driving.append(_older_than(e.occurred_at, e.id, before))
        events = list(db.session.scalars(select(e).where(*driving).order_by(*NEWEST_FIRST).limit(limit + 1)))
        has_more = len(events) > limit
        events = events[:limit]
    else:
        ids, has_more, scanned_to = _scan(driving, application, residual_kinds, before, limit, window)
        by_id = {ev.id: ev for ev in db.session.scalars(select(e).where(e.id.in_(ids)))} if ids else {}
        events = [by_id[i] for i in ids]

    rows = [_row(event, zone, cipher) for event in events]
    if has_more:
        next_cursor: str | None = str(Cursor(events[-1].occurred_at, events[-1].id))
    elif scanned_to is not None:
        next_cursor = str(scanned_to)
    else:
        next_cursor = None
    return EventPage(rows=rows, next_cursor=next_cursor, target_type=target_type,
                     scanned_to=scanned_to.at if scanned_to is not None else None,
                     total=None if filters.narrowed else _total(subject_id, filters.category),
                     suggestions=known_targets(subject_id, cipher=cipher))


def _scan(driving: list[ColumnElement[bool]], application: bytes | None, kinds: frozenset[str] | None,
          before: Cursor | None, limit: int, window: int) -> tuple[list[int], bool, Cursor | None]:
    """Walk the driving index range newest first in growing chunks, each filtered inside the
    database by the residual ``application`` (a blind index) and ``kinds``, until a page and one more are found
    or ``window`` entries were read.

    Returns the ids of the page's events, whether more follow, and, if the window ran out
    first, the position of the last entry read (where the next page carries on)."""
    e = ActivityEvent
    found: list[int] = []
    read = 0
    chunk = 4 * (limit + 1)
    position = before
    while read < window:
        size = min(chunk, window - read)
        conditions = list(driving)
        if position is not None:
            conditions.append(_older_than(e.occurred_at, e.id, position))
        scan = (select(e.id, e.occurred_at, e.app_bidx, e.kind).where(*conditions)
                .order_by(*NEWEST_FIRST).limit(size).subquery("scan"))
        residual = []
        if application is not None:
            residual.append(scan.c.app_bidx == application)
        if kinds is not None:
            residual.append(scan.c.kind.in_(sorted(kinds)))
        found += db.session.scalars(
            select(scan.c.id).where(*residual)
            .order_by(scan.c.occurred_at.desc(), scan.c.id.desc()).limit(limit + 1 - len(found))
        )
        if len(found) > limit:
            return found[:limit], True, None
        # The chunk's last entry: read from the index alone.
        edge = db.session.execute(select(e.occurred_at, e.id).where(*conditions).order_by(*NEWEST_FIRST)
                                  .offset(size - 1).limit(1)).first()
        if edge is None:
            return found, False, None
        read += size
        position = Cursor(edge.occurred_at, edge.id)
        chunk *= 4
    return found, False, position


def _row(event: ActivityEvent, zone: tzinfo, cipher: SubjectCipher | None) -> EventRow:
    sealed = cipher.open_json("event", event.source_event_id, event.sealed) if cipher is not None else {}
    application, site = event.reveal_names(cipher)
    return EventRow(
        id=event.id, occurred_at=event.occurred_at, local_time=event.occurred_at.astimezone(zone),
        kind=str(event.kind), application=application, site_domain=site,
        detail=_shorten(sealed.get("title") or sealed.get("url")),
    )


def _total(subject_id: str, category: str | None) -> int:
    """How many events, from the per-category totals kept by ingestion (never a COUNT over events)."""
    categories = [category] if category else list(BROWSABLE_CATEGORIES)
    counts = db.session.scalars(select(SubjectCategoryStats.item_count).where(
        SubjectCategoryStats.subject_id == subject_id, SubjectCategoryStats.category.in_(categories)))
    return int(sum(counts))


def known_targets(subject_id: str, limit: int = 200, cipher: SubjectCipher | None = None) -> list[str]:
    """Sites and applications to suggest in the filter, busiest first, from the aggregates (their
    sealed names opened with the subject's key)."""
    rows = db.session.execute(
        select(ActivityTarget.target_type, ActivityTarget.bidx, ActivityTarget.label)
        .where(ActivityTarget.subject_id == subject_id)
        .order_by(ActivityTarget.events.desc(), ActivityTarget.bidx).limit(limit)
    ).all()
    if not rows:
        return []
    cipher = cipher or subject_cipher(subject_id)
    names = {open_label(cipher, kind, bidx, label) for kind, bidx, label in rows}
    return sorted(names - {""}, key=lambda t: (t.lower(), t))


# --- screenshots ---------------------------------------------------------------------------------

@dataclass
class ScreenshotPage:
    shots: list[Screenshot]
    next_cursor: str | None
    target_type: str | None


def screenshot_page(subject_id: str, target: str | None, before: Cursor | None = None,
                    limit: int = SCREENSHOTS_PER_PAGE) -> ScreenshotPage:
    """One page of the subject's screenshots (their facts; images are fetched one by one)."""
    s = Screenshot
    conditions: list[ColumnElement[bool]] = [s.subject_id == subject_id]
    target_type = None
    cipher = subject_cipher(subject_id)
    if target is not None:
        site = name_index(cipher, SITE, target.lower())
        site_hit = db.session.scalar(select(s.id).where(s.subject_id == subject_id, s.site_bidx == site).limit(1))
        if site_hit is not None:
            target_type = "site"
            conditions.append(s.site_bidx == site)
        else:
            target_type = "application"
            conditions.append(s.app_bidx == name_index(cipher, APP, target))
    if before is not None:
        conditions.append(_older_than(s.captured_at, s.id, before))
    query: Select[tuple[Screenshot]] = (
        select(s).options(load_only(s.id, s.subject_id, s.captured_at, s.sealed_names, s.width, s.height))
        .where(*conditions).order_by(s.captured_at.desc(), s.id.desc()).limit(limit + 1)
    )
    shots = list(db.session.scalars(query))
    has_more = len(shots) > limit
    shots = shots[:limit]
    for shot in shots:
        shot.reveal_names(cipher)
    next_cursor = str(Cursor(shots[-1].captured_at, shots[-1].id)) if has_more else None
    return ScreenshotPage(shots=shots, next_cursor=next_cursor, target_type=target_type)


def thumb_size(width: int, height: int, box: tuple[int, int] = THUMB_BOX) -> tuple[int, int]:
    """The thumbnail's size: the image scaled down (never up) to fit ``box``, its proportions kept."""
    scale = min(box[0] / width, box[1] / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail(shot: Screenshot) -> bytes:
    """A small JPEG of the screenshot, made in memory from the decrypted image; nothing is written."""
    with Image.open(io.BytesIO(open_screenshot(shot))) as image:
        size = thumb_size(*image.size)
        image.draft("RGB", size)  # JPEG: decode at a reduced scale already
        small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()

