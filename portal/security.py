"""Security by construction: access rules on every view, per-object loading that answers 404
for anything that is not yours (and audits the attempt), response headers, safe redirects."""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Request, Response, abort, current_app, g, request
from flask.sessions import NullSession, SessionInterface, SessionMixin
from flask_login import current_user

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.people.models import Role

F = TypeVar("F", bound=Callable[..., Any])


class Permission(enum.StrEnum):
    """The one permission vocabulary; roles grant permissions, views require them."""

    REQUESTS_REVIEW = "requests:review"
    REQUESTS_APPROVE = "requests:approve"
    HOLDS_MANAGE = "holds:manage"
    POLICY_PUBLISH = "policy:publish"
    REGISTER_EDIT = "register:edit"
    EVIDENCE_READ = "evidence:read"
    JOBS_READ = "jobs:read"
    QUEUES_MANAGE = "queues:manage"
    REPORTS_READ = "reports:read"
    API_TOKENS_MANAGE = "api-tokens:manage"
    RECIPIENTS_MANAGE = "recipients:manage"


class Scope(enum.StrEnum):
    """What a service token may do on the integrations API (``/api/v1``); its routes require one.
    ``recipient``, ``training`` and ``scim`` are given to tokens for the endpoints that use them."""

    INGEST = "ingest"
    EXCLUSIONS_READ = "exclusions:read"
    RECIPIENT = "recipient"
    TRAINING = "training"
    REQUESTS_READ = "requests:read"
    SCIM = "scim"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.DPO: frozenset({Permission.REQUESTS_REVIEW, Permission.REQUESTS_APPROVE, Permission.HOLDS_MANAGE,
                         Permission.EVIDENCE_READ, Permission.JOBS_READ, Permission.REPORTS_READ}),
    # Admins see every case (the services decide what they may do on one: a second erasure
    # approval, assigning) and keep the queues and routing rules; DPOs work the cases.
    Role.ADMIN: frozenset({Permission.POLICY_PUBLISH, Permission.REGISTER_EDIT, Permission.HOLDS_MANAGE,
                           Permission.JOBS_READ, Permission.REQUESTS_REVIEW, Permission.REQUESTS_APPROVE,
                           Permission.QUEUES_MANAGE, Permission.REPORTS_READ, Permission.API_TOKENS_MANAGE,
                           Permission.RECIPIENTS_MANAGE}),
    # Aggregate reports (request metrics, the record of processing) name no one: every staff role reads them.
    Role.AUDITOR: frozenset({Permission.EVIDENCE_READ, Permission.REPORTS_READ}),
}

PUBLIC = "public"
SIGNED_IN = "signed-in"


def permissions_of(roles: set[Role]) -> frozenset[Permission]:
    result: set[Permission] = set()
    for role in roles:
        result |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(result)


def access_rule(view: object) -> str | None:
    """The rule a view was declared with: PUBLIC, SIGNED_IN or a :class:`Permission`; None if none."""
    rule: str | None = getattr(view, "access_rule", None)
    return rule


def public(view: F) -> F:
    """Anyone may open this view."""
    view.access_rule = PUBLIC  # type: ignore[attr-defined]
    return view


def signed_in(view: F) -> F:
    """Any signed-in employee may open this view (objects are still checked per owner)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        return view(*args, **kwargs)

    wrapper.access_rule = SIGNED_IN  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def open_to_former(view: F) -> F:
    """A former employee's limited session (a personal e-mail code) may use this view too. Every
    other view that is not public answers such a session 404 (see :func:`install_limited_gate`).
    Put it right under the route decorator."""
    view.former_access = True  # type: ignore[attr-defined]
    return view


def install_limited_gate(app: Flask) -> None:
    """Former employees' sessions reach only public views and those marked :func:`open_to_former`
    (docs/architecture.md, "Leavers and former employees"); anything else is refused as not theirs."""

    @app.before_request
    def limited_sessions_stay_in_their_lane() -> None:
        view = app.view_functions.get(request.endpoint or "")
        if view is None or request.endpoint == "static":
            return
        if access_rule(view) == PUBLIC or getattr(view, "former_access", False):
            return
        if current_user.is_authenticated and getattr(g.get("auth_session"), "is_limited", False):
            refuse_access("route", request.endpoint or "?")


def requires(permission: Permission) -> Callable[[F], F]:
    """Only staff whose roles grant ``permission``; others get 404, as if nothing were there."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
            if permission not in permissions_of(current_user.role_names):
                refuse_access("route", request.endpoint or "?")
            return view(*args, **kwargs)

        wrapper.access_rule = permission  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def refuse_access(target_type: str, target_id: str, *, owner_id: str | None = None) -> NoReturn:
    """Audit a refused access and answer 404 (never 403: existence is not disclosed).
    ``owner_id`` is the employee whose object was asked for, if it exists."""
    actor = Actor("employee", current_user.id) if current_user.is_authenticated else Actor.anonymous()
    db.session.rollback()
    record("access:object:refused", actor=actor, subject_id=owner_id,
           targets={"type": target_type, "id": str(target_id)[:64]},
           details={"endpoint": request.endpoint or ""})
    db.session.commit()
    abort(404)


M = TypeVar("M")


def owned_or_404(model: type[M], object_id: Any, *, owner_field: str = "subject_id") -> M:
    """Load an object of the signed-in employee's, or audit the attempt and answer 404."""
    obj = db.session.get(model, object_id) if object_id is not None else None
    if obj is None or getattr(obj, owner_field) != current_user.id:
        refuse_access(getattr(model, "__tablename__", model.__name__), str(object_id),
                      owner_id=getattr(obj, owner_field, None))
    return obj


def is_local_url(target: str | None) -> bool:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str = "/") -> str:
    return target if target and is_local_url(target) else default


class NoSessionUnder(SessionInterface):
    """Endpoints that machines call (bearer tokens, the IdP's back-channel logout) take no session:
    under ``prefix`` a cookie sent along is not read, none is set or refreshed, so a browser's
    credentials cannot act there."""

    def __init__(self, inner: SessionInterface, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith(self.prefix):
            return self.make_null_session(app)
        return self.inner.open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, NullSession):
            return
        self.inner.save_session(app, session, response)


def install_proxy(app: Flask, hops: int) -> None:
    """Behind ``hops`` trusted reverse proxies, take the client's address, scheme and host from the
    X-Forwarded-* headers they set (only as many as there are proxies: a client cannot forge its way
    past them). Without proxies the headers are ignored."""
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def install_headers(app: Flask, idp_origin: str) -> None:
    csp = "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        f"form-action 'self' {idp_origin}",
        "frame-ancestors 'none'",
    ])

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = csp
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        view = app.view_functions.get(request.endpoint or "")
        keeps_own = response.cache_control.public and access_rule(view) == PUBLIC
        if request.endpoint != "static" and not keeps_own:
            # Personal data may be on any page; nothing of it is kept by browsers or proxies
            # (only a public view that sets Cache-Control: public itself, such as the audit key, keeps it).
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response
