"""The monitoring data: the category register, activity events and screenshots (sealed under the
subject's key), their aggregates, ingestion, and the record of who accessed them. Where the data
went for AI training is the training-set ledger's (:mod:`portal.training`); the employee's pages
read it from there."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The register's and the monitoring data's tables, ingestion, and the employee's pages of
    their data: the dashboard, the browser and the access log (docs/architecture.md, "Wiring")."""
    from . import (
        ingest,  # noqa: F401  (its session hooks)
        models,  # noqa: F401  (its tables)
    )
    from .views import access, browse, dashboard

    for module in (dashboard, browse, access):
        app.register_blueprint(module.bp)
