"""The data browser (/me/activity) and the screenshot gallery (/me/screenshots): filters in the
employee's time zone, keyset pages that yield every item exactly once and stay put when new data
arrives, refusals that answer 400 and change nothing, nobody else's data, decryption only for
display, and query plans that stay on the indexes."""

from __future__ import annotations

import html as htmllib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from portal.extensions import db
from portal.monitoring import browse
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent, EventKind, Screenshot
from portal.people.services import find_by_email
from tests.conftest import both_databases
from tests.helpers import event, grant_all_consents, make_employee, signed_in_as
from tests.monitoring.support import png, shot
from tests.test_security import audit_entries, snapshot

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=30)
# A day on which alice has exactly two events: one just before her local midnight, one at it.
BOUNDARY_DAY = (NOW - timedelta(days=10)).astimezone(MADRID).date()
JUST_BEFORE_MIDNIGHT = datetime.combine(BOUNDARY_DAY, time(23, 59, 59, 999_999), tzinfo=MADRID)
AT_MIDNIGHT = datetime.combine(BOUNDARY_DAY + timedelta(days=1), time.min, tzinfo=MADRID)
PLACES = [("Google Chrome", "github.com"), ("Google Chrome", "en.wikipedia.org"), ("Slack", "slack.com"),
          ("Terminal", None), ("Firefox", "github.com")]
KINDS = list(EventKind)
ALICE_EVENTS = 132
EVENT_LINK = re.compile(r'href="/me/events/(\d+)"')
NEXT_LINK = re.compile(r'<a\b[^>]*\brel="next"[^>]*\bhref="([^"]+)"')
FIRST_LINK = re.compile(r'<a\b[^>]*\brel="first"[^>]*\bhref="([^"]+)"')
SHOT_LINK = re.compile(r'href="/me/screenshots/([0-9a-f]{32})"')


def alice_event(n: int) -> dict[str, Any]:
    """Three events share each timestamp, so page boundaries fall inside runs of equal times."""
    application, site = PLACES[n % len(PLACES)]
    return event(n, occurred_at=(START + timedelta(minutes=17 * (n // 3))).isoformat(), kind=KINDS[n % len(KINDS)].value,
                 application=application, site_domain=site, title=f"Alice window {n}",
                 url=f"https://{site}/page/{n}" if site else None)


@dataclass
class World:
    alice: str
    erin: str
    erin_event: int


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    """Alice signed in on ``client`` (time zone Madrid) with 134 events; Erin with her own."""
    signed_in_as(client, "alice@example.com")
    erin = make_employee(app, "erin@example.com", name="Erin Other")
    with app.app_context():
        alice_employee = find_by_email("alice@example.com")
        assert alice_employee is not None
        alice_employee.timezone = "Europe/Madrid"
        alice = alice_employee.id
        grant_all_consents(alice)
        events = [alice_event(n) for n in range(ALICE_EVENTS)]
        events += [event(1000, occurred_at=JUST_BEFORE_MIDNIGHT.isoformat(), title="Late night window"),
                   event(1001, occurred_at=AT_MIDNIGHT.isoformat(), title="Midnight window")]
        ingest_batch(alice, events=events)
        ingest_batch(erin, events=[event(n, application="ErinsPrivateApp", site_domain="erinsite.org",
                                         title=f"Erin secret window {n}", url=f"https://erinsite.org/{n}")
                                   for n in range(60)])
        db.session.commit()
        erin_event = db.session.scalar(sa.select(ActivityEvent.id).where(ActivityEvent.subject_id == erin).limit(1))
        assert erin_event is not None
    return World(alice, erin, erin_event)


@dataclass(frozen=True)
class Fact:
    id: int
    at: datetime
    kind: str
    application: str
    site: str | None


def alice_facts(app: Flask, subject_id: str) -> list[Fact]:
    """Every event of the subject's, newest first: the ground truth the pages are checked against."""
    with app.app_context():
        rows = db.session.scalars(sa.select(ActivityEvent).where(ActivityEvent.subject_id == subject_id)).all()
        facts = [Fact(r.id, r.occurred_at, r.kind, r.application, r.site_domain) for r in rows]  # names opened
        db.session.remove()
    return sorted(facts, key=lambda f: (f.at, f.id), reverse=True)


def link(match: re.Match[str] | None) -> str | None:
    return htmllib.unescape(match.group(1)) if match else None


def walk(client: FlaskClient, url: str) -> tuple[list[int], list[str]]:
    """Follow the "Older" links from ``url`` to the end: every event id shown, and the pages' URLs."""
    ids: list[int] = []
    urls: list[str] = []
    next_url: str | None = url
    while next_url:
        assert len(urls) < 50, "the walk does not end"
        response = client.get(next_url)
        assert response.status_code == 200, (next_url, response.status_code)
        body = response.get_data(as_text=True)
        urls.append(next_url)
        ids += [int(i) for i in EVENT_LINK.findall(body)]
        next_url = link(NEXT_LINK.search(body))
    return ids, urls


def activity_url(**query: str) -> str:
    return "/me/activity" + (f"?{urlencode(query)}" if query else "")


# --- the list and its pages ----------------------------------------------------------------------

def test_first_page_shows_fifty_newest_events_decrypted_in_the_employees_time_zone(
        app: Flask, client: FlaskClient, world: World) -> None:
    facts = alice_facts(app, world.alice)
    response = client.get("/me/activity")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert [int(i) for i in EVENT_LINK.findall(body)] == [f.id for f in facts[:50]]
    assert "Midnight window" in body and "Late night window" in body
    midnight_row = body[body.index("Midnight window") - 900: body.index("Midnight window")]
    assert f">{AT_MIDNIGHT.day} {AT_MIDNIGHT:%B %Y}, 00:00:00</time>" in midnight_row
    assert f'datetime="{AT_MIDNIGHT.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"' in midnight_row
    assert "Europe/Madrid" in body
    assert f"{ALICE_EVENTS + 2:,} events recorded in total" in body
    assert 'rel="first"' not in body, "the first page has no link back to itself"
    assert '<option value="github.com">' in body and '<option value="Terminal">' in body, "suggestions"
    assert "erinsite" not in body and "Erin" not in body
    assert re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", body) is None


def test_titles_are_sealed_in_the_database_and_decrypted_only_for_the_page(
        app: Flask, client: FlaskClient, world: World) -> None:
    body = client.get("/me/activity").get_data(as_text=True)
    assert "Midnight window" in body
    with app.app_context():
        row = db.session.execute(sa.select(ActivityEvent.__table__).where(
            ActivityEvent.subject_id == world.alice, ActivityEvent.source_event_id == "ev-1001")).one()
        for value in row:
            if isinstance(value, bytes | str):
                as_bytes = value if isinstance(value, bytes) else value.encode()
                assert b"Midnight window" not in as_bytes


@both_databases
def test_pagination_walks_every_event_exactly_once_in_order(app: Flask, client: FlaskClient, world: World) -> None:
    ids, urls = walk(client, "/me/activity")
    assert ids == [f.id for f in alice_facts(app, world.alice)]
    assert len(urls) == 3  # 50 + 50 + 34
    last = client.get(urls[-1]).get_data(as_text=True)
    assert link(FIRST_LINK.search(last)) == "/me/activity"
    assert "Older events" in last


@both_databases
def test_pages_stay_put_when_new_events_arrive(app: Flask, client: FlaskClient, world: World) -> None:
    facts = alice_facts(app, world.alice)
    first = client.get("/me/activity").get_data(as_text=True)
    older = link(NEXT_LINK.search(first))
    assert older is not None
    with app.app_context():
        ingest_batch(world.alice, events=[event(5000 + n, occurred_at=(NOW - timedelta(seconds=n)).isoformat(),
                                                title=f"Brand new {n}") for n in range(7)])
        db.session.commit()
    second = client.get(older).get_data(as_text=True)
    assert [int(i) for i in EVENT_LINK.findall(second)] == [f.id for f in facts[50:100]]
    assert "Brand new" not in second
    assert "Brand new 0" in client.get("/me/activity").get_data(as_text=True)


# --- filters ---------------------------------------------------------------------------------------

def day(d: date) -> str:
    return d.isoformat()


FILTERS: dict[str, tuple[dict[str, str], Any]] = {
    "category input": ({"category": "input_events"}, lambda f: EventKind(f.kind).category == "input_events"),
    "category activity": ({"category": "app_activity"}, lambda f: EventKind(f.kind).category == "app_activity"),
    "site": ({"target": "github.com"}, lambda f: f.site == "github.com"),
    "site, any case": ({"target": "GitHub.com"}, lambda f: f.site == "github.com"),
    "application with a site": ({"target": "Firefox"}, lambda f: f.application == "Firefox"),
    "application alone": ({"target": "Terminal"}, lambda f: f.application == "Terminal"),
    "kind": ({"kind": "click"}, lambda f: f.kind == "click"),
    "site and kind": ({"target": "github.com", "kind": "site_visit"},
                      lambda f: f.site == "github.com" and f.kind == "site_visit"),
    "site and category": ({"target": "slack.com", "category": "input_events"},
                          lambda f: f.site == "slack.com" and EventKind(f.kind).category == "input_events"),
    "application and kind": ({"target": "Firefox", "kind": "scroll"},
                             lambda f: f.application == "Firefox" and f.kind == "scroll"),
    "local day after midnight": ({"from": day(BOUNDARY_DAY + timedelta(days=1)), "to": day(BOUNDARY_DAY + timedelta(days=1))},
                                 lambda f: f.at == AT_MIDNIGHT),
    "local day before midnight": ({"from": day(BOUNDARY_DAY), "to": day(BOUNDARY_DAY)},
                                  lambda f: f.at == JUST_BEFORE_MIDNIGHT),
    "until the day before midnight": ({"to": day(BOUNDARY_DAY)}, lambda f: f.at <= JUST_BEFORE_MIDNIGHT),
    "from midnight on": ({"from": day(BOUNDARY_DAY + timedelta(days=1))}, lambda f: f.at >= AT_MIDNIGHT),
    "dates and kind": ({"from": day(START.astimezone(MADRID).date()), "to": day(BOUNDARY_DAY), "kind": "mouse_move"},
                       lambda f: f.kind == "mouse_move" and f.at <= JUST_BEFORE_MIDNIGHT),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_walk_exactly_the_matching_events(app: Flask, client: FlaskClient, world: World, name: str) -> None:
    query, matches = FILTERS[name]
    expected = [f.id for f in alice_facts(app, world.alice) if matches(f)]
    assert expected, "the filter should match something"
    ids, urls = walk(client, activity_url(**query))
    assert ids == expected
    first = client.get(urls[0]).get_data(as_text=True)
    assert "Clear filters" in first
    assert "events recorded in total" not in first or set(query) == {"category"}
    for later in urls[1:]:
        for key, value in query.items():
            assert f"{key}={value}" in later.replace("%2F", "/").replace("%2B", "+"), (later, key)


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_every_filter_walks_the_matching_events_on_postgresql(app: Flask, client: FlaskClient, world: World) -> None:
    """The same filters as above, on PostgreSQL (row-value keysets, time zones, the scan window)."""
    facts = alice_facts(app, world.alice)
    for name, (query, matches) in FILTERS.items():
        ids, _ = walk(client, activity_url(**query))
        assert ids == [f.id for f in facts if matches(f)], name


def test_the_site_or_application_field_says_which_it_matched(client: FlaskClient, world: World) -> None:
    site = client.get(activity_url(target="github.com")).get_data(as_text=True)
    assert re.search(r"Site: <strong>github\.com</strong>", site)
    app_page = client.get(activity_url(target="Terminal")).get_data(as_text=True)
    assert re.search(r"Application: <strong>Terminal</strong>", app_page)


@pytest.mark.parametrize("target", ["nowhere.example.org", "NoSuchApp"])
def test_a_site_or_application_without_events_shows_an_empty_state(client: FlaskClient, world: World,
                                                                    target: str) -> None:
    response = client.get(activity_url(target=target))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert EVENT_LINK.search(body) is None and NEXT_LINK.search(body) is None
    assert f"No events were recorded for the site or application “{target}”" in body


# --- another employee's data ---------------------------------------------------------------------

@pytest.mark.parametrize("query", [{}, {"target": "erinsite.org"}, {"target": "ErinsPrivateApp"},
                                   {"category": "app_activity"}])
def test_another_employees_events_never_appear(app: Flask, client: FlaskClient, world: World,
                                               query: dict[str, str]) -> None:
    ids, urls = walk(client, activity_url(**query))
    mine = {f.id for f in alice_facts(app, world.alice)}
    assert set(ids) <= mine
    for url in urls:
        body = client.get(url).get_data(as_text=True).replace(query.get("target", "-"), "the target")
        assert "Erin" not in body and "erinsite" not in body
    if query.get("target"):
        assert ids == []


def test_a_cursor_built_from_another_employees_event_shows_only_your_own(app: Flask, client: FlaskClient,
                                                                        world: World) -> None:
    with app.app_context():
        theirs = db.session.get(ActivityEvent, world.erin_event)
        assert theirs is not None
        cursor = str(browse.Cursor(theirs.occurred_at, theirs.id))
        db.session.remove()
    ids, _ = walk(client, activity_url(before=cursor))
    assert set(ids) <= {f.id for f in alice_facts(app, world.alice)}


# --- refusals ----------------------------------------------------------------------------------------

BAD_QUERIES: dict[str, tuple[dict[str, str], str]] = {
    "cursor garbage": ({"before": "garbage"}, "This page link is damaged"),
    "cursor without id": ({"before": "2025-01-02T03:04:05.000000Z"}, "This page link is damaged"),
    "cursor id not a number": ({"before": "2025-01-02T03:04:05.000000Z~abc"}, "This page link is damaged"),
    "cursor id zero": ({"before": "2025-01-02T03:04:05.000000Z~0"}, "This page link is damaged"),
    "cursor time impossible": ({"before": "2025-02-30T03:04:05.000000Z~7"}, "This page link is damaged"),
    "cursor without time zone": ({"before": "2025-01-02T03:04:05.000000~7"}, "This page link is damaged"),
    "cursor with SQL": ({"before": "2025-01-02T03:04:05.000000Z~7 OR 1=1"}, "This page link is damaged"),
    "category": ({"category": "screenshots"}, "Not a valid choice"),
    "kind": ({"kind": "keystroke"}, "Not a valid choice"),
    "kind outside category": ({"category": "input_events", "kind": "site_visit"}, "not in the chosen category"),
    "date": ({"from": "2025-13-01"}, "Not a valid date"),
    "date far away": ({"from": "0001-01-01"}, "between 1970 and 2999"),
    "dates reversed": ({"from": "2025-03-02", "to": "2025-03-01"}, "end date is before the start date"),
    "target too long": ({"target": "a" * 254}, "253"),
}


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_bad_filters_answer_400_with_the_reason_and_change_nothing(app: Flask, client: FlaskClient, world: World,
                                                                   name: str) -> None:
    query, message = BAD_QUERIES[name]
    before = snapshot(app, skip=frozenset())
    response = client.get(activity_url(**query))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert "These filters could not be used" in body
    assert EVENT_LINK.search(body) is None and "Alice window" not in body
    assert snapshot(app, skip=frozenset()) == before


@pytest.mark.parametrize("before", ["garbage", "2025-01-02T03:04:05.000000Z~42", "2025-01-02T03:04:05Z~" + "a" * 32])
def test_bad_gallery_cursor_answers_400_and_changes_nothing(app: Flask, client: FlaskClient, world: World,
                                                           before: str) -> None:
    state = snapshot(app, skip=frozenset())
    response = client.get("/me/screenshots?" + urlencode({"before": before}))
    assert response.status_code == 400
    assert "This page link is damaged" in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == state


# --- the scan window (residual filters) ---------------------------------------------------------------

@both_databases
@pytest.mark.parametrize("filters", [
    browse.EventFilter(target="Firefox"),
    browse.EventFilter(target="github.com", kind=EventKind.CLICK),
    browse.EventFilter(category="app_activity"),
    browse.EventFilter(target="NoSuchApp"),
], ids=["application", "site and kind", "category", "nothing"])
def test_a_small_scan_window_still_yields_every_match_once(app: Flask, world: World,
                                                           filters: browse.EventFilter) -> None:
    """Pages that stop at the window are short, say how far they looked, and carry on from there."""
    facts = alice_facts(app, world.alice)
    with app.app_context():
        target_type = browse.resolve_target(world.alice, filters.target) if filters.target else None
        ids: list[int] = []
        short_pages = 0
        cursor = None
        for _ in range(200):
            page = browse.event_page(world.alice, filters, MADRID, cursor, limit=4, window=9)
            ids += [row.id for row in page.rows]
            if page.scanned_to is not None:
                short_pages += 1
                assert len(page.rows) <= 4
            if page.next_cursor is None:
                break
            cursor = browse.parse_event_cursor(page.next_cursor)
        db.session.remove()

    def matches(f: Fact) -> bool:
        if filters.target and target_type == "site" and f.site != filters.target:
            return False
        if filters.target and target_type == "application" and f.application != filters.target:
            return False
        if filters.kind and f.kind != filters.kind:
            return False
        return not (filters.category and EventKind(f.kind).category != filters.category)

    assert ids == [f.id for f in facts if matches(f)]
    assert short_pages > 0


# --- query plans -------------------------------------------------------------------------------------

PLAN_QUERIES: dict[str, tuple[dict[str, str], str]] = {
    "none": ({}, "ix_activity_events_subject_time"),
    "category": ({"category": "app_activity"}, "ix_activity_events_subject_time"),
    "kind": ({"kind": "click"}, "ix_activity_events_subject_kind_time"),
    "site": ({"target": "github.com"}, "ix_activity_events_subject_site_time"),
    "rare site": ({"target": "en.wikipedia.org"}, "ix_activity_events_subject_site_time"),
    "site and kind": ({"target": "github.com", "kind": "click"}, "ix_activity_events_subject_site_time"),
    "site and category": ({"target": "github.com", "category": "input_events"},
                          "ix_activity_events_subject_site_time"),
    "application": ({"target": "Firefox"}, "ix_activity_events_subject_time"),
    "application and kind": ({"target": "Firefox", "kind": "click"}, "ix_activity_events_subject_kind_time"),
    "application and category": ({"target": "Terminal", "category": "input_events"},
                                 "ix_activity_events_subject_time"),
    "dates": ({"from": day(START.date()), "to": day(BOUNDARY_DAY)}, "ix_activity_events_subject_time"),
    "dates and kind": ({"from": day(START.date()), "kind": "scroll"}, "ix_activity_events_subject_kind_time"),
    "dates and site": ({"to": day(BOUNDARY_DAY), "target": "slack.com"}, "ix_activity_events_subject_site_time"),
}
GOOD_PLAN = re.compile(r"^SEARCH activity_events USING (COVERING )?INDEX ix_activity_events_subject_\w+ \(subject_id=\?"
                       r"|^SEARCH activity_events USING INTEGER PRIMARY KEY \(rowid")




@contextmanager
def statements_on_events(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT that touches activity_events while the block runs, with its parameters."""
    captured: list[tuple[str, Any]] = []

    def listen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "activity_events" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield captured
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def query_plan(app: Flask, statement: str, parameters: Any) -> list[str]:
    with app.app_context(), db.engine.connect() as conn:
        return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]


def test_every_filter_reads_events_through_an_index(app: Flask, client: FlaskClient, world: World) -> None:
    """EXPLAIN QUERY PLAN of every statement each filter runs on activity_events (first page and a
    later one): always a SEARCH on one of its indexes, never a SCAN of the table, and no sorting
    except of one scan chunk's rows."""
    tenth = alice_facts(app, world.alice)[10]
    cursor = str(browse.Cursor(tenth.at, tenth.id))
    for name, (query, index) in PLAN_QUERIES.items():
        used = set()
        for extra in ({}, {"before": cursor}):
            with statements_on_events(app) as captured:
                assert client.get(activity_url(**query, **extra)).status_code == 200, name
            assert captured, name
            for statement, parameters in captured:
                plan = query_plan(app, statement, parameters)
                on_events = [line for line in plan if "activity_events" in line]
                assert on_events, (name, statement, plan)
                for line in on_events:
                    assert GOOD_PLAN.match(line), f"{name}: {line}\n{statement}"
                    used.add(line)
                if extra and "ORDER BY activity_events.occurred_at DESC" in statement:
                    # The page position is a range on the index, not a filter applied to every entry.
                    assert any("occurred_at<?" in line for line in on_events), (name, statement, plan)
                if not any(line.startswith("CO-ROUTINE") for line in plan):
                    # Read straight from an index in its order; only a scan chunk's few rows may be sorted.
                    assert not any("TEMP B-TREE" in line for line in plan), (name, statement, plan)
        assert any(index in line for line in used), (name, used)


# --- the gallery ---------------------------------------------------------------------------------------

GALLERY_PLACES = [("Google Chrome", "github.com"), ("Slack", "slack.com"), ("Terminal", None)]


@pytest.fixture
def gallery(app: Flask, world: World) -> dict[str, str]:
    """31 screenshots of alice's (pairs share a time; one is a large 1280x720 image), 3 of Erin's."""
    shots = []
    for n in range(30):
        application, site = GALLERY_PLACES[n % 3]
        shots.append(shot(n, png(f"alice {n}", size=(160, 90)), application=application, site_domain=site,
                          captured_at=(START + timedelta(hours=n // 2)).isoformat()))
    shots.append(shot(99, png("large", size=(1280, 720)), application="Terminal", site_domain=None,
                      captured_at=(NOW - timedelta(minutes=5)).isoformat()))
    with app.app_context():
        ingest_batch(world.alice, screenshots=shots)
        ingest_batch(world.erin, screenshots=[shot(n, png(f"erin {n}"), application="ErinsPrivateApp",
                                                   site_domain="erinsite.org") for n in range(3)])
        db.session.commit()
        large = db.session.scalar(sa.select(Screenshot.id).where(Screenshot.subject_id == world.alice,
                                                                 Screenshot.source_id == "shot-99"))
        erins = db.session.scalar(sa.select(Screenshot.id).where(Screenshot.subject_id == world.erin).limit(1))
        assert large is not None and erins is not None
        db.session.remove()
    return {"large": large, "erins": erins}


def alice_shots(app: Flask, subject_id: str) -> list[tuple[str, datetime, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Screenshot).where(Screenshot.subject_id == subject_id)).all()
        shots = [(r.id, r.captured_at, r.application, r.site_domain) for r in rows]  # names opened
        db.session.remove()
    return sorted(shots, key=lambda r: (r[1], r[0]), reverse=True)


def walk_gallery(client: FlaskClient, url: str) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    pages: list[str] = []
    next_url: str | None = url
    while next_url:
        assert len(pages) < 20
        response = client.get(next_url)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        pages.append(body)
        ids += SHOT_LINK.findall(body)
        next_url = link(NEXT_LINK.search(body))
    return ids, pages


@both_databases
def test_gallery_pages_show_every_screenshot_once_newest_first(app: Flask, client: FlaskClient, world: World,
                                                               gallery: dict[str, str]) -> None:
    expected = alice_shots(app, world.alice)
    ids, pages = walk_gallery(client, "/me/screenshots")
    assert ids == [s[0] for s in expected]
    assert [len(SHOT_LINK.findall(page)) for page in pages] == [24, 7]
    first = pages[0]
    for shot_id, *_ in expected[:24]:
        assert f'src="/me/screenshots/{shot_id}/thumbnail"' in first
    large = re.search(rf'<img src="/me/screenshots/{gallery["large"]}/thumbnail"[^>]*>', first)
    assert large and 'width="320" height="180"' in large.group(0) and 'alt="Screenshot of Terminal at ' in large.group(0)
    local = (NOW - timedelta(minutes=5)).astimezone(MADRID).strftime("%-d %B %Y, %H:%M")
    assert f">{local}</time>" in first
    assert "ErinsPrivateApp" not in "".join(pages) and gallery["erins"] not in "".join(pages)
    assert re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", first) is None


@pytest.mark.parametrize(("target", "matches"), [
    ("slack.com", lambda s: s[3] == "slack.com"),
    ("Terminal", lambda s: s[2] == "Terminal"),
    ("Google Chrome", lambda s: s[2] == "Google Chrome"),
])
def test_gallery_filters_by_site_or_application(app: Flask, client: FlaskClient, world: World,
                                                gallery: dict[str, str], target: str, matches: Any) -> None:
    expected = [s[0] for s in alice_shots(app, world.alice) if matches(s)]
    ids, pages = walk_gallery(client, "/me/screenshots?" + urlencode({"target": target}))
    assert ids == expected and expected


@pytest.mark.parametrize("target", ["erinsite.org", "ErinsPrivateApp", "nothing.example"])
def test_gallery_filter_without_screenshots_shows_an_empty_state(client: FlaskClient, world: World,
                                                                 gallery: dict[str, str], target: str) -> None:
    body = client.get("/me/screenshots?" + urlencode({"target": target})).get_data(as_text=True)
    assert SHOT_LINK.search(body) is None
    assert f"No screenshots were taken of the site or application “{target}”" in body


def test_gallery_without_screenshots_says_so(client: FlaskClient, world: World) -> None:
    body = client.get("/me/screenshots").get_data(as_text=True)
    assert "No screenshots have been taken of your screen." in body


def test_thumbnail_is_a_small_jpeg_made_in_memory_sent_no_store_and_recorded(
        app: Flask, client: FlaskClient, world: World, gallery: dict[str, str]) -> None:
    from tests.monitoring.support import artifact_files

    files = artifact_files(app)
    response = client.get(f"/me/screenshots/{gallery['large']}/thumbnail")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    with Image.open(io.BytesIO(response.get_data())) as image:
        assert (image.format, image.size) == ("JPEG", browse.thumb_size(1280, 720)) == ("JPEG", (320, 180))
    assert artifact_files(app) == files, "nothing was written"
    views = audit_entries(app, "monitoring:screenshot:view")
    assert [(e.actor_id, e.targets, e.details) for e in views] == [
        (world.alice, {"screenshot": gallery["large"]}, {"size": "thumbnail"})]


def test_another_employees_thumbnail_is_not_found_and_audited(app: Flask, client: FlaskClient, world: World,
                                                              gallery: dict[str, str]) -> None:
    before = snapshot(app)
    refused = len(audit_entries(app, "access:object:refused"))
    response = client.get(f"/me/screenshots/{gallery['erins']}/thumbnail")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    entries = audit_entries(app, "access:object:refused")[refused:]
    assert [(e.actor_id, e.targets["id"]) for e in entries] == [(world.alice, gallery["erins"])]
    assert snapshot(app) == before
    assert audit_entries(app, "monitoring:screenshot:view") == []
