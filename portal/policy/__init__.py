"""The versioned monitoring policy: drafts, published versions, acknowledgements."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The policy's tables and pages (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        views,
    )

    app.register_blueprint(views.bp)
