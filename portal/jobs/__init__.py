"""Jobs: long work (exports, erasure, evidence packs) run outside the request (DESIGN §5).

The ``jobs`` table is the truth; runners (``portal.jobs.runners``) only move work along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The jobs' table, the operators' job pages and the runner (thread pool or Celery) with its
    session hooks (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        runners,
        views,
    )

    app.register_blueprint(views.bp)
    runners.init_app(app)
