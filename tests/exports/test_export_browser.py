"""Acceptance, in a real browser: alice asks for an export from the main navigation, watches its
progress bar fill without reloading the page (export-progress.js polls the progress endpoint),
downloads the ZIP and checks it against the SHA-256 the page shows, and finds it listed as Ready
with one download. The export's page also works without JavaScript, and no page logs a console
error or a Content Security Policy violation. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import hashlib
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal import create_app
from portal.audit.services import Actor
from portal.demo.seed import generate
from portal.exports import services as exports
from portal.extensions import db
from portal.people import services as people
from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, _free_port, app_config
from tests.helpers import grant_all_consents
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401 - fixture reused

pytestmark = pytest.mark.browser

EVENTS = 10_000  # six batches (of at most 2,000 events of one category) ...
PAUSE_MS = 500  # ... each followed by this pause: the export takes about 4 s. The job records its
# progress at most once a second and the script polls once a second, so a shorter export (150 ms:
# about 1.5 s) shows one step at best, straight from 0 to 99%.
PROGRESS_TEXT = re.compile(r"^\d{1,3}% — [\d,]+ of [\d,]+ items$")
# The export's progress as the page shows it, and whether this is still the document the test marked.
SAMPLE = """() => {
  const bar = document.querySelector("progress");
  if (!bar) { return null; }
  return {value: bar.hasAttribute("value") ? bar.value : null,
          text: document.querySelector(".export-progress-text").textContent.trim(),
          same: window.__sameDocument === true};
}"""
# Runs before the page's own scripts (and is not subject to the page's CSP): every violation
# becomes a console error, whatever Chromium itself logs.
REPORT_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
  console.error("Content Security Policy violation: " + e.violatedDirective + " blocked " + e.blockedURI);
});"""


def live_portal_with(tmp_path: Path, idp_url: str, sqlite_template: Path, **extra: Any) -> tuple[Flask, int]:
    """``tests.conftest.live_portal``, with extra settings (it takes none)."""
    port = _free_port()
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    application = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}",
                                        base_url=f"http://127.0.0.1:{port}", **extra))
    return application, port


def watch(page: Any, problems: list[str]) -> None:
    """Collect console errors, CSP violations (Chromium logs them to the console; REPORT_CSP logs
    them too) and uncaught errors. The favicon Chromium asks for by itself is not the page's doing."""
    def on_console(message: Any) -> None:
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{page.url}: console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: uncaught {error}"))


def test_alice_exports_her_data_in_a_browser(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                             sqlite_template: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template, export_pause_ms=PAUSE_MS)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        db.session.commit()
        assert generate(alice, events=EVENTS, screenshots=2, seed_value=1) == (EVENTS, 2)
        db.session.commit()
        category_names = [c.name for c in exports.categories_available()]
    assert len(category_names) == 4

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            watch(page, problems)
            polls: list[str] = []
            page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/progress") else None)
            # 1. Alice signs in through the IdP.
            sign_in_at_idp(page, live.url, idp_url, "alice@example.com")

            # 2. The form: every category chosen, dates optional.
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Export", exact=True).click()
            page.wait_for_url(f"{live.url}/me/exports")
            expect(page.get_by_role("heading", name="Export your data", level=1)).to_be_visible()
            expect(page.locator('input[type="checkbox"][name="categories"]')).to_have_count(4)
            for name in category_names:
                expect(page.get_by_label(name, exact=True)).to_be_checked()
            for label in ("From (first day)", "To (last day)"):
                field = page.get_by_label(label)
                expect(field).to_have_attribute("type", "date")
                expect(field).to_have_value("")
                expect(field).not_to_have_attribute("required", re.compile(".*"))
            expect(page.get_by_text("You have not made an export yet.")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "export-1-form.png"), full_page=True)
            page.get_by_role("button", name="Prepare my export").click()

            # 3. Its page: the bar fills as the script polls, then the script opens the finished page.
            page.wait_for_url(re.compile(re.escape(live.url) + r"/me/exports/[^/]+$"))
            detail_url = page.url
            expect(page.get_by_text("Your export is being prepared.")).to_be_visible()
            expect(page.locator("progress")).to_be_visible()
            page.evaluate("window.__sameDocument = true")
            samples: list[dict[str, Any]] = []
            in_progress_shot = False
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    sample = page.evaluate(SAMPLE)
                except PlaywrightError:  # the script navigated in the middle of the evaluation
                    continue
                if sample is None:  # no bar: the finished page
                    break
                samples.append(sample)
                if not in_progress_shot and sample["value"] is not None and 0 < sample["value"] < 100:
                    page.screenshot(path=str(ARTIFACTS / "export-2-in-progress.png"), full_page=True)
                    in_progress_shot = True
                page.wait_for_timeout(100)
            assert samples and all(s["same"] for s in samples), "the page was reloaded while the bar was showing"
            values = [s["value"] for s in samples if s["value"] is not None]
            assert values == sorted(values), f"the progress went backwards: {values}"
            assert len(set(values)) >= 2, f"the progress bar did not move: {samples}"
            assert any(0 < v < 100 for v in values), f"no intermediate progress was shown: {samples}"
            assert all(PROGRESS_TEXT.match(s["text"]) for s in samples if s["value"] is not None), samples
            assert in_progress_shot
            assert len(polls) >= 2 and all(u == detail_url + "/progress" for u in polls), polls

            page.wait_for_url(detail_url)
            expect(page.get_by_text("Your copy is ready")).to_be_visible(timeout=15_000)
            expect(page.locator(".card")).not_to_contain_text("<time")
            expect(page.locator(".intro .tag")).to_have_text("Ready")
            expect(page.locator("progress")).to_have_count(0)
            download_button = page.get_by_role("button", name="Download the ZIP")
            expect(download_button).to_be_visible()
            shown_hash = page.locator("code.hash").inner_text().strip()
            assert re.fullmatch(r"[0-9a-f]{64}", shown_hash), shown_hash
            page.screenshot(path=str(ARTIFACTS / "export-3-ready.png"), full_page=True)
            csp = context.request.get(detail_url).headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp

            # 4. The download: first the IdP asks alice to sign in again (the step-up), then a ZIP
            # with its manifest, whose SHA-256 is the one on the page.
            download_button.click()
            page.wait_for_url(f"{idp_url}/**")
            page.get_by_role("button", name="alice@example.com").click()
            page.wait_for_url(detail_url)
            expect(page.get_by_text("Thank you for signing in again.")).to_be_visible()
            with page.expect_download() as download_info:
                download_button.click()
            download = download_info.value
            assert download.failure() is None
            assert download.suggested_filename.endswith(".zip"), download.suggested_filename
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == shown_hash
            with zipfile.ZipFile(saved) as archive:
                assert archive.testzip() is None
                manifest = json.loads(archive.read("manifest.json"))
                listed = {f["path"] for f in manifest["files"]}
                assert {"report.pdf", "data/input_events.jsonl"} <= listed, sorted(listed)
                assert listed <= set(archive.namelist())
                assert archive.read("report.pdf").startswith(b"%PDF")
            assert manifest["counts"]["input_events"] + manifest["counts"]["app_activity"] == EVENTS

            # 5. The list of exports: Ready, downloaded once.
            page.get_by_role("link", name="All your exports").click()
            page.wait_for_url(f"{live.url}/me/exports")
            rows = page.locator("#exports-table tbody tr")
            expect(rows).to_have_count(1)
            cells = rows.first.locator("td")
            expect(cells.nth(2)).to_have_text("Ready")
            expect(cells.nth(5)).to_have_text("1")
            page.screenshot(path=str(ARTIFACTS / "export-4-list.png"), full_page=True)

            # 6. Without JavaScript, the export's page shows its state all the same.
            quiet = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False,
                                        storage_state=context.storage_state())
            plain = quiet.new_page()
            watch(plain, problems)
            plain.goto(detail_url)
            expect(plain.locator(".intro .tag")).to_have_text("Ready")
            expect(plain.get_by_text("Your copy is ready")).to_be_visible()
            expect(plain.get_by_role("button", name="Download the ZIP")).to_be_visible()
            expect(plain.locator("code.hash")).to_have_text(shown_hash)
            plain.screenshot(path=str(ARTIFACTS / "export-5-no-javascript.png"), full_page=True)
            quiet.close()
        finally:
            browser.close()

    # 7. No console error and no CSP violation on any page.
    assert problems == [], problems


# What has the keyboard focus: the button's or link's text, or the field's name.
FOCUSED = """() => {
  const e = document.activeElement;
  return e ? (e.tagName + ":" + (e.getAttribute("name") || e.textContent.trim().slice(0, 40))) : "";
}"""


def tabs_to(page: Any, target: str, limit: int = 40) -> int:
    """Tab from the top of the page until ``target`` has the focus; Enter on the skip link (what a
    keyboard user does with it). Returns the number of Tab presses."""
    for count in range(1, limit + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused == target:
            return count
        if focused == "A:Skip to content":
            page.keyboard.press("Enter")
    raise AssertionError(f"{target} not reached in {limit} tabs")


def test_the_export_button_is_a_few_tabs_from_the_top(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                                      sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    app, port = live_portal_with(tmp_path, idp_url, sqlite_template)
    with app.app_context():
        alice = people.create_employee(email="alice@example.com", display_name="Alice Martín", jurisdiction="ES",
                                       employee_number="E1001", timezone="Europe/Madrid", actor=Actor.system())
        db.session.flush()
        grant_all_consents(alice.id)
        db.session.commit()
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            sign_in_at_idp(page, live.url, idp_url, "alice@example.com")
            page.goto(live.url + "/me/exports")
            assert tabs_to(page, "BUTTON:Prepare my export") <= 12
            # The dates are one Tab away, behind their disclosure, and still work.
            dates = page.locator("details.date-range-disclosure")
            expect(dates).not_to_have_attribute("open", re.compile(".*"))
            page.get_by_text("Dates (optional)").click()
            page.get_by_label("From (first day)").fill("2026-01-01")
            page.get_by_label("To (last day)").fill("2025-01-01")
            page.get_by_role("button", name="Prepare my export").click()
            # A bad range: the form comes back with the dates open and the error shown.
            expect(page.locator("details.date-range-disclosure")).to_have_attribute("open", "")
            expect(page.get_by_role("alert")).to_be_visible()
        finally:
            browser.close()
