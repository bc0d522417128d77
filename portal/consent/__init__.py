"""Consent per purpose: an append-only ledger, and the suppression list the AI-training side reads."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The consent ledger's tables and the employee's consent pages (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        views,
    )

    app.register_blueprint(views.bp)
