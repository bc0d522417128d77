"""Reports for the DPO and regulators (``/dpo/reports``, ``flask --app wsgi evidence metrics|ropa``):
the CPRA §7102 metrics report (``metrics.py``) and the GDPR Art. 30 record of processing
(``ropa.py``), as CSV and PDF (``pdf.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The reports' pages (docs/architecture.md, "Wiring")."""
    from . import views

    app.register_blueprint(views.bp)
