"""Recipient systems (the teams and systems the register says receive monitoring data) and the
tasks the portal gives them when a person's rights reach where their data went (GDPR Art. 17(2),
19; CPRA §1798.105(c))."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The recipients' tables, their delivery jobs, escalation and consent hook, and the manual
    links' pages (docs/architecture.md, "Wiring"). Their API operations are declared by
    ``portal.api``, their admin pages by ``portal.admin``."""
    from . import (
        delivery,  # noqa: F401  (job handlers, escalation, hooks)
        models,  # noqa: F401  (its tables)
        views,
    )

    app.register_blueprint(views.bp)
