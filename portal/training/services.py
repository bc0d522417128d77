"""The training-set ledger's rules (docs/architecture.md, "Training-set ledger").

The pipeline registers data sets, snapshots with their members and models trained on snapshots.
An erasure, an upheld objection to AI training or consent to it withdrawn marks every snapshot
holding the person "removal required" for that person; the pipeline answers per snapshot (a new
snapshot verified without them, the snapshot deleted, or a legal basis to keep it) and per model
trained on it (retrained as a registered version, unlearning applied, kept with a basis). Nothing
is ever deleted here by an erasure. Services flush; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.consent.models import ConsentEvent, Purpose, Suppression
from portal.db import utcnow
from portal.extensions import db
from portal.people.models import Employee

from .models import (
    ModelAction,
    ModelOutcome,
    ModelSnapshot,
    RemovalAnswer,
    RemovalCause,
    SnapshotMember,
    SnapshotRemoval,
    TrainingDataset,
    TrainingModel,
    TrainingSnapshot,
)

CHUNK = 500  # ids per IN (...) when checking a large membership list
MAX_REFUSED = 100


class LedgerError(Exception):
    """Refused; nothing changed. ``slug`` is the API's problem kind."""

    def __init__(self, slug: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.extra = extra


# -- registering ---------------------------------------------------------------------------------

def dataset(name: str) -> TrainingDataset | None:
    return db.session.scalar(select(TrainingDataset).where(TrainingDataset.name == name))


def snapshot(dataset_name: str, name: str) -> TrainingSnapshot | None:
    return db.session.scalar(select(TrainingSnapshot).join(TrainingDataset).where(
        TrainingDataset.name == dataset_name, TrainingSnapshot.name == name))


def model(name: str, version: str) -> TrainingModel | None:
    return db.session.scalar(select(TrainingModel).where(TrainingModel.name == name, TrainingModel.version == version))


def _known_categories(keys: Sequence[str]) -> list[str]:
    from portal.monitoring.models import DataCategory

    known = set(db.session.scalars(select(DataCategory.key)))
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise LedgerError("invalid-body", f"{len(unknown)} source categor(y/ies) are not in the register.")
    return sorted(set(keys))


def register_dataset(name: str, purpose: str, source_categories: Sequence[str], *, actor: Actor) -> TrainingDataset:
    if dataset(name) is not None:
        raise LedgerError("conflict", "A data set of this name is registered already.")
    row = TrainingDataset(name=name, purpose=purpose, source_categories=_known_categories(source_categories))
    db.session.add(row)
    db.session.flush()
    record("training:dataset:register", actor=actor, targets={"training_dataset": row.id},
           details={"source_categories": row.source_categories})
    return row


def excluded_subjects(subject_ids: Sequence[str]) -> set[str]:
    """Of ``subject_ids``, those whose data may not be used for AI training now: on the
    suppression list, or whose latest AI-training consent decision is not "granted" (or who
    never gave one)."""
    excluded: set[str] = set()
    for start in range(0, len(subject_ids), CHUNK):
        ids = list(subject_ids[start:start + CHUNK])
        excluded |= set(db.session.scalars(select(Suppression.subject_id).where(
            Suppression.subject_id.in_(ids), Suppression.purpose == Purpose.AI_TRAINING.value)))
        latest = (select(func.max(ConsentEvent.id)).where(ConsentEvent.subject_id.in_(ids),
                                                          ConsentEvent.purpose == Purpose.AI_TRAINING.value)
                  .group_by(ConsentEvent.subject_id))
        granted = set(db.session.scalars(select(ConsentEvent.subject_id).where(
            ConsentEvent.id.in_(latest), ConsentEvent.decision == "granted")))
        excluded |= set(ids) - granted
    return excluded


def _existing(subject_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(subject_ids), CHUNK):
        found |= set(db.session.scalars(select(Employee.id).where(Employee.id.in_(subject_ids[start:start + CHUNK]))))
    return found


@dataclass
class Refusal:
    index: int
    reason: str  # unknown_subject, duplicate, excluded


def register_snapshot(dataset_name: str, name: str, created_on: date, source_categories: Sequence[str],
                      members: Sequence[tuple[str | None, int | None]], *, actor: Actor) -> TrainingSnapshot:
    """Register a snapshot and who is in it (``members``: surrogate id, or None for a pseudonym
    that is none, and the person's record count). Refused whole if any member is unknown, named
    twice, or excluded from AI training now (the same gate as every use)."""
    owner = dataset(dataset_name)
    if owner is None:
        raise LedgerError("not-found", "No data set of this name is registered.")
    if snapshot(dataset_name, name) is not None:
        raise LedgerError("conflict", "A snapshot of this id is registered in this data set already.")
    categories = _known_categories(source_categories)
    outside = [c for c in categories if c not in (owner.source_categories or [])]
    if outside:
        raise LedgerError("invalid-body", "The snapshot's source categories must be among its data set's.")
    ids = [m[0] for m in members if m[0] is not None]
    existing = _existing(ids)
    excluded = excluded_subjects([i for i in ids if i in existing])
    refused: list[Refusal] = []
    seen: set[str] = set()
    for index, (subject_id, _records) in enumerate(members):
        if subject_id is None or subject_id not in existing:
            refused.append(Refusal(index, "unknown_subject"))
        elif subject_id in seen:
            refused.append(Refusal(index, "duplicate"))
        elif subject_id in excluded:
            refused.append(Refusal(index, "excluded"))
        if subject_id is not None:
            seen.add(subject_id)
    if refused:
        raise LedgerError("members-refused", f"{len(refused)} member(s) were refused; nothing was registered.",
                          refused=refused[:MAX_REFUSED], refused_count=len(refused))
    row = TrainingSnapshot(dataset_id=owner.id, name=name, created_on=created_on, source_categories=categories,
                           member_count=len(members))
    db.session.add(row)
    db.session.flush()
    if members:
        db.session.execute(insert(SnapshotMember), [
            {"snapshot_id": row.id, "subject_id": subject_id, "record_count": records}
            for subject_id, records in members])
    record("training:snapshot:register", actor=actor, targets={"training_snapshot": row.id},
           details={"members": len(members), "dataset": owner.id})
    return row


def register_model(name: str, version: str, trained_on: date, snapshots: Sequence[tuple[str, str]], *,
                   actor: Actor) -> TrainingModel:
    """Register a model version and the snapshots it was trained on. A snapshot declared deleted,
    or from which someone must still be removed, cannot train a new model."""
    if model(name, version) is not None:
        raise LedgerError("conflict", "This model version is registered already.")
    rows = []
    for dataset_name, snapshot_name in dict.fromkeys(snapshots):
        found = snapshot(dataset_name, snapshot_name)
        if found is None:
            raise LedgerError("not-found", "A snapshot named is not registered.")
        if found.deleted_at is not None:
            raise LedgerError("conflict", "A snapshot named was declared deleted.")
        if pending_on(found.id):
            raise LedgerError("conflict", "A snapshot named holds someone whose data must be removed from it; "
                                          "answer the removal first.")
        rows.append(found)
    row = TrainingModel(name=name, version=version, trained_on=trained_on)
    db.session.add(row)
    db.session.flush()
    for snap in rows:
        db.session.add(ModelSnapshot(model_id=row.id, snapshot_id=snap.id))
    db.session.flush()
    record("training:model:register", actor=actor, targets={"training_model": row.id},
           details={"snapshots": len(rows)})
    return row


def model_snapshots(model_id: int) -> list[TrainingSnapshot]:
    return list(db.session.scalars(select(TrainingSnapshot).join(
        ModelSnapshot, ModelSnapshot.snapshot_id == TrainingSnapshot.id).where(ModelSnapshot.model_id == model_id)
        .order_by(TrainingSnapshot.id)))


def pending_on(snapshot_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(SnapshotRemoval).where(
        SnapshotRemoval.snapshot_id == snapshot_id, SnapshotRemoval.answer.is_(None))) or 0


# -- removals --------------------------------------------------------------------------------------

def memberships(subject_id: str, created_from: date | None = None, created_before: date | None = None) -> int:
    """How many snapshots (made within the days given) hold the person."""
    conditions = [SnapshotMember.subject_id == subject_id]
    if created_from is not None:
        conditions.append(TrainingSnapshot.created_on >= created_from)
    if created_before is not None:
        conditions.append(TrainingSnapshot.created_on < created_before)
    return db.session.scalar(select(func.count()).select_from(SnapshotMember).join(
        TrainingSnapshot, TrainingSnapshot.id == SnapshotMember.snapshot_id).where(*conditions)) or 0


def mark_removals(subject_id: str, cause: RemovalCause, *, request_id: str | None = None,
                  consent_event_id: int | None = None, created_from: date | None = None,
                  created_before: date | None = None) -> int:
    """Mark every snapshot holding the person (made on or after ``created_from`` and before
    ``created_before``, when given) "removal required" for them, with what caused it; a snapshot
    already marked for them keeps its first mark. Each mark is audited. Returns how many of the
    snapshots in scope are now marked for the person."""
    conditions = [SnapshotMember.subject_id == subject_id]
    if created_from is not None:
        conditions.append(TrainingSnapshot.created_on >= created_from)
    if created_before is not None:
        conditions.append(TrainingSnapshot.created_on < created_before)
    held = list(db.session.scalars(select(SnapshotMember.snapshot_id).join(
        TrainingSnapshot, TrainingSnapshot.id == SnapshotMember.snapshot_id).where(*conditions)
        .order_by(SnapshotMember.snapshot_id)))
    marked = set(db.session.scalars(select(SnapshotRemoval.snapshot_id).where(
        SnapshotRemoval.subject_id == subject_id)))
    now = utcnow()
    for snapshot_id in held:
        if snapshot_id in marked:
            continue
        removal = SnapshotRemoval(snapshot_id=snapshot_id, subject_id=subject_id, cause=cause.value,
                                  request_id=request_id, consent_event_id=consent_event_id, marked_at=now)
        db.session.add(removal)
        db.session.flush()
        record("training:removal:mark", actor=Actor.system(), subject_id=subject_id,
               targets={**({"request": request_id} if request_id else {}),
                        **({"consent_event": consent_event_id} if consent_event_id else {}),
                        "training_snapshot": snapshot_id, "training_removal": removal.id},
               details={"cause": cause.value})
    return len(held)


def pending_removals(limit: int = 1000) -> list[tuple[SnapshotRemoval, TrainingSnapshot, TrainingDataset]]:
    return [tuple(row) for row in db.session.execute(
        select(SnapshotRemoval, TrainingSnapshot, TrainingDataset)
        .join(TrainingSnapshot, TrainingSnapshot.id == SnapshotRemoval.snapshot_id)
        .join(TrainingDataset, TrainingDataset.id == TrainingSnapshot.dataset_id)
        .where(SnapshotRemoval.answer.is_(None)).order_by(SnapshotRemoval.id).limit(limit))]


def _removal_targets(removal: SnapshotRemoval) -> dict[str, Any]:
    return {**({"request": removal.request_id} if removal.request_id else {}),
            **({"consent_event": removal.consent_event_id} if removal.consent_event_id else {}),
            "training_snapshot": removal.snapshot_id, "training_removal": removal.id}


def answer_removals(dataset_name: str, snapshot_name: str, answer: RemovalAnswer, *, replacement: str | None = None,
                    basis: str | None = None, actor: Actor) -> int:
    """The pipeline's answer for every removal pending on a snapshot: ``replaced`` by a
    registered snapshot of the same data set that holds none of those people (the portal checks
    its membership), ``deleted``, or ``kept`` on a stated legal basis. Returns how many removals
    it answered; each is audited for its person."""
    found = snapshot(dataset_name, snapshot_name)
    if found is None:
        raise LedgerError("not-found", "No snapshot of this id is registered in this data set.")
    pending = list(db.session.scalars(select(SnapshotRemoval).where(
        SnapshotRemoval.snapshot_id == found.id, SnapshotRemoval.answer.is_(None)).order_by(SnapshotRemoval.id)))
    if not pending:
        raise LedgerError("conflict", "No removal is pending on this snapshot.")
    new: TrainingSnapshot | None = None
    if answer == RemovalAnswer.REPLACED:
        new = snapshot(dataset_name, replacement) if replacement else None
        if new is None or new.id == found.id:
            raise LedgerError("not-found", "Register the new snapshot (in the same data set) before naming it.")
        if new.deleted_at is not None:
            raise LedgerError("conflict", "The new snapshot was declared deleted.")
        still = db.session.scalar(select(func.count()).select_from(SnapshotMember).where(
            SnapshotMember.snapshot_id == new.id, SnapshotMember.subject_id.in_([r.subject_id for r in pending]))) or 0
        if still:
            raise LedgerError("membership-conflict", f"The new snapshot still holds {still} of the {len(pending)} "
                                                     "people who must be removed; nothing was recorded.")
    elif answer == RemovalAnswer.KEPT and not (basis or "").strip():
        raise LedgerError("invalid-body", "Keeping the snapshot needs the legal basis (basis).")
    now = utcnow()
    if answer == RemovalAnswer.DELETED and found.deleted_at is None:
        found.deleted_at = now
    for removal in pending:
        removal.answer = answer
        removal.answered_at = now
        removal.replacement_id = new.id if new is not None else None
        removal.basis = basis.strip() if answer == RemovalAnswer.KEPT and basis else None
    db.session.flush()
    for removal in pending:
        record("training:removal:answer", actor=actor, subject_id=removal.subject_id,
               targets={**_removal_targets(removal), **({"training_replacement": new.id} if new else {})},
               details={"answer": answer.value})
    return len(pending)


def record_model_outcome(name: str, version: str, dataset_name: str, snapshot_name: str, action: ModelAction, *,
                         new_version: str | None = None, basis: str | None = None, actor: Actor) -> ModelOutcome:
    """What was done to a model trained on a snapshot from which someone had to be removed:
    ``retrained`` as a registered version of the same model not trained on that snapshot,
    ``unlearned``, or ``kept`` on a stated legal basis. Once per model and snapshot."""
    found_model = model(name, version)
    found = snapshot(dataset_name, snapshot_name)
    if found_model is None or found is None:
        raise LedgerError("not-found", "The model version or the snapshot is not registered.")
    if db.session.get(ModelSnapshot, (found_model.id, found.id)) is None:
        raise LedgerError("conflict", "This model version was not trained on this snapshot.")
    removals = list(db.session.scalars(select(SnapshotRemoval).where(SnapshotRemoval.snapshot_id == found.id)
                                       .order_by(SnapshotRemoval.id)))
    if not removals:
        raise LedgerError("conflict", "Nobody had to be removed from this snapshot.")
    if db.session.scalar(select(ModelOutcome.id).where(ModelOutcome.model_id == found_model.id,
                                                       ModelOutcome.snapshot_id == found.id)) is not None:
        raise LedgerError("conflict", "What was done to this model for this snapshot is recorded already.")
    new: TrainingModel | None = None
    if action == ModelAction.RETRAINED:
        new = model(name, new_version) if new_version else None
        if new is None or new.id == found_model.id:
            raise LedgerError("not-found", "Register the retrained version of the model before naming it.")
        if db.session.get(ModelSnapshot, (new.id, found.id)) is not None:
            raise LedgerError("membership-conflict", "The retrained version was trained on the same snapshot.")
    elif action == ModelAction.KEPT and not (basis or "").strip():
        raise LedgerError("invalid-body", "Keeping the model needs the legal basis (basis).")
    outcome = ModelOutcome(model_id=found_model.id, snapshot_id=found.id, action=action.value,
                           new_model_id=new.id if new else None,
                           basis=basis.strip() if action == ModelAction.KEPT and basis else None,
                           recorded_at=utcnow())
    db.session.add(outcome)
    db.session.flush()
    for removal in removals:
        record("training:model:outcome", actor=actor, subject_id=removal.subject_id,
               targets={**_removal_targets(removal), "training_model": found_model.id,
                        "training_model_outcome": outcome.id},
               details={"action": action.value})
    return outcome


# -- what a person reads ------------------------------------------------------------------------------

@dataclass
class ModelUse:
    name: str
    version: str
    trained_on: date
    action: str | None = None  # a ModelAction value, once recorded
    new_version: str | None = None
    basis: str | None = None
    recorded_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()  # a model from before the ledger has no version


@dataclass
class TrainingUse:
    """One snapshot that held the person, as the ledger says: its data set, the person's record
    count, the models trained on it, and any removal with the pipeline's answer."""

    dataset: str
    purpose: str
    snapshot: str
    snapshot_id: int
    record_count: int | None
    used_on: date
    source_categories: list[str]
    deleted_at: datetime | None = None
    models: list[ModelUse] = field(default_factory=list)
    removal: SnapshotRemoval | None = None
    replacement: str | None = None
    request_reference: str | None = None  # of the request that caused the removal
    entry_ids: list[str] = field(default_factory=list)  # the audit entries of its removal, answer and outcomes

    @property
    def model(self) -> str:
        return ", ".join(m.label for m in self.models)

    @property
    def removal_required_at(self) -> datetime | None:
        return self.removal.marked_at if self.removal is not None else None

    @property
    def pending(self) -> bool:
        return self.removal is not None and self.removal.answer is None

    def facts(self) -> dict[str, Any]:
        """Plain values (pseudonymous: no person named) for the certificate and the evidence pack."""
        removal = self.removal
        return {
            "dataset": self.dataset, "snapshot": self.snapshot, "created_on": self.used_on.isoformat(),
            "records": self.record_count,
            "removal": None if removal is None else {
                "cause": removal.cause, "request_id": removal.request_id, "consent_event_id": removal.consent_event_id,
                "marked_at": _iso(removal.marked_at), "answer": removal.answer,
                "answered_at": _iso(removal.answered_at), "replacement": self.replacement, "basis": removal.basis},
            "models": [{"name": m.name, "version": m.version, "trained_on": m.trained_on.isoformat(),
                        "action": m.action, "new_version": m.new_version, "basis": m.basis,
                        "recorded_at": _iso(m.recorded_at)} for m in self.models],
            "audit_entry_ids": list(self.entry_ids),
        }


def _iso(value: datetime | None) -> str | None:
    from portal.db import instant

    return instant(value) if value is not None else None


def uses_of(subject_id: str, *, with_entries: bool = False) -> list[TrainingUse]:
    """Every snapshot that held the person, the latest first, with its models and any removal.
    One query (the snapshots, their data sets, the person's removals and the models, joined);
    more only when something was marked: the answers' names, references and outcomes."""
    rows = db.session.execute(
        select(SnapshotMember, TrainingSnapshot, TrainingDataset, SnapshotRemoval, TrainingModel)
        .join(TrainingSnapshot, TrainingSnapshot.id == SnapshotMember.snapshot_id)
        .join(TrainingDataset, TrainingDataset.id == TrainingSnapshot.dataset_id)
        .outerjoin(SnapshotRemoval, (SnapshotRemoval.snapshot_id == SnapshotMember.snapshot_id)
                   & (SnapshotRemoval.subject_id == SnapshotMember.subject_id))
        .outerjoin(ModelSnapshot, ModelSnapshot.snapshot_id == SnapshotMember.snapshot_id)
        .outerjoin(TrainingModel, TrainingModel.id == ModelSnapshot.model_id)
        .where(SnapshotMember.subject_id == subject_id)
        .order_by(TrainingSnapshot.created_on.desc(), TrainingDataset.name, TrainingSnapshot.name,
                  TrainingModel.trained_on, TrainingModel.name, TrainingModel.version)).all()
    if not rows:
        return []
    removals = {snap.id: removal for _, snap, _, removal, _ in rows if removal is not None}
    names: dict[int, str] = {}
    references: dict[str, str] = {}
    outcomes: dict[tuple[int, int], ModelOutcome] = {}
    versions: dict[int, str] = {}
    if removals:
        from portal.rights.models import DataRequest

        if replaced := [r.replacement_id for r in removals.values() if r.replacement_id]:
            names = {s.id: s.name for s in db.session.scalars(select(TrainingSnapshot).where(
                TrainingSnapshot.id.in_(replaced)))}
        if asked := [r.request_id for r in removals.values() if r.request_id]:
            references = {r.id: r.reference for r in db.session.scalars(select(DataRequest).where(
                DataRequest.id.in_(asked)))}
        outcomes = {(o.model_id, o.snapshot_id): o for o in db.session.scalars(select(ModelOutcome).where(
            ModelOutcome.snapshot_id.in_(list(removals))))}
        if retrained := [o.new_model_id for o in outcomes.values() if o.new_model_id]:
            versions = {m.id: m.version for m in db.session.scalars(select(TrainingModel).where(
                TrainingModel.id.in_(retrained)))}
    models: dict[int, list[ModelUse]] = {}
    for _, snap, _, _, trained in rows:
        if trained is None:
            continue
        outcome = outcomes.get((trained.id, snap.id))
        models.setdefault(snap.id, []).append(ModelUse(
            trained.name, trained.version, trained.trained_on,
            action=outcome.action if outcome else None,
            new_version=versions.get(outcome.new_model_id) if outcome and outcome.new_model_id else None,
            basis=outcome.basis if outcome else None, recorded_at=outcome.recorded_at if outcome else None))
    entries: dict[int, list[str]] = {}
    if with_entries:
        for entry in db.session.scalars(select(AuditEntry).where(
                AuditEntry.subject_id == subject_id, AuditEntry.tag.like("training:%")).order_by(AuditEntry.seq)):
            target = (entry.targets or {}).get("training_snapshot")
            if isinstance(target, int):
                entries.setdefault(target, []).append(entry.entry_id)
    uses = []
    seen: set[int] = set()
    for member, snap, owner, _, _ in rows:
        if snap.id in seen:
            continue
        seen.add(snap.id)
        removal = removals.get(snap.id)
        uses.append(TrainingUse(
            dataset=owner.name, purpose=owner.purpose, snapshot=snap.name, snapshot_id=snap.id,
            record_count=member.record_count, used_on=snap.created_on,
            source_categories=list(snap.source_categories or []), deleted_at=snap.deleted_at,
            models=models.get(snap.id, []), removal=removal,
            replacement=names.get(removal.replacement_id) if removal and removal.replacement_id else None,
            request_reference=references.get(removal.request_id) if removal and removal.request_id else None,
            entry_ids=entries.get(snap.id, [])))
    return uses


def ledger_facts(subject_id: str, request_id: str | None = None) -> list[dict[str, Any]]:
    """The ledger's state for the person (for one request's removals, when ``request_id`` is
    given), each snapshot with the audit entries that recorded it."""
    uses = uses_of(subject_id, with_entries=True)
    if request_id is not None:
        uses = [u for u in uses if u.removal is not None and u.removal.request_id == request_id]
    return [u.facts() for u in uses]


# -- recording a use from the portal side (demo, tests, imports) -----------------------------------------

def record_use(subject_id: str, *, dataset_name: str, snapshot_name: str, record_count: int, used_on: date,
               model_name: str, model_version: str = "", source_categories: Iterable[str] = ("app_activity",),
               purpose: str = "") -> TrainingUse:
    """Put the person in a snapshot (made, with its data set and model, when not registered yet).
    Unaudited: the caller audits (consent.services.record_training_use)."""
    owner = dataset(dataset_name)
    if owner is None:
        owner = TrainingDataset(name=dataset_name, purpose=purpose or dataset_name,
                                source_categories=sorted(set(source_categories)))
        db.session.add(owner)
        db.session.flush()
    snap = snapshot(dataset_name, snapshot_name)
    if snap is None:
        snap = TrainingSnapshot(dataset_id=owner.id, name=snapshot_name, created_on=used_on,
                                source_categories=list(owner.source_categories or []), member_count=0)
        db.session.add(snap)
        db.session.flush()
    if db.session.get(SnapshotMember, (snap.id, subject_id)) is not None:
        raise LedgerError("conflict", "The person is in this snapshot already.")
    db.session.add(SnapshotMember(snapshot_id=snap.id, subject_id=subject_id, record_count=record_count))
    snap.member_count = (snap.member_count or 0) + 1
    trained = model(model_name, model_version)
    if trained is None:
        trained = TrainingModel(name=model_name, version=model_version, trained_on=used_on)
        db.session.add(trained)
        db.session.flush()
    if db.session.get(ModelSnapshot, (trained.id, snap.id)) is None:
        db.session.add(ModelSnapshot(model_id=trained.id, snapshot_id=snap.id))
    db.session.flush()
    return next(u for u in uses_of(subject_id) if u.snapshot_id == snap.id)


# -- retention (rights/retention.py) ------------------------------------------------------------------

def _expired(cutoff: date) -> list[Any]:
    """Memberships of snapshots made on or before ``cutoff`` that no removal marks (a marked one is
    evidence and stays)."""
    marked = select(SnapshotRemoval.id).where(SnapshotRemoval.snapshot_id == SnapshotMember.snapshot_id,
                                              SnapshotRemoval.subject_id == SnapshotMember.subject_id)
    return [SnapshotMember.snapshot_id.in_(select(TrainingSnapshot.id).where(TrainingSnapshot.created_on <= cutoff)),
            ~marked.exists()]


def subjects_with_expired(cutoff: date) -> list[str]:
    return sorted(set(db.session.scalars(select(SnapshotMember.subject_id).where(*_expired(cutoff)).distinct())))


def count_expired(subject_id: str, cutoff: date) -> int:
    return db.session.scalar(select(func.count()).select_from(SnapshotMember).where(
        SnapshotMember.subject_id == subject_id, *_expired(cutoff))) or 0


def delete_expired(subject_id: str, cutoff: date) -> int:
    """Delete the person's memberships past their period (the snapshot rows stay); returns how many."""
    from sqlalchemy import delete

    ids = list(db.session.scalars(select(SnapshotMember.snapshot_id).where(
        SnapshotMember.subject_id == subject_id, *_expired(cutoff))))
    if ids:
        db.session.execute(delete(SnapshotMember).where(SnapshotMember.subject_id == subject_id,
                                                        SnapshotMember.snapshot_id.in_(ids))
                           .execution_options(synchronize_session=False))
    return len(ids)


def evidence_count(cutoff: date) -> int:
    """Memberships past their period kept because a removal marks them."""
    return db.session.scalar(select(func.count()).select_from(SnapshotRemoval).join(
        TrainingSnapshot, TrainingSnapshot.id == SnapshotRemoval.snapshot_id).where(
        TrainingSnapshot.created_on <= cutoff)) or 0
