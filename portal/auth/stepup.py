"""Step-up: sensitive actions need a recent re-authentication that the portal itself asked the
IdP for (docs/architecture.md, "Sign-in and step-up"); an ordinary sign-in never counts."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth.services import has_recent_step_up
from portal.config import current_settings
from portal.security import SIGNED_IN, safe_next

F = TypeVar("F", bound=Callable[..., Any])


@overload
def fresh_sign_in_required(view: F) -> F: ...


@overload
def fresh_sign_in_required(*, back: str) -> Callable[[F], F]: ...


def fresh_sign_in_required(view: F | None = None, *, back: str | None = None) -> Any:
    """Let the view run only if the session stepped up within PORTAL_STEP_UP_SECONDS; otherwise
    send the person to authenticate again at the IdP (``prompt=login``, ``max_age=0``) and back.

    Back is the page itself for a GET. A POST is never replayed: the person comes back to the
    endpoint ``back`` (built with the view's own arguments; the page the button was on), or to
    the same address when it also answers GET, and presses the button again. The portal sends
    no Referer, so the page cannot be told from the request."""
    if view is None:
        return lambda inner: _guarded(inner, back)
    return _guarded(view, back)


def _guarded(view: F, back: str | None) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        window = current_settings().step_up_seconds
        if not has_recent_step_up(g.auth_session, window):
            return _step_up(g.auth_session.is_limited, _come_back_to())
        return view(*args, **kwargs)

    def _come_back_to() -> str:
        if request.method == "GET":
            target = request.full_path.rstrip("?")
        elif back is not None:
            target = url_for(back, **(request.view_args or {}))
        elif request.url_rule is not None and "GET" in (request.url_rule.methods or ()):
            target = request.path
        else:
            target = url_for("me.home")
        return safe_next(target, url_for("me.home"))

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
        window = current_settings().step_up_seconds
        if auth_session.is_limited and not has_recent_step_up(auth_session, window):
            back = request.full_path.rstrip("?") if request.method == "GET" else url_for("me.home")
            return _step_up(True, safe_next(back, url_for("me.home")))
        return view(*args, **kwargs)

    wrapper.access_rule = getattr(view, "access_rule", SIGNED_IN)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _step_up(limited: bool, back_path: str) -> Any:
    if limited:
        # No SSO for a former employee: a fresh code to the personal e-mail on record instead.
        flash(_("For your protection, we need a fresh code sent to your personal e-mail before you continue."), "info")
        return redirect(url_for("former.step_up", next=back_path))
    flash(_("For your protection, please sign in again to continue."), "info")
    return redirect(url_for("auth.login", reauth="1", next=back_path))
