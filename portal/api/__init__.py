"""The integrations API (``/api/v1``): service tokens, the OpenAPI document and the endpoints that
collectors, the AI-training pipeline and service desks call (docs/architecture.md, "Integrations API")."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The API's tokens, and ``/api/v1`` with its documentation (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        views,
    )

    views.register(app)
