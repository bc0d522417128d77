"""Staff administration, all of it under ``/admin``: the monitoring policy (``views.py``, which
holds the ``admin`` blueprint), service tokens (``api_tokens.py``), recipient systems
(``recipients.py``), queues and routing rules (``queues.py``) and the job list (``jobs.py``)."""


from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The admin pages: the ``admin`` blueprint, with the API tokens' and recipients' pages added
    to it before it is registered, the job list and the queues (docs/architecture.md, "Wiring")."""
    from . import (
        api_tokens,  # noqa: F401  (adds its pages to the admin blueprint)
        jobs,
        queues,
        recipients,  # noqa: F401  (adds its pages to the admin blueprint)
        views,
    )

    for module in (views, jobs, queues):
        app.register_blueprint(module.bp)
