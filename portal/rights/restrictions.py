"""Restriction of processing (GDPR Art. 18) keeps new data out too: ingestion asks here which
register categories of a subject are restricted (the requests domain records restrictions;
monitoring only asks, through :func:`portal.monitoring.ingest.collection_block`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.extensions import db
from portal.mail.services import notify
from portal.monitoring.ingest import Reason, collection_block
from portal.people.models import Employee
from portal.rights import services
from portal.rights.models import DataRequest, Restriction
from portal.rights.services import IllegalTransition, NotAllowed, may_work


@collection_block
def restricted_categories(subject_id: str) -> dict[str, Reason]:
    """The categories under a restriction in force; the key "" when one covers every category."""
    blocked: dict[str, Reason] = {}
    for categories in db.session.scalars(select(Restriction.categories).where(
            Restriction.subject_id == subject_id, Restriction.lifted_at.is_(None))):
        for category in categories or [""]:
            blocked[category] = Reason.RESTRICTED
    return blocked


# -- restrictions in force, and lifting one (GDPR Art. 18(2) and (3)) --------------------------------

LEGAL_CLAIMS = "legal-claims"  # the one purpose staff may open restricted data for (Art. 18(2))


def in_force(subject_id: str) -> list[Restriction]:
    """The subject's restrictions not lifted, oldest first."""
    return list(db.session.scalars(select(Restriction).where(
        Restriction.subject_id == subject_id, Restriction.lifted_at.is_(None)).order_by(Restriction.since, Restriction.id)))


def of_request(request_id: str) -> Restriction | None:
    return db.session.scalar(select(Restriction).where(Restriction.request_id == request_id))


def lift(restriction: Restriction, staff: Employee, *, now: datetime | None = None) -> None:
    """Lift ``restriction``: first the employee's notice (GDPR Art. 18(3)) is queued as a mail job
    and recorded, then the lift; both in the caller's transaction, so neither happens without the
    other, and the database refuses a lift with no notice before it. The AI-training suppression
    the restriction added goes with the subject's last restriction (consent decides again: a
    withdrawn consent keeps the data out; an objection upheld is not touched)."""
    request = db.session.get(DataRequest, restriction.request_id)
    assert request is not None  # noqa: S101 - the foreign key cascades
    if request.subject_id == staff.id:
        raise NotAllowed("Nobody may work a request about themselves.")
    if not may_work(staff, request):
        raise NotAllowed("Only a DPO of this request's queue may do that.")
    if restriction.lifted_at is not None:
        raise IllegalTransition("This restriction is already lifted.")
    now = now or utcnow()
    actor = Actor("employee", staff.id)
    restriction.lift_notified_at = now
    notify("restriction_lifted", recipient_id=restriction.subject_id, refs={"request": request.id}, actor=actor)
    record("requests:restriction:notify", actor=actor, subject_id=restriction.subject_id,
           targets={"request": request.id, "restriction": restriction.id}, details={"notice": "lift"})
    services.lift_restriction(restriction, actor=actor, now=now, lifted_by_id=staff.id)
