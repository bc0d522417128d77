"""Recipients and their tasks.

A recipient's contact address is sealed with the directory key; its webhook signing secrets are
sealed with a key of their own derived from the master key (``crypto.keys.webhook_cipher``), and
never logged. A task names its subject by id only (the pseudonym is derived when it is shown or
sent); a rectification's correction is sealed with the directory key, so that it outlives an
erasure like the request it comes from.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, LargeBinary, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column

from portal.crypto.sealed import JSON_OBJECT, TEXT, Codec, Sealed, webhook_key
from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check


class RecipientRole(enum.StrEnum):
    PROCESSOR = "processor"
    THIRD_PARTY = "third_party"
    INTERNAL = "internal"


class Delivery(enum.StrEnum):
    WEBHOOK = "webhook"  # a signed POST per task, as a job with retries
    PULL = "pull"  # the recipient lists its tasks at GET /api/v1/recipient-tasks with its own token
    MANUAL = "manual"  # an e-mail to the contact with a link to a confirmation page


class TaskAction(enum.StrEnum):
    ERASE = "erase"
    RECTIFY = "rectify"
    RESTRICT = "restrict"
    LIFT_RESTRICTION = "lift_restriction"
    STOP_PROCESSING = "stop_processing"  # an objection upheld
    STOP_TRAINING = "stop_training"  # consent to AI training withdrawn


class TaskState(enum.StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    ESCALATED = "escalated"  # its deadline passed unconfirmed: the DPO was told


class Outcome(enum.StrEnum):
    DONE = "done"
    NOT_APPLICABLE = "not_applicable"
    REFUSED = "refused"


class DeliveryState(enum.StrEnum):
    WAITING = "waiting"  # pull: waiting for the recipient to list it; webhook/manual: queued
    DELIVERED = "delivered"  # the webhook answered 2xx, the e-mail went out, or the recipient listed it
    GONE = "gone"  # the webhook answered 410: the endpoint is gone, nothing more is sent
    DEAD = "dead"  # every attempt failed: shown to the DPO


CORRECTION: Codec[dict[str, str]] = Codec(JSON_OBJECT.encode, JSON_OBJECT.decode)


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[SurrogateId]
    name: Mapped[str] = mapped_column(String(120), unique=True)
    contact_sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="the contact e-mail, directory key")
    categories: Mapped[list[str]] = mapped_column(JSON, comment="register category keys it receives")
    uses: Mapped[list[str]] = mapped_column(
        JSON, comment="processing purposes it uses the data for (an objection or a withdrawal reaches it)")
    purpose: Mapped[str] = mapped_column(Text)
    role: Mapped[RecipientRole] = mapped_column(EnumString(RecipientRole, 16))
    needs_name: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        comment="an internal team that needs the person's name to find the data; others get the pseudonym only")
    delivery: Mapped[Delivery] = mapped_column(EnumString(Delivery, 16))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="whsec_..., webhook key")
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the secret before a rotation, still signed with until previous_secret_until")
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[CreatedAt]

    contact = Sealed(contact_sealed, "recipient-contact", TEXT)
    signing_secret = Sealed(secret_sealed, "webhook-secret", TEXT, key=webhook_key)
    previous_signing_secret = Sealed(previous_secret_sealed, "webhook-previous-secret", TEXT, key=webhook_key)

    __table_args__ = (
        enum_check("role", RecipientRole),
        enum_check("delivery", Delivery),
        CheckConstraint("delivery <> 'webhook' OR (webhook_url IS NOT NULL AND secret_sealed IS NOT NULL)",
                        name="webhook_has_url_and_secret"),
        CheckConstraint("NOT needs_name OR role = 'internal'", name="only_internal_teams_are_named_to"),
    )


class RecipientTask(Base):
    """What one recipient must do for one outcome about one person, and what it answered."""

    __tablename__ = "recipient_tasks"

    id: Mapped[SurrogateId]
    recipient_id: Mapped[str] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"),
                                                   comment="none for a consent withdrawal")
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    action: Mapped[TaskAction] = mapped_column(EnumString(TaskAction, 24))
    categories: Mapped[list[str]] = mapped_column(JSON, comment="the affected categories this recipient received")
    period: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="date_from, date_to (either may be null)")
    correction_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="rectification: directory key")
    due_on: Mapped[date] = mapped_column(Date)
    state: Mapped[TaskState] = mapped_column(EnumString(TaskState, 16), default=TaskState.OPEN)
    delivery_state: Mapped[DeliveryState] = mapped_column(EnumString(DeliveryState, 16), default=DeliveryState.WAITING)
    delivery_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_error: Mapped[str | None] = mapped_column(Text, comment="why the last delivery failed (no secrets)")
    link_nonce: Mapped[str | None] = mapped_column(String(32), comment="manual: binds the confirmation link")
    outcome: Mapped[Outcome | None] = mapped_column(EnumString(Outcome, 16))
    reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="a refusal's reason: directory key")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="rows_deleted, snapshot_id")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_via: Mapped[str | None] = mapped_column(String(16), comment="api or link")
    confirm_entry_id: Mapped[str | None] = mapped_column(String(32), comment="the audit entry of the confirmation")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[CreatedAt]

    correction = Sealed(correction_sealed, "task-correction", CORRECTION)  # wrong, correct
    reason = Sealed(reason_sealed, "task-reason", TEXT)  # why a recipient refused

    __table_args__ = (
        Index("ix_recipient_tasks_recipient_created", "recipient_id", "created_at", "id"),
        Index("ix_recipient_tasks_request", "request_id"),
        Index("ix_recipient_tasks_state_due", "state", "due_on"),
        enum_check("action", TaskAction),
        enum_check("state", TaskState),
        enum_check("delivery_state", DeliveryState),
        CheckConstraint("outcome IS NULL OR outcome IN ('done', 'not_applicable', 'refused')", name="outcome_valid"),
        CheckConstraint("(outcome IS NULL) = (confirmed_at IS NULL)", name="confirmed_has_outcome"),
        CheckConstraint("outcome IS NULL OR outcome <> 'refused' OR reason_sealed IS NOT NULL",
                        name="refusal_has_reason"),
    )

    @property
    def settled(self) -> bool:
        """Confirmed, or overdue and escalated: the request need not wait for it any more."""
        return self.state in (TaskState.CONFIRMED, TaskState.ESCALATED)
