"""Reading an employee's monitoring data: totals per category and single items, opened only
for display."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select

from portal.crypto import keystore
from portal.extensions import db
from portal.monitoring.artifacts import screenshot_path
from portal.monitoring.models import ActivityEvent, DataCategory, Screenshot, SubjectCategoryStats, TrainingSetUse


@dataclass
class CategoryTotal:
    category: DataCategory
    count: int
    first_at: datetime | None
    last_at: datetime | None


def register() -> list[DataCategory]:
    return list(db.session.scalars(select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key)))


def category_totals(subject_id: str) -> list[CategoryTotal]:
    """One row per register category (zero where nothing was collected), from the totals table.
    Training-set use is counted from its own small table."""
    stats = {
        s.category: s
        for s in db.session.scalars(select(SubjectCategoryStats).where(SubjectCategoryStats.subject_id == subject_id))
    }
    uses = list(db.session.scalars(select(TrainingSetUse).where(TrainingSetUse.subject_id == subject_id)))
    totals = []
    for category in register():
        if category.key == "ai_training_use":
            dates = [u.used_on for u in uses]
            totals.append(CategoryTotal(category, len(uses), None, None) if not dates else CategoryTotal(
                category, len(uses),
                datetime.combine(min(dates), time.min, tzinfo=UTC),
                datetime.combine(max(dates), time.min, tzinfo=UTC),
            ))
            continue
        s = stats.get(category.key)
        totals.append(CategoryTotal(category, s.item_count if s else 0, s.first_at if s else None,
                                    s.last_at if s else None))
    return totals


def recent_events(subject_id: str, limit: int = 5) -> list[ActivityEvent]:
    return list(db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.subject_id == subject_id)
        .order_by(ActivityEvent.occurred_at.desc(), ActivityEvent.id.desc()).limit(limit)
    ))


def recent_screenshots(subject_id: str, limit: int = 4) -> list[Screenshot]:
    return list(db.session.scalars(
        select(Screenshot).where(Screenshot.subject_id == subject_id)
        .order_by(Screenshot.captured_at.desc()).limit(limit)
    ))


def open_event(event: ActivityEvent) -> dict[str, Any]:
    """The sealed fields of one event, decrypted for display only."""
    return keystore().cipher(event.subject_id).open_json("event", event.source_event_id, event.sealed)


def open_screenshot(shot: Screenshot) -> bytes:
    """The image, decrypted in memory; it is never written anywhere unencrypted."""
    sealed = screenshot_path(shot.subject_id, shot.id).read_bytes()
    return keystore().cipher(shot.subject_id).open_bytes("screenshot", shot.id, sealed)
