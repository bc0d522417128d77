"""OpenID Connect Back-Channel Logout 1.0: the IdP says that a person's session there has ended,
and the portal ends its own sessions that came from it.

The IdP posts a logout token (a JWT it signs) straight to the portal, server to server; no browser
is involved, so there is no session and no CSRF token (docs/architecture.md, "Sign-in and
step-up"). Everything rests on the token: its signature against the IdP's published keys (the
JWKS the sign-in uses), and the checks of section 2.6 of the specification. A token is taken once:
its ``jti`` is kept (hashed) in the database until the token would be too old anyway, so a replay
is refused whichever process it reaches.

The signature is checked with joserfc, the JOSE library Authlib itself uses for ID tokens (its own
``authlib.jose`` is deprecated in its favour), with the same key-set handling as Authlib's
``parse_id_token``: a key id that is not in the cached set fetches the set again, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jws import JWSRegistry
from sqlalchemy import delete, select

from portal.audit.services import Actor, record
from portal.auth import services
from portal.auth.models import AuthSession, LogoutTokenSeen, SsoIdentity
from portal.db import upsert, utcnow
from portal.extensions import db
from portal.jobs.runners import periodic

EVENT = "http://schemas.openid.net/event/backchannel-logout"
# How far the IdP's clock may be from the portal's, and how old a token may be when it arrives: an
# IdP sends it as the session ends, so anything older is a replay or a delivery gone wrong.
LEEWAY = timedelta(seconds=60)
MAX_AGE = timedelta(minutes=5)
MAX_TOKEN_LENGTH = 16 * 1024
ACTOR = Actor("idp")  # the identity provider, through a token it signed


class LogoutRefused(Exception):
    """The logout token is not taken; ``reason`` is a short code for the audit trail and the
    answer's ``error_description`` (never a claim's value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogoutToken:
    jti: str
    issued_at: datetime
    sid: str | None
    sub: str | None


def verify(token: object, *, key_set: Callable[[bool], KeySetSerialization], algorithms: list[str], issuer: str,
           client_id: str, now: datetime | None = None) -> LogoutToken:
    """The checked claims of a logout token (section 2.6), or :class:`LogoutRefused`.

    ``key_set(force)`` gives the IdP's JWKS (``force``: fetch it again rather than the cached one);
    ``algorithms`` are those the IdP signs ID tokens with ("none" is never one)."""
    if not isinstance(token, str) or not token:
        raise LogoutRefused("token-missing")
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise LogoutRefused("token-malformed")  # encrypted (JWE) logout tokens are not taken either
    registry = JWSRegistry(algorithms=[a for a in algorithms if a.lower() != "none"], strict_check_header=False)
    try:
        try:
            decoded = jwt.decode(token, KeySet.import_key_set(key_set(False)), registry=registry)
        except InvalidKeyIdError:  # the IdP may have rolled its keys since they were fetched
            decoded = jwt.decode(token, KeySet.import_key_set(key_set(True)), registry=registry)
    except (BadSignatureError, InvalidKeyIdError):
        raise LogoutRefused("signature-invalid") from None
    except UnsupportedAlgorithmError:
        raise LogoutRefused("alg-invalid") from None  # "none" among them
    except JoseError:
        raise LogoutRefused("token-malformed") from None
    claims = decoded.claims
    now = now or utcnow()
    checks = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()), leeway=int(LEEWAY.total_seconds()),
        iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
        iat={"essential": True}, jti={"essential": True})
    try:
        checks.validate(claims)
    except MissingClaimError as exc:
        raise LogoutRefused(f"{exc.claim.split(',')[0]}-missing") from None
    except ExpiredTokenError:
        raise LogoutRefused("token-expired") from None
    except InvalidClaimError as exc:
        raise LogoutRefused(f"{exc.claim}-invalid") from None
    issued_at = datetime.fromtimestamp(claims["iat"], UTC)
    if now - issued_at > MAX_AGE + LEEWAY:
        raise LogoutRefused("token-too-old")
    events = claims.get("events")
    if not isinstance(events, dict) or EVENT not in events:
        raise LogoutRefused("events-missing")
    if not isinstance(events[EVENT], dict):
        raise LogoutRefused("events-invalid")
    if "nonce" in claims:
        raise LogoutRefused("nonce-present")  # an ID token, not a logout token
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is None and sub is None:
        raise LogoutRefused("sid-and-sub-missing")
    for name, value in (("sid", sid), ("sub", sub)):
        if value is not None and (not isinstance(value, str) or not value):
            raise LogoutRefused(f"{name}-invalid")
    return LogoutToken(jti=claims["jti"], issued_at=issued_at, sid=sid, sub=sub)


def take_once(issuer: str, token: LogoutToken) -> bool:
    """Note the token's ``jti``; False when it was taken before (here or in another process)."""
    values = {"digest": hashlib.sha256(f"{issuer}\n{token.jti}".encode()).hexdigest(),
              "expires_at": token.issued_at + MAX_AGE + 2 * LEEWAY}
    return upsert(LogoutTokenSeen, values, ["digest"], returning=[LogoutTokenSeen.digest]).scalar() is not None


def end_sessions(issuer: str, token: LogoutToken) -> int:
    """End the portal sessions the token names: those started with its ``sid`` (and, if it has a
    ``sub`` too, that person's), else every session of the person whose subject is ``sub``."""
    identity = None
    if token.sub is not None:
        identity = db.session.scalar(select(SsoIdentity).where(
            SsoIdentity.issuer == issuer, SsoIdentity.subject_digest == services.subject_digest(issuer, token.sub)))
        if identity is None:
            return 0
    if token.sid is None:  # then there is a sub, and its identity
        return 0 if identity is None else services.end_all_sessions(identity.employee, reason="idp-logout", actor=ACTOR)
    query = select(AuthSession.id).where(
        AuthSession.idp_session_digest == services.idp_session_digest(issuer, token.sid), AuthSession.ended_at.is_(None))
    if identity is not None:
        query = query.where(AuthSession.identity_id == identity.id)
    return sum(services.end_session(handle, reason="idp-logout", actor=ACTOR) for handle in db.session.scalars(query))


def log_out(token: object, *, key_set: Callable[[bool], KeySetSerialization], algorithms: list[str], issuer: str,
            client_id: str) -> int:
    """Take a logout token: check it, refuse a replay, end the sessions it names; audited. Returns
    how many sessions ended (none is a success too: they may have ended already). Raises
    :class:`LogoutRefused`, having changed nothing; the caller rolls back and records it."""
    checked = verify(token, key_set=key_set, algorithms=algorithms, issuer=issuer, client_id=client_id)
    if not take_once(issuer, checked):
        raise LogoutRefused("jti-replayed")
    ended = end_sessions(issuer, checked)
    record("auth:logout-token:accepted", actor=ACTOR,
           details={"by": "sid" if checked.sid is not None else "sub", "sessions_ended": ended})
    return ended


def record_refusal(reason: str) -> None:
    # Anonymous: a refused token proves nothing about who sent it.
    record("auth:logout-token:refused", actor=Actor.anonymous(), details={"reason": reason})


@periodic(every=3600)
def purge_seen_tokens() -> int:
    """Forget the ``jti`` of tokens that would now be refused for their age anyway."""
    result = db.session.execute(delete(LogoutTokenSeen).where(LogoutTokenSeen.expires_at < utcnow()))
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
