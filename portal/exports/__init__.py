"""The employee's complete copy: a ZIP built by a job, streamed, sealed at rest, downloaded once
signed in afresh, deleted when it expires."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The exports' tables, their job and expiry, and the employee's export pages
    (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        services,  # noqa: F401  (the build job's handler, the periodic expiry)
        views,
    )

    app.register_blueprint(views.bp)
