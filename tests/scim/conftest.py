"""Fixtures for SCIM provisioning: a token of scope scim, and a client that speaks application/scim+json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.api.tokens import create_token
from portal.audit.services import Actor
from portal.extensions import db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PORTAL = "urn:ietf:params:scim:schemas:extension:portal:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA = "application/scim+json"


def token_for(app: Flask, *scopes: str) -> str:
    with app.app_context():
        _, secret = create_token("directory", list(scopes), 30, actor=Actor.system())
        db.session.commit()
        return secret


class Scim:
    """A directory's view of the portal: every call with the bearer token and SCIM's media type."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> TestResponse:
        data = None if body is None else json.dumps(body)
        return self.client.open(f"/scim/v2{path}", method=method, data=data, content_type=MEDIA,
                                headers=self.headers | headers)


@pytest.fixture
def scim(app: Flask) -> Scim:
    return Scim(app.test_client(), token_for(app, "scim"))


def new_user(email: str = "joan@example.com", **overrides: Any) -> dict[str, Any]:
    user: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE, PORTAL],
        "userName": email,
        "externalId": "dir-" + email.split("@")[0],
        "name": {"givenName": "Joan", "familyName": "Miró"},
        "emails": [{"value": email, "type": "work", "primary": True},
                   {"value": email.split("@")[0] + ".home@example.net", "type": "home"}],
        "timezone": "Europe/Madrid",
        "active": True,
        ENTERPRISE: {"employeeNumber": "E7001"},
        PORTAL: {"jurisdiction": "ES"},
    }
    user.update(overrides)
    return user


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}

