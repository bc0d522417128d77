"""Fixtures for the integrations API: employees the examples name, and tokens per scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from portal.api.tokens import create_token
from portal.audit.services import Actor
from portal.extensions import db
from tests.helpers import make_employee


@pytest.fixture
def make_token(app: Flask) -> Callable[..., str]:
    def make(*scopes: str, name: str = "test integration", days: int = 30) -> str:
        with app.app_context():
            _, secret = create_token(name, list(scopes), days, actor=Actor.system())
            db.session.commit()
            return secret

    return make


@pytest.fixture
def collector(make_token: Callable[..., str]) -> dict[str, str]:
    """Headers of a collector (scope ingest)."""
    return {"Authorization": f"Bearer {make_token('ingest', name='collector eu-west')}"}


@pytest.fixture
def e1001(app: Flask) -> str:
    """The employee the documented example batch names (employee number E1001)."""
    return make_employee(app, "ana@example.com", name="Ana Example", employee_number="E1001")
