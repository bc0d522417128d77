"""Step-up: sensitive actions need a recent sign-in, judged by the portal's own clock."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.services import is_recent
from portal.security import SIGNED_IN, safe_next

F = TypeVar("F", bound=Callable[..., Any])


def fresh_sign_in_required(view: F) -> F:
    """Let the view run only if the IdP authenticated the person within PORTAL_STEP_UP_SECONDS;
    otherwise send them to sign in again (``prompt=login``, ``max_age``) and back."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        max_age = current_app.config["PORTAL_SETTINGS"].step_up_seconds
        if not is_recent(g.auth_session, max_age):
            return _step_up(g.auth_session.is_limited)
        return view(*args, **kwargs)

    wrapper.access_rule = getattr(view, "access_rule", SIGNED_IN)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def fresh_code_if_former(view: F) -> F:
    """For a former employee's session only: a fresh personal e-mail code first (downloads of
    certificates, which current staff fetch without a fresh sign-in)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        auth_session = g.auth_session
        if auth_session.is_limited and not is_recent(auth_session, current_app.config["PORTAL_SETTINGS"].step_up_seconds):
            return _step_up(True)
        return view(*args, **kwargs)

    wrapper.access_rule = getattr(view, "access_rule", SIGNED_IN)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _step_up(limited: bool) -> Any:
    back = request.full_path.rstrip("?") if request.method == "GET" else request.referrer
    back_path = safe_next(back and back.replace(request.host_url.rstrip("/"), ""), url_for("me.home"))
    if limited:
        # No SSO for a former employee: a fresh code to the personal e-mail on record instead.
        flash(_("For your protection, we need a fresh code sent to your personal e-mail before you continue."), "info")
        return redirect(url_for("former.step_up", next=back_path))
    flash(_("For your protection, please sign in again to continue."), "info")
    return redirect(url_for("auth.login", reauth="1", next=back_path))
