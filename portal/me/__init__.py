"""The employee's own pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The employee's own pages (docs/architecture.md, "Wiring")."""
    from . import access, browse, consent_views, requests, views

    for module in (views, browse, consent_views, access, requests):
        app.register_blueprint(module.bp)
