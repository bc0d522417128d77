"""Helpers for the consent, policy and access-log tests: signed-in employees, a snapshot of the
database (to prove that refusals change nothing) and audit look-ups."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.extensions import db
from portal.people.services import find_by_email
from portal.policy import services as policy
from tests.helpers import audit_entries, csrf_token, signed_in_as, snapshot  # noqa: F401 - snapshot re-exported

REFUSED = "access:object:refused"


def signed_in(app: Flask, client: FlaskClient, email: str = "alice@example.com") -> str:
    """Sign ``email`` in on ``client`` (as through the IdP, see ``signed_in_as``); return the employee id."""
    signed_in_as(client, email)
    with app.app_context():
        employee = find_by_email(email)
        assert employee is not None
        return employee.id


def audit(app: Flask, tag: str) -> list[AuditEntry]:
    return audit_entries(app, tag)


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
