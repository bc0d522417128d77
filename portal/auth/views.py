"""Sign-in with the company's IdP (OIDC authorization code + PKCE), sign-out, sessions."""

from __future__ import annotations

import contextlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from werkzeug.wrappers import Response

from portal.audit.services import Actor, record
from portal.auth import services
from portal.auth.models import AuthSession
from portal.config import Settings
from portal.errors import render_error
from portal.extensions import db, oauth
from portal.forms import ButtonForm
from portal.ratelimit import SIGN_IN, limiter
from portal.security import open_to_former, public, safe_next, signed_in

bp = Blueprint("auth", __name__)
ID_TOKEN_LEEWAY = 60
STEP_UP_KEY = "signin_step_up"
PROFILE_CLAIMS = ("email", "name", "groups")


def settings() -> Settings:
    value: Settings = current_app.config["PORTAL_SETTINGS"]
    return value


def idp() -> Any:
    return oauth.create_client("idp")


def redirect_uri() -> str:
    return f"{settings().base_url}/auth/callback"


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


def validated_claims(started: datetime | None) -> tuple[dict[str, Any], datetime | None, datetime | None]:
    """Finish the code flow; return the checked claims, the ID token's ``auth_time`` (None if it
    has none) and, for a step-up sent at ``started``, the moment the person authenticated again.

    Authlib checks state, PKCE, signature, iss, aud, exp and nonce; the portal checks the
    RFC 9207 ``iss`` parameter (Authlib does not), and again iss, aud, azp and exp itself, and for
    a step-up that ``auth_time`` is there and falls between ``started`` and now (by its own clock)."""
    conf = settings()
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
                claims.setdefault(name, value)
    return claims, auth_time, stepped_up_at


@bp.get("/auth/callback")
@limiter.limit(SIGN_IN)
@public
def callback() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    started = step_up_started()
    next_url = session.pop("signin_next", None) or url_for("me.home")
    try:
        claims, auth_time, stepped_up_at = validated_claims(started)
        result = services.resolve_sign_in(settings().oidc_issuer, claims, settings())
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
    auth_session = services.start_session(
        result, auth_time=auth_time, stepped_up_at=stepped_up_at, user_agent=request.user_agent.string,
        lifetime=timedelta(hours=settings().session_hours), replaces=previous,
    )
    db.session.commit()
    # A new session id at every sign-in, and nothing carried over from before it.
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    result.employee.bind_auth_session(auth_session.id)
    login_user(result.employee)
    if stepped_up_at is not None:
        flash(_("Thank you for signing in again. You can go on."), "success")
    return redirect(safe_next(next_url, url_for("me.home")))


@bp.post("/auth/logout")
@open_to_former
@signed_in
def logout() -> Response:
    limited = g.auth_session.is_limited
    services.end_session(current_user.get_id(), reason="signed-out")
    db.session.commit()
    logout_user()
    session.clear()
    if limited:  # a former employee's code session: there is no session at the IdP to end
        return redirect(url_for("auth.signed_out"))
    end_session_endpoint = None
    try:
        end_session_endpoint = idp().load_server_metadata().get("end_session_endpoint")
    except (requests.RequestException, OAuthError, ValueError):
        current_app.logger.warning("identity provider unreachable at sign-out")
    if end_session_endpoint:
        query = urlencode({
            "client_id": settings().oidc_client_id,
            "post_logout_redirect_uri": f"{settings().base_url}{url_for('auth.signed_out')}",
        })
        return redirect(f"{end_session_endpoint}?{query}")
    return redirect(url_for("auth.signed_out"))


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
