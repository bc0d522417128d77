"""Acceptance, in a real browser, of evidence for a regulator: dana, a DPO, opens a completed case,
makes its evidence pack, downloads it and makes a link for the AEPD; the regulator, in a browser
context of their own that never signed in, opens the link, reads how to verify, downloads the pack
(the same bytes, with the SHA-256 dana reads out to them) and verifies it offline, as a separate
process, with the published key; dana revokes the link and it is dead.

No page logs a console error or a Content Security Policy violation. Screenshots go to
test-artifacts/; one of them is the README's docs/evidence-shared.png (refreshed only with
PORTAL_TEST_UPDATE_DOCS=1).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests as http_client

from portal.audit.services import Actor
from portal.extensions import db
from portal.people import services as people
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as requests
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, _stop_job_runner
from tests.exports.test_export_browser import REPORT_CSP, live_portal_with, watch
from tests.helpers import audit_entries, grant_all_consents
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401 - fixture reused

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" if os.environ.get("PORTAL_TEST_UPDATE_DOCS") == "1" else ARTIFACTS


def test_a_dpo_shares_an_evidence_pack_and_the_regulator_verifies_it(chromium: str, tmp_path: Path,  # noqa: F811
                                                                      idp_url: str, sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        filed = requests.file_request(alice, RequestType.RECTIFICATION, wrong="My team is listed as Sales.",
                                      correct="My team is Research.", actor=Actor("employee", alice.id))
        db.session.commit()
        request_id = filed.request.id
        reference = filed.request.reference

    ARTIFACTS.mkdir(exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)

        def new_page() -> Any:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            watch(page, problems)
            return page

        try:
            # dana signs in (her account and DPO role come from the IdP), then works the case to the
            # end: a rectification is completed when it is approved.
            case = new_page()
            sign_in_at_idp(case, live.url, idp_url, "dana@example.com")
            with app.app_context():
                dana = find_by_email("dana@example.com")
                assert dana is not None
                row = db.session.get(DataRequest, request_id)
                assert row is not None
                routing.add_member(requests.route("ES", RequestType.RECTIFICATION), dana, actor=Actor.system())
                requests.claim(row, dana)
                requests.start_review(row, dana)
                assert requests.approve(row, dana, note="Team checked in the HR system.")
                db.session.commit()
                assert row.state == RequestState.COMPLETED

            # 1. dana makes the evidence pack on the case page and downloads it.
            case.goto(f"{live.url}/dpo/requests/{request_id}")
            evidence = case.locator("#case-evidence")
            expect(evidence.get_by_text("No evidence pack has been made for this case yet.")).to_be_visible()
            evidence.get_by_role("button", name="Make evidence pack").click()
            expect(case.get_by_text("The evidence pack is made")).to_be_visible()
            with case.expect_download() as made:
                case.locator("#case-evidence").get_by_role("link", name="Download the pack").click()
            assert made.value.failure() is None
            staff_copy = tmp_path / "staff.zip"
            made.value.save_as(staff_copy)
            assert made.value.suggested_filename.startswith(f"evidence-{request_id}-")
            case.locator("#case-evidence").scroll_into_view_if_needed()
            case.screenshot(path=str(ARTIFACTS / "evidence-1-case.png"), full_page=True)

            # 2. A link for the AEPD, for 7 days: shown once, with the pack's SHA-256.
            evidence = case.locator("#case-evidence")
            evidence.get_by_label("Supervisory authority").select_option("aepd")
            evidence.get_by_label("Days the link works").fill("7")
            evidence.get_by_role("button", name="Make a link").click()
            expect(case.get_by_role("heading", name="The link is made", level=1)).to_be_visible()
            url = case.locator("#share-url").input_value()
            sha256 = case.locator("#share-sha256").inner_text().strip()
            assert url.startswith(f"{live.url}/evidence/shared/"), url
            assert sha256 == hashlib.sha256(staff_copy.read_bytes()).hexdigest()
            case.screenshot(path=str(ARTIFACTS / "evidence-2-link.png"), full_page=True)

            # 3. The regulator, never signed in, opens the link and downloads the pack.
            regulator = new_page()
            regulator.goto(url)
            expect(regulator.get_by_role("heading", name="Evidence pack for a data-subject request",
                                         level=1)).to_be_visible()
            expect(regulator.locator("main")).to_contain_text(request_id)
            expect(regulator.locator("main")).to_contain_text(sha256)
            expect(regulator.get_by_role("heading", name="How to verify it")).to_be_visible()
            for absent in ("Alice", "alice@example.com", "Research", "Sales"):
                expect(regulator.locator("body")).not_to_contain_text(absent)
            regulator.screenshot(path=str(ARTIFACTS / "evidence-3-regulator.png"), full_page=True)
            regulator.screenshot(path=str(DOCS / "evidence-shared.png"), full_page=False)
            with regulator.expect_download() as fetched:
                regulator.get_by_role("link", name="Download the pack (ZIP)").click()
            assert fetched.value.failure() is None
            pack = tmp_path / "regulator" / fetched.value.suggested_filename
            pack.parent.mkdir()
            fetched.value.save_as(pack)
            assert pack.read_bytes() == staff_copy.read_bytes()

            # 4. ... and verifies it offline, with the key the portal publishes, as its own process.
            key = pack.parent / "audit-log-key.json"
            key.write_bytes(http_client.get(f"{live.url}/.well-known/audit-log-key", timeout=10).content)
            run = subprocess.run([sys.executable, "-m", "portal.evidence.verify", str(pack), "--key", str(key)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
            assert run.returncode == 0, run.stdout + run.stderr
            assert "FAIL" not in run.stdout and "OK" in run.stdout, run.stdout

            # 5. dana revokes the link; the regulator's page is gone.
            case.goto(f"{live.url}/dpo/requests/{request_id}")
            shares = case.locator("#case-evidence table tbody tr")
            expect(shares).to_have_count(1)
            expect(shares.first).to_contain_text("works")
            expect(shares.first.locator("td").nth(4)).to_have_text("2")  # the page and the download
            shares.first.get_by_label("Stop this link now").check()
            shares.first.get_by_role("button", name="Revoke").click()
            expect(case.locator("#case-evidence table tbody tr").first).to_contain_text("revoked")
            seen = len(problems)
            gone = regulator.goto(url)
            assert gone is not None and gone.status == 410
            # Chromium logs the 410 of the page itself as a console error: that one is expected.
            assert [p for p in problems[seen:] if "status of 410" not in p] == [], problems[seen:]
            del problems[seen:]
            expect(regulator.get_by_role("heading", name="This link was revoked")).to_be_visible()
        finally:
            browser.close()
            _stop_job_runner(app)

    assert problems == [], problems
    tags = [e.tag for e in audit_entries(app, "evidence:share:view")]
    assert len(tags) == 1, tags
    assert reference  # the case kept its reference throughout
