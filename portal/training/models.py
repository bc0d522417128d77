"""The training-set ledger: data sets, their snapshots and who is in each (pseudonymous subjects
only, as the pipeline uploads them), the models trained on snapshots, and, per person and
snapshot, a removal that a right exercised made necessary and what the pipeline answered.

Nothing here is deleted by an erasure: the ledger is the evidence of where the data went
(docs/architecture.md, "Training-set ledger"). Membership is one row per (snapshot, subject), so
"is this person in this snapshot" is a primary-key look-up."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, EnumString, UTCDateTime, enum_check


class RemovalCause(enum.StrEnum):
    ERASURE = "erasure"
    OBJECTION = "objection"  # an upheld objection to AI training
    CONSENT_WITHDRAWN = "consent_withdrawn"


class RemovalAnswer(enum.StrEnum):
    REPLACED = "replaced"  # a new snapshot without the person was registered
    DELETED = "deleted"  # the snapshot was deleted
    KEPT = "kept"  # kept, on a stated legal basis


class ModelAction(enum.StrEnum):
    RETRAINED = "retrained"  # retrained (as a registered version) without the affected snapshot
    UNLEARNED = "unlearned"  # machine unlearning applied
    KEPT = "kept"  # kept, on a stated legal basis


class TrainingDataset(Base):
    __tablename__ = "training_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    purpose: Mapped[str] = mapped_column(String(500))
    source_categories: Mapped[list[str]] = mapped_column(JSON, default=list, comment="register category keys")
    registered_at: Mapped[CreatedAt]


class TrainingSnapshot(Base):
    __tablename__ = "training_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("training_datasets.id"))
    name: Mapped[str] = mapped_column(String(120), comment="the pipeline's snapshot id, unique in its data set")
    created_on: Mapped[date] = mapped_column(Date, comment="when the pipeline made the snapshot")
    source_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[CreatedAt]
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), comment="the pipeline declared it deleted")

    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_training_snapshots_dataset_name"),)


class SnapshotMember(Base):
    """One subject in one snapshot (the pipeline names them by pseudonym; the portal keeps the
    surrogate id the pseudonym stands for)."""

    __tablename__ = "training_snapshot_members"

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("training_snapshots.id"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    record_count: Mapped[int | None] = mapped_column(Integer, comment="the subject's records in the snapshot")

    __table_args__ = (Index("ix_training_snapshot_members_subject", "subject_id", "snapshot_id"),)


class TrainingModel(Base):
    __tablename__ = "training_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(60))
    trained_on: Mapped[date] = mapped_column(Date)
    registered_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("name", "version", name="uq_training_models_name_version"),)


class ModelSnapshot(Base):
    """A model was trained on a snapshot."""

    __tablename__ = "training_model_snapshots"

    model_id: Mapped[int] = mapped_column(ForeignKey("training_models.id"), primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("training_snapshots.id"), primary_key=True, index=True)


class SnapshotRemoval(Base):
    """A snapshot holds a person whose data must come out of it: marked by an erasure, an upheld
    objection to AI training or consent to it withdrawn (the first of them marks; a later one
    adds nothing), then answered by the pipeline."""

    __tablename__ = "training_removals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("training_snapshots.id"))
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    cause: Mapped[RemovalCause] = mapped_column(EnumString(RemovalCause, 24))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("data_requests.id", ondelete="SET NULL"),
                                                   comment="the erasure or objection that caused it")
    consent_event_id: Mapped[int | None] = mapped_column(ForeignKey("consent_events.id", ondelete="SET NULL"),
                                                         comment="the withdrawal that caused it")
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[RemovalAnswer | None] = mapped_column(EnumString(RemovalAnswer, 16))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replacement_id: Mapped[int | None] = mapped_column(ForeignKey("training_snapshots.id"),
                                                       comment="the new snapshot, verified without the person")
    basis: Mapped[str | None] = mapped_column(String(1000), comment="the legal basis stated to keep it")

    __table_args__ = (
        UniqueConstraint("snapshot_id", "subject_id", name="uq_training_removals_snapshot_subject"),
        enum_check("cause", RemovalCause),
        enum_check("answer", RemovalAnswer),
        CheckConstraint("(answer IS NULL) = (answered_at IS NULL)", name="answered_when"),
        CheckConstraint("(answer = 'replaced') = (replacement_id IS NOT NULL)", name="replacement_named"),
        CheckConstraint("(answer = 'kept') = (basis IS NOT NULL)", name="kept_with_basis"),
    )


class ModelOutcome(Base):
    """What was done to a model trained on a snapshot from which someone had to be removed."""

    __tablename__ = "training_model_outcomes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("training_models.id"))
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("training_snapshots.id"))
    action: Mapped[ModelAction] = mapped_column(EnumString(ModelAction, 16))
    new_model_id: Mapped[int | None] = mapped_column(ForeignKey("training_models.id"),
                                                     comment="the version it was retrained as")
    basis: Mapped[str | None] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("model_id", "snapshot_id", name="uq_training_model_outcomes_model_snapshot"),
        enum_check("action", ModelAction),
        CheckConstraint("(action = 'retrained') = (new_model_id IS NOT NULL)", name="retrained_as"),
        CheckConstraint("(action = 'kept') = (basis IS NOT NULL)", name="kept_with_basis"),
    )
