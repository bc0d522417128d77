"""Data-subject requests, their timeline, queues and routing, legal holds
(docs/architecture.md, "Requests").

A self-service export is recorded here too, as an access request completed by the portal
itself (LOPDGDD Art. 13: a remote, secure self-service system satisfies the right of access), so
that it counts in the DPO's metrics and in evidence.

What a person wrote (a description, a correction, grounds, a message, a DPO's reasons) is sealed
with the directory key: it must outlive an erasure (the request itself is the controller's
record of having honoured it), so it cannot be sealed with the subject's own key.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.crypto.sealed import JSON_OBJECT, TEXT, Sealed
from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check
from portal.jurisdictions.kinds import RequestType


class RequestState(enum.StrEnum):
    RECEIVED = "received"
    OPEN = "open"
    IN_REVIEW = "in_review"
    AWAITING_REQUESTER = "awaiting_requester"
    APPROVED = "approved"
    FULFILLING = "fulfilling"
    AWAITING_RECIPIENTS = "awaiting_recipients"  # the portal's own work is done; recipients are to confirm
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


OPEN_STATES = frozenset({RequestState.RECEIVED, RequestState.OPEN, RequestState.IN_REVIEW,
                         RequestState.AWAITING_REQUESTER, RequestState.APPROVED, RequestState.FULFILLING,
                         RequestState.AWAITING_RECIPIENTS, RequestState.FAILED})
# The portal's own work is done (the request may still wait for its recipients' confirmations).
CARRIED_OUT_STATES = frozenset({RequestState.AWAITING_RECIPIENTS, RequestState.COMPLETED})
CLOSED_STATES = frozenset({RequestState.COMPLETED, RequestState.REJECTED, RequestState.WITHDRAWN})
WITHDRAWABLE_STATES = frozenset({RequestState.RECEIVED, RequestState.OPEN, RequestState.IN_REVIEW,
                                 RequestState.AWAITING_REQUESTER, RequestState.APPROVED})


class Channel(enum.StrEnum):
    SELF_SERVICE = "self_service"  # fulfilled by the portal at once (an export)
    PORTAL = "portal"  # filed in the portal, worked by a DPO
    VERIFIED = "verified"  # a former employee's verified path


class EventKind(enum.StrEnum):
    """What a timeline entry records."""

    FILED = "filed"
    TRANSITION = "transition"
    MESSAGE = "message"  # to or from the requester: shown to them
    NOTE = "note"  # internal: staff only
    CLAIM = "claim"
    ASSIGN = "assign"
    EXTENSION = "extension"
    APPROVAL = "approval"
    DUPLICATE = "duplicate"


class Queue(Base):
    """A DPO work queue; routing rules send requests to it."""

    __tablename__ = "request_queues"

    id: Mapped[SurrogateId]
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[CreatedAt]


class QueueMember(Base):
    __tablename__ = "request_queue_members"

    queue_id: Mapped[str] = mapped_column(ForeignKey("request_queues.id", ondelete="CASCADE"), primary_key=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[CreatedAt]


class RoutingRule(Base):
    """(jurisdiction, type) -> queue. ``*`` matches anything; the most specific rule wins."""

    __tablename__ = "request_routing_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(8), comment="ES, US-CA, CO, ... or *")
    request_type: Mapped[str] = mapped_column(String(16), comment="a request type or *")
    queue_id: Mapped[str] = mapped_column(ForeignKey("request_queues.id", ondelete="CASCADE"))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("jurisdiction", "request_type", name="one_rule_per_key"),)


def reference_of(request_id: str) -> str:
    """The short reference people quote for the request ``request_id`` (``R-`` and its first
    eight characters, upper case)."""
    return f"R-{request_id[:8].upper()}"


class DataRequest(Base):
    __tablename__ = "data_requests"

    id: Mapped[SurrogateId]
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    type: Mapped[RequestType] = mapped_column(EnumString(RequestType, 16))
    state: Mapped[RequestState] = mapped_column(EnumString(RequestState, 24))
    channel: Mapped[Channel] = mapped_column(EnumString(Channel, 16))
    jurisdiction: Mapped[str] = mapped_column(String(8), comment="the subject's, when received: sets the deadline")
    received_at: Mapped[CreatedAt]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    carried_out_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="when the portal's own work was done (recipients may confirm later)")
    # What the requester is told once it is done: a statement (key and parameters, worded when read:
    # portal.i18n.statements); ``outcome_legacy`` holds the English text of rows from before keys.
    outcome_legacy: Mapped[str | None] = mapped_column("outcome", Text, comment="shown to the requester")
    outcome_statement: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the outcome as a statement key and parameters, worded in the reader's language")

    # What was asked (sealed with the directory key; see the module docstring) and its scope.
    details_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="JSON: description, correction, grounds")
    scope: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="erasure/restriction: categories (empty = all), date_from, date_to; objection: purpose")
    duplicate_of_id: Mapped[str | None] = mapped_column(ForeignKey("data_requests.id"),
                                                        comment="an open request of the same type it repeats")

    # Deadlines: due_on never changes; one extension may set extended_due_on.
    regime: Mapped[str | None] = mapped_column(String(40))
    due_on: Mapped[date | None] = mapped_column(Date)
    acknowledge_by: Mapped[date | None] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extended_due_on: Mapped[date | None] = mapped_column(Date)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extended_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    extension_reason_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)

    # Routing and who works it.
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("request_queues.id", ondelete="SET NULL"))
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))

    # The decision.
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    legal_basis: Mapped[str | None] = mapped_column(String(24))  # a refusal ground of the regime (portal.jurisdictions)
    erasure_ground: Mapped[str | None] = mapped_column(
        String(24), comment="what an erasure rests on: an erasure ground of the regime")
    decision_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, comment="the reasons, shown to the requester")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="what fulfilment did: counts per category")
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    reminded: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="reminders already sent, by kind")

    details = Sealed(details_sealed, "request-details", JSON_OBJECT)  # description, correction, grounds
    decision_text = Sealed(decision_sealed, "request-decision", TEXT)
    extension_reason = Sealed(extension_reason_sealed, "request-extension", TEXT)

    __table_args__ = (
        Index("ix_data_requests_subject_received", "subject_id", "received_at"),
        Index("ix_data_requests_state", "state"),
        Index("ix_data_requests_queue_state", "queue_id", "state"),
        enum_check("type", RequestType),
        enum_check("state", RequestState),
        enum_check("channel", Channel),
        CheckConstraint("state <> 'completed' OR completed_at IS NOT NULL", name="completed_has_time"),
        CheckConstraint("state <> 'rejected' OR (legal_basis IS NOT NULL AND decision_sealed IS NOT NULL)",
                        name="rejected_has_reason"),
        CheckConstraint("extended_due_on IS NULL OR (due_on IS NOT NULL AND extended_due_on > due_on "
                        "AND extension_reason_sealed IS NOT NULL)", name="extension_is_later_with_reason"),
    )

    @property
    def reference(self) -> str:
        """A short reference people can quote."""
        return reference_of(self.id)

    @property
    def outcome(self) -> str | None:
        """The outcome in the reader's language (the legacy English text where no key was stored)."""
        from portal.i18n.statements import render

        return render(self.outcome_statement, self.outcome_legacy)

    @property
    def done_at(self) -> datetime | None:
        """When the portal's own work was done (before the recipients confirmed, if any had to)."""
        return self.carried_out_at or self.completed_at

    @property
    def effective_due(self) -> date | None:
        return self.extended_due_on or self.due_on

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def can_be_withdrawn(self) -> bool:
        return self.state in WITHDRAWABLE_STATES



class RequestEvent(Base):
    """One entry of a request's timeline. Bodies are sealed; staff names are never shown to the
    requester (only the role)."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"))
    kind: Mapped[EventKind] = mapped_column(EnumString(EventKind, 16))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(16), comment="requester, dpo, admin, system")
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    visible_to_requester: Mapped[bool] = mapped_column(Boolean)
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_statement: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the portal's own message as a statement key and parameters, worded when read")
    created_at: Mapped[CreatedAt]

    body_text = Sealed(body_sealed, "request-event", TEXT, record="request_id")  # what a person wrote

    __table_args__ = (
        Index("ix_request_events_request", "request_id", "id"),
        enum_check("kind", EventKind),
        CheckConstraint("kind <> 'note' OR NOT visible_to_requester", name="notes_are_internal"),
    )

    @property
    def body(self) -> str | None:
        """What was written; the portal's own messages in the reader's language."""
        if self.body_statement:
            from portal.i18n.statements import render

            return render(self.body_statement)
        return self.body_text


class ErasureApproval(Base):
    """Four eyes: an erasure needs two approvals by two different people (the key makes a second
    approval by the same person impossible, whatever the code above it does)."""

    __tablename__ = "erasure_approvals"

    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"), primary_key=True)
    approver_id: Mapped[str] = mapped_column(ForeignKey("employees.id"), primary_key=True)
    approver_role: Mapped[str] = mapped_column(String(16))
    approved_at: Mapped[CreatedAt]


class ErasureCount(Base):
    """What an erasure did to one category, kept up to date batch by batch in the same
    transaction as the deletes (so a killed job's counts are never ahead of or behind the data)."""

    __tablename__ = "erasure_counts"

    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0, comment="kept under a legal hold")
    removal_required: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0",
        comment="records of use in AI training kept as evidence and marked for removal from the sets and models")


class LegalHold(Base):
    """Data of an employee that must be kept (GDPR Art. 17(3)(e)): blocked, never erased."""

    __tablename__ = "legal_holds"

    id: Mapped[SurrogateId]
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON, comment="register keys; empty means every category")
    matter_reference: Mapped[str] = mapped_column(String(80))
    reason_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    placed_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    placed_at: Mapped[CreatedAt]
    lifted_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    reason = Sealed(reason_sealed, "hold-reason", TEXT)

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    def covers(self, category: str) -> bool:
        return not self.categories or category in self.categories


class Rectification(Base):
    """A correction recorded alongside the original (which is kept as it was collected)."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"), unique=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    category: Mapped[str | None] = mapped_column(String(40))
    sealed: Mapped[bytes] = mapped_column(LargeBinary, comment="subject key: what was wrong, what it should say")
    recorded_at: Mapped[CreatedAt]


class Restriction(Base):
    """Data kept but restricted: excluded from processing and from AI training until lifted."""

    __tablename__ = "restrictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"), unique=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON, comment="empty means every category")
    since: Mapped[CreatedAt]
    lift_notified_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="when the employee's notice of the lift was queued (GDPR Art. 18(3)): before the lift")
    lifted_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("lifted_at IS NULL OR (lift_notified_at IS NOT NULL AND lift_notified_at <= lifted_at)",
                        name="lifted_after_notice"),
    )

    @property
    def active(self) -> bool:
        return self.lifted_at is None
