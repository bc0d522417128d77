"""SCIM 2.0 provisioning (RFC 7643, RFC 7644) at ``/scim/v2``: who joins, changes and leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """``/scim/v2`` (docs/architecture.md, "Wiring")."""
    from . import views

    views.register(app)
