"""In a real browser: refusing bob's (US-CA) erasure offers only California's grounds, each with its
citation, and a ground of another regime, forced into the form, is refused by the server.

bob files an erasure (CCPA/CPRA); dana, a DPO of its queue, claims and reviews it; the refusal
form lists exactly the CCPA grounds that apply to a request to delete; a GDPR ground put into the
form by hand is refused with nothing changed; the California ground refuses it, and bob's page
shows that ground and the CPPA.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from portal.audit.services import Actor
from portal.extensions import db
from portal.jurisdictions import RequestType, regime_for
from portal.people import services as people
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as requests
from portal.rights.models import DataRequest, RequestState
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer
from tests.exports.test_export_browser import REPORT_CSP, live_portal_with, watch
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401 - fixture reused

pytestmark = pytest.mark.browser


def test_refusing_bobs_request_offers_only_california_grounds(chromium: str, tmp_path: Path,  # noqa: F811
                                                               idp_url: str, sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        bob = people.create_employee(email="bob@example.com", display_name="Bob Chen", jurisdiction="US-CA",
                                     employee_number="E1002", timezone="America/Los_Angeles", actor=Actor.system())
        db.session.flush()
        filed = requests.file_request(bob, RequestType.ERASURE, categories=["input_events"])
        db.session.commit()
        request_id, reference = filed.request.id, filed.request.reference
    california = regime_for("US-CA").grounds_for(RequestType.ERASURE)
    assert [g.code for g in california] == ["ccpa-verify", "ccpa-1798-105-d", "ccpa-1798-145-a", "no-data", "other"]

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)

        def signed_in_page(email: str) -> Any:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            watch(page, problems)
            sign_in_at_idp(page, live.url, idp_url, email)
            return page

        try:
            case = signed_in_page("dana@example.com")
            with app.app_context():
                dana = find_by_email("dana@example.com")
                row = db.session.get(DataRequest, request_id)
                assert dana is not None and row is not None and row.queue_id is not None
                queue = requests.route("US-CA", RequestType.ERASURE)
                routing.add_member(queue, dana, actor=Actor.system())
                db.session.commit()
            case.goto(f"{live.url}/dpo/requests/{request_id}")
            expect(case.locator("#case-deadline-basis")).to_contain_text("Cal. Civ. Code §1798.130(a)(2)")
            case.get_by_role("button", name="Claim it").click()
            expect(case.get_by_text("You have taken this case.")).to_be_visible()
            case.get_by_role("button", name="Start the review").click()
            expect(case.get_by_text("The case is in review.")).to_be_visible()

            options = case.locator("#reject-basis option")
            values = [v for v in options.evaluate_all("(os) => os.map((o) => o.value)") if v]
            labels = [t for t in options.all_inner_texts() if t != "Choose…"]
            assert values == [g.code for g in california]
            assert labels == [g.label for g in california]
            assert not any(re.search(r"GDPR|Ley 1581|Decreto|LGPD", label) for label in labels), labels
            case.screenshot(path=str(ARTIFACTS / "dpo-refusal-grounds-us-ca.png"), full_page=True)

            # A foreign ground forced into the form: the server refuses it and changes nothing.
            case.locator("#reject-basis").evaluate(
                "(s) => { const o = document.createElement('option'); o.value = 'gdpr-17-3-e';"
                " o.text = 'forced'; s.add(o); s.value = 'gdpr-17-3-e'; }")
            case.get_by_label("Reasons, as the requester will read them").fill("Legal claims.")
            case.get_by_role("button", name="Refuse the request").click()
            expect(case.locator(".flash, [role=alert]").first).to_contain_text("Nothing was changed")
            with app.app_context():
                row = db.session.get(DataRequest, request_id)
                assert row is not None and row.state == RequestState.IN_REVIEW and row.legal_basis is None

            case.goto(f"{live.url}/dpo/requests/{request_id}")
            case.locator("#reject-basis").select_option("ccpa-1798-105-d")
            case.get_by_label("Reasons, as the requester will read them").fill(
                "These input events are needed for an open security investigation.")
            case.get_by_role("button", name="Refuse the request").click()
            expect(case.get_by_text("The request is refused; the requester has been told why.")).to_be_visible()
            with app.app_context():
                row = db.session.get(DataRequest, request_id)
                assert row is not None and (row.state, row.legal_basis) == (RequestState.REJECTED, "ccpa-1798-105-d")

            mine = signed_in_page("bob@example.com")
            mine.goto(f"{live.url}/me/requests/{request_id}")
            expect(mine.locator("#refusal")).to_contain_text("Cal. Civ. Code §1798.105(d): an exception to deletion")
            expect(mine.locator("#refusal")).to_contain_text("California Privacy Protection Agency (CPPA)")
            expect(mine.locator("#refusal")).not_to_contain_text("GDPR")
            assert reference in mine.content()
        finally:
            browser.close()
    # The refused form answers 400, which Chromium logs; that is the point of that step.
    assert [p for p in problems if not p.endswith("/reject: console error: Failed to load resource: the server "
                                                   "responded with a status of 400 (BAD REQUEST)")] == []
