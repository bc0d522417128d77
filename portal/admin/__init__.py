

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The admin pages: its blueprint, with the API tokens' and recipients' pages added to it
    before it is registered (docs/architecture.md, "Wiring")."""
    from . import (
        api_tokens,  # noqa: F401  (adds its pages to the admin blueprint)
        recipients,  # noqa: F401  (adds its pages to the admin blueprint)
        views,
    )

    app.register_blueprint(views.bp)
