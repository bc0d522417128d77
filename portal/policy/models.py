from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, EnumString, UTCDateTime, enum_check


class PolicyStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class PolicyVersion(Base):
    """A version of the monitoring policy in Markdown. Published versions never change."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int | None] = mapped_column(Integer, unique=True, comment="assigned when published")
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    change_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[PolicyStatus] = mapped_column(EnumString(PolicyStatus, 16), default=PolicyStatus.DRAFT)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
    published_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        enum_check("status", PolicyStatus),
        CheckConstraint("status = 'draft' OR (version IS NOT NULL AND published_at IS NOT NULL)",
                        name="published_has_version"),
    )


class PolicyAcknowledgement(Base):
    __tablename__ = "policy_acknowledgements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id", ondelete="CASCADE"))
    acknowledged_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("subject_id", "policy_version_id", name="uq_policy_acknowledgements_subject_version"),)
