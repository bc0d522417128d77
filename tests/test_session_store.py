"""Sign-in sessions in the database (PORTAL_SESSION_STORE=database): a real sign-in through the IdP
keeps its session in ``web_sessions`` under a digest of its id, sealed (neither the cookie's value
nor what the session holds is in the row in clear); signing out removes it; an expired one no
longer signs anyone in and the periodic purge deletes it; a bad setting stops the start."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.config import ConfigError
from portal.db import utcnow
from portal.extensions import db
from portal.session_store import WebSession, purge_expired_sessions
from tests.conftest import _stop_job_runner, _truncate, app_config
from tests.helpers import csrf_token, sign_in


def signed_in(app: Flask, client: FlaskClient) -> None:
    """alice, signed in through the real IdP: the session is the one the callback stores."""
    assert sign_in(client, "alice@example.com").status_code == 302


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_sessions(request: pytest.FixtureRequest, tmp_path: Path, idp_url: str, sqlite_template: Path) -> Iterator[Flask]:
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_migrated")
    else:
        target = tmp_path / "portal.db"
        target.write_bytes(sqlite_template.read_bytes())
        database_url = f"sqlite:///{target}"
    app = create_app(app_config(tmp_path, idp_url, database_url, session_store="database"))
    app.config["TESTING"] = True
    yield app
    _stop_job_runner(app)
    if request.param == "postgres":
        _truncate(app)
    else:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def rows(app: Flask) -> list[WebSession]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(WebSession)))
        db.session.expunge_all()
        db.session.remove()
    return found


def test_a_session_lives_sealed_in_the_database_and_ends_there(db_sessions: Flask) -> None:
    app = db_sessions
    client = app.test_client()
    signed_in(app, client)
    assert client.get("/").status_code == 200
    assert not (app.config["PORTAL_SETTINGS"].session_dir).exists()  # no file sessions
    sid = client.get_cookie("portal_session")
    assert sid is not None
    with client.session_transaction() as session:
        handle = session["_user_id"]
    (row,) = rows(app)
    assert row.id == hashlib.sha256((app.config["SESSION_KEY_PREFIX"] + sid.value).encode()).hexdigest()
    for secret in (sid.value, handle):
        assert secret.encode() not in row.data
    assert row.expires_at > utcnow() + timedelta(hours=11)

    page = client.get("/me/consent").get_data(as_text=True)
    assert client.post("/auth/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert client.get("/me/consent").status_code == 302  # signed out
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_an_expired_session_signs_nobody_in_and_is_purged(db_sessions: Flask) -> None:
    app = db_sessions
    client = app.test_client()
    signed_in(app, client)
    assert client.get("/me/consent").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert client.get("/me/consent").status_code == 302
        assert purge_expired_sessions() >= 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebSession).where(
            WebSession.expires_at <= utcnow())) == 0


@pytest.mark.parametrize(("extra", "message"), [
    ({"session_store": "memcached"}, "PORTAL_SESSION_STORE must be one of redis, files, database"),
    ({"session_store": "redis"}, "PORTAL_SESSION_STORE=redis needs PORTAL_REDIS_URL"),
])
def test_a_bad_session_store_setting_stops_the_start(tmp_path: Path, idp_url: str, extra: dict[str, str],
                                                     message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(app_config(tmp_path, idp_url, f"sqlite:///{tmp_path / 'portal.db'}", **extra))
