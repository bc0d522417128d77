"""Crypto-shredding and the other ways a subject's data key is destroyed (docs/architecture.md,
"Keys and backups"):

- :func:`shred_subject`, the erasure's way (``portal.rights.erasure`` calls it once nothing
  sealed with the key is left): destroyed and audited with the key's id;
- :func:`reapply_erasures`, which destroys again every such key that a key store restored from a
  backup brought back;
- the key of a new subject whose row never commits: destroyed with its transaction, or later by
  :func:`sweep_orphan_keys`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.crypto.keys import KeyDestroyed, SealError, keystore
from portal.db import utcnow
from portal.extensions import db
from portal.jobs.runners import periodic

log = logging.getLogger(__name__)

DESTROY_TAG = "crypto:subject-key:destroy"
REAPPLY_TAG = "crypto:subject-key:reapply-destroy"
ORPHANS_TAG = "crypto:subject-key:orphans-destroy"
ORPHAN_AGE = timedelta(minutes=30)  # a younger key may belong to a transaction about to commit
_NEW_KEYS = "portal.crypto.new_keys"  # session.info: (subject id, transaction it was made in)
_ORPHANS_SEEN: dict[str, datetime] = {}  # for backends that do not date their keys: first seen orphaned


# -- a new subject's key lives and dies with its row --------------------------------------------------

def create_subject_key(subject_id: str) -> None:
    """Make the data key of a subject whose row the current transaction has just flushed (so the
    database has taken it, unique keys and all). If that transaction, or the savepoint the key
    was made in, ends without a commit (a concurrent insert of the same person won, a later step
    failed), the key is destroyed with it; a process that dies before either leaves a key that
    :func:`sweep_orphan_keys` destroys later."""
    store = keystore()
    if store.exists(subject_id):
        return  # not ours to take back
    store.create(subject_id)
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_NEW_KEYS, []).append((subject_id, transaction))


@event.listens_for(Session, "after_commit")
def _keep_new_keys(session: Session) -> None:
    made: list[tuple[str, Any]] = session.info.get(_NEW_KEYS) or []
    if not made:
        return
    committed = session.get_nested_transaction() or session.get_transaction()
    if committed is None or committed.parent is None:
        session.info.pop(_NEW_KEYS, None)  # the rows are in the database for good: so are their keys
        return
    # A savepoint released: its keys now share the fate of the enclosing transaction.
    session.info[_NEW_KEYS] = [(subject_id, committed.parent if made_in is committed else made_in)
                               for subject_id, made_in in made]


@event.listens_for(Session, "after_transaction_end")
def _destroy_keys_of_rows_never_committed(session: Session, transaction: SessionTransaction) -> None:
    made: list[tuple[str, Any]] = session.info.get(_NEW_KEYS) or []
    lost = [subject_id for subject_id, made_in in made if made_in is transaction]
    if not lost:
        return
    kept = [(subject_id, made_in) for subject_id, made_in in made if made_in is not transaction]
    if kept:
        session.info[_NEW_KEYS] = kept
    else:
        session.info.pop(_NEW_KEYS, None)
    try:
        store = keystore()
        for subject_id in lost:
            store.destroy(subject_id)
    except Exception:  # the transaction is over either way; the orphan sweep finishes the job
        log.warning("%d key(s) of rows that were never committed could not be destroyed now; the orphan "
                    "sweep will", len(lost), exc_info=True)


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


@dataclass
class OrphanSweep:
    looked_at: int = 0  # keys in the store
    destroyed: list[str] = field(default_factory=list)  # key ids of orphans destroyed
    too_recent: int = 0  # orphans younger than the age limit, left for a later sweep
    with_history: int = 0  # no employee row, yet in the audit log: never an orphan's to destroy
    not_ours: int = 0  # wrapped under another master key (a store shared by mistake): never touched


def sweep_orphan_keys(actor: Actor, *, older_than: timedelta = ORPHAN_AGE, now: datetime | None = None) -> OrphanSweep:
    """Destroy the keys in the store of subjects that never became an employee: a key made for a
    row whose transaction never committed (a process that died between the two). A key is an
    orphan when no employees row has its subject id, nothing in the audit log names that subject
    (every employee ever committed has its creation entry there, erased or not: such a key is the
    business of the erasure and of :func:`reapply_erasures`, never of this sweep), it opens with this
    portal's master key (a key store, or token, holding another deployment's keys by mistake loses
    none of them), and it is older than ``older_than`` (a younger one may belong to a transaction
    still about to commit; a backend that does not date its keys counts from the first sweep of
    this process that saw it orphaned). One audit entry with the counts and the destroyed key ids,
    no subject named. The caller commits."""
    from portal.people.models import Employee

    now = now or utcnow()
    store = keystore()
    result = OrphanSweep()
    ids = store.subject_ids()
    result.looked_at = len(ids)
    orphans_now: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        employed = set(db.session.scalars(select(Employee.id).where(Employee.id.in_(chunk))))
        candidates = [subject_id for subject_id in chunk if subject_id not in employed]
        if not candidates:
            continue
        recorded = set(db.session.scalars(select(AuditEntry.subject_id).distinct()
                                          .where(AuditEntry.subject_id.in_(candidates))))
        for subject_id in candidates:
            if subject_id in recorded:
                result.with_history += 1
                continue
            try:
                store.data_key(subject_id)
            except (SealError, KeyDestroyed):
                result.not_ours += 1
                continue
            orphans_now.add(subject_id)
            made = store.created_at(subject_id) or _ORPHANS_SEEN.setdefault(subject_id, now)
            if now - made < older_than:
                result.too_recent += 1
                continue
            key_id = store.destroy(subject_id)
            _ORPHANS_SEEN.pop(subject_id, None)
            if key_id is not None:
                result.destroyed.append(key_id)
    for subject_id in set(_ORPHANS_SEEN) - orphans_now:
        _ORPHANS_SEEN.pop(subject_id, None)  # committed after all, or gone
    if result.destroyed:
        record(ORPHANS_TAG, actor=actor, details={
            "reason": "key of a person never committed to the database", "destroyed": len(result.destroyed),
            "key_ids": sorted(result.destroyed), "too_recent": result.too_recent,
            "kept_with_history": result.with_history, "not_ours": result.not_ours, "looked_at": result.looked_at})
    return result


@periodic(every=3600)
def sweep_orphan_keys_periodically() -> None:
    """Hourly: keys left by a process that died between making a person's key and committing them."""
    if sweep_orphan_keys(Actor.system()).destroyed:
        db.session.commit()
    else:
        db.session.rollback()
