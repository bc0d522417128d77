"""What a DPO sees of the subject's monitoring data while handling a case: aggregates only.

Counts and first/last dates per category (from the totals table), the AI training sets that used
the data, the consent state and how often staff opened the data lately. No event or screenshot is
decrypted here: what the case needs beyond that goes through an export or the erasure job.

Opening the summary is an access to the employee's data: it is recorded first (a POST), and the
page (a GET, which never writes) shows the summary only while this staff member has a recent
access record for this case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal.consent import services as consent
from portal.consent.models import ConsentEvent, Purpose, Suppression
from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.models import AccessRecord, DataCategory
from portal.monitoring.services import CategoryTotal, category_totals, training_set_uses
from portal.training.services import TrainingUse

ACCESS_WINDOW = timedelta(minutes=30)  # how long one recorded opening shows the summary
RECENT_ACCESS_DAYS = 30


@dataclass(frozen=True)
class ConsentState:
    purpose: Purpose
    label: str  # the register's name of the category that rests on this consent
    latest: ConsentEvent | None
    suppression: Suppression | None

    @property
    def granted(self) -> bool:
        return self.latest is not None and self.latest.decision == "granted"


@dataclass(frozen=True)
class SubjectSummary:
    totals: list[CategoryTotal]
    uses: list[TrainingUse]
    consents: list[ConsentState]
    recent_accesses: int  # staff accesses within RECENT_ACCESS_DAYS, this one included
    recent_days: int

    @property
    def total_items(self) -> int:
        return sum(t.count for t in self.totals)


def subject_summary(subject_id: str, *, now: datetime | None = None) -> SubjectSummary:
    now = now or utcnow()
    uses = training_set_uses(subject_id)
    since = now - timedelta(days=RECENT_ACCESS_DAYS)
    recent = db.session.scalar(select(func.count()).select_from(AccessRecord).where(
        AccessRecord.subject_id == subject_id, AccessRecord.accessed_at >= since)) or 0
    labels = dict(db.session.execute(select(DataCategory.consent_purpose, DataCategory.name).where(
        DataCategory.consent_purpose.is_not(None))).tuples().all())
    consents = [ConsentState(p, labels.get(p.value, p.value), consent.latest(subject_id, p),
                             consent.suppression(subject_id, p)) for p in Purpose]
    return SubjectSummary(totals=category_totals(subject_id, uses), uses=uses, consents=consents,
                          recent_accesses=recent, recent_days=RECENT_ACCESS_DAYS)


def recent_access(subject_id: str, accessor_id: str, case_ref: str, *,
                  now: datetime | None = None) -> AccessRecord | None:
    """This staff member's latest access record for this case within :data:`ACCESS_WINDOW`."""
    since = (now or utcnow()) - ACCESS_WINDOW
    return db.session.scalar(select(AccessRecord).where(
        AccessRecord.subject_id == subject_id, AccessRecord.accessor_id == accessor_id,
        AccessRecord.case_ref == case_ref, AccessRecord.accessed_at >= since,
    ).order_by(AccessRecord.accessed_at.desc(), AccessRecord.id.desc()).limit(1))
