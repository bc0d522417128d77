"""Restriction of processing (GDPR Art. 18) keeps new data out too: ingestion asks here which
register categories of a subject are restricted (the requests domain records restrictions;
monitoring only asks, through :func:`portal.monitoring.ingest.collection_block`)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.monitoring.ingest import Reason, collection_block
from portal.requests.models import Restriction


@collection_block
def restricted_categories(subject_id: str) -> dict[str, Reason]:
    """The categories under a restriction in force; the key "" when one covers every category."""
    blocked: dict[str, Reason] = {}
    for categories in db.session.scalars(select(Restriction.categories).where(
            Restriction.subject_id == subject_id, Restriction.lifted_at.is_(None))):
        for category in categories or [""]:
            blocked[category] = Reason.RESTRICTED
    return blocked
