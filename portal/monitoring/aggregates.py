"""Activity aggregates: events per local day, per local hour of the day, and time and events per
web site or application. Ingestion keeps them up to date (:class:`ActivityTally`), so the
dashboard reads a few hundred small rows instead of counting millions of events per request.

Sites and applications are counted by their blind index under the subject's key; each row's
name is sealed with that key (``label``), written by the insert that creates the row and kept as
it is by the updates after it.

Days and hours are in the employee's own time zone as it was when the events were stored. The
retention run takes the rows it deletes off the same tables (:meth:`ActivityTally.subtract`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from math import floor
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, bindparam, delete, func, select, update

from portal.crypto import KeyDestroyed, SubjectCipher, keystore
from portal.db import upsert
from portal.extensions import db
from portal.monitoring.models import ActivityDaily, ActivityHourly, ActivityTarget

SITE = "site"
APP = "app"
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def zone_of(name: str | None) -> ZoneInfo:
    """The employee's time zone, or UTC when the name is missing or unknown (it comes from an IdP claim)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class LocalClock:
    """Maps UTC epoch seconds to the zone's local epoch seconds (``utc + offset``).

    The zone's offset is looked up once per UTC hour and kept; an hour within which the offset
    changes (a transition off the whole UTC hour, as in Newfoundland or Lord Howe Island) is not
    kept, and each instant in it is looked up exactly."""

    __slots__ = ("offsets", "zone")

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.offsets: dict[int, int] = {}  # UTC hour number -> offset in seconds

    def _offset_at(self, seconds: int) -> int:
        delta = datetime.fromtimestamp(seconds, UTC).astimezone(self.zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    def offset(self, seconds: int) -> int:
        """The offset at ``seconds`` (UTC epoch seconds), from the cache when it can be."""
        hour = seconds // 3600
        cached = self.offsets.get(hour)
        if cached is not None:
            return cached
        start = self._offset_at(hour * 3600)
        if start == self._offset_at(hour * 3600 + 3599):
            self.offsets[hour] = start
            return start
        return self._offset_at(seconds)


class ActivityTally:
    """Counts for one batch of one subject's events, added to the aggregate tables by :meth:`store`.

    :meth:`add` is called once per stored event on the bulk path, so it does only integer
    arithmetic and dictionary updates."""

    __slots__ = ("app_events", "app_ms", "clock", "daily", "hourly", "offsets", "site_events", "site_ms")

    def __init__(self, zone: ZoneInfo) -> None:
        self.clock = LocalClock(zone)
        self.offsets = self.clock.offsets
        self.daily: defaultdict[int, int] = defaultdict(int)  # local day number since 1970-01-01 -> events
        self.hourly = [0] * 24
        self.site_events: defaultdict[bytes, int] = defaultdict(int)  # by blind index
        self.site_ms: defaultdict[bytes, int] = defaultdict(int)
        self.app_events: defaultdict[bytes, int] = defaultdict(int)
        self.app_ms: defaultdict[bytes, int] = defaultdict(int)

    def add(self, occurred_at: datetime, app_bidx: bytes | None, site_bidx: bytes | None,
            duration_ms: int | None) -> None:
        seconds = floor(occurred_at.timestamp())
        offset = self.offsets.get(seconds // 3600)
        if offset is None:
            offset = self.clock.offset(seconds)
        local = seconds + offset
        self.daily[local // 86400] += 1
        self.hourly[local // 3600 % 24] += 1
        if site_bidx is not None:
            self.site_events[site_bidx] += 1
            if duration_ms:
                self.site_ms[site_bidx] += duration_ms
        elif app_bidx is not None:  # None only in rows whose subject's key was gone at migration 0027
            self.app_events[app_bidx] += 1
            if duration_ms:
                self.app_ms[app_bidx] += duration_ms

    def targets(self) -> list[tuple[str, bytes]]:
        """The (kind, blind index) of every site and application counted."""
        return [(APP, bidx) for bidx in self.app_events] + [(SITE, bidx) for bidx in self.site_events]

    def rows(self, subject_id: str, labels: Mapping[tuple[str, bytes], bytes | None] | None = None,
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The increments per table, each sorted by key (concurrent batches then lock rows in one order);
        ``labels``: each target's sealed name, by (kind, blind index)."""
        labels = labels or {}
        daily = [{"subject_id": subject_id, "day": date.fromordinal(n + _EPOCH_ORDINAL), "events": count}
                 for n, count in sorted(self.daily.items())]
        hourly = [{"subject_id": subject_id, "hour": hour, "events": count}
                  for hour, count in enumerate(self.hourly) if count]
        targets = [{"subject_id": subject_id, "target_type": kind, "bidx": bidx, "events": count,
                    "duration_ms": durations.get(bidx, 0), "label": labels.get((kind, bidx))}
                   for kind, counts, durations in ((APP, self.app_events, self.app_ms),
                                                   (SITE, self.site_events, self.site_ms))
                   for bidx, count in sorted(counts.items())]
        return daily, hourly, targets

    def store(self, subject_id: str, labels: Mapping[tuple[str, bytes], bytes | None] | None = None) -> None:
        """Add the counts to the subject's aggregate rows: one upsert per table (``INSERT ... ON
        CONFLICT DO UPDATE SET n = n + excluded.n``, the same SQL on SQLite and PostgreSQL). A site
        or application seen for the first time takes its sealed name from ``labels``."""
        daily, hourly, targets = self.rows(subject_id, labels)
        _add_to(ActivityDaily, daily, ("events",))
        _add_to(ActivityHourly, hourly, ("events",))
        _add_to(ActivityTarget, targets, ("events", "duration_ms"))

    def subtract(self, subject_id: str) -> None:
        """Take the counts (of events being deleted) off the subject's aggregate rows: per table one
        ``UPDATE ... SET n = n - :n`` (executemany, in the key order :meth:`store` locks rows in), so
        that it commutes with ingestion adding to the same rows; then the rows that reach zero are
        deleted, a target's sealed name with its row."""
        daily, hourly, targets = self.rows(subject_id)
        _take_from(ActivityDaily, daily, ("events",))
        _take_from(ActivityHourly, hourly, ("events",))
        _take_from(ActivityTarget, targets, ("events", "duration_ms"))


def _take_from(model: Any, rows: list[dict[str, Any]], counters: Iterable[str]) -> None:
    if not rows:
        return
    table = model.__table__
    keys = [c.name for c in table.primary_key.columns]
    counters = list(counters)
    where = and_(*(table.c[k] == bindparam(f"key_{k}") for k in keys))
    values = [{**{f"key_{k}": row[k] for k in keys}, **{f"less_{n}": row[n] for n in counters}} for row in rows]
    db.session.execute(update(table).where(where).values({n: table.c[n] - bindparam(f"less_{n}") for n in counters}),
                       values)
    db.session.execute(delete(table).where(where, table.c.events <= 0),
                       [{f"key_{k}": row[k] for k in keys} for row in rows])


def _add_to(model: Any, rows: list[dict[str, Any]], counters: Iterable[str]) -> None:
    if not rows:
        return
    table = model.__table__
    upsert(table, rows, [c.name for c in table.primary_key.columns],
           set_=lambda new: {name: table.c[name] + new[name] for name in counters})


# --- reading -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetTotal:
    target_type: str  # "site" or "app"
    target: str  # the name, opened for display
    duration_ms: int
    events: int


@dataclass(frozen=True)
class TargetSummary:
    """The ``limit`` targets with the most time in focus, and what all the others add up to."""

    top: list[TargetTotal]
    other_count: int
    other_ms: int
    other_events: int

    @property
    def total_ms(self) -> int:
        return sum(t.duration_ms for t in self.top) + self.other_ms

    @property
    def empty(self) -> bool:
        return not self.top


def daily_counts(subject_id: str, first: date, last: date) -> dict[date, int]:
    """Events per local day from ``first`` to ``last`` (inclusive); days without events are absent."""
    rows = db.session.execute(
        select(ActivityDaily.day, ActivityDaily.events)
        .where(ActivityDaily.subject_id == subject_id, ActivityDaily.day >= first, ActivityDaily.day <= last)
    )
    return {day: int(events) for day, events in rows}


def hourly_counts(subject_id: str) -> list[int]:
    """Events per local hour of the day, 0 to 23, over all time."""
    counts = [0] * 24
    for hour, events in db.session.execute(
        select(ActivityHourly.hour, ActivityHourly.events).where(ActivityHourly.subject_id == subject_id)
    ):
        if 0 <= hour < 24:
            counts[hour] = int(events)
    return counts


def subject_cipher(subject_id: str) -> SubjectCipher | None:
    """The subject's cipher, or None once their key is destroyed."""
    try:
        return keystore().cipher(subject_id)
    except KeyDestroyed:
        return None


def open_label(cipher: SubjectCipher | None, target_type: str, bidx: bytes, label: bytes | None) -> str:
    """A target's name for display ("" when it cannot be opened: the subject's key is gone)."""
    if cipher is None or label is None:
        return ""
    return cipher.open_label(target_type, bidx, label)


def top_targets(subject_id: str, limit: int = 8, cipher: SubjectCipher | None = None) -> TargetSummary:
    """The sites and applications with the most time in focus, and the rest summed up; their names
    opened with the subject's key (``cipher``, or looked up). Ties are ranked by kind and name, as
    they read: the rows tied with the last one taken are read too, and ranked once opened."""
    t = ActivityTarget
    columns = (t.target_type, t.bidx, t.label, t.duration_ms, t.events)
    rows = db.session.execute(select(*columns).where(t.subject_id == subject_id)
                              .order_by(t.duration_ms.desc(), t.events.desc()).limit(limit)).all()
    if len(rows) == limit and rows:
        last = rows[-1]
        rows = [r for r in rows if (r.duration_ms, r.events) != (last.duration_ms, last.events)]
        rows += db.session.execute(select(*columns).where(
            t.subject_id == subject_id, t.duration_ms == last.duration_ms, t.events == last.events)).all()
    if rows and cipher is None:
        cipher = subject_cipher(subject_id)
    opened = [TargetTotal(kind, open_label(cipher, kind, bidx, label), int(ms), int(events))
              for kind, bidx, label, ms, events in rows]
    top = sorted(opened, key=lambda x: (-x.duration_ms, -x.events, x.target_type, x.target))[:limit]
    count, total_ms, total_events = db.session.execute(
        select(func.count(), func.coalesce(func.sum(ActivityTarget.duration_ms), 0),
               func.coalesce(func.sum(ActivityTarget.events), 0))
        .where(ActivityTarget.subject_id == subject_id)
    ).one()
    return TargetSummary(
        top=top,
        other_count=int(count) - len(top),
        other_ms=int(total_ms) - sum(t.duration_ms for t in top),
        other_events=int(total_events) - sum(t.events for t in top),
    )



def all_targets(subject_id: str, cipher: SubjectCipher | None = None) -> list[TargetTotal]:
    """Every site and application with its time in focus and events over all time, names opened
    (``cipher``, or looked up), ranked as :func:`top_targets` ranks them."""
    t = ActivityTarget
    rows = db.session.execute(select(t.target_type, t.bidx, t.label, t.duration_ms, t.events)
                              .where(t.subject_id == subject_id)).all()
    if rows and cipher is None:
        cipher = subject_cipher(subject_id)
    opened = [TargetTotal(kind, open_label(cipher, kind, bidx, label), int(ms), int(events))
              for kind, bidx, label, ms, events in rows]
    return sorted(opened, key=lambda x: (-x.duration_ms, -x.events, x.target_type, x.target))
