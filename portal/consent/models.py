from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, EnumString, UTCDateTime, enum_check, utcnow


class Purpose(enum.StrEnum):
    """Purposes that rest on consent; each is named by a category of the register."""

    AI_TRAINING = "ai_training"
    SCREENSHOT_CAPTURE = "screenshot_capture"


class ProcessingPurpose(enum.StrEnum):
    """Purposes a suppression can stop: the consent purposes, and the legitimate-interest purposes
    that only an upheld objection (GDPR Art. 21) stops. The exclusions feed reports each by value."""

    AI_TRAINING = "ai_training"
    SCREENSHOT_CAPTURE = "screenshot_capture"
    ANALYTICS = "analytics"  # productivity analytics and profiling
    SECURITY_MONITORING = "security_monitoring"


# What an employee may object to (GDPR Art. 21), in the order the objection form offers them.
OBJECTION_PURPOSES = (ProcessingPurpose.AI_TRAINING, ProcessingPurpose.ANALYTICS, ProcessingPurpose.SECURITY_MONITORING)


class Decision(enum.StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ConsentEvent(Base):
    """One consent decision. Rows are only ever added; the latest per purpose is the state."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    purpose: Mapped[Purpose] = mapped_column(EnumString(Purpose, 40))
    decision: Mapped[Decision] = mapped_column(EnumString(Decision, 16))
    policy_version: Mapped[int | None] = mapped_column(Integer, comment="the policy version in force when decided")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    method: Mapped[str] = mapped_column(String(24), comment="portal, demo-seed, import")
    device: Mapped[str] = mapped_column(String(80), comment="coarse browser and system, e.g. 'Firefox on Linux'")

    __table_args__ = (
        Index("ix_consent_events_subject_purpose", "subject_id", "purpose", "id"),
        enum_check("purpose", Purpose),
        enum_check("decision", Decision),
    )


class Suppression(Base):
    """A subject whose data must not be used for a purpose. The AI-training pipeline reads it."""

    __tablename__ = "suppressions"

    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    purpose: Mapped[ProcessingPurpose] = mapped_column(EnumString(ProcessingPurpose, 40), primary_key=True,
                                                       comment="a ProcessingPurpose value")
    reason: Mapped[str] = mapped_column(String(32), comment="consent-withdrawn, objection, restriction, erasure")
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (enum_check("purpose", ProcessingPurpose),)


class ExclusionChange(Base):
    """One start or end of an exclusion, in the order it happened: the log the exclusions feed
    serves, so that a pipeline polling after a cursor learns of a lifted exclusion too. Appended
    by the services that change a suppression or a restriction, never updated."""

    __tablename__ = "exclusion_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="the feed's order; never shown")
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40), comment="ai_training, screenshot_capture, analytics")
    excluded: Mapped[bool] = mapped_column(Boolean, comment="true: the exclusion starts; false: it is lifted")
    reason: Mapped[str] = mapped_column(String(32), comment="consent-withdrawn, objection, restriction, erasure")
    categories: Mapped[list[str] | None] = mapped_column(JSON, comment="a restriction's categories; empty: all")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
