"""The pseudo-locale run of the browser suite: the demo seeded into a live portal whose every
message is translated as ⟦message⟧ (a catalogue built from the .pot at test time, compiled to a
temporary folder), then the pages each role reaches walked in a real browser as
tests/test_pages_browser.py walks them (one page per route), the employee (alice) and the privacy
admin (who reaches every staff page a DPO does, and the admin's). Visible text made of words of
three letters or more that is outside ⟦…⟧ did not pass through gettext, and fails the test, unless
it is data: what people and the register wrote (names, addresses, references, numbers, dates,
URLs, the register's rows, the jurisdiction registry's names and citations, the demo's applications
and sites, training sets, policy text, what people typed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel import Locale
from flask import Flask
from flask_babel import get_babel

from portal.extensions import db
from tests.conftest import LiveServer, SeededDemo, seeded_live_portal
from tests.i18n.test_pseudo_locale import PSEUDO, leaks, pseudo_catalogue, untranslated_sources  # noqa: F401
from tests.monitoring.test_home_browser import FLAGS, chromium  # noqa: F401  (fixture)
from tests.test_pages_browser import WIDTH, _walk

pytestmark = pytest.mark.browser

WORD = re.compile(r"[A-Za-z]{3,}")
URL = re.compile(r"^(https?://|/)\S*$")
CASE_REF = re.compile(r"^[A-Z]{2,5}-\d{4}-\d+$")  # a case reference given with an access: DSAR-2026-014
DEMO = Path(__file__).resolve().parents[2] / "portal" / "demo"
# Pages that are not the portal's wording: the integrations API's reference is written for
# developers, in English, from the OpenAPI document (as the API's own messages are).
NOT_WORDING = ("/api/docs",)


def date_words() -> set[str]:
    """The month and day names Babel writes dates with in the pseudo-locale, and UTC: data."""
    locale = Locale.parse(PSEUDO)
    words = {"UTC"}
    for table in (locale.months, locale.days):
        for context in table.values():
            for names in context.values():
                words.update(str(n) for n in names.values())
    return words


def demo_strings() -> list[str]:
    """Every string the demo's generator and seed write from (window titles, people, sites,
    channels, the controllers): what the demo's people and systems "wrote"."""
    found: list[str] = [(DEMO / "controllers.json").read_text(encoding="utf-8")]
    for source in DEMO.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def demo_data(app: Flask) -> list[str]:
    """What the demo's people and systems wrote, shown as written: the applications and sites in
    the activity totals, training sets and models, the policy's text, legal holds' matters and
    reasons, what requesters and DPOs typed, the employees' names, jobs' kinds."""
    from portal.api.tokens import Scope
    from portal.consent.models import ConsentEvent
    from portal.jobs.models import Job
    from portal.monitoring.models import DataCategory
    from portal.people.models import Employee
    from portal.policy.models import PolicyVersion
    from portal.rights.models import DataRequest, LegalHold, RequestEvent
    from portal.training.models import TrainingDataset, TrainingModel, TrainingSnapshot

    texts: list[str] = []
    with app.app_context():
        texts += list(db.session.scalars(sa.select(TrainingDataset.name)))
        texts += list(db.session.scalars(sa.select(TrainingDataset.purpose)))
        texts += list(db.session.scalars(sa.select(TrainingSnapshot.name)))
        texts += [f"{m.name} {m.version}".strip() for m in db.session.scalars(sa.select(TrainingModel))]
        texts += list(db.session.scalars(sa.select(TrainingModel.name)))
        for version in db.session.scalars(sa.select(PolicyVersion)):
            texts += [str(getattr(version, name, "") or "") for name in ("title", "body_markdown", "change_summary")]
        for hold in db.session.scalars(sa.select(LegalHold)):
            texts += [hold.matter_reference, hold.reason or ""]
        for request in db.session.scalars(sa.select(DataRequest)):
            texts += [str(v) for v in (request.details or {}).values()]
            texts += [request.decision_text or "", request.extension_reason or "", request.outcome or ""]
        for event in db.session.scalars(sa.select(RequestEvent)):
            texts.append(event.body or "")
        texts += [e.display_name for e in db.session.scalars(sa.select(Employee))]
        # The register's references to its impact assessments: the documents' own titles and dates.
        texts += [c.dpia_reference or "" for c in db.session.scalars(sa.select(DataCategory))]
        texts += [d or "" for d in db.session.scalars(sa.select(ConsentEvent.device))]
        # A job's failure as its runner recorded it: the operators' log, in the words it was raised with.
        texts += [e or "" for e in db.session.scalars(sa.select(Job.error))]
        texts += list(db.session.scalars(sa.select(Job.kind).distinct()))  # identifiers, as the scopes below
    texts += [scope.value for scope in Scope]  # the API's scope names: identifiers an integrator types
    return [t for t in texts if t] + demo_strings()


def is_data(piece: str, sources: list[str], dates: set[str]) -> bool:
    """Whether a visible piece outside ⟦…⟧ is data: no word of three ASCII letters, a URL, a case
    reference, a date Babel wrote, or text from the data (each part of a window title such as
    "ledger.py - payments - Visual Studio Code", or a name and an address, on its own)."""
    piece = piece.strip(" ;,.")
    words = re.findall(r"[^\W\d_]+", piece)
    if (not any(WORD.fullmatch(w) for w in words) or URL.match(piece) or CASE_REF.match(piece)
            or all(w in dates for w in words)):
        return True
    if any(piece in source for source in sources):
        return True
    parts = re.split(r"\s+-\s+|,\s+", piece)
    return len(parts) > 1 and all(is_data(part, sources, dates) for part in parts)


def walk_as(who: str, live: LiveServer, app: Flask, browser: Any, idp_url: str) -> dict[str, list[str]]:
    page = browser.new_page(viewport={"width": WIDTH, "height": 740})
    try:
        page.goto(live.url + "/")
        page.click("a[href^='/auth/login']")
        page.wait_for_url(f"{idp_url}/**")
        page.get_by_role("button", name=who).click()
        page.wait_for_url(f"{live.url}/**")
        sources = untranslated_sources(app) + demo_data(app)  # after the sign-in: its session's device
        dates = date_words()
        found: dict[str, list[str]] = {}

        def check(path: str) -> None:
            if path.startswith(NOT_WORDING):
                return
            pieces = [p for p in leaks(page.content()) if not is_data(p, sources, dates)]
            if pieces:
                found[path] = pieces

        _walk(page, app, live.url, "/", check)
        return found
    finally:
        page.close()


def test_every_page_each_role_reaches_passes_its_wording_through_gettext(
        chromium: str, tmp_path: Path, idp_url: str, seeded_demo: SeededDemo,  # noqa: F811
        pseudo_catalogue: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    app, port = seeded_live_portal(tmp_path, idp_url, seeded_demo, demo=True,
                                   BABEL_TRANSLATION_DIRECTORIES=str(pseudo_catalogue))
    get_babel(app).locale_selector = lambda: PSEUDO
    found: dict[str, list[str]] = {}
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            for who in ("alice@example.com", "admin@example.com"):
                for path, pieces in walk_as(who, live, app, browser, idp_url).items():
                    found[f"{who.split('@')[0]} {path}"] = pieces
        finally:
            browser.close()
    assert found == {}, "\n".join(f"{where}: {pieces}" for where, pieces in found.items())
