"""A real browser (Debian's chromium, driven by Playwright) signs in as alice through the demo
IdP and sees her home page. The screenshot is kept in test-artifacts/."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from portal.audit.services import Actor
from portal.extensions import db
from portal.monitoring.ingest import ingest_batch
from portal.people import services as people
from tests.browser import sign_in_at_idp
from tests.conftest import CI, LiveServer, live_portal
from tests.helpers import event, grant_all_consents

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = "Debian's chromium is not installed (make test installs it when run as root)"
        if CI:
            pytest.fail(f"CI=true requires the browser: {message}")
        pytest.skip(message)
    return CHROMIUM


def _png(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), color).save(buffer, "PNG")
    return buffer.getvalue()


def test_alice_signs_in_and_sees_her_home_page(chromium: str, tmp_path: Path, idp_url: str,
                                               sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        ingest_batch(alice.id, events=[event(n) for n in range(7)] + [
            event(100 + n, kind="click", site_domain=None, application="Slack", url=None, title=None, x=10, y=20)
            for n in range(3)],
            screenshots=[{"screenshot_id": "s1", "captured_at": event(0)["occurred_at"], "application": "Slack",
                          "site_domain": "slack.com", "image": _png("#3b5998")}])
        db.session.commit()

    ARTIFACTS.mkdir(exist_ok=True)
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in_at_idp(page, live.url, idp_url, "alice@example.com")
            expect(page.get_by_role("heading", name="Hello, Alice Martín")).to_be_visible()
            expect(page.locator('[data-category="app_activity"]')).to_have_text("7")
            expect(page.locator('[data-category="input_events"]')).to_have_text("3")
            expect(page.locator('[data-category="screenshots"]')).to_have_text("1")
            expect(page.get_by_text("ES", exact=True)).to_be_visible()
            image = page.get_by_role("img", name="Screenshot of Slack")
            expect(image).to_be_visible()
            expect(page.locator(".gallery img")).to_have_js_property("complete", True, timeout=30_000)  # no eval: CSP
            assert page.evaluate("document.querySelector('.gallery img').naturalWidth") == 320
            page.screenshot(path=str(ARTIFACTS / "home-alice.png"), full_page=True)
        finally:
            browser.close()
