"""Who must not be used for AI training or analytics, for which purpose, since when and why, by
pseudonym. The feed is the log of changes (every exclusion that began or was lifted, written by the
services that make them); the check reads the suppression list and the restrictions in force."""

from __future__ import annotations

import base64
import binascii
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import JSON, String, bindparam, cast, literal, null, select, type_coerce, union_all

from portal.api.schemas import Exclusion
from portal.consent.models import ConsentEvent, Decision, ExclusionChange, Purpose, Suppression
from portal.crypto import blind_index
from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym, subject_of
from portal.rights.models import Restriction

PAGE = 500
REASONS = {"consent-withdrawn": "consent_withdrawn", "objection": "objection_upheld",
           "restriction": "restriction", "erasure": "erasure"}
_MAGIC = b"exclfeed"  # the cursor block's second half: a cursor not made here fails to decrypt to it


class BadCursor(ValueError):
    """The cursor was not made by this feed."""


def _cipher() -> Cipher[modes.ECB]:
    key = bytes.fromhex(blind_index("exclusions-cursor-key", "v1", fold_case=False))  # 32 bytes
    # One block holding a position and a constant, never two blocks: the plain block permutation.
    return Cipher(algorithms.AES256(key), modes.ECB())  # noqa: S305


def encode_cursor(position: int) -> str:
    """The log's position, encrypted under a key of this deployment: opaque, no internal id in it."""
    encryptor = _cipher().encryptor()
    block = encryptor.update(position.to_bytes(8, "big") + _MAGIC) + encryptor.finalize()
    return base64.urlsafe_b64encode(block).decode().rstrip("=")


def decode_cursor(value: str) -> int:
    try:
        block = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        raise BadCursor("the cursor was not given by this feed") from None
    if len(block) != 16:
        raise BadCursor("the cursor was not given by this feed")
    decryptor = _cipher().decryptor()
    plain = decryptor.update(block) + decryptor.finalize()
    if plain[8:] != _MAGIC:
        raise BadCursor("the cursor was not given by this feed")
    return int.from_bytes(plain[:8], "big")


def _reason(stored: str) -> str:
    return REASONS.get(stored, stored)


def _change_item(row: ExclusionChange) -> Exclusion:
    purpose: Any = row.purpose
    reason: Any = _reason(row.reason)
    return Exclusion(pseudonym=pseudonym(row.subject_id), purpose=purpose, excluded=row.excluded,
                     state="excluded" if row.excluded else "lifted", reason=reason, since=row.at,
                     categories=list(row.categories or []) or None)


START = 0  # before every change


def page(after: str | None, limit: int = PAGE) -> tuple[list[Exclusion], str, bool]:
    """The changes after ``after``, in the order they were made: every exclusion that began
    (`excluded`) and every one that ended (`lifted`); the next cursor and whether more are waiting."""
    position = decode_cursor(after) if after else START
    rows = list(db.session.scalars(select(ExclusionChange).where(ExclusionChange.id > position)
                                   .order_by(ExclusionChange.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = rows[-1].id
    return [_change_item(row) for row in rows], encode_cursor(position), more


def _check_statement() -> Any:
    """Everything :func:`check` needs, in one statement and one round trip (a pipeline asks once per
    person it is about to use): the employee's row (when they were added, and their latest decision
    on AI training), then their suppressions, then their restrictions in force, as rows of (part,
    purpose, reason, since, categories)."""
    subject = bindparam("subject", type_=String)
    latest_decision = (select(ConsentEvent.decision).where(ConsentEvent.subject_id == subject,
                                                           ConsentEvent.purpose == Purpose.AI_TRAINING.value)
                       .order_by(ConsentEvent.id.desc()).limit(1).scalar_subquery())
    employee = select(literal(0).label("part"), type_coerce(null(), String).label("purpose"),
                      type_coerce(latest_decision, String).label("reason"),
                      type_coerce(Employee.created_at, UTCDateTime()).label("since"),
                      cast(null(), JSON).label("categories")).where(Employee.id == subject)
    suppressions = select(literal(1), type_coerce(Suppression.purpose, String), Suppression.reason,
                          Suppression.since, cast(null(), JSON)).where(Suppression.subject_id == subject)
    restrictions = select(literal(2), null(), null(), Restriction.since, Restriction.categories).where(
        Restriction.subject_id == subject, Restriction.lifted_at.is_(None))
    # Typed NULLs: PostgreSQL resolves a union's column types branch by branch, and two bare NULLs are text.
    combined = union_all(employee, suppressions, restrictions).subquery()
    return select(combined).order_by(combined.c.part, combined.c.since)


def check(value: str) -> list[Exclusion] | None:
    """Everything that excludes the employee behind a pseudonym now; None if there is no such employee.
    Besides the feed's exclusions, AI training without consent given (`consent_not_given`): the
    employee's latest decision on it is not a grant."""
    subject_id = subject_of(value)
    if subject_id is None:
        return None
    rows = db.session.execute(_CHECK(), {"subject": subject_id}).all()
    if not rows or rows[0].part != 0:
        return None
    employee, items = rows[0], []
    for row in rows[1:]:
        if row.part == 1:
            purpose: Any = row.purpose  # a ProcessingPurpose value: ai_training, screenshot_capture, ...
            reason: Any = _reason(row.reason)
            items.append(Exclusion(pseudonym=value, purpose=purpose, excluded=True, state="excluded",
                                   reason=reason, since=row.since))
        else:
            items.append(Exclusion(pseudonym=value, purpose="analytics", excluded=True, state="excluded",
                                   reason="restriction", since=row.since,
                                   categories=list(row.categories or []) or None))
    if employee.reason != Decision.GRANTED.value and not any(i.purpose == Purpose.AI_TRAINING.value for i in items):
        items.insert(0, Exclusion(pseudonym=value, purpose="ai_training", excluded=True, state="excluded",
                                  reason="consent_not_given", since=employee.since or utcnow()))
    return items


_CHECK = cache(_check_statement)  # built once per process; compiled once per dialect by SQLAlchemy's cache
