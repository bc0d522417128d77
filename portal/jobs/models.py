"""The job table: the single source of truth for long-running work."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    """One unit of long work. ``params`` and ``result`` carry identifiers and counts, never personal data."""

    __tablename__ = "jobs"

    id: Mapped[SurrogateId]
    kind: Mapped[str] = mapped_column(String(64), comment="the handler registered for this kind")
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"),
                                                 comment="the employee who asked for it, if any")
    state: Mapped[JobState] = mapped_column(EnumString(JobState, 16), default=JobState.QUEUED)
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0, comment="failed attempts so far")
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    worker_id: Mapped[str | None] = mapped_column(String(64), comment="the worker holding the lease")
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), comment="not to be started earlier (backoff)")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, comment="a clear reason, shown to the owner and staff")
    created_at: Mapped[CreatedAt]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_jobs_state_not_before", "state", "not_before"),
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        enum_check("state", JobState),
        CheckConstraint("state <> 'succeeded' OR finished_at IS NOT NULL", name="succeeded_has_finished_at"),
        CheckConstraint("state <> 'failed' OR error IS NOT NULL", name="failed_has_error"),
    )

    @property
    def percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, int(self.progress_done * 100 / self.progress_total))
