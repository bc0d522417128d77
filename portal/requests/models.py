"""A data-subject request and its state (DESIGN §4).

A self-service export is recorded here too, as an access request completed by the portal
itself (LOPDGDD Art. 13: a remote, secure self-service system satisfies the right of access), so
that it counts in the DPO's metrics and in evidence.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import CreatedAt, SurrogateId, UTCDateTime, enum_check
from portal.extensions import db


class RequestType(enum.StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class RequestState(enum.StrEnum):
    RECEIVED = "received"
    OPEN = "open"
    IN_REVIEW = "in_review"
    AWAITING_REQUESTER = "awaiting_requester"
    APPROVED = "approved"
    FULFILLING = "fulfilling"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class Channel(enum.StrEnum):
    SELF_SERVICE = "self_service"  # fulfilled by the portal at once (an export)
    PORTAL = "portal"  # filed in the portal, worked by a DPO
    VERIFIED = "verified"  # a former employee's verified path


class DataRequest(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "data_requests"

    id: Mapped[SurrogateId]
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    type: Mapped[RequestType] = mapped_column(String(16))
    state: Mapped[RequestState] = mapped_column(String(24))
    channel: Mapped[Channel] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(8), comment="the subject's, when received: sets the deadline")
    received_at: Mapped[CreatedAt]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text, comment="shown to the requester")

    __table_args__ = (
        Index("ix_data_requests_subject_received", "subject_id", "received_at"),
        Index("ix_data_requests_state", "state"),
        enum_check("type", RequestType),
        enum_check("state", RequestState),
        enum_check("channel", Channel),
        CheckConstraint("state <> 'completed' OR completed_at IS NOT NULL", name="completed_has_time"),
    )
