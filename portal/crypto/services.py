"""Crypto-shredding: the one way a subject's data key is destroyed, and the way a restored key
store is brought back in line with every destruction since (docs/architecture.md, "Keys and
backups")."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.crypto.keys import keystore
from portal.extensions import db
from portal.jobs.runners import periodic

DESTROY_TAG = "crypto:subject-key:destroy"
REAPPLY_TAG = "crypto:subject-key:reapply-destroy"


def shred_subject(subject_id: str, *, actor: Actor, reason: str, targets: dict[str, str] | None = None) -> bool:
    """Destroy the subject's data key, so that every sealed event and screenshot of theirs, in
    the database, the artifact directory and every backup of either, can never be opened again.

    Returns whether a key was destroyed (False if it was already gone). Audited either way, with
    the key's id: the audit log is the list of destroyed keys that :func:`reapply_erasures`
    applies to a key store restored from a backup."""
    key_id = keystore().destroy(subject_id)
    details: dict[str, str | bool] = {"reason": reason, "destroyed": key_id is not None}
    if key_id is not None:
        details["key_id"] = key_id
    record(DESTROY_TAG, actor=actor, subject_id=subject_id, targets=targets or {}, details=details)
    return key_id is not None


def destroyed_key_ids() -> dict[str, set[str]]:
    """Every key id the log says was destroyed, per subject."""
    destroyed: dict[str, set[str]] = {}
    for subject_id, details in db.session.execute(select(AuditEntry.subject_id, AuditEntry.details)
                                                  .where(AuditEntry.tag.in_([DESTROY_TAG, REAPPLY_TAG]))):
        if subject_id and isinstance(details, dict) and details.get("key_id"):
            destroyed.setdefault(subject_id, set()).add(str(details["key_id"]))
    return destroyed


@dataclass
class Reapplied:
    checked: int = 0  # subjects with a destroyed key, looked up in the store
    destroyed: list[str] = field(default_factory=list)  # subjects whose restored key was destroyed again
    scrubbed: int = 0  # tombstones of destructions cut short, finished now


def reapply_erasures(actor: Actor) -> Reapplied:
    """Destroy again every key in the store that the log says was destroyed (a key store restored
    from a backup taken before an erasure brings such keys back). Keys made after a destruction
    have other ids and are kept. Safe to run any number of times; the caller commits."""
    store = keystore()
    result = Reapplied(scrubbed=store.scrub_tombstones())
    for subject_id, key_ids in sorted(destroyed_key_ids().items()):
        result.checked += 1
        key_id = store.key_id(subject_id)
        if key_id is not None and key_id in key_ids and store.destroy(subject_id) is not None:
            result.destroyed.append(subject_id)
            record(REAPPLY_TAG, actor=actor, subject_id=subject_id,
                   details={"reason": "restored after its destruction", "key_id": key_id})
    return result


@periodic(every=600)
def reapply_erasures_periodically() -> None:
    """Every ten minutes: keep the key store in line with the log even if nobody runs the command
    after a restore."""
    if reapply_erasures(Actor.system()).destroyed:
        db.session.commit()
