"""Data-subject requests (docs/architecture.md, "Requests"): access, portability, erasure,
rectification, restriction, objection."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The requests' tables, the erasure jobs, the mail context, the periodic reminders and
    retention run, the collection block of restrictions, what is done when an export finishes or
    fails (``portal.exports.signals``), and the ``request_reference`` template filter
    (docs/architecture.md, "Wiring")."""
    from . import (
        erasure,  # noqa: F401  (the job handlers)
        notifications,  # noqa: F401  (the mail context)
        on_exports,  # noqa: F401  (receivers of portal.exports.signals)
        reminders,  # noqa: F401  (the periodic reminders)
        restrictions,  # noqa: F401  (the collection block)
        retention,  # noqa: F401  (the periodic retention run)
    )
    from .models import reference_of
    from .views import employee, staff

    app.add_template_filter(reference_of, "request_reference")
    for module in (employee, staff):
        app.register_blueprint(module.bp)
