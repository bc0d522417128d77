from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check, utcnow
from portal.people.models import Employee


class SignInMethod(enum.StrEnum):
    SSO = "sso"  # the company's identity provider
    EMAIL_CODE = "email_code"  # a former employee: a one-time code sent to their personal e-mail


class CodePurpose(enum.StrEnum):
    SIGN_IN = "sign_in"
    STEP_UP = "step_up"  # a fresh code before a download or a sensitive request


class SsoIdentity(Base):
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


class AuthSession(Base):
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
    method: Mapped[SignInMethod] = mapped_column(
        EnumString(SignInMethod, 16), default=SignInMethod.SSO, server_default=SignInMethod.SSO.value,
        comment="sso, or email_code: a former employee's limited session, auth_time is the last code's")
    idp_session_digest: Mapped[str | None] = mapped_column(
        String(64), comment="HMAC of the issuer and the IdP's session id (the ID token's sid claim), which a "
                            "back-channel logout names; empty when the IdP sent none")

    employee: Mapped[Employee] = relationship()

    __table_args__ = (Index("ix_auth_sessions_employee_ended", "employee_id", "ended_at"),
                      Index("ix_auth_sessions_idp_session_digest", "idp_session_digest"),
                      enum_check("method", SignInMethod))

    @property
    def is_limited(self) -> bool:
        """A former employee's session: only the pages open to former employees."""
        return self.method == SignInMethod.EMAIL_CODE

    @property
    def is_live(self) -> bool:
        return self.ended_at is None and self.expires_at > utcnow()


class EmailCode(Base):
    """One code asked for on the former-employee path. Made for every address asked about, known
    or not (so both answers do the same work); ``employee_id`` is set only when the address is a
    former employee's. The code itself is never stored: only its keyed hash, bound to this row."""

    __tablename__ = "email_codes"

    id: Mapped[SurrogateId]
    address_index: Mapped[str] = mapped_column(String(64), comment="HMAC of the address asked about")
    employee_id: Mapped[str | None] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), comment="step-up: the session the code refreshes")
    purpose: Mapped[CodePurpose] = mapped_column(EnumString(CodePurpose, 16))
    code_hash: Mapped[str] = mapped_column(String(64), comment="HMAC of the row id and the code")
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_email_codes_address_created", "address_index", "created_at"),
        enum_check("purpose", CodePurpose),
        CheckConstraint("tries >= 0", name="tries_not_negative"),
    )


class LogoutTokenSeen(Base):
    """A back-channel logout token already taken (its ``jti``), so that the same token is refused
    if it comes again, whichever process it reaches. Kept until the token would be refused for its
    age anyway (``expires_at``), then purged."""

    __tablename__ = "logout_tokens_seen"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the issuer and the token's jti")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
