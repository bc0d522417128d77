"""The training-set ledger: where monitoring data went for AI training, and what became of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The training-set ledger's tables (docs/architecture.md, "Wiring")."""
    from . import models  # noqa: F401  (its tables)
