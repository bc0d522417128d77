"""Employees (data subjects), their staff roles, jurisdiction and employment status."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The employees' tables (docs/architecture.md, "Wiring")."""
    from . import models  # noqa: F401  (its tables)
