"""Service tokens: what an integration presents as ``Authorization: Bearer``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, CreatedAt, SurrogateId, UTCDateTime


class ApiToken(Base):
    """A service token. The token itself is shown once, when made; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[SurrogateId]
    name: Mapped[str] = mapped_column(String(80))
    scopes: Mapped[list[str]] = mapped_column(JSON, comment="portal.security.Scope values")
    token_digest: Mapped[str] = mapped_column(String(64), unique=True, comment="hex SHA-256 of the token")
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"),
                                                      comment="the admin who made it; null from the shell")
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), comment="to the minute")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="SET NULL"))
    recipient_id: Mapped[str | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"),
        comment="scope recipient: the one recipient whose tasks the token reads and confirms")

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"
