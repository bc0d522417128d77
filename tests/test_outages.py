"""The database going away under a running portal (a PostgreSQL cluster of the test's own, stopped
and started around real requests): a 503 page (or problem+json) with Retry-After, nothing of the
interrupted request kept, and the same app serving again once the database is back, without a
restart. The same for Redis as the session store (a redis-server of the test's own, stopped and
paused)."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.consent.models import ConsentEvent, Suppression
from portal.extensions import db
from tests.conftest import _stop_job_runner, app_config
from tests.helpers import audit_entries, grant_all_consents
from tests.jobs.test_redis_outage import RedisServer, own_redis  # noqa: F401 - fixture
from tests.pgcluster import PostgresCluster, own_postgres, pg_app  # noqa: F401 - fixtures
from tests.policy.support import signed_in, token

AUDIT_LOCK = "SELECT pg_advisory_xact_lock(7244891)"  # the audit log's append lock (audit.services)


@pytest.fixture
def alice(pg_app: Flask) -> tuple[FlaskClient, str]:  # noqa: F811
    client = pg_app.test_client()
    subject = signed_in(pg_app, client)
    with pg_app.app_context():
        grant_all_consents(subject)
        db.session.commit()
    return client, subject


def consent_state(app: Flask, subject: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    with app.app_context():
        events = [tuple(r) for r in db.session.execute(
            sa.select(ConsentEvent.id, ConsentEvent.purpose, ConsentEvent.decision)
            .where(ConsentEvent.subject_id == subject).order_by(ConsentEvent.id))]
        suppressions = [tuple(r) for r in db.session.execute(
            sa.select(Suppression.purpose, Suppression.reason).where(Suppression.subject_id == subject))]
        db.session.remove()
    return events, suppressions, len(audit_entries(app, "consent:ai-training:withdraw"))


def assert_unavailable_page(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "database is not answering" in html and "nothing was changed or saved" in html
    assert "Traceback" not in html


@pytest.mark.parametrize("pg_app", [{}, {"session_store": "database"}], indirect=True, ids=["file-sessions",
                                                                                         "database-sessions"])
def test_database_down_is_a_503_page_and_the_portal_recovers_by_itself(
        pg_app: Flask, alice: tuple[FlaskClient, str], own_postgres: PostgresCluster) -> None:  # noqa: F811
    client, _subject = alice
    pg_app.config["PROPAGATE_EXCEPTIONS"] = False  # as served: a session that cannot be opened is an error page too
    assert client.get("/").status_code == 200
    own_postgres.stop()
    try:
        assert_unavailable_page(client.get("/"))  # the session's own row cannot be read either
        assert_unavailable_page(client.get("/me/consent"))
        problem = client.get("/me/exports", headers={"Accept": "application/json"})
        assert problem.status_code == 503 and problem.mimetype == "application/problem+json"
        assert problem.headers["Retry-After"] == "30"
        assert problem.get_json()["status"] == 503 and "database is not answering" in problem.get_json()["detail"]
        anonymous = pg_app.test_client()
        assert anonymous.get("/healthz").status_code == 200  # the process answers
        ready = anonymous.get("/readyz")
        assert ready.status_code == 503 and ready.get_json()["checks"]["database"].startswith("failed")
    finally:
        own_postgres.start()
    # The same app, the same pool: its dead connections are noticed and replaced (pool_pre_ping).
    assert client.get("/").status_code == 200
    assert client.get("/me/consent").status_code == 200
    assert pg_app.test_client().get("/readyz").get_json()["checks"]["database"] == "ok"


def test_a_write_cut_off_by_a_database_restart_keeps_nothing_and_succeeds_when_sent_again(
        pg_app: Flask, alice: tuple[FlaskClient, str], own_postgres: PostgresCluster) -> None:  # noqa: F811
    """The request has written its consent row and suppression (flushed, not committed) and waits
    for the audit append lock, held by another transaction, when the server is shut down."""
    client, subject = alice
    before = consent_state(pg_app, subject)
    csrf = token(client)
    holder = sa.create_engine(own_postgres.url, poolclass=sa.pool.NullPool)
    conn = holder.connect()
    conn.execute(sa.text(AUDIT_LOCK))  # held until the server goes down
    answer: dict[str, Any] = {}

    def withdraw() -> None:
        answer["response"] = client.post("/me/consent/ai_training/withdraw", data={"csrf_token": csrf})

    request = threading.Thread(target=withdraw)
    request.start()
    try:
        waiting = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        deadline = time.monotonic() + 20
        with holder.connect() as probe:
            while probe.execute(waiting).scalar_one() == 0:
                assert time.monotonic() < deadline, "the request never reached the audit lock"
                time.sleep(0.05)
        own_postgres.stop()  # "terminating connection due to administrator command"
        request.join(30)
        assert not request.is_alive()
    finally:
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            conn.close()  # its server went away with the lock
        holder.dispose()
        if not own_postgres.running():
            own_postgres.start()
    assert_unavailable_page(answer["response"])
    assert consent_state(pg_app, subject) == before  # no consent row, no suppression, no audit entry

    assert client.post("/me/consent/ai_training/withdraw", data={"csrf_token": csrf}).status_code == 302
    events, suppressions, withdrawals = consent_state(pg_app, subject)
    assert len(events) == len(before[0]) + 1 and events[-1][1:] == ("ai_training", "withdrawn")
    assert ("ai_training", "consent-withdrawn") in suppressions and withdrawals == before[2] + 1


# -- Redis, the session store when configured ---------------------------------------------------

@pytest.fixture
def redis_sessions(own_redis: RedisServer, tmp_path: Path, idp_url: str,  # noqa: F811
                   sqlite_template: Path) -> Iterator[Flask]:
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", redis_url=own_redis.url))
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as served: failures outside the view reach the error pages
    yield app
    _stop_job_runner(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def assert_sessions_unavailable(response: Any) -> None:
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "cannot read or save sign-in sessions" in response.get_data(as_text=True)


@pytest.mark.timeout(60)
def test_a_session_store_that_is_down_or_hangs_is_a_503_and_the_portal_recovers(
        redis_sessions: Flask, own_redis: RedisServer) -> None:  # noqa: F811
    client = redis_sessions.test_client()
    signed_in(redis_sessions, client)
    assert client.get("/").status_code == 200

    own_redis.pause()  # accepts connections and never answers
    try:
        started = time.monotonic()
        assert_sessions_unavailable(client.get("/"))
        assert time.monotonic() - started < 10  # not held for ever
    finally:
        own_redis.resume()
    assert client.get("/").status_code == 200  # the same session, the same app

    own_redis.stop()
    assert_sessions_unavailable(client.get("/"))
    assert_sessions_unavailable(client.get("/me/consent"))
    own_redis.start()  # an empty Redis: the session is gone, so the person signs in again
    assert client.get("/me/consent").status_code == 302
    signed_in(redis_sessions, client)
    assert client.get("/").status_code == 200


def test_a_database_error_that_is_ours_stays_a_500_not_a_503(app: Flask) -> None:
    """Only "not now" is a 503: a missing table (a fault of ours, here made by dropping it) is the
    500 page, so that a real bug is not dressed up as an outage."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    signed_in(app, client)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE consent_events"))
        db.engine.dispose()
    response = client.get("/me/consent")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert "Something went wrong" in response.get_data(as_text=True)
