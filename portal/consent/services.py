"""Giving and withdrawing consent; the suppression list.

Withdrawal works at once: ingestion refuses new data for a purpose whose consent is not
given, and the subject is put on the suppression list that the AI-training side reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from portal.audit.services import Actor, hold_append_lock, record
from portal.consent.models import ConsentEvent, Decision, ExclusionChange, ProcessingPurpose, Purpose, Suppression
from portal.extensions import db
from portal.training import services as training_ledger
from portal.training.models import RemovalCause

# Called as fn(subject_id, purpose) in the transaction of a withdrawal: domains above consent (the
# recipients' tasks) register here, so that consent never imports them.
WITHDRAWAL_HOOKS: list[Callable[[str, Purpose], None]] = []


def on_withdrawal(fn: Callable[[str, Purpose], None]) -> Callable[[str, Purpose], None]:
    WITHDRAWAL_HOOKS.append(fn)
    return fn


class ConsentError(ValueError):
    """A consent decision was refused; nothing changed."""


class SuppressedError(ConsentError):
    """The subject's data may not be used for this purpose (no consent, or on the suppression list)."""


def ledger(subject_id: str) -> list[ConsentEvent]:
    """Every decision, newest first."""
    return list(db.session.scalars(
        select(ConsentEvent).where(ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.id.desc())
    ))


def latest(subject_id: str, purpose: Purpose) -> ConsentEvent | None:
    return db.session.scalar(
        select(ConsentEvent).where(ConsentEvent.subject_id == subject_id, ConsentEvent.purpose == purpose.value)
        .order_by(ConsentEvent.id.desc()).limit(1)
    )


def has_consent(subject_id: str, purpose: Purpose) -> bool:
    event = latest(subject_id, purpose)
    return event is not None and event.decision == Decision.GRANTED


def states(subject_id: str) -> dict[Purpose, ConsentEvent | None]:
    return {purpose: latest(subject_id, purpose) for purpose in Purpose}


def decide(subject_id: str, purpose: Purpose, decision: Decision, *, actor: Actor, method: str, device: str,
           policy_version: int | None) -> ConsentEvent:
    """Append a decision to the ledger and bring the suppression list in line with it.
    Repeating the decision in force is refused (it would add nothing true to the ledger)."""
    current = latest(subject_id, purpose)
    if current is not None and current.decision == decision:
        raise ConsentError("already granted" if decision == Decision.GRANTED else "already withdrawn")
    if current is None and decision == Decision.WITHDRAWN:
        raise ConsentError("there is no consent to withdraw")
    event = ConsentEvent(subject_id=subject_id, purpose=purpose.value, decision=decision.value,
                         policy_version=policy_version, method=method[:24], device=device[:80])
    db.session.add(event)
    if decision == Decision.WITHDRAWN:
        if db.session.get(Suppression, (subject_id, purpose.value)) is None:
            db.session.add(Suppression(subject_id=subject_id, purpose=purpose.value, reason="consent-withdrawn"))
            log_exclusion(subject_id, purpose.value, "consent-withdrawn", excluded=True)
        if purpose == Purpose.AI_TRAINING:  # every snapshot holding them: "removal required"
            db.session.flush()
            training_ledger.mark_removals(subject_id, RemovalCause.CONSENT_WITHDRAWN, consent_event_id=event.id)
    else:
        # Only the suppression that the withdrawal created is lifted; one from an upheld objection
        # or an erasure stays.
        withdrawn = db.session.get(Suppression, (subject_id, purpose.value))
        if withdrawn is not None and withdrawn.reason == "consent-withdrawn":
            db.session.delete(withdrawn)
            log_exclusion(subject_id, purpose.value, "consent-withdrawn", excluded=False)
    db.session.flush()
    record(f"consent:{purpose.value.replace('_', '-')}:{'grant' if decision == Decision.GRANTED else 'withdraw'}",
           actor=actor, subject_id=subject_id, targets={"consent_event": event.id},
           details={"method": method, "policy_version": policy_version})
    if decision == Decision.WITHDRAWN:
        for hook in WITHDRAWAL_HOOKS:
            hook(subject_id, purpose)
    return event


def log_exclusion(subject_id: str, purpose: str, reason: str, *, excluded: bool,
                  categories: list[str] | None = None) -> None:
    """Append a start (``excluded``) or an end of an exclusion to the log the exclusions feed reads
    (docs/architecture.md, "Integrations API"). Called by every service that changes one.

    The feed serves the log in id order, so ids must be given in commit order, or a poller could
    pass a change that commits after a higher one: writers take the audit log's append lock, held
    until commit, before their row gets its id (every change is audited, so they would anyway)."""
    hold_append_lock()
    db.session.add(ExclusionChange(subject_id=subject_id, purpose=purpose, reason=reason, excluded=excluded,
                                   categories=categories))


def is_suppressed(subject_id: str, purpose: Purpose | ProcessingPurpose = Purpose.AI_TRAINING) -> bool:
    """Whether the subject's data must not be used for ``purpose`` now (the suppression list)."""
    return suppression(subject_id, purpose) is not None


def suppression(subject_id: str, purpose: Purpose | ProcessingPurpose) -> Suppression | None:
    """The subject's entry on the suppression list for ``purpose``, with its reason and date."""
    return db.session.get(Suppression, (subject_id, purpose.value))


def record_training_use(subject_id: str, *, dataset: str, snapshot: str, record_count: int, used_on: date,
                        model: str, actor: Actor) -> training_ledger.TrainingUse:
    """Record in the training-set ledger that a snapshot included the subject's data (its data set,
    snapshot and model made when not registered yet). It is refused, as the API's snapshot
    registration is, for a subject on the suppression list or without consent."""
    if is_suppressed(subject_id, Purpose.AI_TRAINING) or not has_consent(subject_id, Purpose.AI_TRAINING):
        raise SuppressedError("the subject's data may not be used for AI training")
    if record_count < 1 or not dataset.strip() or not snapshot.strip() or not model.strip():
        raise ConsentError("a training-set use needs a data set, a snapshot, a model and at least one record")
    use = training_ledger.record_use(subject_id, dataset_name=dataset.strip()[:120], snapshot_name=snapshot.strip()[:120],
                            record_count=record_count, used_on=used_on, model_name=model.strip()[:120])
    record("monitoring:training-use:record", actor=actor, subject_id=subject_id,
           targets={"training_snapshot": use.snapshot_id}, details={"records": record_count})
    return use
