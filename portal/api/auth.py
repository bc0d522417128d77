"""Bearer tokens on the API: ``Authorization: Bearer <token>`` and nothing else (a session cookie
authenticates nothing here, and CSRF does not apply: no browser sends the header by itself)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from portal.api import tokens
from portal.api.models import ApiToken
from portal.api.problems import problem
from portal.extensions import db
from portal.ratelimit import hit_token
from portal.security import Scope

REALM = 'Bearer realm="portal-api"'
WHY = {"missing": "Send the service token as `Authorization: Bearer <token>`.",
       "malformed": "The Authorization header is not a bearer token of this portal.",
       "unknown": "The token is not known.",
       "expired": "The token has expired; ask an administrator for a new one.",
       "revoked": "The token was revoked."}


Refusal = Callable[[str, str, dict[str, str]], Response]


def bearer(scope: Scope, refuse: Refusal | None = None) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """The view gets the token as its first argument; the token must hold ``scope``, and each
    request counts against its rate limit. One commit (or rollback) at the end of the request.
    ``refuse(slug, detail, headers)`` words a refusal (``unauthorized``, ``forbidden-scope``,
    ``rate-limited``) in the dialect of the endpoint; by default as problem details."""
    answer: Refusal = refuse or problem

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            presented = tokens.present(request.headers.get("Authorization"))
            token: ApiToken | None = presented.token
            if token is None:
                db.session.rollback()
                why = presented.problem or "missing"
                challenge = REALM if why == "missing" else f'{REALM}, error="invalid_token"'
                return answer("unauthorized", WHY[why], {"WWW-Authenticate": challenge})
            if scope.value not in token.scopes:
                db.session.commit()  # its last use
                return answer("forbidden-scope", f"This operation needs the scope {scope.value}.",
                               {"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope.value}"'})
            wait = hit_token(token.id)
            if wait is not None:
                db.session.commit()
                return answer("rate-limited", f"This token's rate limit is reached; try again in {wait} s.",
                              {"Retry-After": str(wait)})
            try:
                response = view(token, *args, **kwargs)
            except Exception:
                db.session.rollback()
                raise
            db.session.commit()  # a view that refuses has rolled its changes back itself
            return response

        wrapper.access_rule = scope  # type: ignore[attr-defined]
        return wrapper

    return decorator
