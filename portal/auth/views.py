"""Sign-in with the company's IdP (OIDC authorization code + PKCE), sign-out, sessions."""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, NoReturn

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from flask import Blueprint, Flask, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySetSerialization
from werkzeug.wrappers import Response

from portal.audit.services import Actor, record
from portal.auth import backchannel, services
from portal.auth.models import AuthSession
from portal.config import current_settings
from portal.errors import render_error
from portal.extensions import csrf, db, oauth
from portal.forms import ButtonForm
from portal.ratelimit import BACKCHANNEL_LOGOUT, SIGN_IN, limiter
from portal.security import NoSessionUnder, open_to_former, public, safe_next, signed_in

bp = Blueprint("auth", __name__)
ID_TOKEN_LEEWAY = 60
STEP_UP_KEY = "signin_step_up"
# The last ID token, kept only in the server-side session: the id_token_hint of RP-initiated logout.
LOGOUT_HINT = "id_token"
PROFILE_CLAIMS = ("email", "name", "groups")
# Claims that count only from the ID token, never from the userinfo endpoint.
ID_TOKEN_ONLY = frozenset({"sid", "auth_time", "nonce"})
BACKCHANNEL_PATH = "/auth/backchannel-logout"


def idp() -> Any:
    return oauth.create_client("idp")


def redirect_uri() -> str:
    return f"{current_settings().base_url}/auth/callback"


@bp.get("/auth/login")
@limiter.limit(SIGN_IN)
@public
def login() -> Response | str:
    reauth = request.args.get("reauth") == "1" and current_user.is_authenticated
    if current_user.is_authenticated and not reauth:
        return redirect(url_for("me.home"))
    if not sessions_can_be_saved():
        return _sessions_unavailable()  # type: ignore[return-value]
    session["signin_next"] = safe_next(request.args.get("next"), url_for("me.home"))
    params: dict[str, Any] = {"nonce": secrets.token_urlsafe(24)}
    if reauth:
        # A step-up: the IdP must authenticate the person again whatever its own session says, and
        # the callback of this very request (its state) must show an auth_time from now on.
        state = secrets.token_urlsafe(30)
        session[STEP_UP_KEY] = {"state": state, "started": datetime.now(UTC).timestamp()}
        params.update(state=state, prompt="login", max_age=0)
    else:
        session.pop(STEP_UP_KEY, None)
    try:
        response: Response = idp().authorize_redirect(redirect_uri(), **params)
    except (requests.RequestException, OAuthError, ValueError):
        current_app.logger.warning("identity provider unreachable at sign-in")
        return render_template("auth/unavailable.html"), 503  # type: ignore[return-value]
    return response


def sessions_can_be_saved() -> bool:
    """Whether the session store takes a write now. File sessions fail quietly when the disk is
    full (the cache reports False and logs), so a sign-in would go to the IdP and come back to a
    session that was never stored: probe first, and say so instead."""
    interface = current_app.session_interface
    cache = getattr(interface, "cache", None)
    if cache is not None:
        probe = f"probe-{secrets.token_hex(8)}"
        try:
            stored = bool(cache.set(probe, b"1", timeout=60))
        finally:
            with contextlib.suppress(Exception):
                cache.delete(probe)
        return stored
    client = getattr(interface, "client", None)
    if client is not None:
        try:
            return bool(client.ping())
        except Exception:
            return False
    return True


def _sessions_unavailable() -> tuple[str, int, dict[str, str]]:
    current_app.logger.error("sign-in is unavailable: the session store does not take writes "
                             "(disk full or not writable, or Redis down)")
    page, code = render_error(503, _l("Sign-in is unavailable"), _l(
        "The portal cannot save sign-in sessions at the moment (its storage is full or cannot be written). "
        "Nothing was changed, and this has been logged for the people who run the portal. Please try again "
        "later."))
    return page, code, {"Retry-After": "300"}


def _refuse(reason: str) -> NoReturn:
    raise services.SignInRefused(reason)


def step_up_started() -> datetime | None:
    """When the step-up that this callback answers was sent to the IdP, or None when the callback
    answers an ordinary sign-in (or another request than the step-up's: then it is one)."""
    pending = session.pop(STEP_UP_KEY, None)
    if not isinstance(pending, dict) or pending.get("state") != request.args.get("state"):
        return None
    started = pending.get("started")
    return datetime.fromtimestamp(started, UTC) if isinstance(started, int | float) else None


class Checked(NamedTuple):
    claims: dict[str, Any]
    auth_time: datetime | None  # the ID token's, None if it has none
    stepped_up_at: datetime | None  # for a step-up: when the person authenticated again
    id_token: str  # as the IdP sent it


def validated_claims(started: datetime | None) -> Checked:
    """Finish the code flow; return the checked claims, the ID token's ``auth_time`` (None if it
    has none), for a step-up sent at ``started`` the moment the person authenticated again, and the
    raw ID token.

    Authlib checks state, PKCE, signature, iss, aud, exp and nonce; the portal checks the
    RFC 9207 ``iss`` parameter (Authlib does not), and again iss, aud, azp and exp itself, and for
    a step-up that ``auth_time`` is there and falls between ``started`` and now (by its own clock)."""
    conf = current_settings()
    if request.args.get("error"):
        _refuse("idp-error")
    iss_param = request.args.get("iss")
    if iss_param is not None and iss_param.rstrip("/") != conf.oidc_issuer:
        _refuse("iss-parameter-mismatch")
    if not request.args.get("state"):
        _refuse("state-missing")
    if not request.args.get("code"):
        _refuse("code-missing")
    client = idp()
    try:
        metadata = client.load_server_metadata()
        if str(metadata.get("issuer", "")).rstrip("/") != conf.oidc_issuer:
            _refuse("metadata-issuer-mismatch")
        token = client.authorize_access_token(leeway=ID_TOKEN_LEEWAY)
    except MismatchingStateError:
        _refuse("state-mismatch")
    except ExpiredTokenError:
        _refuse("token-expired")
    except (InvalidClaimError, MissingClaimError) as exc:
        if exc.claim in ("aud", "azp"):
            _refuse("aud-invalid")  # the token was not issued to this portal
        _refuse(f"{exc.claim}-{'missing' if isinstance(exc, MissingClaimError) else 'invalid'}")
    except JoseError:
        _refuse("token-invalid")
    except OAuthError:
        _refuse("token-request-failed")
    except requests.RequestException:
        _refuse("idp-unreachable")
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    if not claims:
        _refuse("no-id-token")
    now = datetime.now(UTC)
    if claims.get("iss") != conf.oidc_issuer:
        _refuse("iss-invalid")
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if conf.oidc_client_id not in audiences:
        _refuse("aud-invalid")
    if len(audiences) > 1 and claims.get("azp") != conf.oidc_client_id:
        _refuse("azp-invalid")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or now.timestamp() > exp + ID_TOKEN_LEEWAY:
        _refuse("token-expired")
    auth_time = services.auth_time_from_claims(claims)  # the ID token's, never the userinfo endpoint's
    stepped_up_at = None
    if started is not None:
        reason = services.step_up_refusal(claims, started=started, now=now)
        if reason is not None or auth_time is None:
            _refuse(reason or "auth-time-missing")
        stepped_up_at = min(auth_time, now)
    if any(name not in claims for name in (*PROFILE_CLAIMS, conf.jurisdiction_claim)):
        try:
            extra = client.userinfo(token=token)
        except (requests.RequestException, OAuthError):
            extra = {}
        if extra and extra.get("sub") == claims.get("sub"):
            for name, value in extra.items():
                if name not in ID_TOKEN_ONLY:
                    claims.setdefault(name, value)
    return Checked(claims, auth_time, stepped_up_at, str(token.get("id_token") or ""))


@bp.get("/auth/callback")
@limiter.limit(SIGN_IN)
@public
def callback() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    started = step_up_started()
    next_url = session.pop("signin_next", None) or url_for("me.home")
    conf = current_settings()
    try:
        checked = validated_claims(started)
        result = services.resolve_sign_in(conf.oidc_issuer, checked.claims, conf)
    except services.SignInRefused as refused:
        db.session.rollback()
        if refused.reason in ("state-mismatch", "state-missing") and not sessions_can_be_saved():
            return _sessions_unavailable()  # the state was lost with the session, not forged
        record("auth:sign-in:refused", actor=Actor.anonymous(), subject_id=refused.subject_id,
               details={"reason": refused.reason})
        db.session.commit()
        current_app.logger.info("sign-in refused: %s", refused.reason)
        if not current_user.is_authenticated:
            session.clear()  # drop any half-finished sign-in; someone already signed in stays so
        if refused.reason == "former-employee":
            return render_template("auth/former.html"), 403
        if refused.reason in services.STEP_UP_REFUSALS:
            return render_template("auth/step_up_refused.html", reason=refused.reason,
                                   again=url_for("auth.login", reauth="1", next=next_url)), 403
        return render_template("auth/refused.html"), 400
    previous = current_user.get_id() if current_user.is_authenticated else None
    sid = checked.claims.get("sid")
    auth_session = services.start_session(
        result, auth_time=checked.auth_time, stepped_up_at=checked.stepped_up_at,
        user_agent=request.user_agent.string, lifetime=timedelta(hours=conf.session_hours), replaces=previous,
        idp_session=sid if isinstance(sid, str) and sid else None,
    )
    db.session.commit()
    # A new session id at every sign-in, and nothing carried over from before it.
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    if checked.id_token:
        session[LOGOUT_HINT] = checked.id_token
    result.employee.bind_auth_session(auth_session.id)
    login_user(result.employee)
    if checked.stepped_up_at is not None:
        flash(_("Thank you for signing in again. You can go on."), "success")
    return redirect(safe_next(next_url, url_for("me.home")))


@bp.post("/auth/logout")
@open_to_former
@signed_in
def logout() -> Response:
    """End the portal session, then, when the IdP offers RP-initiated logout (an
    ``end_session_endpoint`` in its discovery metadata), send the browser there to end the IdP's
    session too, with the ID token as ``id_token_hint`` and the signed-out page to come back to."""
    limited = g.auth_session.is_limited
    id_token = session.get(LOGOUT_HINT)
    services.end_session(current_user.get_id(), reason="signed-out")
    db.session.commit()
    logout_user()
    session.clear()
    signed_out_page = url_for("auth.signed_out")
    if limited:  # a former employee's code session: there is no session at the IdP to end
        return redirect(signed_out_page)
    try:
        client = idp()
        if client.load_server_metadata().get("end_session_endpoint"):
            logout_url = client.create_logout_url(
                post_logout_redirect_uri=f"{current_settings().base_url}{signed_out_page}",
                id_token_hint=id_token if isinstance(id_token, str) else None,
                client_id=current_settings().oidc_client_id)
            return redirect(logout_url["url"])
    except (requests.RequestException, OAuthError, ValueError):
        current_app.logger.warning("identity provider unreachable at sign-out")
    return redirect(signed_out_page)


def _idp_key_set(force: bool) -> KeySetSerialization:
    """The IdP's JWKS, as the sign-in fetched and cached it (``force``: fetch it again)."""
    try:
        keys: KeySetSerialization = idp().fetch_jwk_set(force=force)
    except (requests.RequestException, OAuthError, ValueError, RuntimeError):
        current_app.logger.warning("identity provider unreachable at back-channel logout")
        raise backchannel.LogoutRefused("idp-unreachable") from None
    return keys


def _idp_algorithms() -> list[str]:
    """The algorithms the IdP signs ID tokens with, from its discovery metadata."""
    try:
        metadata = idp().load_server_metadata()
    except (requests.RequestException, OAuthError, ValueError):
        current_app.logger.warning("identity provider unreachable at back-channel logout")
        raise backchannel.LogoutRefused("idp-unreachable") from None
    return list(metadata.get("id_token_signing_alg_values_supported") or ["RS256"])


@bp.post(BACKCHANNEL_PATH)
@limiter.limit(BACKCHANNEL_LOGOUT)
@public
@csrf.exempt
def backchannel_logout() -> Response | tuple[Response, int]:
    """OpenID Connect Back-Channel Logout 1.0: the IdP posts a signed logout token, server to
    server. CSRF protection is off here on purpose: it defends a browser's session, and this
    endpoint has none (no session is opened under this path, see :func:`register`); the caller is
    the IdP, and the token's signature, issuer, audience, age and single use are what is checked
    (``auth.backchannel``). Answers 200 (even when no session matched: it may have ended already)
    or 400 with an OAuth error; never cached (``Cache-Control: no-store``, as every page)."""
    conf = current_settings()
    try:
        ended = backchannel.log_out(request.form.get("logout_token"), key_set=_idp_key_set,
                                    algorithms=_idp_algorithms(), issuer=conf.oidc_issuer,
                                    client_id=conf.oidc_client_id)
    except backchannel.LogoutRefused as refused:
        db.session.rollback()
        backchannel.record_refusal(refused.reason)
        db.session.commit()
        current_app.logger.info("back-channel logout refused: %s", refused.reason)
        return jsonify(error="invalid_request", error_description=refused.reason), 400
    db.session.commit()
    current_app.logger.info("back-channel logout: %d session(s) ended", ended)
    return Response(status=200)


@bp.get("/auth/signed-out")
@public
def signed_out() -> str:
    return render_template("auth/signed_out.html")


@bp.get("/account/sessions")
@open_to_former
@signed_in
def sessions() -> str:
    return render_template("auth/sessions.html", sessions=services.sessions_of(current_user),
                           current=current_user.get_id(), form=ButtonForm())


@bp.post("/account/sessions/<handle>/end")
@open_to_former
@signed_in
def end_one(handle: str) -> Response:
    from portal.security import refuse_access

    target = db.session.get(AuthSession, handle)
    if target is None or target.employee_id != current_user.id or target.ended_at is not None:
        refuse_access("auth_sessions", handle[:8], owner_id=target.employee_id if target else None)
    services.end_session(handle, reason="ended-by-owner")
    db.session.commit()
    if handle == current_user.get_id():
        logout_user()
        session.clear()
        return redirect(url_for("auth.signed_out"))
    flash(_("That session has been signed out."), "success")
    return redirect(url_for("auth.sessions"))


@bp.post("/account/sessions/end-others")
@open_to_former
@signed_in
def end_others() -> Response:
    count = services.end_all_sessions(current_user, reason="ended-by-owner",
                                      actor=Actor("employee", current_user.id), keep=current_user.get_id())
    db.session.commit()
    flash(_("%(count)d other session(s) signed out.", count=count), "success")
    return redirect(url_for("auth.sessions"))


def register(app: Flask) -> None:
    """The sign-in pages, and no session under the back-channel logout: a cookie sent along there
    is neither read nor set, so nothing there acts for a browser."""
    app.session_interface = NoSessionUnder(app.session_interface, BACKCHANNEL_PATH)
    app.register_blueprint(bp)


def load_user(handle: str) -> Any:
    auth_session = services.live_session(handle)
    if auth_session is None:
        return None
    if services.touch(auth_session):
        db.session.commit()
    g.auth_session = auth_session
    employee = auth_session.employee
    employee.bind_auth_session(handle)
    return employee
