"""Service tokens: made by an admin (page or shell), shown once, kept only as a SHA-256 digest,
with a name, scopes, an expiry, the time of last use and who made it; revoked at once.

A token carries 256 random bits, so a plain SHA-256 is enough to keep it (nothing to guess); the
digest is compared in constant time. Tokens never appear in logs or audit entries, only their ids.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.api.models import ApiToken
from portal.audit.services import Actor, record
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.security import Scope

PREFIX = "ppt_"
TOKEN_SHAPE = re.compile(r"^ppt_[A-Za-z0-9_-]{43}$")  # PREFIX + secrets.token_urlsafe(32)
DEFAULT_DAYS = 90
MAX_DAYS = 365
NAME_MAX = 80
LAST_USE_STEP = timedelta(minutes=1)  # last use is written at most once a minute per token


class TokenError(ValueError):
    """A token could not be made or revoked; the message says why, and nothing changed."""


@dataclass(frozen=True)
class Presented:
    """What an ``Authorization`` header gave: the token if it works, else why not."""

    token: ApiToken | None
    problem: str | None  # missing, malformed, unknown, expired, revoked


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes from names (each may itself be comma-separated); unknown names are refused."""
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not names:
        raise TokenError("a token needs at least one scope: " + ", ".join(s.value for s in Scope))
    unknown = sorted({n for n in names if n not in {s.value for s in Scope}})
    if unknown:
        raise TokenError(f"unknown scope(s) {', '.join(unknown)}; the scopes are " + ", ".join(s.value for s in Scope))
    return sorted({Scope(n) for n in names}, key=list(Scope).index)


def _name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise TokenError("a token needs a name that says who uses it (for example 'collector eu-west')")
    if len(name) > NAME_MAX:
        raise TokenError(f"the name is longer than {NAME_MAX} characters")
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise TokenError("the name contains control characters")
    return name


def create_token(name: str, scopes: Iterable[str], days: int = DEFAULT_DAYS, *, actor: Actor,
                 created_by_id: str | None = None, now: datetime | None = None,
                 recipient_id: str | None = None) -> tuple[ApiToken, str]:
    """Make a token; returns the row and the token itself, which exists nowhere else afterwards.
    ``recipient_id`` binds a token of scope ``recipient`` to that recipient system: it reads and
    confirms that recipient's tasks only (a recipient token without one is refused there)."""
    chosen = parse_scopes(scopes)
    if recipient_id is not None and Scope.RECIPIENT not in chosen:
        raise TokenError("only a token with the scope recipient can be bound to a recipient")
    clean = _name(name)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise TokenError(f"a token lasts from 1 to {MAX_DAYS} days")
    secret = PREFIX + secrets.token_urlsafe(32)
    made = now or utcnow()
    token = ApiToken(id=new_id(), name=clean, scopes=[s.value for s in chosen], token_digest=digest(secret),
                     created_by_id=created_by_id, created_at=made, expires_at=made + timedelta(days=days),
                     recipient_id=recipient_id)
    db.session.add(token)
    db.session.flush()
    record("api:token:create", actor=actor, targets={"api_token": token.id,
                                                     **({"recipient": recipient_id} if recipient_id else {})},
           details={"scopes": token.scopes, "days": days})
    return token, secret


def revoke_token(token: ApiToken, *, actor: Actor, revoked_by_id: str | None = None) -> None:
    if token.revoked_at is not None:
        raise TokenError("this token is already revoked")
    token.revoked_at = utcnow()
    token.revoked_by_id = revoked_by_id
    db.session.flush()
    record("api:token:revoke", actor=actor, targets={"api_token": token.id})


def all_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)))


def present(header: str | None, *, now: datetime | None = None) -> Presented:
    """The token an ``Authorization: Bearer`` header names, if it works now (and its last use,
    written at most once a minute); else why not. Session cookies play no part."""
    if not header:
        return Presented(None, "missing")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not TOKEN_SHAPE.match(value):
        return Presented(None, "malformed")
    wanted = digest(value)
    found = db.session.scalar(select(ApiToken).where(ApiToken.token_digest == wanted))
    if found is None or not hmac.compare_digest(found.token_digest, wanted):
        return Presented(None, "unknown")
    moment = now or utcnow()
    state = found.state(moment)
    if state != "active":
        return Presented(None, state)
    if found.last_used_at is None or moment - found.last_used_at >= LAST_USE_STEP:
        found.last_used_at = moment
    return Presented(found, None)
