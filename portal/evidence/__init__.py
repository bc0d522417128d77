"""Evidence for regulators: signed evidence packs for one request, the offline verifier, sharing a
pack with a regulator, the CPRA §7102 metrics report and the GDPR Art. 30 record of processing."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The evidence pack and report pages (docs/architecture.md, "Wiring")."""
    from . import report_views, views

    app.register_blueprint(views.bp)
    app.register_blueprint(report_views.bp)
