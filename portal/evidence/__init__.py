"""Evidence for regulators: signed evidence packs for one request, the offline verifier, sharing a
pack with a regulator (the metrics report and the record of processing are ``portal.reports``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The evidence pack pages (docs/architecture.md, "Wiring")."""
    from . import views

    app.register_blueprint(views.bp)
