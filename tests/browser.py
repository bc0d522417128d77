"""What the browser tests share beyond their fixtures: signing in through the demo IdP's page."""

from __future__ import annotations

from typing import Any


def sign_in_at_idp(page: Any, portal_url: str, idp_url: str, email: str, *, landing: str = "/") -> None:
    """From the portal's home page: "Sign in with your company account", ``email`` chosen at the
    identity provider, and back at the portal on ``landing`` (a Playwright URL glob after the
    portal's address)."""
    page.goto(portal_url + "/")
    page.get_by_role("link", name="Sign in with your company account").click()
    page.wait_for_url(f"{idp_url}/**")
    page.get_by_role("button", name=email).click()
    page.wait_for_url(f"{portal_url}{landing}")
