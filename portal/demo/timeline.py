"""The demo's history, step by step at the moments it shows.

The seed tells a story that began months ago: people hired, the policy published and read,
consent given, requests received, worked and answered. Each step runs inside
:func:`portal.db.clock_at` its own moment, so every row and every audit entry it writes carries
that moment, and the pages' dates agree with the audit log. Steps run in time order (the audit
log's times must follow its sequence); none runs after the real now, and none before the newest
entry the log already holds (a seed into a portal that was used already is compressed after it,
never written before it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.db import clock_at, utcnow
from portal.extensions import db


@dataclass(order=True)
class Step:
    at: datetime
    order: int
    action: Callable[[], object] = field(compare=False)


class Timeline:
    def __init__(self) -> None:
        self.now = utcnow()
        newest = db.session.scalar(select(func.max(AuditEntry.recorded_at)))
        self.floor: datetime | None = newest
        self.steps: list[Step] = []

    def at(self, moment: datetime, action: Callable[[], object]) -> None:
        """Run ``action`` at ``moment`` (at the real now at the latest)."""
        self.steps.append(Step(min(moment, self.now), len(self.steps), action))

    def run(self) -> None:
        """Run the steps planned so far, in time order, and forget them."""
        steps, self.steps = sorted(self.steps), []
        for step in steps:
            moment = max(step.at, self.floor) if self.floor is not None else step.at
            with clock_at(moment):
                step.action()
            self.floor = moment
