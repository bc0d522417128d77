"""Writing audit entries.

The canonical form of an entry is compact JSON with sorted keys, UTF-8; its leaf hash is
``SHA-256(0x00 || canonical)`` as for RFC 9162 Merkle tree leaves, so that the evidence
issue can build signed tree heads over the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from portal.audit.models import AuditEntry
from portal.db import Busy, new_id, serialised, utcnow
from portal.extensions import db

TAG = re.compile(r"^[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]+$")
# Keys that would carry personal payloads: refused so that no caller can slip them in.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {"email", "name", "display_name", "url", "title", "payload", "ip", "user_agent", "sub", "claims"}
)
_SCALARS = (str, int, float, bool, type(None))


LOCK_WAIT = "15s"  # how long an audited write waits for another's append lock (PostgreSQL)
APPEND_LOCK = 7244891  # the append lock's key (pg_advisory_xact_lock); the head and tree locks are next to it


class AuditBusy(Busy):
    """The audit log's append lock was not free in time; the transaction must be rolled back."""


@dataclass(frozen=True)
class Actor:
    type: str
    id: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous")


def _check(mapping: Mapping[str, Any], what: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in FORBIDDEN_DETAIL_KEYS:
            raise ValueError(f"audit {what} may not carry personal payloads ({key!r})")
        if isinstance(value, list | tuple):
            if not all(isinstance(v, _SCALARS) for v in value):
                raise ValueError(f"audit {what}[{key!r}] must hold plain values")
            clean[key] = list(value)
        elif isinstance(value, _SCALARS):
            clean[key] = value
        else:
            raise ValueError(f"audit {what}[{key!r}] must be a plain value, not {type(value).__name__}")
    return clean


def canonical(entry_id: str, recorded_at: datetime, actor: Actor, tag: str, subject_id: str | None,
              targets: Mapping[str, Any], details: Mapping[str, Any]) -> bytes:
    document = {
        "v": 1,
        "id": entry_id,
        "time": recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": {"type": actor.type, "id": actor.id},
        "tag": tag,
        "subject": subject_id,
        "targets": dict(targets),
        "details": dict(details),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_hash(canonical_entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical_entry).digest()


def entry_canonical(entry: AuditEntry) -> bytes:
    return canonical(entry.entry_id, entry.recorded_at, Actor(entry.actor_type, entry.actor_id), entry.tag,
                     entry.subject_id, entry.targets, entry.details)


def _serialise_appends() -> int | None:
    """Keep sequence order equal to commit order, without holes. On PostgreSQL the appends take a
    transaction lock and number themselves (a sequence would leave a hole for every rolled-back
    transaction, which ``audit verify`` must read as a deleted entry); the next number is returned.
    SQLite has one writer, and its rowid is the highest plus one at insert time: None."""
    if not hold_append_lock():
        return None
    db.session.flush()  # entries added earlier in this transaction count
    highest = db.session.execute(text("SELECT COALESCE(MAX(seq), 0) FROM audit_entries")).scalar_one()
    return int(highest) + 1


def hold_append_lock() -> bool:
    """On PostgreSQL, take the audit log's append lock until the transaction ends (False on SQLite,
    whose single writer serialises already). Another log whose order must be its commit order, and
    whose writers append audit entries anyway, takes it too: one lock, one order, no deadlock."""
    # Wait for the lock at most LOCK_WAIT, then fail clearly: a transaction stopped while holding
    # it (a process paused in the middle of a write) must not hold up every audited write for ever.
    try:
        return serialised(APPEND_LOCK, wait=LOCK_WAIT)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise AuditBusy(f"the audit log stayed locked by another transaction for {LOCK_WAIT}; nothing was "
                            "recorded or changed: try again") from None
        raise


def record(tag: str, *, actor: Actor, subject_id: str | None = None,
           targets: Mapping[str, Any] | None = None, details: Mapping[str, Any] | None = None) -> AuditEntry:
    """Add an audit entry to the current transaction (the caller commits)."""
    if not TAG.match(tag):
        raise ValueError(f"audit tag must look like area:object:action, not {tag!r}")
    clean_targets = _check(targets or {}, "targets")
    clean_details = _check(details or {}, "details")
    entry_id = new_id()
    seq = _serialise_appends()
    now = utcnow()  # read under the lock: times follow the sequence
    body = canonical(entry_id, now, actor, tag, subject_id, clean_targets, clean_details)
    entry = AuditEntry(
        entry_id=entry_id, recorded_at=now, actor_type=actor.type, actor_id=actor.id, tag=tag,
        subject_id=subject_id, targets=clean_targets, details=clean_details, leaf_hash=leaf_hash(body),
    )
    if seq is not None:
        entry.seq = seq
    db.session.add(entry)
    return entry
