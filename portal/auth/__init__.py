"""SSO sign-in (OIDC with Authlib), sign-out, server-side sessions, step-up re-authentication."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """Sessions and identities, the sign-in pages (with the user loader) and the former
    employees' code pages; the login manager is initialised first (docs/architecture.md, "Wiring")."""
    from . import (
        former_views,
        models,  # noqa: F401  (its tables)
        views,
    )

    app.login_manager.user_loader(views.load_user)  # type: ignore[attr-defined]
    views.register(app)
    app.register_blueprint(former_views.bp)
