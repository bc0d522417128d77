"""An export and its downloads."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check


class ExportState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class Export(Base):
    """One export package. The archive is sealed with the subject's data key in the artifact
    directory (so crypto-shredding destroys it too); ``artifact_name`` is set only once it is
    complete, in the same transaction that completes the job."""

    __tablename__ = "exports"

    id: Mapped[SurrogateId]
    subject_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("data_requests.id"),
                                                   comment="the completed access request it fulfilled")
    state: Mapped[ExportState] = mapped_column(EnumString(ExportState, 16), default=ExportState.QUEUED)
    categories: Mapped[list[str]] = mapped_column(JSON, comment="register keys chosen")
    date_from: Mapped[date | None] = mapped_column(Date, comment="inclusive, a day in date_zone")
    date_to: Mapped[date | None] = mapped_column(Date, comment="inclusive, a day in date_zone")
    date_zone: Mapped[str | None] = mapped_column(
        String(64), comment="the time zone whose days date_from and date_to are (none: UTC)")
    origin: Mapped[str] = mapped_column(String(16), comment="portal or shell")
    artifact_name: Mapped[str | None] = mapped_column(String(120), comment="file in the artifact directory")
    artifact_sha256: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of the ZIP (before sealing)")
    artifact_bytes: Mapped[int | None] = mapped_column(BigInteger)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="items per category in the package")
    created_at: Mapped[CreatedAt]
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text, comment="why it failed, for the owner and staff")
    erased_by_request_id: Mapped[str | None] = mapped_column(
        ForeignKey("data_requests.id"), comment="the erasure request whose fulfilment deleted this copy")

    __table_args__ = (
        Index("ix_exports_subject_created", "subject_id", "created_at"),
        Index("ix_exports_state_expires", "state", "expires_at"),
        enum_check("state", ExportState),
        CheckConstraint("state <> 'ready' OR (artifact_name IS NOT NULL AND artifact_sha256 IS NOT NULL "
                        "AND completed_at IS NOT NULL AND expires_at IS NOT NULL)", name="ready_has_artifact"),
        CheckConstraint("state <> 'failed' OR error IS NOT NULL", name="failed_has_error"),
        CheckConstraint("date_from IS NULL OR date_to IS NULL OR date_from <= date_to", name="dates_ordered"),
    )

    @property
    def file_name(self) -> str:
        """A safe download name: letters, digits and dashes only."""
        stamp = (self.completed_at or self.created_at).strftime("%Y%m%d")
        return f"monitoring-data-{stamp}-{self.id[:8]}.zip"


class ExportDownload(Base):
    __tablename__ = "export_downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("exports.id", ondelete="CASCADE"), index=True)
    downloaded_at: Mapped[CreatedAt]
