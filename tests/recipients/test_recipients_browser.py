"""In a real browser, on a live portal (jobs on the in-process thread runner): alice's erasure,
approved by two people, is carried out and gives AI Research (pull) and People Analytics (webhook,
served by examples/webhook_receiver.py) a task each; the receiver verifies its delivery and
confirms, AI Research confirms through the API with what it did; alice sees both answers in plain
words on her request, which is then complete, and downloads the certificate that lists them. No
console error or CSP violation on the way."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from pypdf import PdfReader

from portal.audit.services import Actor
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.people import services as people
from portal.people.models import Employee, Role
from portal.recipients import services as recipients
from portal.rights import services as rs
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, _free_port, _stop_job_runner
from tests.exports.test_export_browser import REPORT_CSP, live_portal_with, watch
from tests.helpers import existing, grant_all_consents
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401 - fixture reused
from tests.recipients.support import bearer, bound_token, make_recipient
from tests.rights.test_erasure_browser import wait_for_state

pytestmark = pytest.mark.browser


def staff(email: str, name: str, role: Role) -> Employee:
    person = people.create_employee(email=email, display_name=name, jurisdiction="ES", actor=Actor.system())
    db.session.flush()
    people.sync_roles(person, [role], actor=Actor.system())
    return person


def listening(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Wait until ``process`` accepts connections on ``port``."""
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None, f"the receiver ended with {process.returncode}"
        assert time.monotonic() < deadline, f"nothing listens on port {port}"
        time.sleep(0.05)


def test_alice_sees_each_recipients_answer_and_a_certificate_that_lists_them(
        chromium: str, tmp_path: Path, idp_url: str, sqlite_template: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template)
    hook_port = _free_port()
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        dana, admin = staff("dana@example.com", "Dana", Role.DPO), staff("admin@example.com", "Admin", Role.ADMIN)
        db.session.commit()
        ai, _ = make_recipient("AI Research", "pull", ["input_events", "ai_training_use"], uses=("ai_training",))
        pa, secret = make_recipient("People Analytics", "webhook", ["input_events", "app_activity"],
                                    role="internal", url=f"http://127.0.0.1:{hook_port}/hooks")
        ai_token, pa_token = bound_token(ai.id), bound_token(pa.id)
        queue = rs.route("ES", RequestType.ERASURE)
        from portal.rights import routing

        routing.add_member(queue, existing(Employee, dana.id), actor=Actor.system())
        request_id = rs.file_request(existing(Employee, alice.id), RequestType.ERASURE,
                                     description="Erase it").request.id
        db.session.commit()
        dana_id, admin_id = dana.id, admin.id

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live:
        receiver = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "examples" / "webhook_receiver.py"), "--port", str(hook_port),
             "--url", live.url], env={**os.environ, "WEBHOOK_SECRET": secret or "", "PORTAL_API_TOKEN": pa_token},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # People Analytics' system is up before the erasure is approved and its webhook goes out (a
            # delivery that finds it down is tried again PORTAL_WEBHOOK_BACKOFF_SECONDS later).
            listening(hook_port, receiver)
            with app.app_context():
                case = existing(DataRequest, request_id)
                rs.claim(case, existing(Employee, dana_id))
                rs.start_review(case, existing(Employee, dana_id))
                rs.approve(case, existing(Employee, dana_id), erasure_ground=rs.erasure_grounds(case)[0].code)
                rs.approve(case, existing(Employee, admin_id))
                db.session.commit()  # the erasure job runs on the portal's thread runner
                reference = case.reference
            waiting = wait_for_state(app, request_id, RequestState.AWAITING_RECIPIENTS)
            assert waiting.state in (RequestState.AWAITING_RECIPIENTS, RequestState.COMPLETED), waiting.state
            # AI Research pulls its task and confirms what it did.
            listed = requests.get(f"{live.url}/api/v1/recipient-tasks?state=open", headers=bearer(ai_token),
                                  timeout=10).json()["items"]
            (task,) = listed
            assert task["request"] == reference and task["subject"]["pseudonym"].startswith("tp_")
            answer = requests.post(f"{live.url}/api/v1/recipient-tasks/{task['id']}/confirm", headers=bearer(ai_token),
                                   json={"outcome": "done", "details": {"rows_deleted": 41, "snapshot_id": "assist-v4"}},
                                   timeout=10)
            assert answer.status_code == 200 and answer.json()["first"] is True
            # People Analytics' receiver got the webhook, verified it and confirmed.
            done = wait_for_state(app, request_id, RequestState.COMPLETED, seconds=60)
            assert done.state == RequestState.COMPLETED, done.state

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
                    context.add_init_script(REPORT_CSP)
                    page = context.new_page()
                    watch(page, problems)
                    sign_in_at_idp(page, live.url, idp_url, "alice@example.com")
                    page.goto(f"{live.url}/me/requests/{request_id}")
                    expect(page.locator(".intro .tag")).to_have_text("Completed")
                    answers = page.locator("#recipients li")
                    expect(answers).to_have_count(2)
                    expect(page.locator("#recipients li", has_text="AI Research")).to_contain_text(
                        "was asked to erase your data. Confirmed on")
                    expect(page.locator("#recipients li", has_text="AI Research")).to_contain_text(
                        "It reported 41 records.")
                    expect(page.locator("#recipients li", has_text="People Analytics")).to_contain_text("Confirmed on")
                    page.screenshot(path=str(ARTIFACTS / "recipients-1-request.png"), full_page=True)
                    with page.expect_download() as download_info:
                        page.get_by_role("link", name="Download your deletion certificate (PDF)").click()
                    saved = tmp_path / download_info.value.suggested_filename
                    download_info.value.save_as(saved)
                    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(saved.read_bytes())).pages)
                    assert "The teams and systems that received your data" in text
                    assert "AI Research" in text and "People Analytics" in text and "41 records." in text
                finally:
                    browser.close()
        finally:
            receiver.terminate()
            receiver.wait(10)
            _stop_job_runner(app)
    with app.app_context():
        rows = recipients.rows_of_request(request_id)
        assert {(r.recipient.name, r.task.outcome, r.task.confirmed_via) for r in rows} == {
            ("AI Research", "done", "api"), ("People Analytics", "done", "api")}
    assert problems == [], problems
