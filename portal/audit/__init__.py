"""The audit trail: append-only, structured entries, each with its RFC 9162 leaf hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The log's tables, the periodic tree head, the witness file's publication after each commit
    that stores a head, and the audit pages (docs/architecture.md, "Wiring")."""
    from . import (
        heads,  # noqa: F401  (the periodic tree head)
        models,  # noqa: F401  (its tables)
        views,
        witness,
    )

    witness.register()  # each signed tree head goes to the witness file after its commit
    app.register_blueprint(views.bp)
