"""Jobs: work that runs outside the web request (docs/architecture.md, "Jobs"): the employee's
export, erasure (and erasing what a lifted legal hold kept back), retention, e-mails, former
employees' code mails and deliveries to recipient systems, each a kind registered with
:func:`portal.jobs.services.handler`. Evidence packs are not jobs: the DPO's click writes one in
the web request (:func:`portal.evidence.sharing.make_pack`).

The ``jobs`` table is the truth; runners (``portal.jobs.runners``) only move work along.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    """The jobs' table and the runner (thread pool or Celery) with its
    session hooks (docs/architecture.md, "Wiring")."""
    from . import (
        models,  # noqa: F401  (its tables)
        runners,
    )

    runners.init_app(app)
