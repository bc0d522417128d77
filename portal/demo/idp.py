"""A real OpenID Connect provider on loopback for the demo and the tests.

It is ``oidc-provider-mock`` (an Authlib-based provider) with the demo identities, nonces
required and its debugger removed, made to behave as a company's single sign-on does where the
portal's step-up depends on it:

- Choosing an identity on its page is "authenticating"; the provider then remembers the person
  in its own session (a cookie of its own), and later authorization requests are answered
  without asking (silent single sign-on), until that session ends at its sign-out.
- A request with ``prompt=login``, or a ``max_age`` that the remembered authentication is older
  than (``max_age=0`` always), shows the page again: the person authenticates anew.
- ID tokens carry ``auth_time``, the moment the person last authenticated (not the time the token
  was made). ``PUT /users/<sub>/auth-time`` with ``{"auth_time": "omit"}`` makes it leave the
  claim out for that person, ``{"auth_time": 1700000000}`` report that time whatever happened;
  ``DELETE`` returns to the truth. The tests use these to play a provider that does not do
  what the portal asks.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import werkzeug.serving
from authlib.oauth2 import OAuth2Error
from flask import Flask, g, request, session
from flask.typing import ResponseReturnValue
from jinja2 import ChoiceLoader, FileSystemLoader
from oidc_provider_mock import User
from oidc_provider_mock import _app as provider_module
from oidc_provider_mock import app as provider_app
from oidc_provider_mock._storage import AuthorizationCode, Storage, storage
from werkzeug.wrappers import Response

from portal.demo.identities import PEOPLE, DemoPerson

AUTHORIZE = "oidc-provider-mock.authorize"
END_SESSION = "oidc-provider-mock.end_session_confirm"
SSO = "sso"  # the provider's session: {"sub": ..., "auth_time": ...}

_auth_times: dict[str, int | None] = {}
# Per subject: "omit" (no auth_time) or a fixed time to report instead of the true one.
_auth_time_overrides: dict[str, str | int] = {}
_original_store = Storage.store_authorization_code
_original_compatible_claims = provider_module.OpenIDCode.get_compatible_claims


def _reported_auth_time(sub: str) -> int | None:
    override = _auth_time_overrides.get(sub)
    if override == "omit":
        return None
    if isinstance(override, int):
        return override
    authenticated = g.get("demo_auth_time")
    return authenticated if isinstance(authenticated, int) else int(time.time())


def _store_with_time(self: Storage, code: AuthorizationCode) -> None:
    _auth_times[code.code] = _reported_auth_time(code.user_id)
    _original_store(self, code)


def _auth_time(self: AuthorizationCode) -> int | None:
    return _auth_times.get(self.code)


def _claims_without_token_time(self: Any, request: Any) -> dict[str, Any]:
    # Authlib puts the token's own issue time in auth_time unless the code says otherwise; only
    # the moment of authentication (above) may be reported, or nothing.
    claims: dict[str, Any] = _original_compatible_claims(self, request)
    claims.pop("auth_time", None)
    return claims


Storage.store_authorization_code = _store_with_time  # type: ignore[method-assign]
AuthorizationCode.get_auth_time = _auth_time  # type: ignore[method-assign]
provider_module.OpenIDCode.get_compatible_claims = _claims_without_token_time  # type: ignore[method-assign]


def must_authenticate(params: Any, authenticated_at: int, now: float) -> bool:
    """Whether an authorization request asks for a new authentication rather than the session's."""
    if "login" in str(params.get("prompt", "")).split():
        return True
    max_age = params.get("max_age")
    if max_age is None:
        return False
    try:
        return now - authenticated_at >= int(max_age)
    except ValueError:
        return True


def _single_sign_on() -> ResponseReturnValue | None:
    if request.endpoint == END_SESSION:
        session.pop(SSO, None)
        return None
    if request.endpoint != AUTHORIZE:
        return None
    if request.method == "POST":
        g.demo_auth_time = int(time.time())  # the person authenticates now, on the page
        return None
    remembered = session.get(SSO)
    if not isinstance(remembered, dict) or must_authenticate(request.args, remembered["auth_time"], time.time()):
        return None
    user = storage.get_user(remembered["sub"])
    if user is None:
        return None
    try:
        grant = provider_module.authorization.get_consent_grant(end_user=user)
        g.demo_auth_time = remembered["auth_time"]
        answer = grant.create_authorization_response(grant.redirect_uri, user)
    except OAuth2Error:
        return None  # the provider's own page says what is wrong with the request
    storage.record_subject(user.sub)
    response: ResponseReturnValue = provider_module.authorization.handle_response(*answer)
    return response


def _remember(response: Response) -> Response:
    if (request.endpoint == AUTHORIZE and request.method == "POST" and response.status_code == 302
            and "code=" in response.headers.get("Location", "") and request.form.get("sub")):
        session[SSO] = {"sub": request.form["sub"], "auth_time": g.get("demo_auth_time")}
    return response


def _set_auth_time(sub: str) -> ResponseReturnValue:
    if request.method == "DELETE":
        _auth_time_overrides.pop(sub, None)
        return "", 204
    value = (request.get_json(silent=True) or {}).get("auth_time")
    if value != "omit" and (isinstance(value, bool) or not isinstance(value, int)):
        return {"error": 'auth_time must be "omit" or a time in seconds since the epoch'}, 400
    _auth_time_overrides[sub] = value
    return "", 204


def make_app(people: Iterable[DemoPerson] = PEOPLE) -> Flask:
    users = [User(sub=person.email, claims=person.claims()) for person in people]
    app = provider_app(require_nonce=True, user_claims=users)
    app.debug = False
    app.wsgi_app = app.wsgi_app.app  # type: ignore[attr-defined]  # drop the interactive debugger
    # Our own base template: the packaged one loads a stylesheet from a CDN, and nothing here
    # may fetch from outside this machine.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(Path(__file__).with_name("idp_templates"))),
                                     app.jinja_loader])  # type: ignore[list-item]
    # Its own cookie, only for its pages: the portal may run on the same host (another port).
    app.config.update(SESSION_COOKIE_NAME="demo_idp_sso", SESSION_COOKIE_PATH="/oauth2/",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.before_request(_single_sign_on)
    app.after_request(_remember)
    app.add_url_rule("/users/<sub>/auth-time", "demo_auth_time", _set_auth_time, methods=["PUT", "DELETE"])
    return app


def serve(host: str = "127.0.0.1", port: int = 9400) -> werkzeug.serving.BaseWSGIServer:
    """Start the provider on a background thread; returns the server (``.shutdown()`` stops it)."""
    server = werkzeug.serving.make_server(host, port, make_app(), threaded=True)
    threading.Thread(target=server.serve_forever, name="demo-idp", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the demo OpenID Connect provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9400)
    args = parser.parse_args()
    werkzeug.serving.run_simple(args.host, args.port, make_app(), threaded=True)


if __name__ == "__main__":
    main()
