"""Reading an employee's monitoring data: totals per category and single items, opened only
for display."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.crypto import keystore
from portal.crypto.keys import SealError, SubjectCipher
from portal.extensions import db
from portal.monitoring import aggregates
from portal.monitoring.artifacts import screenshot_path
from portal.monitoring.models import ActivityEvent, DataCategory, Screenshot, SealedNames, SubjectCategoryStats
from portal.training.services import TrainingUse, uses_of


@dataclass
class CategoryTotal:
    category: DataCategory
    count: int
    first_at: datetime | None
    last_at: datetime | None
    # Records of use in AI training that an erasure marked "removal required": kept as evidence,
    # never deleted by the retention run. ``oldest_due`` is then the oldest of the others.
    evidence: int = 0
    oldest_due: datetime | None = None
    held: bool = False  # an active legal hold covers the category: the retention run keeps it

    @property
    def purge_at(self) -> datetime | None:
        """When the retention run may first delete the oldest item it will delete: the end of that
        item's retention period (None: nothing it will delete). The run deletes it on or after."""
        oldest = self.oldest_due if self.evidence else self.first_at
        if oldest is None or not self.count:
            return None
        return oldest + timedelta(days=self.category.retention_days)


def register() -> list[DataCategory]:
    return list(db.session.scalars(select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key)))


def training_set_uses(subject_id: str) -> list[TrainingUse]:
    """The AI training sets (snapshots) that included this subject's data, the latest first, from
    the training-set ledger (snapshot membership, models, removals and the pipeline's answers)."""
    return uses_of(subject_id)


def category_totals(subject_id: str, uses: Sequence[TrainingUse] | None = None,
                    held: Collection[str] = ()) -> list[CategoryTotal]:
    """One row per register category (zero where nothing was collected), from the totals table.
    Training-set use is counted from its own small table (``uses``, when the caller has it).
    ``held``: the categories an active legal hold covers for this subject."""
    stats = {
        s.category: s
        for s in db.session.scalars(select(SubjectCategoryStats).where(SubjectCategoryStats.subject_id == subject_id))
    }
    if uses is None:
        uses = training_set_uses(subject_id)
    totals = []
    for category in register():
        if category.key == "ai_training_use":
            dates = [u.used_on for u in uses]
            due = [u.used_on for u in uses if u.removal_required_at is None]
            totals.append(CategoryTotal(category, len(uses), None, None, held=category.key in held) if not dates
                          else CategoryTotal(
                category, len(uses),
                datetime.combine(min(dates), time.min, tzinfo=UTC),
                datetime.combine(max(dates), time.min, tzinfo=UTC),
                evidence=len(dates) - len(due),
                oldest_due=datetime.combine(min(due), time.min, tzinfo=UTC) if due else None,
                held=category.key in held,
            ))
            continue
        s = stats.get(category.key)
        totals.append(CategoryTotal(category, s.item_count if s else 0, s.first_at if s else None,
                                    s.last_at if s else None, held=category.key in held))
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


class ScreenshotUnavailable(LookupError):
    """A screenshot's stored file is missing, unreadable or damaged (its row is still there)."""


def open_screenshot(shot: Screenshot, cipher: SubjectCipher | None = None) -> bytes:
    """The image, decrypted in memory; it is never written anywhere unencrypted. Raises
    :class:`ScreenshotUnavailable` when its file is gone or does not open (a destroyed key still
    raises ``KeyDestroyed``: that is the person's erasure, not damage)."""
    cipher = cipher or keystore().cipher(shot.subject_id)
    try:
        sealed = screenshot_path(shot.subject_id, shot.id).read_bytes()
    except FileNotFoundError:
        raise ScreenshotUnavailable("the stored file is missing") from None
    except OSError as exc:
        raise ScreenshotUnavailable(f"the stored file cannot be read ({type(exc).__name__})") from None
    try:
        return cipher.open_bytes("screenshot", shot.id, sealed)
    except SealError:
        raise ScreenshotUnavailable("the stored file is damaged (it does not open)") from None


CALENDAR_DAYS = 7 * 27  # the heat map shows 26 weeks up to today; a week more covers its first column


@dataclass
class Dashboard:
    """Everything the employee's dashboard shows, read from totals, aggregates and indexes only."""

    zone: ZoneInfo
    today: date
    totals: list[CategoryTotal]
    uses: list[TrainingUse]
    daily: dict[date, int]
    hourly: list[int]
    targets: aggregates.TargetSummary
    events: list[ActivityEvent]
    screenshots: list[Screenshot]

    @property
    def first_day(self) -> date | None:
        """The day (in the person's zone) of the oldest item still held about them, if any."""
        firsts = [t.first_at for t in self.totals if t.first_at is not None and t.count]
        return min(firsts).astimezone(self.zone).date() if firsts else None


def dashboard(subject_id: str, timezone: str | None, now: datetime | None = None,
              held: Collection[str] = ()) -> Dashboard:
    """The dashboard's data for one subject; days and hours in their time zone ``timezone``;
    ``held``: the categories an active legal hold covers (the retention run keeps them).

    A fixed handful of queries, none of which reads more than a few rows of the events."""
    zone = aggregates.zone_of(timezone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    uses = training_set_uses(subject_id)
    cipher = aggregates.subject_cipher(subject_id)  # opens the sealed site and application names shown
    events, screenshots = recent_events(subject_id), recent_screenshots(subject_id)
    shown: list[SealedNames] = [*events, *screenshots]
    for item in shown:
        item.reveal_names(cipher)
    return Dashboard(
        zone=zone,
        today=today,
        totals=category_totals(subject_id, uses, held),
        uses=uses,
        daily=aggregates.daily_counts(subject_id, today - timedelta(days=CALENDAR_DAYS), today),
        hourly=aggregates.hourly_counts(subject_id),
        targets=aggregates.top_targets(subject_id, cipher=cipher),
        events=events,
        screenshots=screenshots,
    )
