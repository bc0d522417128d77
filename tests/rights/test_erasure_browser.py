"""Acceptance, in a real browser, of an erasure from the request to the certificate, by three
people in three browser contexts on one live portal (jobs on the in-process thread runner):

alice, who has a few thousand events and two screenshots, asks from the main navigation for her
input events and screenshots to be erased (the form, then the confirmation step); dana, a DPO of
the queue ES erasures go to, finds the case in her queue, claims it, reviews it and gives the first
approval; the admin gives the second; the erasure job runs; alice sees her request Completed,
downloads the deletion certificate (a PDF stating her reference and the counts), and her overview
shows no input events and no screenshots, while her application activity is still there.

No page logs a console error or a Content Security Policy violation. Screenshots are kept in
test-artifacts/, and two of them (1280x900, the visible part) are the README's docs/requests.png
and docs/dpo-case.png.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from portal.audit.services import Actor
from portal.demo.seed import generate
from portal.exports import services as exports
from portal.extensions import db
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people import services as people
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as rights
from portal.rights.erasure import EVENT_KINDS
from portal.rights.models import DataRequest, ErasureApproval, RequestState
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, _stop_job_runner
from tests.exports.test_export_browser import REPORT_CSP, live_portal_with, watch
from tests.helpers import grant_all_consents
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401 - fixture reused

pytestmark = pytest.mark.browser

EVENTS = 3_000
SCREENSHOTS = 2
ERASED = ("input_events", "screenshots")
KEPT = "app_activity"
# The README's pictures are refreshed only when asked (PORTAL_TEST_UPDATE_DOCS=1), so that a test
# run never changes tracked files; otherwise they go to test-artifacts/ with the others.
DOCS = ARTIFACTS.parent / "docs" if os.environ.get("PORTAL_TEST_UPDATE_DOCS") == "1" else ARTIFACTS


def held_counts(app: Flask, subject_id: str) -> dict[str, int]:
    """alice's rows per category, counted in the tables themselves."""
    with app.app_context():
        counts = {key: db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent).where(
            ActivityEvent.subject_id == subject_id, ActivityEvent.kind.in_(kinds))) or 0
            for key, kinds in EVENT_KINDS.items()}
        counts["screenshots"] = db.session.scalar(sa.select(sa.func.count()).select_from(Screenshot).where(
            Screenshot.subject_id == subject_id)) or 0
        return counts


def request_row(app: Flask, request_id: str) -> DataRequest:
    with app.app_context():
        row = db.session.get(DataRequest, request_id)
        assert row is not None
        db.session.expunge(row)
        return row


def wait_for_state(app: Flask, request_id: str, state: RequestState, seconds: float = 60) -> DataRequest:
    deadline = time.monotonic() + seconds
    while True:
        row = request_row(app, request_id)
        if row.state == state or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def test_an_erasure_from_the_request_to_the_certificate(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                                         sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        db.session.commit()
        assert generate(alice, events=EVENTS, screenshots=SCREENSHOTS, seed_value=7) == (EVENTS, SCREENSHOTS)
        db.session.commit()
        alice_id = alice.id
        names = {c.key: c.name for c in exports.categories_available()}
    before = held_counts(app, alice_id)
    assert before["screenshots"] == SCREENSHOTS and before["input_events"] > 0 and before[KEPT] > 0, before
    assert before["input_events"] + before[KEPT] == EVENTS

    ARTIFACTS.mkdir(exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)

        def signed_in_page(email: str) -> Any:
            """A browser context of its own, signed in as ``email`` through the IdP."""
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            watch(page, problems)
            sign_in_at_idp(page, live.url, idp_url, email)
            return page

        def sign_in_again(page: Any, email: str, back_to: str) -> None:
            """The step-up in front of erasure and its approvals: the IdP asks again, then back."""
            page.wait_for_url(f"{idp_url}/**")
            page.get_by_role("button", name=email).click()
            page.wait_for_url(back_to)
            expect(page.get_by_text("Thank you for signing in again.")).to_be_visible()

        def main_nav(page: Any, name: str) -> None:
            page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()

        try:
            # 1. alice asks for the erasure of her input events and screenshots.
            mine = signed_in_page("alice@example.com")
            main_nav(mine, "Requests")
            mine.wait_for_url(f"{live.url}/me/requests")
            expect(mine.get_by_role("heading", name="Your requests", level=1)).to_be_visible()
            mine.locator("#choice-erasure").get_by_role("link", name="Ask for this").click()
            sign_in_again(mine, "alice@example.com", f"{live.url}/me/requests/new/erasure")
            expect(mine.get_by_role("heading", name="Erasure", level=1)).to_be_visible()
            mine.get_by_label("Only the categories I choose").check()
            for key in ERASED:
                mine.get_by_label(names[key], exact=True).check()
            expect(mine.get_by_label(names[KEPT], exact=True)).not_to_be_checked()
            mine.screenshot(path=str(ARTIFACTS / "requests-1-erasure-form.png"), full_page=True)
            mine.get_by_role("button", name="Continue").click()

            expect(mine.get_by_role("heading", name="Confirm your erasure request", level=1)).to_be_visible()
            expect(mine.locator("#confirm-categories")).to_have_text(
                ", ".join(names[k] for k in names if k in ERASED))
            assert request_count(app, alice_id) == 0, "nothing is filed before the confirmation"
            mine.get_by_label("I understand this cannot be undone").check()
            mine.screenshot(path=str(ARTIFACTS / "requests-2-confirm.png"), full_page=True)
            mine.get_by_role("button", name="Ask for erasure").click()

            mine.wait_for_url(re.compile(re.escape(live.url) + r"/me/requests/[0-9a-f]+$"))
            request_id = mine.url.rsplit("/", 1)[1]
            filed = request_row(app, request_id)
            reference = filed.reference
            assert filed.scope == {"categories": sorted(ERASED), "date_from": None, "date_to": None}
            expect(mine.get_by_text(f"Your request {reference} was received.")).to_be_visible()
            expect(mine.locator(".intro .tag")).to_have_text("Received")

            # 2. dana, a DPO of the queue ES erasures go to (the default queue: there are no rules),
            # finds the case, claims it, reviews it and gives the first approval.
            case = signed_in_page("dana@example.com")
            with app.app_context():
                dana = find_by_email("dana@example.com")
                assert dana is not None
                queue = rights.route("ES", rights.RequestType.ERASURE)
                assert queue.id == filed.queue_id
                routing.add_member(queue, dana, actor=Actor.system())
                db.session.commit()
                dana_id = dana.id
            main_nav(case, "Cases")
            case.wait_for_url(f"{live.url}/dpo/queue")
            case.screenshot(path=str(ARTIFACTS / "dpo-1-queue.png"), full_page=True)
            case.get_by_role("link", name=reference, exact=True).click()
            case.wait_for_url(f"{live.url}/dpo/requests/{request_id}")
            expect(case.locator("#case-identity")).to_contain_text("alice@example.com")
            case.get_by_role("button", name="Claim it").click()
            expect(case.get_by_text("You have taken this case.")).to_be_visible()
            expect(case.locator("#case-assignee")).to_have_text("you")
            case.get_by_role("button", name="Start the review").click()
            expect(case.get_by_text("The case is in review.")).to_be_visible()
            expect(case.locator("#approval-stage")).to_contain_text("This would be the first approval")
            case.get_by_label("Ground for the erasure").select_option("gdpr-17-1-b")
            case.get_by_label("Note on the approval (optional, internal)").fill("Identity checked by SSO.")
            case.get_by_role("button", name="Approve", exact=True).click()
            sign_in_again(case, "dana@example.com", f"{live.url}/dpo/requests/{request_id}")
            with app.app_context():
                assert db.session.scalar(sa.select(sa.func.count()).select_from(ErasureApproval)
                                         .where(ErasureApproval.request_id == request_id)) == 0, "not before it"
            case.get_by_label("Ground for the erasure").select_option("gdpr-17-1-b")
            case.get_by_label("Note on the approval (optional, internal)").fill("Identity checked by SSO.")
            case.get_by_role("button", name="Approve", exact=True).click()
            expect(case.get_by_text("Your approval is recorded.")).to_be_visible()
            expect(case.locator("#approval-stage")).to_contain_text("Second approval needed by another person")
            expect(case.locator("#approve-refused")).to_contain_text("You have already approved this erasure")
            expect(case.locator("#case-approvals li")).to_have_count(1)
            case.screenshot(path=str(ARTIFACTS / "dpo-2-case.png"), full_page=True)
            case.screenshot(path=str(DOCS / "dpo-case.png"), full_page=False)
            assert request_row(app, request_id).state == RequestState.IN_REVIEW

            # 3. The admin gives the second approval, and the erasure starts.
            second = signed_in_page("admin@example.com")
            main_nav(second, "Cases")
            second.wait_for_url(f"{live.url}/dpo/queue")
            second.get_by_role("link", name=reference, exact=True).click()
            second.wait_for_url(f"{live.url}/dpo/requests/{request_id}")
            second.get_by_role("button", name="Give the second approval").click()
            sign_in_again(second, "admin@example.com", f"{live.url}/dpo/requests/{request_id}")
            second.get_by_role("button", name="Give the second approval").click()
            expect(second.get_by_text("The request is approved and is being carried out.")).to_be_visible()
            second.screenshot(path=str(ARTIFACTS / "dpo-3-second-approval.png"), full_page=True)

            # 4. The job runs on the thread runner.
            done = wait_for_state(app, request_id, RequestState.COMPLETED)
            assert done.state == RequestState.COMPLETED, done.state
            with app.app_context():
                approvers = list(db.session.scalars(sa.select(ErasureApproval.approver_id)
                                                    .where(ErasureApproval.request_id == request_id)
                                                    .order_by(ErasureApproval.approved_at)))
                admin = find_by_email("admin@example.com")
                assert admin is not None
                assert approvers == [dana_id, admin.id]
            assert done.result is not None
            counts = done.result["categories"]
            assert counts == {key: {"deleted": before[key], "blocked": 0} for key in ERASED}, counts
            after = held_counts(app, alice_id)
            assert after == {**before, "input_events": 0, "screenshots": 0}, after

            # 5. alice finds it Completed, with the counts, and downloads her certificate.
            mine.reload()
            expect(mine.locator(".intro .tag")).to_have_text("Completed")
            rows = mine.locator("#erasure-counts tbody tr")
            expect(rows).to_have_count(len(ERASED))
            for key in ERASED:
                expect(mine.locator("#erasure-counts tbody tr", has_text=names[key]).locator("td").nth(1)) \
                    .to_have_text(f"{before[key]:,}")
            mine.screenshot(path=str(ARTIFACTS / "requests-3-completed.png"), full_page=True)
            mine.screenshot(path=str(DOCS / "requests.png"), full_page=False)
            link = mine.get_by_role("link", name="Download your deletion certificate (PDF)")
            with mine.expect_download() as download_info:
                link.click()
            download = download_info.value
            assert download.failure() is None
            assert download.suggested_filename == f"deletion-certificate-{reference}.pdf"
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            pdf = saved.read_bytes()
            assert pdf.startswith(b"%PDF")
            text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            assert reference in text and "Alice Martín" in text, text[:500]
            for key in ERASED:
                assert names[key] in text and f"{before[key]:,}" in text, (key, text)
            assert f"{before['input_events'] + before['screenshots']:,}" in text  # the total erased

            # 6. Her overview: nothing left of what she asked to erase, and it says by which request; her
            # application activity is there.
            main_nav(mine, "Overview")
            mine.wait_for_url(f"{live.url}/")
            for key in ERASED:
                expect(mine.locator(f'[data-category="{key}"]')).to_have_text("0")
                expect(mine.locator(f"#category-{key}")).to_contain_text(f"by request {reference}.")
                expect(mine.locator(f"#category-{key}")).not_to_contain_text("Nothing collected so far.")
            expect(mine.locator(f'[data-category="{KEPT}"]')).to_have_text(f"{before[KEPT]:,}")
            expect(mine.locator(f"#category-{KEPT}")).not_to_contain_text("Erased on")
            mine.screenshot(path=str(ARTIFACTS / "requests-4-overview-after.png"), full_page=True)
        finally:
            browser.close()
            _stop_job_runner(app)

    # 7. No console error and no CSP violation on any page.
    assert problems == [], problems
    for picture in (DOCS / "requests.png", DOCS / "dpo-case.png"):
        assert picture.stat().st_size > 10_000, picture


def request_count(app: Flask, subject_id: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)
                                 .where(DataRequest.subject_id == subject_id)) or 0

