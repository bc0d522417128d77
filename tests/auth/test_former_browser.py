"""A real browser (Debian's chromium, driven by Playwright): frank, a former employee, goes from the
landing page to /former, reads his code from the e-mail in the outbox, signs in and files an erasure."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from portal.audit.services import Actor
from portal.auth import former
from portal.extensions import db
from portal.jobs.models import Job
from portal.people import services as people
from portal.people.models import EmploymentStatus
from portal.rights.models import Channel, DataRequest, RequestType
from tests.conftest import LiveServer, live_portal
from tests.exports.test_export_browser import REPORT_CSP, watch
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


def mail_jobs(app: Any) -> list[tuple[Any, ...]]:
    with app.app_context():
        jobs = db.session.scalars(sa.select(Job).where(Job.kind == former.MAIL_KIND))
        found = [(j.state, j.attempts, j.error) for j in jobs]
        db.session.rollback()
        return found


def test_frank_signs_in_with_a_code_and_asks_for_erasure(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                                         sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        frank = people.create_employee(email="frank@example.com", display_name="Frank Former", jurisdiction="ES",
                                       employee_number="E0999", status=EmploymentStatus.FORMER,
                                       actor=Actor.system())
        people.set_personal_email(frank, "frank.home@example.net", actor=Actor.system())
        db.session.commit()
        frank_id = frank.id
        outbox = app.config["PORTAL_SETTINGS"].outbox_dir

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(REPORT_CSP)
            page: Any = context.new_page()
            watch(page, problems)
            page.goto(live.url + "/")
            page.get_by_role("link", name="sign in with your personal e-mail").click()
            page.wait_for_url(f"{live.url}/former")
            page.get_by_label("Your personal e-mail address").fill("frank.home@example.net")
            page.get_by_role("button", name="Send me a code").click()
            page.wait_for_url(f"{live.url}/former/code")
            expect(page.locator("#former-sent")).to_be_visible()

            deadline = time.monotonic() + 20  # sent by its job, dispatched once the answer is out
            while not list(outbox.glob("*.eml")) and time.monotonic() < deadline:
                time.sleep(0.05)
            mails = list(outbox.glob("*.eml"))
            assert len(mails) == 1, f"no code mail within 20 s; its jobs: {mail_jobs(app)}"
            (mail,) = mails
            (code,) = CODE.findall(mail.read_text())
            page.get_by_label("The 6-digit code").fill(code)
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{live.url}/")
            expect(page.get_by_role("heading", name="Hello, Frank Former")).to_be_visible()
            expect(page.locator("#former-notice")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "former-home.png"), full_page=True)

            page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests", exact=True).click()
            page.wait_for_url(f"{live.url}/me/requests")
            page.locator("#choice-erasure").get_by_role("link", name="Ask for this").click()
            page.wait_for_url(f"{live.url}/me/requests/new/erasure")
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("heading", name="Confirm your erasure request", level=1)).to_be_visible()
            page.get_by_label("I understand this cannot be undone").check()
            page.get_by_role("button", name="Ask for erasure").click()
            page.wait_for_url(re.compile(re.escape(live.url) + r"/me/requests/[0-9a-f]+$"))
            request_id = page.url.rsplit("/", 1)[1]
            expect(page.get_by_text("was received.")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "former-erasure.png"), full_page=True)
        finally:
            browser.close()
    with app.app_context():
        filed = db.session.get(DataRequest, request_id)
        assert filed is not None and filed.subject_id == frank_id
        assert filed.type == RequestType.ERASURE and filed.channel == Channel.VERIFIED
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
    assert problems == []
