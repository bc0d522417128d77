"""Every page, as each demo role, in a real browser on a phone-sized screen: the demo is seeded
into a live portal, then alice (employee), dana (DPO) and the admin each sign in and walk every
page their navigation and the pages it leads to reach (one page per route, so that a list of a
thousand cases costs one visit). On each page:

- nothing is wider than a 360 px screen (``scrollWidth <= innerWidth``: no sideways scrolling);
- axe-core (pinned, from the ``axe-playwright-python`` wheel, injected with ``page.evaluate``
  because the CSP refuses inline and foreign scripts) finds no serious or critical violation, and
  not the ``region`` one either (all content inside landmarks);
- the page's own resources load (the favicon included: no 404 in the console);
- in the dark colour scheme too (alice's pages): axe's contrast rule holds there as well.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from tests.browser import sign_in_at_idp
from tests.conftest import LiveServer, SeededDemo, seeded_live_portal
from tests.monitoring.test_home_browser import ARTIFACTS, FLAGS, chromium  # noqa: F401  (fixture)

WIDTH = 360
# Links that leave the page's world or act: downloads, sign-out, the IdP, files.
SKIP_PREFIXES = ("/auth/", "/static/", "/.well-known/", "/healthz", "/readyz")
SKIP_SUFFIXES = (".zip", ".pdf", ".csv", ".json", ".png", ".sig", "/download", "/image", "/thumbnail")
MAX_PAGES = 45

pytestmark = pytest.mark.browser


def _axe_source() -> str:
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


def _route_of(app: Flask, path: str) -> str | None:
    """The URL rule a path matches (``/me/requests/<int:request_id>``), or None if none does."""
    adapter = app.url_map.bind("localhost")
    try:
        rule, _ = adapter.match(path, method="GET", return_rule=True)
    except (HTTPException, RoutingException):  # redirects, 404s and 405s: not a page to walk
        return None
    return str(rule.rule)


def _walk(page: Any, app: Flask, base: str, start: str, visit: Callable[[str], None] = lambda _: None) -> list[str]:
    """Same-origin pages reachable from ``start``, breadth first, one per URL rule; ``visit(path)``
    looks at each of them while the browser shows it (each page is loaded once)."""
    seen_rules: set[str] = set()
    queue = [start]
    pages: list[str] = []
    while queue and len(pages) < MAX_PAGES:
        path = queue.pop(0)
        rule = _route_of(app, path)
        if rule is None or rule in seen_rules:
            continue
        seen_rules.add(rule)
        response = page.goto(base + path)
        if (response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", "")
                or not page.url.startswith(base)):  # a step-up sends the browser to the IdP: not a portal page
            continue
        pages.append(path)
        visit(path)
        yield_links = page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.getAttribute('href'))")
        for href in yield_links:
            parts = urlsplit(href)
            if parts.netloc and f"{parts.scheme}://{parts.netloc}" != base:
                continue
            target = parts.path or path
            if (not target.startswith("/") or target.startswith(SKIP_PREFIXES)
                    or target.endswith(SKIP_SUFFIXES)):
                continue
            queue.append(target + (f"?{parts.query}" if parts.query else ""))
    return pages


def _problems(page: Any, axe: str) -> list[str]:
    found = []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        # The outermost boxes that stick out: wider than the screen while their parent is not.
        wide = page.evaluate("""() => {
            const out = e => e.getBoundingClientRect().right > window.innerWidth + 1;
            const clipped = e => {
                for (let a = e.parentElement; a; a = a.parentElement) {
                    if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) return true;
                }
                return false;
            };
            return [...document.querySelectorAll('body *')].filter(e => out(e) && !clipped(e))
                .filter(e => !e.parentElement || !out(e.parentElement) || clipped(e.parentElement))
                .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                                     + (e.className ? '.' + String(e.className).replace(/ /g, '.') : ''));
        }""")
        found.append(f"{overflow}px wider than the screen ({', '.join(wide)})")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       target: v.nodes[0] && v.nodes[0].target.join(' ')}));
    }""")
    for violation in result:
        if violation["impact"] in ("serious", "critical") or violation["id"] == "region":
            found.append(f"axe {violation['id']} ({violation['impact']}, {violation['nodes']}x: {violation['target']})")
    return found


@pytest.mark.parametrize(("who", "scheme"), [("alice@example.com", "light"), ("dana@example.com", "light"),
                                             ("admin@example.com", "light"), ("alice@example.com", "dark")])
def test_every_page_fits_a_phone_and_passes_axe(who: str, scheme: Literal["light", "dark"], chromium: str, tmp_path: Path,  # noqa: F811
                                                 idp_url: str, seeded_demo: SeededDemo) -> None:
    from playwright.sync_api import sync_playwright

    app, port = seeded_live_portal(tmp_path, idp_url, seeded_demo, demo=True)  # with the demo's banner
    axe = _axe_source()
    problems: dict[str, list[str]] = {}
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 740}, color_scheme=scheme)
            missing: list[str] = []
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            sign_in_at_idp(page, live.url, idp_url, who, landing="/**")
            # The icon every page links to, and the one browsers ask for by themselves.
            icon = page.eval_on_selector("link[rel=icon]", "e => e.href")
            for url in (icon, live.url + "/favicon.ico"):
                answer = page.request.get(url)
                assert answer.status == 200 and answer.headers["content-type"].startswith("image/"), url
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"phone-{who.split('@')[0]}-{scheme}.png"), full_page=False)

            def check(path: str) -> None:
                if found := _problems(page, axe):
                    problems[path] = found

            _walk(page, app, live.url, "/", check)
            assert missing == [], f"resources not found: {missing}"
        finally:
            browser.close()
    assert problems == {}, "\n".join(f"{path}: {'; '.join(found)}" for path, found in problems.items())


def test_the_pages_outside_the_portal_fit_a_phone(chromium: str, tmp_path: Path, idp_url: str,  # noqa: F811
                                                   seeded_demo: SeededDemo) -> None:
    """The regulator's page of a shared evidence pack, and the index.html of an export opened from
    the unpacked archive: the same 360 px and axe checks as every portal page."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from portal.audit.services import Actor
    from portal.evidence.sharing import AUTHORITY_LABELS, make_pack, share
    from portal.exports.index_page import render_index
    from portal.extensions import db
    from portal.people.services import find_by_email
    from portal.rights.models import DataRequest, RequestState
    from tests.exports.test_report import sample_summary

    app, port = seeded_live_portal(tmp_path, idp_url, seeded_demo)
    with app.app_context():
        dana = find_by_email("dana@example.com")
        assert dana is not None
        case = db.session.scalars(select(DataRequest).where(DataRequest.state == RequestState.COMPLETED)
                                  .order_by(DataRequest.received_at)).first()
        assert case is not None
        _link, token = share(make_pack(case, Actor("dpo", dana.id)), next(iter(AUTHORITY_LABELS)),
                             actor=Actor("dpo", dana.id))
        db.session.commit()
        index = tmp_path / "export" / "index.html"
        index.parent.mkdir()
        index.write_bytes(render_index(sample_summary(shots=12)))
    axe = _axe_source()
    problems: dict[str, list[str]] = {}
    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 740})
            for name, url in (("regulator's page", f"{live.url}/evidence/shared/{token}"),
                              ("export index.html", index.as_uri())):
                response = page.goto(url)
                assert response is not None and response.ok, name
                if found := _problems(page, axe):
                    problems[name] = found
        finally:
            browser.close()
    assert problems == {}, "\n".join(f"{name}: {'; '.join(found)}" for name, found in problems.items())
