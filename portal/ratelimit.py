"""Rate limits on the doors anyone can knock on: sign-in, the IdP's back-channel logout, the
former-employee path and the links shared with regulators.

Those are the public routes that do work for a stranger: a sign-in starts an OIDC flow (state,
nonce and a session), and every look at a shared link, good or bad, writes an audit entry, so a
flood there would fill the append-only log. Limits are per client address and generous, because
a whole office may come through one address (NAT) at nine in the morning; they stop floods, not
people. The identity provider protects the passwords; the links' tokens carry 256 bits, so they
are not guessed, whatever the rate.

The counters live in Redis when ``PORTAL_REDIS_URL`` is set (shared by every process, under
``PORTAL_REDIS_PREFIX``), else in the process's memory. Behind a proxy or load balancer, set
``PORTAL_PROXY_HOPS`` (see :func:`portal.security.install_proxy`) so that the client's address,
not the proxy's, is counted. Views take ``@limiter.limit(...)`` outermost, above their access
rule. A refused request gets the 429 page with ``Retry-After`` and is logged by route, without
the address; it writes no audit entry (that is the point).

Uses Flask-Limiter (and its ``limits`` storage), rather than counters of our own.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from portal.config import current_settings

log = logging.getLogger(__name__)

# Per client address. Sign-in: the start and the IdP's return count separately.
SIGN_IN = "30 per minute; 300 per hour"
SHARED_LINK = "30 per minute; 200 per hour"
# The former-employee path (/former): asking for a code sends an e-mail, so it is limited per client
# and per address (the address's keyed index, whether or not it is on record); entering codes per client
# (each code also locks after 5 wrong tries).
FORMER_CLIENT = "10 per minute; 60 per hour"
FORMER_ADDRESS = "3 per 10 minutes; 10 per day"
FORMER_VERIFY = "20 per minute; 100 per hour"
# The IdP's back-channel logout (one client: the IdP's address). Room for an IdP that ends many
# sessions at once; a flood of forged tokens would otherwise fill the audit log with refusals.
BACKCHANNEL_LOGOUT = "120 per minute; 3000 per hour"


def _breached(limit: RequestLimit) -> None:
    log.warning("rate limit %s reached on %s", limit.limit, request.endpoint)


def client_key() -> str:
    """The client's address, under this portal's Redis prefix (the limiter is shared by every app
    in the process, so the prefix is read per request, not fixed at start-up)."""
    return f"{current_settings().redis_prefix}{get_remote_address()}"


limiter = Limiter(client_key, headers_enabled=True, strategy="moving-window", on_breach=_breached)


class _StoreTrouble(logging.Handler):
    """Counts what Flask-Limiter logs when its store (Redis) does not answer: each request it let
    through unlimited because of that (it logs the swallowed error)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


store_trouble = _StoreTrouble()


def storage_state() -> str | None:
    """None while the store answers; otherwise what is going on (for /readyz)."""
    try:
        answering = bool(limiter.storage.check())
    except Exception:
        answering = False
    if answering:
        return None
    return (f"the store does not answer: requests are let through unlimited until it is back "
            f"({store_trouble.count} so far in this process)")


def init_app(app: Flask, *, redis_url: str, api_rate_limit: str = "") -> None:
    if api_rate_limit:
        from limits import parse_many

        try:
            parse_many(api_rate_limit)
        except ValueError:
            raise ValueError(f"PORTAL_API_RATE_LIMIT is not a rate limit such as '1200 per minute': "
                             f"{api_rate_limit!r}") from None
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    # A rate-limit store that does not answer must not lock everyone out of signing in: the
    # request goes through unlimited, which Flask-Limiter logs; each one is counted here and
    # /readyz says so while it lasts.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if redis_url:
        # Each request asks the store once or twice: a store that hangs (a paused or overloaded
        # Redis, packets dropped) costs it at most a second each time, not the client's default.
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 1, "socket_connect_timeout": 1})
    limiter_log = logging.getLogger("flask-limiter")
    if store_trouble not in limiter_log.handlers:
        limiter_log.addHandler(store_trouble)
    limiter.init_app(app)



# Per service token on the integrations API (every endpoint together): room for a collector that
# sends 20 batches a second. ``PORTAL_API_RATE_LIMIT`` (or ``API_RATE_LIMIT`` in the app's config)
# replaces it.
SERVICE = "1200 per minute; 36000 per hour"


def hit_token(token_id: str) -> int | None:
    """Count one request of a service token; None while within its limits, else the seconds to
    wait (``Retry-After``). A store that does not answer lets it through, counted as above."""
    import time

    from limits import parse_many

    limits = parse_many(current_app.config.get("API_RATE_LIMIT") or current_settings().api_rate_limit
                        or SERVICE)
    key = f"{current_settings().redis_prefix}api-token:{token_id}"
    try:
        for item in limits:
            if not limiter.limiter.hit(item, key):
                reset, _remaining = limiter.limiter.get_window_stats(item, key)
                log.warning("rate limit %s reached by a service token", item)
                return max(1, int(reset - time.time()) + 1)
    except Exception:
        store_trouble.count += 1
        log.warning("rate-limit store did not answer; a service token's request went through unlimited")
    return None
