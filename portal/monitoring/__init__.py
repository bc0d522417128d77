"""The monitoring data: category register, activity events, screenshots, training-set use."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The register's and the monitoring data's tables, and ingestion (docs/architecture.md,
    "Wiring")."""
    from . import (
        ingest,  # noqa: F401  (its session hooks)
        models,  # noqa: F401  (its tables)
    )
