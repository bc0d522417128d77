"""The dashboard at /: the register with this employee's counts and purge dates, the training
sets that used their data, their rights (with the right authority), three pictures whose
numbers match the aggregates, empty states, and a fixed, small number of queries that never
scan the events."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event as sa_event
from sqlalchemy import select

from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.extensions import db
from portal.jurisdictions import regime_for
from portal.monitoring import aggregates
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityDaily, ActivityHourly, DataCategory
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import services as rs
from portal.rights.models import RequestType
from portal.training import services as ledger
from portal.training.models import ModelAction, RemovalAnswer, RemovalCause, SnapshotRemoval, TrainingSnapshot
from portal.training.services import record_use
from tests.conftest import set_idp_user
from tests.helpers import event, grant_all_consents, signed_in_as
from tests.monitoring.support import shot

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime.now(UTC).replace(microsecond=0)
FIRST = NOW - timedelta(days=40, hours=3)


def signed_in(client: FlaskClient, sub: str) -> str:
    signed_in_as(client, sub)
    employee = find_by_email(sub)
    assert employee is not None
    return employee.id


def alice_events(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """``count`` events spread over the last 40 days: sites, applications, input events."""
    events = []
    for i in range(offset, offset + count):
        when = (FIRST + timedelta(minutes=97 * i % (40 * 24 * 60))).isoformat()
        if i % 3 == 0:
            events.append(event(i, occurred_at=when, site_domain=("github.com", "slack.com", "google.com")[i % 9 // 3],
                                duration_ms=60_000 + i))
        elif i % 3 == 1:
            events.append(event(i, occurred_at=when, kind="app_focus", site_domain=None, url=None,
                                application=f"App {i % 11}", duration_ms=30_000))
        else:
            events.append(event(i, occurred_at=when, kind="click", x=1, y=2, duration_ms=None))
    events[0]["occurred_at"] = FIRST.isoformat()
    return events


@pytest.fixture
def alice(app: Flask, client: FlaskClient) -> str:
    """Alice (ES, Europe/Madrid) signed in, with 60 events from FIRST on, one screenshot and two
    training-set uses."""
    with app.app_context():
        subject = signed_in(client, "alice@example.com")
        grant_all_consents(subject)
        ingest_batch(subject, alice_events(60), [shot(1, captured_at=(NOW - timedelta(days=2)).isoformat())])
        record_use(subject, dataset_name="activity-2025q3", snapshot_name="snap-0007", record_count=41_234,
                   used_on=date(2025, 9, 30), model_name="focus-predictor", model_version="v3")
        record_use(subject, dataset_name="ui-screens", snapshot_name="snap-0002", record_count=12,
                   used_on=date(2025, 11, 4), model_name="screen-parser", model_version="v1")
        db.session.commit()
    return subject


def page(client: FlaskClient) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def section(html: str, element_id: str) -> str:
    """The element with this id and everything up to the next element of the same heading level."""
    start = html.index(f'id="{element_id}"')
    level = html.rfind("<", 0, start)
    tag = html[level + 1 : html.index(" ", level)]
    end = html.find(f"<{tag} ", start + 1)
    return html[start : end if end != -1 else len(html)]


def text_of(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


# --- content -------------------------------------------------------------------------------------

def test_alice_sees_the_register_with_her_counts_and_purge_dates(app: Flask, client: FlaskClient,
                                                                 alice: str) -> None:
    html = page(client)
    assert "Hello, Alice Martín" in html and "<dd>ES</dd>" in html and "Europe/Madrid" in html
    counts = dict(re.findall(r'data-category="([a-z_]+)">([\d,]+)<', html))
    assert counts == {"input_events": "20", "app_activity": "40", "screenshots": "1", "ai_training_use": "2"}

    for key, retention, first in [("app_activity", 180, FIRST), ("input_events", 180, FIRST + timedelta(minutes=194)),
                                  ("screenshots", 90, NOW - timedelta(days=2))]:
        card = section(html, f"category-{key}")
        purge_on = (first + timedelta(days=retention)).astimezone(MADRID)
        purge = f"{purge_on.day} {purge_on:%B %Y}"
        assert (f"The oldest item will be deleted on or after {purge} (the retention run deletes what has passed "
                "its period once a day).") in text_of(card), key
        assert f"{retention} days." in text_of(card)
    ai = text_of(section(html, "category-ai_training_use"))
    assert "The oldest item will be deleted on or after 29 September 2028" in ai  # 30 Sep 2025 + 1095 days
    assert "From 30 September 2025 to 4 November 2025" in ai

    with app.app_context():
        from portal.monitoring.services import register
        categories = register()
        for category in categories:
            card = text_of(section(html, f"category-{category.key}"))
            assert category.name in card and regime_for("ES").legal_bases[category.key] in card and category.source_system in card
            assert all(p in card for p in category.purposes) and all(r in card for r in category.recipients)
            assert ("Rests on your consent" in card) == bool(category.consent_purpose)
    for key in ("screenshots", "ai_training_use"):
        assert 'href="/me/consent"' in section(html, f"category-{key}")


def test_training_set_uses_are_listed(client: FlaskClient, alice: str) -> None:
    table = text_of(section(page(client), "training"))
    assert "activity-2025q3 activity-2025q3 snap-0007 41,234 30 September 2025 focus-predictor v3" in table
    assert "ui-screens ui-screens snap-0002 12 4 November 2025 screen-parser v1" in table
    assert table.index("ui-screens") < table.index("activity-2025q3"), "the latest first"


def test_uses_an_erasure_marked_are_shown_as_removal_required_and_kept(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    with app.app_context():
        subject = db.session.get(Employee, alice)
        assert subject is not None
        filed = rs.file_request(subject, RequestType.ERASURE, actor=Actor("employee", alice)).request
        reference = filed.reference
        ledger.mark_removals(alice, RemovalCause.ERASURE, request_id=filed.id, created_before=date(2025, 10, 1))
        db.session.execute(sa.update(SnapshotRemoval).values(marked_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC)))
        db.session.commit()
    html = page(client)
    table = text_of(section(html, "training"))
    assert ("snap-0007 41,234 30 September 2025 focus-predictor v3: no answer yet "
            f"Removal required since 20 November 2026, after your erasure request {reference}. "
            "Waiting for the AI-training team's answer.") in table
    assert "screen-parser v1 —" in table
    assert "1 training-set snapshot still holds your data and must have it removed" in table
    assert ("The portal does not itself remove data from training sets or from models already trained on them"
            in table)
    # The retention run keeps the marked record: the promise is for the other one, and says so.
    ai = text_of(section(html, "category-ai_training_use"))
    assert "The oldest item will be deleted on or after 3 November 2028" in ai  # 4 Nov 2025 + 1095 days
    assert "1 record marked “removal required” is kept as evidence and not deleted." in ai


def test_the_pipelines_answers_are_shown_in_plain_words(app: Flask, client: FlaskClient, alice: str) -> None:
    with app.app_context():
        consent.decide(alice, Purpose.AI_TRAINING, Decision.WITHDRAWN, actor=Actor("employee", alice),
                       method="test", device="test", policy_version=None)  # marks both snapshots
        pipeline = Actor("api-token", "t")
        replacement = TrainingSnapshot(dataset_id=db.session.scalar(sa.select(TrainingSnapshot.dataset_id).where(
            TrainingSnapshot.name == "snap-0007")), name="snap-0008", created_on=date(2026, 12, 1),
            source_categories=["app_activity"], member_count=0)
        db.session.add(replacement)
        db.session.flush()
        ledger.answer_removals("activity-2025q3", "snap-0007", RemovalAnswer.REPLACED, replacement="snap-0008",
                               actor=pipeline)
        ledger.answer_removals("ui-screens", "snap-0002", RemovalAnswer.KEPT, basis="GDPR Art. 17(3)(e)",
                               actor=pipeline)
        ledger.register_model("focus-predictor", "v4", date(2026, 12, 2), [("activity-2025q3", "snap-0008")],
                              actor=pipeline)
        ledger.record_model_outcome("focus-predictor", "v3", "activity-2025q3", "snap-0007", ModelAction.RETRAINED,
                                    new_version="v4", actor=pipeline)
        ledger.record_model_outcome("screen-parser", "v1", "ui-screens", "snap-0002", ModelAction.UNLEARNED,
                                    actor=pipeline)
        db.session.commit()
    table = text_of(section(page(client), "training"))
    assert "focus-predictor v3: retrained as version v4 without this snapshot" in table
    assert "replaced by snapshot snap-0008, which the portal checked does not contain your data." in table
    assert "after your withdrawal of consent to AI training" in table
    assert "screen-parser v1: the AI-training team reports that unlearning was applied" in table
    assert "the snapshot is kept, on this legal basis as the AI-training team stated it: GDPR Art. 17(3)(e)" in table
    assert "still holds your data" not in table


RIGHT_LINKS = {"right-access": ["/me/activity", "/me/screenshots"], "right-purposes": ["#collected", "/policy"],
               "right-recipients": ["/me/access-log"], "right-consent": ["/me/consent"]}


def test_rights_cover_article_15_each_with_a_way_to_act(client: FlaskClient, alice: str) -> None:
    html = page(client)
    rights = section(html, "rights")
    for right, links in RIGHT_LINKS.items():
        item = rights[rights.index(f'id="{right}"'):]
        item = item[: item.index("</li>")]
        assert re.findall(r'href="([^"]+)"', item) == links, right
    act = text_of(rights[rights.index('id="right-act"'):])
    assert all(word in act for word in ("corrected", "erased", "restricted", "object", "copy"))
    assert "ask the Data Protection Officer" in act
    everything = text_of(rights)
    for article in ("15(1)(a)", "15(1)(c)", "15(1)(d)", "15(1)(e)", "15(1)(f)", "15(1)(g)", "15(1)(h)"):
        assert article in everything
    assert "Agencia Española de Protección de Datos (AEPD)" in everything
    assert "the GDPR and Spain's LOPDGDD" in everything
    assert "No decision about you is taken by automated means alone" in everything
    assert "Desktop activity agent" in everything  # the sources
    assert "<script" not in html and 'style="' not in html and not re.search(r"\son[a-z]+=", html)


@pytest.mark.parametrize(("sub", "claims", "complain", "law"), [
    ("bob@example.com", None, "you can complain to the California Privacy Protection Agency (CPPA)",
     "Under the CCPA as amended by the CPRA you have a right"),
    ("carla@example.com", None, "you can complain to the Superintendencia de Industria y Comercio (SIC)",
     "Under Colombia's Ley 1581 de 2012 you have a right"),
    ("bruna@example.com", {"country": "BR"}, "you can petition the Autoridade Nacional de Proteção de Dados (ANPD)",
     "Under Brazil's LGPD (Lei 13.709/2018) you have a right"),
    ("francois@example.com", {"country": "FR"},
     "you can complain to the data protection supervisory authority of the EU/EEA country where you live or work",
     "Under the GDPR you have a right"),
    ("kim@example.com", {"country": "KR"}, "you can complain to the data protection authority where you live or work",
     "Your rights You have a right"),
])
def test_the_supervisory_authority_follows_the_jurisdiction(app: Flask, client: FlaskClient, idp_url: str,
                                                            sub: str, claims: dict[str, str] | None,
                                                            complain: str, law: str) -> None:
    if claims:
        set_idp_user(idp_url, sub, {"email": sub, "email_verified": True, "name": sub.split("@")[0].title(),
                                    "zoneinfo": "Europe/Paris", **claims})
    with app.app_context():
        signed_in(client, sub)
    html = page(client)
    text = text_of(section(html, "right-complain"))
    assert complain in text
    assert "AEPD" not in text
    # Colombia and Brazil: the person must first ask the controller (Ley 1581 Art. 16; LGPD Art. 55-J(V)).
    first = {"carla@example.com": "Ley 1581 Art. 16", "bruna@example.com": "LGPD Art. 55-J(V)"}
    if sub in first:
        assert "only once you have first made" in text and first[sub] in text
    else:
        assert "only once" not in text
    rights = text_of(section(html, "rights"))
    assert law in rights
    assert ("GDPR Art. 15(1)(f)" in rights) == (sub == "francois@example.com"), "GDPR articles only under the GDPR"


@pytest.mark.parametrize(("jurisdiction", "authority"), [
    ("ES", "AEPD"), ("es", "AEPD"), ("ES-MD", "AEPD"), ("US-CA", "California Privacy Protection Agency"),
    ("US", "the data protection authority where you live"), ("US-NY", "the data protection authority where you live"),
    ("CO", "Superintendencia de Industria y Comercio"), ("BR-SP", "ANPD"), ("RE", "EU/EEA country"),
    ("", "the data protection authority where you live"),
])
def test_supervisory_authority_names(jurisdiction: str, authority: str) -> None:
    assert authority in regime_for(jurisdiction).complaint_to()


def test_a_new_employee_sees_empty_states(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        signed_in(client, "carla@example.com")
    html = page(client)
    counts = dict(re.findall(r'data-category="([a-z_]+)">([\d,]+)<', html))
    assert counts == {"input_events": "0", "app_activity": "0", "screenshots": "0", "ai_training_use": "0"}
    assert text_of(html).count("Nothing to purge.") == 4
    assert text_of(html).count("Nothing collected so far.") == 4
    for message in ("No activity has been recorded about you in the last six months.",
                    "No time in focus has been recorded about you yet.",
                    "No activity has been recorded about you yet.",
                    "No activity has been recorded about you.",
                    "No screenshots have been taken of your screen.",
                    "None of your data has been used to train AI models."):
        assert message in html
    assert "<svg" not in html
    assert "Superintendencia de Industria y Comercio" in html


def test_anonymous_visitors_get_the_landing_page(app: Flask, client: FlaskClient, alice: str) -> None:
    assert "Hello, Alice" in page(client)
    anonymous = app.test_client().get("/")
    body = anonymous.get_data(as_text=True)
    assert anonymous.status_code == 200
    assert "Sign in with your company account" in body
    assert "Alice" not in body and "github.com" not in body and "<svg" not in body


# --- pictures --------------------------------------------------------------------------------------

def numbers(html: str, attribute: str) -> dict[str, int]:
    return {key: int(value.replace(",", "")) for key, value in
            re.findall(rf'<td {attribute}="([^"]+)">([\d,]+)</td>', html)}


def test_charts_have_text_alternatives_matching_the_aggregates(app: Flask, client: FlaskClient, alice: str) -> None:
    html = page(client)
    for chart in ("heat", "targets", "hours"):
        svg = re.search(rf'<svg class="[a-z]+" [^>]*aria-labelledby="{chart}-title {chart}-desc"[^>]*>', html)
        assert svg is not None and 'role="img"' in svg.group(0), chart
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
        assert f'id="{chart}-table"' in html

    with app.app_context():
        daily = {r.day.isoformat(): r.events for r in db.session.scalars(
            select(ActivityDaily).where(ActivityDaily.subject_id == alice))}
        hourly = {str(r.hour): r.events for r in db.session.scalars(
            select(ActivityHourly).where(ActivityHourly.subject_id == alice))}
        targets = {(t.target_type, t.target): t.duration_ms
                   for t in aggregates.top_targets(alice, limit=10_000).top}

    heat = numbers(html, "data-day")
    assert {day: n for day, n in heat.items() if n} == daily
    today = datetime.now(MADRID).date()
    assert max(heat) == today.isoformat() and len(heat) > 7 * 25
    hours = numbers(html, "data-hour")
    assert len(hours) == 24 and {h: n for h, n in hours.items() if n} == hourly
    assert sum(hours.values()) == sum(heat.values()) == 60

    rows = dict(re.findall(r'<tr data-target="([a-z]+:[^"]*)" data-ms="(\d+)">', html))
    ranked = sorted(targets.items(), key=lambda kv: (-kv[1], kv[0]))
    top = {f"{kind}:{name}": ms for (kind, name), ms in ranked[:8]}
    assert {k: int(v) for k, v in rows.items() if not k.startswith("other:")} == top
    assert int(rows["other:"]) == sum(ms for _, ms in ranked[8:])
    assert f"Others ({len(ranked) - 8} more)" in html
    assert "<title>github.com:" in html
    assert html.count('class="heat heat-') == len(heat)


def test_heat_map_levels_and_legend(app: Flask, client: FlaskClient, alice: str) -> None:
    html = page(client)
    levels = set(re.findall(r'class="heat heat-(\d)"', html))
    assert "0" in levels and "4" in levels
    legend = text_of(section(html, "heat-heading")[: section(html, "heat-heading").index("</ul>")])
    assert "no events" in legend


# --- queries -------------------------------------------------------------------------------------

@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


def test_the_dashboard_runs_a_small_fixed_number_of_queries_and_never_scans_events(
        app: Flask, client: FlaskClient, alice: str) -> None:
    page(client)  # warm up: first-request work (session refresh and the like) is not the dashboard's
    with statements(app) as few:
        page(client)
    with app.app_context():
        ingest_batch(alice, alice_events(940, offset=1000))
        db.session.commit()
    with statements(app) as many:
        html = page(client)
    assert 'data-category="app_activity">667<' in html  # 40 + 627: the 1,000 events are there
    assert len(many) == len(few) <= 20, many
    for statement in many:
        flat = " ".join(statement.split()).lower()
        if re.search(r"\bfrom activity_events\b", flat):
            assert re.search(r"\blimit\b", flat), statement
        assert "count(" not in flat or "activity_events" not in flat


def test_the_heat_map_starts_with_the_first_data_not_months_before_it() -> None:
    from portal.monitoring.views.charts import WEEKS, heat_map

    last = date(2026, 12, 4)  # a Friday
    # Data from Wednesday 2026-11-18 on: the calendar opens on that week's Monday, 2026-11-16.
    recent = heat_map({date(2026, 11, 18): 3, date(2026, 12, 1): 5}, last)
    assert recent.first == date(2026, 11, 16) and len(recent.weeks) == 3
    assert recent.cells[0].day == date(2026, 11, 16) and recent.cells[-1].day == last
    # Data held from long before (the oldest item, though the counts cover six months only): the
    # whole six months, whose empty weeks are real.
    old = heat_map({date(2026, 12, 2): 2}, last, since=date(2025, 1, 6))
    assert len(old.weeks) == WEEKS and old.first == date(2026, 6, 8)
    # Held since mid-November, counted from December: the calendar opens with what is held.
    assert heat_map({date(2026, 12, 2): 2}, last, since=date(2026, 11, 18)).first == date(2026, 11, 16)
    # Nothing at all: the six months, which the page shows as an empty state.
    assert len(heat_map({}, last).weeks) == WEEKS and heat_map({}, last).empty
    # Data only on the last day: one week, Monday to that Friday, under all seven weekdays' headings.
    single = heat_map({last: 1}, last)
    assert single.first == date(2026, 11, 30) and len(single.cells) == 5
    assert [d.weekday() for d in single.week_days] == list(range(7))


@pytest.mark.parametrize(("sub", "law", "authority", "controller", "basis"), [
    ("alice@example.com", "the GDPR and Spain's LOPDGDD", "Agencia Española de Protección de Datos (AEPD)",
     "Example Iberia S.L.", "Estatuto de los Trabajadores Art. 20.3"),
    ("bob@example.com", "the CCPA as amended by the CPRA", "California Privacy Protection Agency (CPPA)",
     "Example Inc.", "Cal. Civ. Code §1798.100(a)"),
    ("carla@example.com", "Colombia's Ley 1581 de 2012", "Superintendencia de Industria y Comercio (SIC)",
     "Example Colombia S.A.S.", "Ley 1581 Art. 9"),
    ("bruno@example.com", "Brazil's LGPD", "Autoridade Nacional de Proteção de Dados (ANPD)",
     "Example Brasil Ltda.", "LGPD Art. 7(IX)"),
])
def test_each_dashboard_names_its_own_law_authority_controller_and_bases(
        app: Flask, client: FlaskClient, sub: str, law: str, authority: str, controller: str, basis: str) -> None:
    """The demo's four employees, each under their own regime (the demo's controllers file)."""
    from portal.config import PROJECT_ROOT
    from portal.jurisdictions.controllers import load

    app.config["PORTAL_SETTINGS"].controllers = load(PROJECT_ROOT / "portal" / "demo" / "controllers.json")
    with app.app_context():
        signed_in(client, sub)
    html = page(client)
    facts = {key: text_of(section(html, f"fact-{key}")) for key in ("law", "authority", "controller")}
    assert law in facts["law"]
    assert authority in facts["authority"]
    assert controller in facts["controller"]
    assert basis in text_of(html)
    others = {"the GDPR", "the CCPA", "Ley 1581", "LGPD"} - {part for part in ("the GDPR", "the CCPA", "Ley 1581",
                                                                               "LGPD") if part in law}
    assert not any(other in facts["law"] for other in others)


def test_without_a_controllers_file_the_controller_is_not_named(app: Flask, client: FlaskClient) -> None:
    app.config["PORTAL_SETTINGS"].controllers = {}
    with app.app_context():
        signed_in(client, "alice@example.com")
    assert "not recorded in the portal's settings" in text_of(section(page(client), "fact-controller"))


def automated_card(client: FlaskClient) -> str:
    found = re.search(r'<li class="card right" id="right-automated">(.*?)</li>', page(client), re.S)
    assert found is not None
    return text_of(found.group(1))


def test_profiling_and_automated_decisions_are_what_the_register_says(app: Flask, client: FlaskClient,
                                                                      alice: str) -> None:
    """GDPR Art. 13(2)(f) and 15(1)(h): the card says what the register records per category (profiling,
    decisions by automated means alone, the logic, the significance and consequences), not a fixed text."""
    card = automated_card(client)
    assert card.startswith("Profiling, and no automated decisions")
    assert "No decision about you is taken by automated means alone" in card
    assert "Input events: used for profiling" in card and "Application and web-site activity: used for profiling" in card
    assert "productivity and ergonomics reports about you" in card and "a person weighs them" in card
    assert "Screenshots:" not in card

    with app.app_context():
        db.session.execute(sa.update(DataCategory).where(DataCategory.key == "screenshots").values(
            automated_decisions=True, automated_logic="A classifier flags screens showing customer data.",
            automated_significance="A flagged screen locks your account until you confirm it."))
        db.session.commit()
    card = automated_card(client)
    assert card.startswith("Automated decisions")
    assert "No decision about you is taken by automated means alone" not in card
    assert "Screenshots: used for decisions taken by automated means alone." in card
    assert "A classifier flags screens" in card and "locks your account" in card
    assert "ask for a person to take the decision again" in card

    with app.app_context():
        db.session.execute(sa.update(DataCategory).values(profiling=False, automated_decisions=False,
                                                          automated_logic=None, automated_significance=None))
        db.session.commit()
    card = automated_card(client)
    assert card.startswith("No profiling and no automated decisions")
    assert "None of this data is used to evaluate you" in card


def test_the_register_refuses_profiling_without_its_logic_and_significance(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(DataCategory).where(DataCategory.key == "screenshots").values(profiling=True))
        db.session.rollback()


@pytest.mark.parametrize("sub", ["bob@example.com", "alice@example.com"])
def test_a_california_employee_reads_the_right_to_limit_non_retaliation_and_the_ccpa_categories(
        app: Flask, client: FlaskClient, sub: str) -> None:
    """CCPA: the right to limit the use of sensitive personal information (§1798.121; screenshots that
    show message contents are SPI, §1798.140(ae)(1)(E)), the non-retaliation notice (§1798.125), and
    the CCPA's category names beside the register's (§1798.140(v)); from the registry, for a
    Californian only."""
    with app.app_context():
        signed_in(client, sub)
    html = page(client)
    californian = sub == "bob@example.com"
    assert ('id="right-limit-sensitive"' in html) == californian
    assert ('id="right-non-retaliation"' in html) == californian
    assert ('class="law-category"' in html) == californian
    if californian:
        limit = re.search(r'id="right-limit-sensitive">(.*?)</li>', html, re.S)
        assert limit is not None
        text = text_of(limit.group(1))
        assert "Cal. Civ. Code §§1798.121, 1798.140(ae); 11 CCR §7027" in text and "contents of mail" in text
        assert re.findall(r'href="([^"]+)"', limit.group(1)) == ["/me/requests/new/restriction",
                                                                 "/me/requests/new/objection"]
        assert "Cal. Civ. Code §1798.125" in text_of(section(html, "right-non-retaliation"))
        screenshots = text_of(section(html, "category-screenshots"))
        assert "Screenshots" in screenshots and "Audio, electronic, visual or similar information" in screenshots
        assert "§1798.140(ae)(1)(E)" in screenshots
        assert "Internet or other electronic network activity information" in text_of(
            section(html, "category-input_events"))
