"""Small factories and the sign-in walk used across the tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.crypto import KeyStore, keystore
from portal.extensions import db
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus


def make_employee(app: Flask, email: str = "erin@example.com", *, name: str = "Erin Example",
                  jurisdiction: str = "ES", status: EmploymentStatus = EmploymentStatus.ACTIVE,
                  employee_number: str | None = None, consents: bool = True) -> str:
    """An employee; by default one who has given every consent (screenshots are then accepted)."""
    with app.app_context():
        employee = people.create_employee(email=email, display_name=name, jurisdiction=jurisdiction,
                                          employee_number=employee_number, status=status, actor=Actor.system())
        db.session.flush()
        if consents:
            grant_all_consents(employee.id)
        db.session.commit()
        return employee.id


def grant_all_consents(subject_id: str) -> None:
    """Inside an app context: record consent to every purpose, as the demo seed does."""
    for purpose in Purpose:
        consent.decide(subject_id, purpose, Decision.GRANTED, actor=Actor("employee", subject_id),
                       method="test", device="test", policy_version=None)


def employee(app: Flask, employee_id: str) -> Employee:
    return existing(Employee, employee_id)


T = TypeVar("T")


def existing(model: type[T], key: Any, *, fresh: bool = False) -> T:
    """The row ``key`` of ``model``, which must exist (inside an app context); ``fresh``: read again
    from the database, over what the session holds."""
    found = db.session.get(model, key, populate_existing=fresh)
    assert found is not None, (model.__name__, key)
    return found


def event(n: int, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"ev-{n}",
        "kind": "site_visit",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1, minutes=n)).isoformat(),
        "application": "Google Chrome",
        "site_domain": "github.com",
        "duration_ms": 1500,
        "url": f"https://github.com/acme/repo/pull/{n}",
        "title": f"Pull request {n} - GitHub",
    }
    base.update(overrides)
    return base


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def file_keystore() -> KeyStore:
    """The key store, which the tests keep in files (``PORTAL_KEY_DIR``)."""
    store = keystore()
    assert isinstance(store, KeyStore), store.kind
    return store


def json_of(response: TestResponse) -> Any:
    """The JSON document of a response that must have one."""
    document = response.json
    assert document is not None, (response.status, response.get_data(as_text=True)[:200])
    return document


def csrf_token(html: str) -> str:
    return first_group(CSRF, html)


def first_group(pattern: str | re.Pattern[str], text: str) -> str:
    """The first group of ``pattern``'s match in ``text``, which must be there."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} is not in the text"
    return match.group(1)


def authorize_at_idp(authorize_url: str, sub: str) -> str:
    """Act as the person at the IdP: pick ``sub`` and return where the IdP sends the browser."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, ""))


def replace_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def sign_in(client: FlaskClient, sub: str = "alice@example.com", *,
            tamper_authorize: Callable[[str], str] | None = None,
            tamper_callback: Callable[[str], str] | None = None,
            login_path: str = "/auth/login") -> TestResponse:
    """The whole code flow: portal -> IdP -> portal callback. Returns the callback's response."""
    start = client.get(login_path)
    assert start.status_code == 302, start.status_code
    authorize_url = start.headers["Location"]
    if tamper_authorize:
        authorize_url = tamper_authorize(authorize_url)
    callback_url = authorize_at_idp(authorize_url, sub)
    if tamper_callback:
        callback_url = tamper_callback(callback_url)
    return client.get(local_path(callback_url))


# The loopback IdPs of this process by issuer URL (the ``idp_url`` fixture registers its own), so
# that ``signed_in_as`` reads a person's claims and signs their ID token as that IdP would.
IDP_APPS: dict[str, Flask] = {}
_IDP_KEYS: dict[str, Any] = {}


def _at_idp(issuer: str, sub: str, scope: str, claims: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """What the IdP ``issuer`` would answer for ``sub`` after an authentication now: the claims the
    portal reads (the ID token's and userinfo's, for ``scope``) and the ID token itself, signed with
    its key. ``claims``: the protocol claims of that ID token (aud, auth_time, sid, ...)."""
    from joserfc import jwt
    from joserfc.jwk import RSAKey
    from oidc_provider_mock import _app as provider_module
    from oidc_provider_mock._storage import storage

    idp_app = IDP_APPS[issuer]
    with idp_app.test_request_context("/"):
        idp_app.preprocess_request()  # the provider's own globals (its storage)
        user = storage.get_user(sub)
        assert user is not None, f"{sub} is not a person at the IdP"
        profile = provider_module._user_claims_for_scope(user, scope)
        key = _IDP_KEYS.get(issuer)
        if key is None:  # importing the private key checks it, which is slow: once per IdP
            key = _IDP_KEYS[issuer] = RSAKey.import_key(storage.jwk.as_dict(is_private=True))
        token_claims = {**profile, **claims, "iss": issuer}
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, token_claims, key)
    return {**profile, **claims, "iss": issuer}, id_token


def signed_in_as(client: FlaskClient, sub: str = "alice@example.com", *, stepped_up: bool = False) -> str:
    """Set-up for tests that are not about sign-in: leave ``client`` signed in as ``sub`` exactly as
    the portal's callback does after the IdP answers (:func:`sign_in`, or :func:`step_up` with
    ``stepped_up``), without the round trip: the same claims from the IdP's record of the person
    (first sign-in: employee and identity made, profile and roles synced, all audited), the same
    ``auth_sessions`` row (auth_time now, an IdP session id, the device from the user agent), a
    session the client had before ended as "re-authenticated", a new server-side session id holding
    only the ID token and the sign-in (and a step-up's thank-you). Returns the session's handle."""
    import secrets
    import time

    from flask import flash, session
    from flask_babel import gettext
    from flask_login import current_user, login_user

    from portal.auth import services as auth
    from portal.auth.views import LOGOUT_HINT
    from portal.demo import idp as demo_idp

    app = client.application
    settings = app.config["PORTAL_SETTINGS"]
    now = int(time.time())
    override = demo_idp._auth_time_overrides.get(sub)  # a test playing an IdP that misreports auth_time
    reported = None if override == "omit" else override if isinstance(override, int) else now
    protocol: dict[str, Any] = {"aud": settings.oidc_client_id, "iat": now, "exp": now + 3600,
                                "nonce": secrets.token_urlsafe(24), "sid": secrets.token_urlsafe(16)}
    if reported is not None:
        protocol["auth_time"] = reported
    claims, id_token = _at_idp(settings.oidc_issuer, sub, settings.oidc_scopes, protocol)
    auth_time = auth.auth_time_from_claims(claims)
    if stepped_up:
        assert auth_time is not None, "a step-up needs an auth_time"
        stepped_up_at: datetime | None = min(auth_time, datetime.now(UTC))
    else:
        stepped_up_at = None
    request_context = app.test_request_context("/auth/callback", environ_base=client.environ_base)
    client._add_cookies_to_wsgi(request_context.request.environ)
    with request_context:
        previous = current_user.get_id() if current_user.is_authenticated else None
        result = auth.resolve_sign_in(settings.oidc_issuer, claims, settings)
        auth_session = auth.start_session(
            result, auth_time=auth_time, stepped_up_at=stepped_up_at, user_agent=request_context.request.user_agent.string,
            lifetime=timedelta(hours=settings.session_hours), replaces=previous, idp_session=claims["sid"])
        db.session.commit()
        handle: str = auth_session.id
        app.session_interface.regenerate(session)  # type: ignore[attr-defined]
        session.clear()
        session[LOGOUT_HINT] = id_token
        result.employee.bind_auth_session(handle)
        login_user(result.employee)
        if stepped_up_at is not None:
            flash(gettext("Thank you for signing in again. You can go on."), "success")
        response = app.response_class()
        app.session_interface.save_session(app, session._get_current_object(), response)  # type: ignore[attr-defined]
    client._update_cookies_from_response(request_context.request.host.partition(":")[0],
                                         request_context.request.path, response.headers.getlist("Set-Cookie"))
    return handle


def step_up(client: FlaskClient, sub: str = "alice@example.com", *, next_path: str = "/") -> TestResponse:
    """Re-authenticate a signed-in client at the IdP as a sensitive action makes a person do (the
    portal's step-up: ``prompt=login``, ``max_age=0``); returns the callback's response."""
    response = sign_in(client, sub, login_path=f"/auth/login?{urlencode({'reauth': '1', 'next': next_path})}")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


# The statements of snapshot(), made once per process and dialect (each test app has an engine of
# its own, whose cache would compile all of them afresh for every test), as SQL text run on the
# driver: the rows come back as the database holds them, with none of the columns' conversions (a
# comparison of raw values is as strict, and cheaper).
_SNAPSHOT_QUERIES: dict[tuple[str, str], list[tuple[str, str]]] = {}


def _snapshot_queries() -> list[tuple[str, str]]:
    dialect = db.engine.dialect
    queries = _SNAPSHOT_QUERIES.get((dialect.name, dialect.driver))
    if queries is None:
        queries = _SNAPSHOT_QUERIES[(dialect.name, dialect.driver)] = []
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.c if (table.name, c.name) != ("auth_sessions", "last_seen_at")]
            select = sa.select(*columns).order_by(*table.primary_key.columns)
            queries.append((table.name, str(select.compile(dialect=dialect))))
    return queries


def snapshot(app: Flask, *, skip: frozenset[str] = frozenset({"audit_entries"})) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but ``skip``), without auth_sessions.last_seen_at (touched on use):
    compared before and after a refused request to prove that it changed nothing."""
    with app.app_context():
        state: dict[str, list[tuple[Any, ...]]] = {}
        connection = db.session.connection()
        for name, query in _snapshot_queries():
            if name in skip:
                continue
            state[name] = [tuple(row) for row in connection.exec_driver_sql(query)]
        db.session.remove()
        return state


def audit_entries(app: Flask, tag: str) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == tag).order_by(AuditEntry.seq)))
        db.session.expunge_all()
        return entries


def fill_disk(folder: Path) -> Path:
    """Write zeros into ``folder`` until its file system is full; returns the file (delete it to
    make room again)."""
    import contextlib

    filler = folder / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()
    return filler


AUDIT_TABLES = ("audit_entries", "tree_heads", "audit_tree_nodes")


def drop_audit_triggers() -> None:
    """Inside an app context: what a database administrator does before rewriting the audit log by
    hand. SQLite: drop the append-only triggers (migration 0008; the test's own database copy).
    PostgreSQL: disable them (the app fixture enables them again when it empties the tables)."""
    if db.session.get_bind().dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            db.session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        names = db.session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                                           "('audit_entries', 'tree_heads', 'audit_tree_nodes')")).all()
        for name in names:
            db.session.execute(sa.text(f'DROP TRIGGER "{name}"'))
    db.session.commit()


def mark_removal(subject_id: str, snapshot_name: str, *, at: datetime | None = None,
                 request_id: str | None = None) -> None:
    """Inside an app context: mark the person's membership of the snapshot ``snapshot_name``
    "removal required" (as an erasure does), at ``at``."""
    from portal.training.models import SnapshotRemoval, TrainingSnapshot

    snap = db.session.scalar(sa.select(TrainingSnapshot).where(TrainingSnapshot.name == snapshot_name))
    assert snap is not None
    db.session.add(SnapshotRemoval(snapshot_id=snap.id, subject_id=subject_id, cause="erasure", request_id=request_id,
                                   marked_at=at or datetime.now(UTC)))
    db.session.flush()
