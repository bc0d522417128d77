"""The DPO's pages: the queue, the case, legal holds; the admin's queues and routing rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The DPO's queue and case pages, and the admin's queues (docs/architecture.md, "Wiring")."""
    from . import admin_views, views

    app.register_blueprint(views.bp)
    app.register_blueprint(admin_views.bp)
