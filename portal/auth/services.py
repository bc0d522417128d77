"""Sign-in decisions and session lifetime, free of ``request`` so CLI and jobs can use them."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.audit.services import Actor, record
from portal.auth.models import AuthSession, SsoIdentity
from portal.config import Settings
from portal.crypto import blind_index
from portal.db import utcnow
from portal.extensions import db
from portal.i18n import shipped
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus

TOUCH_EVERY = timedelta(minutes=1)
# How far the IdP's clock may be from the portal's when a step-up's auth_time is judged.
STEP_UP_CLOCK_SKEW = timedelta(seconds=30)
# The refusals of a step-up whose ID token does not show a new authentication (their own page).
STEP_UP_REFUSALS = frozenset({"auth-time-missing", "auth-time-invalid", "auth-time-stale", "auth-time-future"})


class SignInRefused(Exception):
    """Sign-in was refused; ``reason`` is a short code for the audit trail, never shown raw."""

    def __init__(self, reason: str, *, subject_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.subject_id = subject_id


@dataclass
class SignIn:
    employee: Employee
    identity: SsoIdentity
    created: bool


def describe_device(user_agent: str) -> str:
    ua = user_agent or ""
    browser = next((name for pattern, name in (
        (r"Edg/", "Edge"), (r"Firefox/", "Firefox"), (r"Chrom(e|ium)/", "Chrome"), (r"Safari/", "Safari"),
    ) if re.search(pattern, ua)), "A browser")
    system = next((name for pattern, name in (
        (r"Windows", "Windows"), (r"Android", "Android"), (r"iPhone|iPad", "iOS"), (r"Mac OS X", "macOS"),
        (r"Linux", "Linux"),
    ) if re.search(pattern, ua)), "an unknown system")
    return f"{browser} on {system}"


def _claim_text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def subject_digest(issuer: str, sub: str) -> str:
    """How an IdP subject is kept and found (``sso_identities.subject_digest``)."""
    return blind_index("sso-subject", f"{issuer}\n{sub}", fold_case=False)


def idp_session_digest(issuer: str, sid: str) -> str:
    """How the IdP's session id of a sign-in is kept and found (``auth_sessions.idp_session_digest``)."""
    return blind_index("idp-session", f"{issuer}\n{sid}", fold_case=False)


def resolve_sign_in(issuer: str, claims: Mapping[str, Any], settings: Settings) -> SignIn:
    """Find or create the employee for validated ID-token claims (plus userinfo).

    Identities are matched on (issuer, sub) only. A first sign-in may link to an existing
    employee through the employee-number claim (an HR-assigned identifier), never by e-mail.
    """
    sub = _claim_text(claims, "sub")
    if not sub:
        raise SignInRefused("no-subject")
    digest = subject_digest(issuer, sub)
    identity = db.session.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == issuer, SsoIdentity.subject_digest == digest)
    )
    created = False
    employee: Employee | None = None
    if identity is not None:
        employee = identity.employee
    else:
        number = _claim_text(claims, settings.employee_number_claim)
        if number:
            candidate = people.find_by_employee_number(number)
            if candidate is not None and not db.session.scalar(
                select(SsoIdentity.id).where(SsoIdentity.employee_id == candidate.id, SsoIdentity.issuer == issuer)
            ):
                employee = candidate
        if employee is None:
            email = _claim_text(claims, "email")
            if not email:
                raise SignInRefused("no-email-claim")
            if people.find_by_email(email) is not None:
                # Someone already holds this address; linking on e-mail alone would let an IdP
                # account take over another person's data.
                raise SignInRefused("email-belongs-to-another-identity")
            jurisdiction = _claim_text(claims, settings.jurisdiction_claim) or settings.default_jurisdiction
            if not jurisdiction:
                raise SignInRefused("no-jurisdiction")
            try:
                employee = people.create_employee(
                    email=email,
                    display_name=_claim_text(claims, "name") or email,
                    jurisdiction=jurisdiction,
                    employee_number=number or None,
                    timezone=_claim_text(claims, "zoneinfo") or "UTC",
                    actor=Actor.system(),
                )
            except people.PeopleError:
                raise SignInRefused("invalid-profile-claims") from None
            created = True
        identity = SsoIdentity(issuer=issuer, subject_digest=digest, employee=employee)
        db.session.add(identity)
        db.session.flush()
        record("auth:identity:link", actor=Actor.system(), subject_id=employee.id,
               targets={"identity": identity.id}, details={"issuer": issuer, "new_employee": created})
    if employee is None:
        raise SignInRefused("no-employee")
    if employee.employment_status != EmploymentStatus.ACTIVE:
        raise SignInRefused("former-employee", subject_id=employee.id)
    with contextlib.suppress(people.PeopleError):  # keep what is on file rather than adopt malformed claims
        people.update_profile(employee, display_name=_claim_text(claims, "name") or None,
                              jurisdiction=_claim_text(claims, settings.jurisdiction_claim) or None,
                              locale=shipped(_claim_text(claims, "locale")))
    groups = claims.get("groups") or []
    if isinstance(groups, str):
        groups = [groups]
    people.sync_roles(
        employee,
        people.roles_from_groups([g for g in groups if isinstance(g, str)], dpo=settings.dpo_groups,
                                 admin=settings.admin_groups, auditor=settings.auditor_groups),
        actor=Actor.system(),
    )
    identity.last_sign_in_at = utcnow()
    return SignIn(employee=employee, identity=identity, created=created)


def start_session(sign_in: SignIn, *, auth_time: datetime | None, user_agent: str, lifetime: timedelta,
                  stepped_up_at: datetime | None = None, replaces: str | None = None,
                  idp_session: str | None = None) -> AuthSession:
    """Start a session; ``stepped_up_at`` only when the sign-in answered the portal's step-up request
    and its ``auth_time`` passed :func:`step_up_refusal`; ``idp_session`` is the ID token's ``sid``,
    which a back-channel logout may name (``auth.backchannel``)."""
    now = utcnow()
    if replaces:
        end_session(replaces, reason="re-authenticated")
    auth_session = AuthSession(
        id=secrets.token_urlsafe(32), employee_id=sign_in.employee.id, identity_id=sign_in.identity.id,
        auth_time=auth_time, stepped_up_at=stepped_up_at, last_seen_at=now, expires_at=now + lifetime,
        device=describe_device(user_agent)[:80],
        idp_session_digest=idp_session_digest(sign_in.identity.issuer, idp_session) if idp_session else None,
    )
    db.session.add(auth_session)
    db.session.flush()
    record("auth:session:start", actor=Actor("employee", sign_in.employee.id), subject_id=sign_in.employee.id,
           targets={"session": auth_session.id[:8]},
           details={"new_employee": sign_in.created, "step_up": stepped_up_at is not None})
    return auth_session


def live_session(handle: str) -> AuthSession | None:
    auth_session = db.session.get(AuthSession, handle)
    if auth_session is None or not auth_session.is_live:
        return None
    # SSO sessions are for current staff; a code session only for a former employee.
    wanted = EmploymentStatus.FORMER if auth_session.is_limited else EmploymentStatus.ACTIVE
    if auth_session.employee.employment_status != wanted:
        return None
    return auth_session


def touch(auth_session: AuthSession) -> bool:
    """Note activity at most once a minute; returns whether anything was written."""
    now = utcnow()
    if now - auth_session.last_seen_at < TOUCH_EVERY:
        return False
    auth_session.last_seen_at = now
    return True


def end_session(handle: str, *, reason: str, actor: Actor | None = None) -> bool:
    auth_session = db.session.get(AuthSession, handle)
    if auth_session is None or auth_session.ended_at is not None:
        return False
    auth_session.ended_at = utcnow()
    auth_session.end_reason = reason
    record("auth:session:end", actor=actor or Actor("employee", auth_session.employee_id),
           subject_id=auth_session.employee_id, targets={"session": handle[:8]}, details={"reason": reason})
    return True


def end_all_sessions(employee: Employee, *, reason: str, actor: Actor, keep: str | None = None) -> int:
    handles = db.session.scalars(
        select(AuthSession.id).where(AuthSession.employee_id == employee.id, AuthSession.ended_at.is_(None))
    ).all()
    count = 0
    for handle in handles:
        if handle != keep and end_session(handle, reason=reason, actor=actor):
            count += 1
    return count


def sessions_of(employee: Employee) -> list[AuthSession]:
    return list(db.session.scalars(
        select(AuthSession)
        .where(AuthSession.employee_id == employee.id, AuthSession.ended_at.is_(None), AuthSession.expires_at > utcnow())
        .order_by(AuthSession.last_seen_at.desc())
    ))


def auth_time_from_claims(claims: Mapping[str, Any]) -> datetime | None:
    """The ID token's ``auth_time`` (when the IdP last authenticated the person), or None if it
    sent none or one that is no time. Never "now": a missing time proves nothing."""
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def step_up_refusal(claims: Mapping[str, Any], *, started: datetime, now: datetime) -> str | None:
    """Why the ID token answering a step-up request does not prove that the person authenticated
    again for it, or None when it does: its ``auth_time`` must be there, no earlier than the moment
    the portal sent the request (``max_age=0``, ``prompt=login``) and no later than now, each
    within ``STEP_UP_CLOCK_SKEW`` (docs/architecture.md, "Sign-in and step-up")."""
    if "auth_time" not in claims:
        return "auth-time-missing"
    auth_time = auth_time_from_claims(claims)
    if auth_time is None:
        return "auth-time-invalid"
    if auth_time < started - STEP_UP_CLOCK_SKEW:
        return "auth-time-stale"
    if auth_time > now + STEP_UP_CLOCK_SKEW:
        return "auth-time-future"
    return None


def has_recent_step_up(auth_session: AuthSession, window_seconds: int, *, now: datetime | None = None) -> bool:
    """Whether the session stepped up within ``window_seconds``. An ordinary sign-in, even a
    minute old, never counts: with single sign-on it may have asked the person for nothing."""
    if auth_session.stepped_up_at is None:
        return False
    now = now or utcnow()
    return now - auth_session.stepped_up_at <= timedelta(seconds=window_seconds)
