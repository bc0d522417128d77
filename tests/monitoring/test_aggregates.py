"""Activity aggregates kept by ingestion: after every batch they equal a GROUP BY over the stored
events, recomputed here with plain SQL and Python's own time-zone conversion, across local
midnight and daylight-saving changes, on both databases."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal.demo.seed import generate
from portal.extensions import db
from portal.monitoring import aggregates
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityDaily, ActivityEvent, ActivityHourly
from portal.people.models import Employee
from tests.conftest import both_databases
from tests.helpers import event, make_employee


def iso(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).isoformat()


def employee_in(app: Flask, email: str, zone: str) -> str:
    subject = make_employee(app, email)
    with app.app_context():
        found = db.session.get(Employee, subject)
        assert found is not None
        found.timezone = zone
        db.session.commit()
    return subject


def expected(subject_id: str, zone: str) -> dict[str, Any]:
    """The aggregates recomputed from the events themselves: SQL reads them, Python converts."""
    tz = ZoneInfo(zone)
    daily: Counter[date] = Counter()
    hourly: Counter[int] = Counter()
    targets: dict[tuple[str, str], list[int]] = {}
    rows = db.session.execute(
        text("SELECT occurred_at, duration_ms, id FROM activity_events WHERE subject_id = :s"), {"s": subject_id},
    ).all()
    names = {e.id: (e.application, e.site_domain) for e in db.session.scalars(  # opened from their sealed values
        select(ActivityEvent).where(ActivityEvent.subject_id == subject_id))}
    for occurred_at, duration_ms, event_id in rows:
        application, site_domain = names[event_id]
        if isinstance(occurred_at, str):  # SQLite hands back the stored text
            occurred_at = datetime.fromisoformat(occurred_at)
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        local = occurred_at.astimezone(tz)
        daily[local.date()] += 1
        hourly[local.hour] += 1
        key = ("site", site_domain) if site_domain else ("app", application)
        total = targets.setdefault(key, [0, 0])
        total[0] += duration_ms or 0
        total[1] += 1
    return {"daily": dict(daily), "hourly": dict(hourly), "targets": {k: tuple(v) for k, v in targets.items()}}


def stored(subject_id: str) -> dict[str, Any]:
    return {
        "daily": {r.day: r.events for r in db.session.scalars(
            select(ActivityDaily).where(ActivityDaily.subject_id == subject_id))},
        "hourly": {r.hour: r.events for r in db.session.scalars(
            select(ActivityHourly).where(ActivityHourly.subject_id == subject_id))},
        "targets": {(t.target_type, t.target): (t.duration_ms, t.events)
                    for t in aggregates.top_targets(subject_id, limit=10_000).top},
    }


# Madrid: clocks go forward at 01:00 UTC on 30 March 2025 and back at 01:00 UTC on 26 October.
MADRID_FIRST = [
    event(1, occurred_at="2025-03-29T22:30:00+00:00"),  # 23:30 on the 29th, local
    event(2, occurred_at="2025-03-29T23:30:00+00:00", kind="click", duration_ms=None),  # 00:30 on the 30th
    event(3, occurred_at="2025-03-30T00:59:59+00:00", kind="app_focus", site_domain=None, application="Slack",
          duration_ms=60_000),  # 01:59:59 CET
    event(4, occurred_at="2025-03-30T01:00:00+00:00", kind="app_focus", site_domain=None, application="Slack",
          duration_ms=120_000),  # 03:00 CEST: the hour from 02:00 does not exist that night
    event(5, occurred_at="2025-03-30T21:59:59+00:00", kind="scroll", duration_ms=None),  # 23:59:59 CEST
    event(6, occurred_at="2025-03-30T22:00:00+00:00", site_domain="en.wikipedia.org"),  # 00:00 on the 31st
]
MADRID_SECOND = [
    event(2, occurred_at="2025-03-29T23:30:00+00:00", kind="click", duration_ms=None),  # resent: not counted again
    event(7, occurred_at="2025-10-26T00:30:00+00:00", duration_ms=3_600_000),  # 02:30 CEST
    event(8, occurred_at="2025-10-26T01:30:00+00:00", kind="key_timing", duration_ms=None),  # 02:30 CET, again
    event(9, occurred_at="2025-10-25T22:00:00+00:00", kind="app_focus", site_domain=None, application="Terminal",
          duration_ms=None),  # 00:00 on the 26th, CEST
    event(10, occurred_at="2025-10-26T23:00:00+00:00", application="Slack", site_domain="slack.com"),  # 00:00 CET
]
# St John's, Newfoundland: clocks go forward at 02:00 local (05:30 UTC) on 9 March 2025, half-way
# through a UTC hour, and back at 04:30 UTC on 2 November.
NEWFOUNDLAND = [
    event(11, occurred_at="2025-03-09T05:10:00+00:00"),  # 01:40 NST (-03:30)
    event(12, occurred_at="2025-03-09T05:50:00+00:00"),  # 03:20 NDT (-02:30), same UTC hour
    event(13, occurred_at="2025-03-09T03:29:00+00:00", kind="click", duration_ms=None),  # 23:59 on the 8th
    event(14, occurred_at="2025-11-02T04:20:00+00:00", application="Firefox"),  # 01:50 NDT
    event(15, occurred_at="2025-11-02T04:40:00+00:00", application="Firefox"),  # 01:10 NST, after the change
]


@both_databases
@pytest.mark.parametrize(("zone", "batches"), [
    ("Europe/Madrid", [MADRID_FIRST, MADRID_SECOND]),
    ("America/St_Johns", [NEWFOUNDLAND[:2], NEWFOUNDLAND[2:]]),
], ids=["madrid", "newfoundland"])
def test_aggregates_equal_a_group_by_over_the_events(app: Flask, zone: str, batches: list[list[dict[str, Any]]]
                                                      ) -> None:
    subject = employee_in(app, "tz@example.com", zone)
    other = employee_in(app, "other@example.com", "Asia/Kolkata")
    with app.app_context():
        ingest_batch(other, [event(900 + n, occurred_at=f"2025-03-29T2{n}:10:00+00:00") for n in range(3)])
        db.session.commit()
        for batch in batches:
            ingest_batch(subject, batch)
            db.session.commit()
            assert stored(subject) == expected(subject, zone)
        assert stored(other) == expected(other, "Asia/Kolkata")
        assert sum(stored(subject)["daily"].values()) == len({e["event_id"] for b in batches for e in b})


def test_midnight_and_dst_land_on_the_right_local_day_and_hour(app: Flask) -> None:
    """The same facts as above, spelled out, so that the recomputation itself is not the only judge."""
    subject = employee_in(app, "tz@example.com", "Europe/Madrid")
    with app.app_context():
        ingest_batch(subject, MADRID_FIRST)
        db.session.commit()
        result = stored(subject)
    assert result["daily"] == {date(2025, 3, 29): 1, date(2025, 3, 30): 4, date(2025, 3, 31): 1}
    assert result["hourly"] == {23: 2, 0: 2, 1: 1, 3: 1}
    assert result["targets"] == {("site", "github.com"): (1500, 3), ("app", "Slack"): (180_000, 2),
                                 ("site", "en.wikipedia.org"): (1500, 1)}


def test_bulk_generation_keeps_the_aggregates(app: Flask) -> None:
    """The bulk path (demo generate: chunks of events, each committed) keeps them too."""
    subject = employee_in(app, "bulk@example.com", "America/Los_Angeles")
    with app.app_context():
        employee = db.session.get(Employee, subject)
        assert employee is not None
        generate(employee, events=2_500, screenshots=0, seed_value=7)
        assert stored(subject) == expected(subject, "America/Los_Angeles")
        assert sum(stored(subject)["hourly"].values()) == 2_500


@pytest.mark.parametrize("zone", ["UTC", "Europe/Madrid", "America/Los_Angeles", "America/St_Johns",
                                  "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham"])
def test_local_clock_matches_astimezone(zone: str) -> None:
    tz = ZoneInfo(zone)
    clock = aggregates.LocalClock(tz)
    rng = random.Random(zone)
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    instants = [start + rng.randrange(2 * 366 * 86400) for _ in range(20_000)]
    # and every minute around each transition of 2025
    for hour in range(start // 3600, start // 3600 + 2 * 366 * 24):
        if clock.offset(hour * 3600) != clock.offset(hour * 3600 + 3599):
            instants.extend(range(hour * 3600 - 3600, hour * 3600 + 7200, 60))
    for seconds in instants:
        local = datetime.fromtimestamp(seconds, UTC).astimezone(tz)
        naive = datetime.fromtimestamp(seconds + clock.offset(seconds), UTC).replace(tzinfo=None)
        assert naive == local.replace(tzinfo=None), (zone, seconds)


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "UTC"])
def test_an_unknown_time_zone_counts_in_utc(name: str | None) -> None:
    assert aggregates.zone_of(name) == ZoneInfo("UTC")


def test_tally_rows_are_sorted_and_skip_empty_hours() -> None:
    tally = aggregates.ActivityTally(ZoneInfo("UTC"))
    at = datetime(2025, 1, 2, 10, 5, tzinfo=UTC)
    zoom, chrome, site_a, site_b = b"\x03" * 16, b"\x01" * 16, b"\x0a" * 16, b"\x0b" * 16  # blind indexes
    tally.add(at + timedelta(days=1), zoom, None, None)
    tally.add(at, chrome, site_b, 10)
    tally.add(at, chrome, site_a, None)
    daily, hourly, targets = tally.rows("s", {("site", site_a): b"sealed a"})
    assert [r["day"] for r in daily] == [date(2025, 1, 2), date(2025, 1, 3)]
    assert hourly == [{"subject_id": "s", "hour": 10, "events": 3}]
    assert [(r["target_type"], r["bidx"], r["duration_ms"], r["events"], r["label"]) for r in targets] == [
        ("app", zoom, 0, 1, None), ("site", site_a, 0, 1, b"sealed a"), ("site", site_b, 10, 1, None)]
