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
- Each of its sessions has an id, ``sid`` in the ID tokens it issues. Its discovery metadata
  offers OpenID Connect Back-Channel Logout (``backchannel_logout_supported`` and
  ``backchannel_logout_session_supported``) and RP-initiated logout (the packaged
  ``end_session_endpoint``). Made with a ``backchannel_logout_uri`` (the demo passes the portal's),
  ending a session at its sign-out posts a logout token naming that ``sid`` and ``sub`` there.
  ``POST /logout-token`` with a JSON object signs those claims as a logout token with the
  provider's key and answers it as text: the tests craft good and bad tokens with it (this
  provider lets anyone be anyone anyway; a real one has no such door).
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
import werkzeug.serving
from authlib.oauth2 import OAuth2Error
from flask import Flask, current_app, g, request, session
from flask.typing import ResponseReturnValue
from jinja2 import ChoiceLoader, FileSystemLoader
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider_mock import User
from oidc_provider_mock import _app as provider_module
from oidc_provider_mock import app as provider_app
from oidc_provider_mock._storage import AuthorizationCode, Storage, storage
from werkzeug.wrappers import Response

from portal.demo.identities import PEOPLE, DemoPerson

log = logging.getLogger(__name__)

AUTHORIZE = "oidc-provider-mock.authorize"
END_SESSION = "oidc-provider-mock.end_session_confirm"
DISCOVERY = "oidc-provider-mock.openid_config"
SSO = "sso"  # the provider's session: {"sub": ..., "auth_time": ..., "sid": ...}
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

_auth_times: dict[str, int | None] = {}
_sids: dict[str, str] = {}  # authorization code -> the id of the provider's session that issued it
# Per subject: "omit" (no auth_time) or a fixed time to report instead of the true one.
_auth_time_overrides: dict[str, str | int] = {}
_original_store = Storage.store_authorization_code
_original_compatible_claims = provider_module.OpenIDCode.get_compatible_claims
_original_jwt_config = provider_module.OpenIDCode.get_jwt_config
_signing_key: tuple[Any, RSAKey] | None = None  # (the provider's key, that key imported for signing)


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
    sid = g.get("demo_sid")
    if isinstance(sid, str):
        _sids[code.code] = sid
    _original_store(self, code)


def _auth_time(self: AuthorizationCode) -> int | None:
    return _auth_times.get(self.code)


def _claims_without_token_time(self: Any, request: Any) -> dict[str, Any]:
    # Authlib puts the token's own issue time in auth_time unless the code says otherwise; only
    # the moment of authentication (above) may be reported, or nothing.
    claims: dict[str, Any] = _original_compatible_claims(self, request)
    claims.pop("auth_time", None)
    code = getattr(request, "authorization_code", None)
    sid = _sids.get(code.code) if code is not None else None
    if sid:
        claims["sid"] = sid
    return claims


def signing_key() -> RSAKey:
    """The provider's private key, imported once: importing an RSA key checks it (tens of
    milliseconds), and the provider would do it for each token it signs."""
    global _signing_key
    jwk = storage.jwk
    if _signing_key is None or _signing_key[0] is not jwk:
        _signing_key = (jwk, RSAKey.import_key(jwk.as_dict(is_private=True)))
    return _signing_key[1]


def _jwt_config_with_imported_key(self: Any, grant: Any, client: Any = None) -> dict[str, Any]:
    config: dict[str, Any] = _original_jwt_config(self, grant, client)
    config["key"] = signing_key()
    return config


Storage.store_authorization_code = _store_with_time
AuthorizationCode.get_auth_time = _auth_time
provider_module.OpenIDCode.get_compatible_claims = _claims_without_token_time
provider_module.OpenIDCode.get_jwt_config = _jwt_config_with_imported_key


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
        ended = session.pop(SSO, None)
        if isinstance(ended, dict) and ended.get("sid"):
            _send_backchannel_logout(sub=ended["sub"], sid=ended["sid"])
        return None
    if request.endpoint != AUTHORIZE:
        return None
    if request.method == "POST":
        g.demo_auth_time = int(time.time())  # the person authenticates now, on the page: a new session
        g.demo_sid = secrets.token_urlsafe(16)
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
        g.demo_sid = remembered.get("sid") or secrets.token_urlsafe(16)
        answer = grant.create_authorization_response(grant.redirect_uri, user)
    except OAuth2Error:
        return None  # the provider's own page says what is wrong with the request
    storage.record_subject(user.sub)
    response: ResponseReturnValue = provider_module.authorization.handle_response(*answer)
    return response


def _remember(response: Response) -> Response:
    if (request.endpoint == AUTHORIZE and request.method == "POST" and response.status_code == 302
            and "code=" in response.headers.get("Location", "") and request.form.get("sub")):
        session[SSO] = {"sub": request.form["sub"], "auth_time": g.get("demo_auth_time"), "sid": g.get("demo_sid")}
    if request.endpoint == DISCOVERY and response.status_code == 200:
        metadata = json.loads(response.get_data())
        metadata.update(backchannel_logout_supported=True, backchannel_logout_session_supported=True)
        response.set_data(json.dumps(metadata))
    return response


def sign_logout_token(claims: Mapping[str, Any]) -> str:
    """``claims`` as a logout token signed with this provider's key (inside one of its requests)."""
    key = signing_key()
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt", "kid": key.kid}, dict(claims), key)


def _logout_claims(*, sub: str, sid: str | None, audience: str) -> dict[str, Any]:
    """The claims of a logout token for ``sub`` (and the provider's session ``sid``), issued now."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": request.host_url.rstrip("/"), "aud": audience, "iat": now, "exp": now + 120,
                              "jti": secrets.token_urlsafe(16), "sub": sub, "events": {LOGOUT_EVENT: {}}}
    if sid:
        claims["sid"] = sid
    return claims


def _send_backchannel_logout(*, sub: str, sid: str) -> None:
    """Tell the relying party (when one is configured) that this session ended, from a thread, as
    a provider does: the browser's sign-out does not wait for it."""
    uri, client_id = current_app.config.get("DEMO_BACKCHANNEL_LOGOUT_URI"), current_app.config.get("DEMO_CLIENT_ID")
    if not uri or not client_id:
        return
    token = sign_logout_token(_logout_claims(sub=sub, sid=sid, audience=client_id))

    def send() -> None:
        try:
            answer = requests.post(uri, data={"logout_token": token}, timeout=10)
            log.info("back-channel logout sent: %s", answer.status_code)
        except requests.RequestException as exc:
            log.warning("back-channel logout not delivered: %s", type(exc).__name__)

    threading.Thread(target=send, name="demo-idp-backchannel", daemon=True).start()


def _logout_token() -> ResponseReturnValue:
    claims = request.get_json(silent=True)
    if not isinstance(claims, dict):
        return {"error": "the body must be a JSON object of claims"}, 400
    return sign_logout_token(claims), 200, {"Content-Type": "text/plain"}


def _set_auth_time(sub: str) -> ResponseReturnValue:
    if request.method == "DELETE":
        _auth_time_overrides.pop(sub, None)
        return "", 204
    value = (request.get_json(silent=True) or {}).get("auth_time")
    if value != "omit" and (isinstance(value, bool) or not isinstance(value, int)):
        return {"error": 'auth_time must be "omit" or a time in seconds since the epoch'}, 400
    _auth_time_overrides[sub] = value
    return "", 204


def make_app(people: Iterable[DemoPerson] = PEOPLE, *, backchannel_logout_uri: str | None = None,
             client_id: str | None = None) -> Flask:
    """The provider; with ``backchannel_logout_uri`` and ``client_id`` (the relying party's), ending
    a session at its sign-out sends that party a logout token."""
    users = [User(sub=person.email, claims=person.claims()) for person in people]
    app = provider_app(require_nonce=True, user_claims=users)
    app.debug = False
    app.wsgi_app = app.wsgi_app.app  # drop the interactive debugger
    # Our own base template: the packaged one loads a stylesheet from a CDN, and nothing here
    # may fetch from outside this machine.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(Path(__file__).with_name("idp_templates"))),
                                     app.jinja_loader])
    # Its own cookie, only for its pages: the portal may run on the same host (another port).
    app.config.update(SESSION_COOKIE_NAME="demo_idp_sso", SESSION_COOKIE_PATH="/oauth2/",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      DEMO_BACKCHANNEL_LOGOUT_URI=backchannel_logout_uri, DEMO_CLIENT_ID=client_id)
    app.before_request(_single_sign_on)
    app.after_request(_remember)
    app.add_url_rule("/users/<sub>/auth-time", "demo_auth_time", _set_auth_time, methods=["PUT", "DELETE"])
    app.add_url_rule("/logout-token", "demo_logout_token", _logout_token, methods=["POST"])
    return app


def serve(host: str = "127.0.0.1", port: int = 9400, *, backchannel_logout_uri: str | None = None,
          client_id: str | None = None) -> werkzeug.serving.BaseWSGIServer:
    """Start the provider on a background thread; returns the server (``.shutdown()`` stops it)."""
    app = make_app(backchannel_logout_uri=backchannel_logout_uri, client_id=client_id)
    server = werkzeug.serving.make_server(host, port, app, threaded=True)
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
