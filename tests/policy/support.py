"""Helpers for the consent, policy and access-log tests: signed-in employees, a snapshot of the
database (to prove that refusals change nothing) and audit look-ups."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.extensions import db
from portal.people.services import find_by_email
from portal.policy import services as policy
from tests.helpers import csrf_token, sign_in

REFUSED = "access:object:refused"


def signed_in(app: Flask, client: FlaskClient, email: str = "alice@example.com") -> str:
    """Sign ``email`` in on ``client`` through the real IdP; return the employee id."""
    assert sign_in(client, email).status_code == 302
    with app.app_context():
        employee = find_by_email(email)
        assert employee is not None
        return employee.id


def snapshot(app: Flask, *, skip: frozenset[str] = frozenset({"audit_entries"})) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but ``skip`` (and auth_sessions.last_seen_at, touched on use)."""
    with app.app_context():
        state: dict[str, list[tuple[Any, ...]]] = {}
        for table in db.metadata.sorted_tables:
            if table.name in skip:
                continue
            columns = [c for c in table.c if (table.name, c.name) != ("auth_sessions", "last_seen_at")]
            state[table.name] = [tuple(r) for r in db.session.execute(
                sa.select(*columns).order_by(*table.primary_key.columns))]
        db.session.remove()
        return state


def audit(app: Flask, tag: str) -> list[AuditEntry]:
    with app.app_context():
        entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == tag).order_by(AuditEntry.seq)))
        db.session.expunge_all()
        return entries


def token(client: FlaskClient, path: str = "/me/consent") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def publish(app: Flask, body: str, *, title: str = "Monitoring policy", summary: str = "") -> int:
    """Publish a policy version through the service, as an admin would; return its number."""
    with app.app_context():
        draft = policy.save_draft(title, body, summary, Actor.system())
        number = policy.publish(draft.id, Actor.system()).version
        db.session.commit()
        assert number is not None
        return number


def without_csrf(html: str) -> str:
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+(")', r"\1-\2", html)
