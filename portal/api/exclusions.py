"""Who must not be used for AI training or analytics, for which purpose, since when and why: read
from what the portal records (the suppression list that consent withdrawal, upheld objections,
restrictions and erasures write, and restrictions of processing in force), by pseudonym."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, true

from portal.api.schemas import Exclusion
from portal.consent.models import Purpose, Suppression
from portal.consent.services import has_consent
from portal.db import utcnow
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym, subject_of
from portal.requests.models import Restriction

PAGE = 500
REASONS = {"consent-withdrawn": "consent_withdrawn", "objection": "objection_upheld",
           "restriction": "restriction", "erasure": "erasure"}
SUPPRESSION, RESTRICTION = 0, 1  # the order of the two sources among rows that began at the same moment


class BadCursor(ValueError):
    """The cursor was not made by this feed."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the time, the source and the row's key there. Opaque to the pipeline
    and without internal ids: a suppression's subject travels as its pseudonym, a restriction as
    its row number."""

    since: datetime
    source: int
    key: tuple[Any, ...]  # (subject id, purpose) or (restriction id,)

    def encode(self) -> str:
        shown = [pseudonym(self.key[0]), self.key[1]] if self.source == SUPPRESSION else [str(self.key[0])]
        raw = json.dumps([self.since.isoformat(), self.source, shown], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            since, source, key = raw
            moment = datetime.fromisoformat(since)
            if moment.tzinfo is None or source not in (SUPPRESSION, RESTRICTION) or not isinstance(key, list) \
                    or not all(isinstance(k, str) for k in key):
                raise ValueError
            if source == SUPPRESSION:
                subject_id = subject_of(key[0]) if len(key) == 2 else None
                if subject_id is None:
                    raise ValueError
                return cls(moment, source, (subject_id, key[1]))
            if len(key) != 1 or not key[0].isdigit() or len(key[0]) > 18:
                raise ValueError
            return cls(moment, source, (int(key[0]),))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise BadCursor("the cursor was not given by this feed") from None


def _reason(stored: str) -> str:
    return REASONS.get(stored, stored)


def _suppression_item(row: Suppression) -> Exclusion:
    purpose: Any = str(row.purpose)  # a Purpose value: ai_training or screenshot_capture
    reason: Any = _reason(row.reason)
    return Exclusion(pseudonym=pseudonym(row.subject_id), purpose=purpose, excluded=True, reason=reason,
                     since=row.since)


def _restriction_item(row: Restriction) -> Exclusion:
    return Exclusion(pseudonym=pseudonym(row.subject_id), purpose="analytics", excluded=True, reason="restriction",
                     since=row.since, categories=list(row.categories or []) or None)


def _after(column_since: Any, cursor: Cursor | None, source: int, keys: list[Any]) -> Any:
    """Rows of ``source`` that come after ``cursor`` in (since, source, key) order."""
    if cursor is None:
        return true()
    if source < cursor.source:
        return column_since > cursor.since
    if source > cursor.source:
        return column_since >= cursor.since
    key_after = or_(*[and_(true(), *[keys[j] == cursor.key[j] for j in range(i)], keys[i] > cursor.key[i])
                      for i in range(len(keys))])
    return or_(column_since > cursor.since, and_(column_since == cursor.since, key_after))


START = base64.urlsafe_b64encode(b'["2000-01-01T00:00:00+00:00",1,["0"]]').decode().rstrip("=")  # before every row


def page(after: str | None, limit: int = PAGE) -> tuple[list[Exclusion], str, bool]:
    """Exclusions in force, in the order they began, after ``after``; the next cursor and whether
    more are waiting. An exclusion that is lifted (consent given again) leaves the feed."""
    cursor = Cursor.decode(after) if after else None
    suppressions = db.session.scalars(
        select(Suppression).where(_after(Suppression.since, cursor, SUPPRESSION,
                                         [Suppression.subject_id, Suppression.purpose]))
        .order_by(Suppression.since, Suppression.subject_id, Suppression.purpose).limit(limit + 1))
    restrictions = db.session.scalars(
        select(Restriction).where(Restriction.lifted_at.is_(None),
                                  _after(Restriction.since, cursor, RESTRICTION,
                                         [Restriction.id]))
        .order_by(Restriction.since, Restriction.id).limit(limit + 1))
    rows = sorted([(s.since, SUPPRESSION, (s.subject_id, s.purpose), _suppression_item(s)) for s in suppressions]
                  + [(r.since, RESTRICTION, (r.id,), _restriction_item(r)) for r in restrictions],
                  key=lambda row: row[:3])
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        since, source, key, _ = rows[-1]
        next_cursor = Cursor(since, source, key).encode()
    else:
        next_cursor = after or START
    return [row[3] for row in rows], next_cursor, more


def check(value: str) -> list[Exclusion] | None:
    """Everything that excludes the employee behind a pseudonym now; None if there is no such employee.
    Besides the feed's exclusions, AI training without consent given (`consent_not_given`)."""
    subject_id = subject_of(value)
    employee = db.session.get(Employee, subject_id) if subject_id else None
    if employee is None:
        return None
    items = [_suppression_item(s) for s in db.session.scalars(
        select(Suppression).where(Suppression.subject_id == employee.id).order_by(Suppression.since))]
    items += [_restriction_item(r) for r in db.session.scalars(
        select(Restriction).where(Restriction.subject_id == employee.id, Restriction.lifted_at.is_(None))
        .order_by(Restriction.since))]
    if not any(i.purpose == Purpose.AI_TRAINING.value for i in items) and not has_consent(employee.id,
                                                                                             Purpose.AI_TRAINING):
        items.insert(0, Exclusion(pseudonym=value, purpose="ai_training", excluded=True, reason="consent_not_given",
                                  since=employee.created_at or utcnow()))
    return items
