"""Synthetic monitoring data for demos: activity events and screenshots (the training-set ledger is
seed_ledger.py's).

Everything random comes from the ``random.Random`` the caller passes, so a seed reproduces the
data (except that nothing is generated later than "now", which moves).  Times follow the
employee's working day in their own time zone (Mon-Fri, about 09:00-18:00 with a lunch dip)
and are returned as UTC-aware datetimes.  Nothing here touches the database: the callers hand
the results to :func:`portal.monitoring.ingest.store_events` / ``store_screenshots``.
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from itertools import count as counter
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from portal.demo.screens import draw_screenshot
from portal.monitoring.ingest import ValidEvent, ValidScreenshot
from portal.monitoring.models import EventKind

__all__ = [
    "APPS", "BROWSERS", "SITES", "Activity", "App", "Site", "ValidEvent", "ValidScreenshot", "generate_bulk_events",
    "generate_events", "generate_screenshots",
]

SOURCE_ID = re.compile(r"^[A-Za-z0-9._:-]+$")
SCREEN_W, SCREEN_H = 1920, 1080
KIND_TABLE_SIZE = 64
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

MOUSE_MOVE, CLICK, SCROLL, KEY_TIMING = EventKind.MOUSE_MOVE, EventKind.CLICK, EventKind.SCROLL, EventKind.KEY_TIMING
SCROLL_STEPS = (120, 120, 240, 360, -120, -240, 120, 240, 480, -120, 120, 360, -360, 240, 120, 600)


# --- what people look at --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Site:
    """A web site visited in a browser: its pages as (URL, page title)."""

    domain: str
    pages: tuple[tuple[str, str], ...]
    dwell_s: tuple[int, int]
    inputs: tuple[int, int, int, int]  # relative weights of mouse_move, click, scroll, key_timing
    rate: float  # relative input events per minute of focus
    leisure: bool = False  # also visited over lunch


@dataclass(frozen=True, slots=True)
class App:
    """A desktop application and its window titles."""

    name: str
    titles: tuple[str, ...]
    dwell_s: tuple[int, int]
    inputs: tuple[int, int, int, int]
    rate: float
    site_domain: str | None = None


@dataclass(frozen=True, slots=True)
class Activity:
    """What one focus period shows: the focus event's facts and its input-kind table."""

    kind: EventKind
    application: str
    site_domain: str | None
    url: str | None
    title: str
    kinds: tuple[EventKind, ...]
    rate: float


BROWSERS: tuple[tuple[str, str], ...] = (("Google Chrome", " — Google Chrome"), ("Firefox", " — Mozilla Firefox"))

_QUERIES = ("data retention policy template", "python dataclass slots", "postgres index only scan",
            "flask blueprint url_prefix", "gdpr article 15 access request", "docker compose healthcheck",
            "excel xlookup multiple criteria", "time zone converter", "idempotency key best practices",
            "quarterly planning template", "lunch near me", "pytest fixture scope")
_ARTICLES = ("Data_protection", "General_Data_Protection_Regulation", "Unix_time", "Coordinated_Universal_Time",
             "Public-key_cryptography", "Advanced_Encryption_Standard", "PostgreSQL", "Flask_(web_framework)",
             "Time_zone", "Daylight_saving_time", "Pomodoro_Technique", "Human_factors_and_ergonomics")
_CHANNELS = (("general", "C01GENERAL"), ("engineering", "C05ENG2K1"), ("payments-team", "C03PAYTM7"),
             ("random", "C01RANDOM"), ("incidents", "C07INC9Q2"), ("design-review", "C04DSGN5R"))
_DMS = (("Priya Shah", "D06PSHAH1"), ("Jonas Becker", "D02JBECK4"), ("Amara Okafor", "D09AOKAF2"))

SITES: tuple[Site, ...] = (
    Site("google.com",
         tuple((f"https://www.google.com/search?q={quote_plus(q)}", f"{q} - Google Search") for q in _QUERIES),
         (20, 180), (40, 20, 15, 25), 40, leisure=True),
    Site("linkedin.com", (
        ("https://www.linkedin.com/feed/", "(3) Feed | LinkedIn"),
        ("https://www.linkedin.com/in/priya-shah-4b21a7/", "Priya Shah | LinkedIn"),
        ("https://www.linkedin.com/in/jonas-becker-dev/", "Jonas Becker | LinkedIn"),
        ("https://www.linkedin.com/mynetwork/", "My Network | LinkedIn"),
        ("https://www.linkedin.com/jobs/", "Jobs | LinkedIn"),
        ("https://www.linkedin.com/messaging/", "Messaging | LinkedIn"),
        ("https://www.linkedin.com/notifications/", "Notifications | LinkedIn"),
    ), (60, 600), (50, 15, 30, 5), 30, leisure=True),
    Site("en.wikipedia.org",
         tuple((f"https://en.wikipedia.org/wiki/{a}", f"{a.replace('_', ' ')} - Wikipedia") for a in _ARTICLES),
         (60, 900), (45, 8, 45, 2), 20, leisure=True),
    Site("slack.com",
         tuple((f"https://app.slack.com/client/T04ACME01/{cid}", f"{name} (Channel) - Acme - Slack")
               for name, cid in _CHANNELS)
         + tuple((f"https://app.slack.com/client/T04ACME01/{cid}", f"{name} (DM) - Acme - Slack")
                 for name, cid in _DMS),
         (60, 600), (30, 15, 15, 40), 35),
    Site("github.com", (
        ("https://github.com/acme/payments", "GitHub - acme/payments: Payment settlement service"),
        ("https://github.com/acme/payments/pull/412",
         "Add idempotency keys to refunds by jdoe · Pull Request #412 · acme/payments"),
        ("https://github.com/acme/payments/pull/415",
         "Round fees half-even by pshah · Pull Request #415 · acme/payments"),
        ("https://github.com/acme/payments/issues/388", "Refund webhook retries twice · Issue #388 · acme/payments"),
        ("https://github.com/acme/payments/blob/main/src/payments/settle.py",
         "payments/src/payments/settle.py at main · acme/payments"),
        ("https://github.com/acme/portal", "GitHub - acme/portal: Employee privacy portal"),
        ("https://github.com/acme/portal/pull/87",
         "Show retention per category by mlin · Pull Request #87 · acme/portal"),
    ), (60, 900), (45, 20, 30, 5), 30),
)

_SLACK_TITLES = tuple(f"{name} (Channel) - Acme - Slack" for name, _ in _CHANNELS) + tuple(
    f"{name} (DM) - Acme - Slack" for name, _ in _DMS)

APPS: tuple[App, ...] = (
    App("Visual Studio Code", tuple(f"{f} - payments - Visual Studio Code" for f in (
        "settle.py", "refunds.py", "models.py", "ledger.py", "test_settle.py", "test_refunds.py", "README.md",
        "docker-compose.yml")), (300, 2400), (20, 8, 12, 60), 45),
    App("Microsoft Excel", ("Q3 Budget.xlsx - Excel", "Headcount plan 2026.xlsx - Excel",
                            "Vendor invoices.xlsx - Excel", "Travel expenses.xlsx - Excel"),
        (300, 1800), (35, 25, 10, 30), 40),
    App("Outlook", ("Inbox - Outlook", "Calendar - Outlook", "Sent Items - Outlook",
                    "Re: Sprint review notes - Message (HTML)", "Fw: Updated travel policy - Message (HTML)",
                    "Re: Q3 budget sign-off - Message (HTML)"), (120, 900), (35, 20, 20, 25), 35),
    App("Terminal", ("dev@laptop: ~/src/payments", "dev@laptop: ~/src/portal", "pytest — payments",
                     "dev@build-01: ~"), (60, 900), (10, 5, 5, 80), 40),
    App("Zoom", ("Zoom Meeting", "Weekly sync - Zoom", "Payments standup - Zoom", "Quarterly planning - Zoom"),
        (900, 2700), (80, 15, 0, 5), 5),
    App("Slack", _SLACK_TITLES, (60, 600), (30, 15, 15, 40), 35, site_domain="slack.com"),
)

# How much each kind of employee uses each source (keyed by site domain or application name);
# a persona is drawn per call and each weight is then jittered.
_PERSONAS: tuple[dict[str, float], ...] = (
    {"Visual Studio Code": 14, "Terminal": 6, "Slack": 10, "Outlook": 6, "Microsoft Excel": 2, "Zoom": 1.5,
     "github.com": 10, "google.com": 8, "en.wikipedia.org": 3, "linkedin.com": 2, "slack.com": 2},
    {"Visual Studio Code": 1, "Terminal": 0.5, "Slack": 8, "Outlook": 12, "Microsoft Excel": 16, "Zoom": 2,
     "github.com": 1, "google.com": 8, "en.wikipedia.org": 3, "linkedin.com": 3, "slack.com": 3},
    {"Visual Studio Code": 2, "Terminal": 0.5, "Slack": 12, "Outlook": 14, "Microsoft Excel": 8, "Zoom": 5,
     "github.com": 4, "google.com": 6, "en.wikipedia.org": 2, "linkedin.com": 4, "slack.com": 3},
)


def _kind_table(weights: tuple[int, int, int, int]) -> tuple[EventKind, ...]:
    """A fixed-size lookup table: ``table[int(random() * 64)]`` draws a kind with these weights."""
    kinds = (MOUSE_MOVE, CLICK, SCROLL, KEY_TIMING)
    bounds = list(accumulate(weights))
    table = []
    for slot in range(KIND_TABLE_SIZE):
        point = (slot + 0.5) * bounds[-1] / KIND_TABLE_SIZE
        table.append(next(kind for kind, bound in zip(kinds, bounds, strict=True) if point < bound))
    return tuple(table)


_SITE_TABLES = {site.domain: _kind_table(site.inputs) for site in SITES}
_APP_TABLES = {app.name: _kind_table(app.inputs) for app in APPS}


class _Persona:
    """One employee's habits: browser, and how often each site or application has the focus."""

    def __init__(self, rng: random.Random) -> None:
        habits = rng.choice(_PERSONAS)
        self.browser = BROWSERS[0] if rng.random() < 0.7 else BROWSERS[1]
        self.sources: list[Site | App] = [*SITES, *APPS]
        weights = [habits.get(s.domain if isinstance(s, Site) else s.name, 1.0) * rng.uniform(0.6, 1.4)
                   for s in self.sources]
        self.cum = list(accumulate(weights))
        self.leisure: list[Site] = [s for s in SITES if s.leisure]

    def activity(self, rng: random.Random, *, lunch: bool = False) -> tuple[Activity, tuple[int, int]]:
        source: Site | App = rng.choice(self.leisure) if lunch else rng.choices(self.sources, cum_weights=self.cum)[0]
        if isinstance(source, Site):
            browser, suffix = self.browser if rng.random() < 0.92 else rng.choice(BROWSERS)
            url, page = rng.choice(source.pages)
            activity = Activity(EventKind.SITE_VISIT, browser, source.domain, url, page + suffix,
                                _SITE_TABLES[source.domain], source.rate * (0.5 if lunch else 1.0))
        else:
            activity = Activity(EventKind.APP_FOCUS, source.name, source.site_domain, None, rng.choice(source.titles),
                                _APP_TABLES[source.name], source.rate)
        return activity, source.dwell_s


# --- the working day ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Segment:
    start: float  # UTC epoch seconds
    end: float
    activity: Activity


def _utc_offset(zone: ZoneInfo, day: date) -> int:
    """The zone's UTC offset in seconds at local noon of ``day`` (DST changes happen at night)."""
    offset = zone.utcoffset(datetime(day.year, day.month, day.day, 12))
    return int(offset.total_seconds()) if offset is not None else 0


def _plan_day(rng: random.Random, persona: _Persona, day: date, offset_s: int) -> list[_Segment]:
    """Focus periods of one working day, in UTC epoch seconds."""
    midnight = (day.toordinal() - _EPOCH_ORDINAL) * 86400 - offset_s
    t = midnight + 9 * 3600 + rng.uniform(-25, 35) * 60
    lunch_start = midnight + 12 * 3600 + rng.uniform(0, 50) * 60
    lunch_end = lunch_start + rng.uniform(30, 60) * 60
    end = midnight + 17.5 * 3600 + rng.uniform(0, 70) * 60
    segments: list[_Segment] = []
    while t < end:
        lunch = lunch_start <= t < lunch_end
        if lunch and rng.random() < 0.55:
            t = lunch_end  # away from the desk
            continue
        activity, (low, high) = persona.activity(rng, lunch=lunch)
        stop = min(t + rng.uniform(low, high) * (0.5 if lunch else 1.0), end)
        if not lunch and t < lunch_start < stop:
            stop = lunch_start
        segments.append(_Segment(t, stop, activity))
        t = stop
        if rng.random() < 0.08:
            t += rng.uniform(2, 12) * 60  # a coffee, a chat, a meeting room
    return segments


def _clip(segments: list[_Segment], low: float, high: float) -> tuple[list[_Segment], float]:
    """The parts of ``segments`` within [low, high], and the share of focus time kept."""
    total = sum(s.end - s.start for s in segments)
    kept = [_Segment(max(s.start, low), min(s.end, high), s.activity) for s in segments
            if min(s.end, high) - max(s.start, low) >= 1.0]
    share = sum(s.end - s.start for s in kept) / total if total else 0.0
    return kept, share


def _emit_day(rng: random.Random, segments: Sequence[_Segment], n: int, ids: Iterator[str]) -> Iterator[ValidEvent]:
    """Exactly ``n`` events (focus events first in each segment, then its input events), in time order."""
    if n <= 0 or not segments:
        return
    random_ = rng.random
    fromts = datetime.fromtimestamp
    utc = UTC
    if n < 2 * len(segments):  # too few events for every focus period: keep some of them
        keep = sorted(rng.sample(range(len(segments)), max(1, n // 2)))
        segments = [segments[i] for i in keep]
    cum = list(accumulate((s.end - s.start) * s.activity.rate + 1e-6 for s in segments))
    counts = [0] * len(segments)
    for i in rng.choices(range(len(segments)), cum_weights=cum, k=n - len(segments)):
        counts[i] += 1
    for segment, count in zip(segments, counts, strict=True):
        activity = segment.activity
        app, domain, kinds = activity.application, activity.site_domain, activity.kinds
        start, span = segment.start, segment.end - segment.start
        focus: dict[str, Any] = {"title": activity.title}
        if activity.url is not None:
            focus = {"url": activity.url, "title": activity.title}
        yield ValidEvent(next(ids), activity.kind, fromts(start, utc), app, domain, int(span * 1000), focus)
        if not count:
            continue
        x, y = int(random_() * SCREEN_W), int(random_() * SCREEN_H)
        first, usable = start + 0.05, span - 0.05
        for u in sorted([random_() for _ in range(count)]):
            kind = kinds[int(random_() * KIND_TABLE_SIZE)]
            secret: dict[str, Any]
            if kind is MOUSE_MOVE:
                x += int((random_() - 0.5) * 260)
                y += int((random_() - 0.5) * 180)
                x = 0 if x < 0 else SCREEN_W - 1 if x >= SCREEN_W else x
                y = 0 if y < 0 else SCREEN_H - 1 if y >= SCREEN_H else y
                secret = {"x": x, "y": y}
            elif kind is CLICK:
                secret = {"x": x, "y": y, "payload": {"button": "left" if random_() < 0.96 else "right"}}
            elif kind is SCROLL:
                secret = {"payload": {"dy": SCROLL_STEPS[int(random_() * 16)]}}
            else:
                r = random_
                secret = {"payload": {"intervals_ms": [
                    int(45 + 380 * r() * r()) for _ in range(5 + int(r() * 16))]}}
            yield ValidEvent(next(ids), kind, fromts(first + u * usable, utc), app, domain, None, secret)


def _check_prefix(id_prefix: str, largest: int) -> Iterator[str]:
    if not SOURCE_ID.match(id_prefix):
        raise ValueError("id_prefix may hold only letters, digits and . _ : -")
    if len(f"{id_prefix}-{largest}") > 64:
        raise ValueError("id_prefix is too long for 64-character source ids")
    return (f"{id_prefix}-{n}" for n in counter())


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone")
    return value.astimezone(UTC)


# --- public API -----------------------------------------------------------------------------------

def generate_events(rng: random.Random, *, subject_id: str, tz: str, start: datetime, days: int,
                    per_day: int | None = None, id_prefix: str) -> Iterator[ValidEvent]:
    """Activity for ``days`` calendar days from ``start``'s local date, in time order.

    Working days (Mon-Fri) get ``per_day`` events each (default: 180-320, drawn per day), fewer
    on a day cut short by ``start`` or by now; weekends get none.  Nothing is generated before
    ``start`` or after now.  ``subject_id`` is not part of the events (the caller stores them
    under the subject); ids are ``f"{id_prefix}-{n}"`` with n counting from 0."""
    del subject_id  # the events carry no subject; accepted for symmetry with the other helpers
    zone = ZoneInfo(tz)
    low = _aware(start, "start").timestamp()
    high = datetime.now(UTC).timestamp()
    ids = _check_prefix(id_prefix, 10**12)
    persona = _Persona(rng)
    first_day = start.astimezone(zone).date()
    for i in range(days):
        day = first_day + timedelta(days=i)
        if day.weekday() >= 5:
            continue
        planned = _plan_day(rng, persona, day, _utc_offset(zone, day))
        wanted = per_day if per_day is not None else rng.randint(180, 320)
        segments, share = _clip(planned, low, high)
        if segments:
            yield from _emit_day(rng, segments, round(wanted * share), ids)


def generate_bulk_events(rng: random.Random, *, subject_id: str, tz: str, count: int, end: datetime,
                         id_prefix: str) -> Iterator[ValidEvent]:
    """Exactly ``count`` events, 2,000-4,000 per working day, on as many working days before
    ``end`` (or now, if earlier) as needed; in time order, oldest first.  Ids are
    ``f"{id_prefix}-{n}"`` for n = 0 .. count-1."""
    del subject_id
    if count <= 0:
        return
    zone = ZoneInfo(tz)
    high = min(_aware(end, "end"), datetime.now(UTC)).timestamp()
    ids = _check_prefix(id_prefix, count - 1)
    persona = _Persona(rng)
    plan: list[tuple[list[_Segment], int]] = []
    remaining = count
    day = datetime.fromtimestamp(high, zone).date()
    while remaining > 0:
        if day.weekday() < 5:
            segments, share = _clip(_plan_day(rng, persona, day, _utc_offset(zone, day)), float("-inf"), high)
            if segments:
                n = min(remaining, max(1, round(rng.randint(2000, 4000) * share)))
                plan.append((segments, n))
                remaining -= n
        day -= timedelta(days=1)
    for segments, n in reversed(plan):
        yield from _emit_day(rng, segments, n, ids)


ENOUGH_S = 30 * 60  # less working time than this to spread screenshots over looks odd


def _length(segments: Sequence[_Segment]) -> float:
    return sum(s.end - s.start for s in segments)


def generate_screenshots(rng: random.Random, *, tz: str, start: datetime, days: int, count: int, id_prefix: str,
                         canary: str | None = None) -> Iterator[ValidScreenshot]:
    """``count`` PNG screenshots at random moments of the working hours of ``days`` days from
    ``start``'s local date (never before ``start`` nor after now), in time order, each showing
    what the simulated employee had on screen.  Ids are ``f"{id_prefix}-{n}"`` from 0.
    If those days hold under 30 minutes of working time before now, later working days up to
    today are added, and failing that any time between ``start`` and now is used (weekends,
    nights); ValueError only if ``start`` is not before now."""
    if count <= 0:
        return
    zone = ZoneInfo(tz)
    low = _aware(start, "start").timestamp()
    high = datetime.now(UTC).timestamp()
    ids = _check_prefix(id_prefix, count - 1)
    persona = _Persona(rng)
    first_day = start.astimezone(zone).date()
    last_day = datetime.fromtimestamp(high, zone).date()
    segments: list[_Segment] = []
    for i in range(days):
        day = first_day + timedelta(days=i)
        if day.weekday() < 5:
            segments += _clip(_plan_day(rng, persona, day, _utc_offset(zone, day)), low, high)[0]
    day = first_day + timedelta(days=days)
    while _length(segments) < ENOUGH_S and day <= last_day:  # too little: add working days up to today
        if day.weekday() < 5:
            segments += _clip(_plan_day(rng, persona, day, _utc_offset(zone, day)), low, high)[0]
        day += timedelta(days=1)
    if _length(segments) < ENOUGH_S and high - low >= 1:  # e.g. a weekend: any time from start to now
        segments = [_Segment(low, high, persona.activity(rng)[0])]
    if not segments:
        raise ValueError("start is not before now: no time to place screenshots in")
    cum = list(accumulate(s.end - s.start for s in segments))
    total, index = cum[-1], 0
    for offset in sorted(rng.random() * total for _ in range(count)):
        while cum[index] < offset:
            index += 1
        segment = segments[index]
        at = segment.end - (cum[index] - offset)
        captured = datetime.fromtimestamp(at, UTC)
        activity = segment.activity
        image = draw_screenshot(rng, application=activity.application, site_domain=activity.site_domain,
                                title=activity.title, url=activity.url, when=captured.astimezone(zone), canary=canary)
        width, height = struct.unpack(">II", image[16:24])  # the PNG header's IHDR
        yield ValidScreenshot(source_id=next(ids), captured_at=captured, application=activity.application,
                              site_domain=activity.site_domain, image=image, media_type="image/png", width=width,
                              height=height)
