"""Acceptance, in a real browser: alice sees her dashboard with its charts, filters her activity to
github.com, opens a screenshot, withdraws and re-grants AI-training consent, and acknowledges a new
policy version. Screenshots of each step are kept in test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Purpose
from portal.extensions import db
from portal.monitoring.ingest import ingest_batch
from portal.people import services as people
from portal.policy import services as policy
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, live_portal
from tests.helpers import event, grant_all_consents
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, _png, chromium  # noqa: F401 - fixture reused

pytestmark = pytest.mark.browser


def test_alice_uses_her_self_service_pages(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                           sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        ingest_batch(alice.id, events=[event(n) for n in range(6)] + [
            event(50 + n, site_domain="en.wikipedia.org", url=f"https://en.wikipedia.org/wiki/P{n}",
                  title=f"Privacy {n} - Wikipedia") for n in range(4)],
            screenshots=[{"screenshot_id": "s1", "captured_at": event(0)["occurred_at"], "application": "Slack",
                          "site_domain": "slack.com", "image": _png("#3b5998")}])
        draft = policy.save_draft("Monitoring policy", "# Monitoring\n\nWe collect activity.", "", Actor.system())
        policy.publish(draft.id, Actor.system())
        policy.acknowledge(alice.id, 1, Actor("employee", alice.id))
        draft = policy.save_draft("Monitoring policy", "# Monitoring\n\nWe collect activity.\n\nScreenshots are "
                                  "blurred before review.", "Screenshot blurring.", Actor.system())
        policy.publish(draft.id, Actor.system())
        db.session.commit()
        alice_id = alice.id

    ARTIFACTS.mkdir(exist_ok=True)
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in_at_idp(page, live.url, idp_url, "alice@example.com")

            expect(page.get_by_role("heading", name="Hello, Alice Martín")).to_be_visible()
            expect(page.locator("svg.heatmap")).to_be_visible()
            expect(page.locator("svg.hours")).to_be_visible()
            expect(page.get_by_role("heading", name="Your rights")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "self-service-1-dashboard.png"), full_page=True)

            page.get_by_role("link", name="Activity", exact=True).click()
            page.get_by_label("Site or application").fill("github.com")
            page.get_by_role("button", name="Show").click()
            rows = page.locator("table tbody tr")
            expect(rows).to_have_count(6)
            expect(page.get_by_text("en.wikipedia.org")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "self-service-2-activity-github.png"), full_page=True)

            page.get_by_role("link", name="Screenshots", exact=True).click()
            page.locator(".gallery a").first.click()
            expect(page.get_by_role("heading", name="Screenshot of Slack")).to_be_visible()
            # The image is decrypted on request: wait until it has arrived (slow on a busy machine).
            expect(page.locator(".shot img")).to_have_js_property("complete", True, timeout=30_000)  # no eval: CSP
            assert page.evaluate("document.querySelector('.shot img').naturalWidth") == 320
            page.screenshot(path=str(ARTIFACTS / "self-service-3-screenshot.png"), full_page=True)

            page.get_by_role("link", name="Consent", exact=True).click()
            page.get_by_role("button", name="Withdraw consent: Use in AI training").click()
            expect(page.get_by_role("button", name="Give consent: Use in AI training")).to_be_visible()
            with app.app_context():
                assert consent.is_suppressed(alice_id, Purpose.AI_TRAINING)
            page.screenshot(path=str(ARTIFACTS / "self-service-4-consent-withdrawn.png"), full_page=True)
            page.get_by_role("button", name="Give consent: Use in AI training").click()
            expect(page.get_by_role("button", name="Withdraw consent: Use in AI training")).to_be_visible()
            with app.app_context():
                assert not consent.is_suppressed(alice_id, Purpose.AI_TRAINING)

            banner = page.locator(".policy-banner")
            expect(banner).to_be_visible()
            banner.get_by_role("link").click()
            page.get_by_role("button", name="I have read version 2").click()
            expect(page.locator(".policy-banner")).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "self-service-5-policy-acknowledged.png"), full_page=True)
            with app.app_context():
                assert policy.needs_acknowledgement(alice_id) is None
        finally:
            browser.close()
