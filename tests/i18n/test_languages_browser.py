"""In a real browser (Debian's chromium, whose Accept-Language is English): alice signs in through
the demo IdP and reads Spanish (her IdP's es-ES claim), switches to Portuguese with the header's
switcher, and reads Portuguese again after signing out and in."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal import create_app
from tests.conftest import LiveServer, _free_port, app_config
from tests.monitoring.test_home_browser import FLAGS, chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser


def test_alice_reads_spanish_and_switches_to_portuguese_for_good(chromium: str, tmp_path: Path,  # noqa: F811
                                                                 idp_url: str, sqlite_template: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", base_url=f"http://127.0.0.1:{port}",
                                languages=("en", "es", "pt_BR")))

    with LiveServer(app, port) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page(locale="en-US")

            def sign_in(button: str) -> None:
                page.goto(live.url + "/")
                page.get_by_role("link", name=button).click()
                page.wait_for_url(f"{idp_url}/**")
                page.get_by_role("button", name="alice@example.com").click()
                page.wait_for_url(f"{live.url}/")

            sign_in("Sign in with your company account")
            expect(page.get_by_role("heading", name="Hola, Alice Martín")).to_be_visible()
            assert page.evaluate("document.documentElement.lang") == "es"

            page.get_by_label("Idioma").select_option("pt_BR")
            page.get_by_role("button", name="Cambiar idioma").click()
            expect(page.get_by_role("heading", name="Olá, Alice Martín")).to_be_visible()
            assert page.evaluate("document.documentElement.lang") == "pt-BR"

            page.get_by_role("button", name="Sair").click()
            page.wait_for_load_state()
            page.context.clear_cookies()  # a new browser session: only the employee record remembers
            sign_in("Sign in with your company account")
            expect(page.get_by_role("heading", name="Olá, Alice Martín")).to_be_visible()
        finally:
            browser.close()
