"""Who must not be used for AI training or analytics, for which purpose, since when and why, by
pseudonym. The feed is the log of changes (every exclusion that began or was lifted, written by the
services that make them); the check reads the suppression list and the restrictions in force."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from portal.api.schemas import Exclusion
from portal.consent.models import ExclusionChange, Purpose, Suppression
from portal.consent.services import has_consent
from portal.crypto import blind_index
from portal.db import utcnow
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


def _suppression_item(row: Suppression) -> Exclusion:
    purpose: Any = str(row.purpose)  # a Purpose value: ai_training or screenshot_capture
    reason: Any = _reason(row.reason)
    return Exclusion(pseudonym=pseudonym(row.subject_id), purpose=purpose, excluded=True, state="excluded",
                     reason=reason, since=row.since)


def _restriction_item(row: Restriction) -> Exclusion:
    return Exclusion(pseudonym=pseudonym(row.subject_id), purpose="analytics", excluded=True, state="excluded",
                     reason="restriction", since=row.since, categories=list(row.categories or []) or None)


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
        items.insert(0, Exclusion(pseudonym=value, purpose="ai_training", excluded=True, state="excluded",
                                  reason="consent_not_given",
                                  since=employee.created_at or utcnow()))
    return items
