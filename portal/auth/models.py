from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import CreatedAt, UTCDateTime, utcnow
from portal.extensions import db
from portal.people.models import Employee


class SsoIdentity(db.Model):  # type: ignore[name-defined,misc]
    """An account at an identity provider, bound to one employee. Found by (issuer, subject)
    only, never by e-mail. The subject is kept as a keyed hash."""

    __tablename__ = "sso_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject_digest: Mapped[str] = mapped_column(String(64), comment="HMAC of the IdP's sub claim")
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[CreatedAt]
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    employee: Mapped[Employee] = relationship()

    __table_args__ = (UniqueConstraint("issuer", "subject_digest", name="uq_sso_identities_issuer_subject"),)


class AuthSession(db.Model):  # type: ignore[name-defined,misc]
    """A signed-in session. The browser's server-side session holds only this row's handle;
    ending the row ends the session everywhere at the next request."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("sso_identities.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
    auth_time: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="the auth_time the IdP reported at sign-in; empty when it sent none")
    stepped_up_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="when the IdP re-authenticated the person for the portal's step-up request (that ID "
                               "token's auth_time); an ordinary sign-in leaves it empty")
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(40))
    device: Mapped[str] = mapped_column(String(80), comment="coarse browser and system, e.g. 'Chrome on Linux'")

    employee: Mapped[Employee] = relationship()

    __table_args__ = (Index("ix_auth_sessions_employee_ended", "employee_id", "ended_at"),)

    @property
    def is_live(self) -> bool:
        return self.ended_at is None and self.expires_at > utcnow()
