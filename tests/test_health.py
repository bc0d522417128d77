"""/healthz and /readyz: open to a load balancer without signing in, never cached, and /readyz
says 503 (naming the check, not the error's details) when something the portal needs is gone: the
key folder, the session disk (a real full tmpfs), Redis."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from tests.conftest import app_config
from tests.helpers import fill_disk


def readiness(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_healthz_answers_anyone(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ready_when_everything_answers_and_names_what_is_missing(app: Flask, client: FlaskClient) -> None:
    status, body = readiness(client)
    assert status == 200 and body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "redis": "ok", "key_store": "ok", "artifacts": "ok",
                              "sessions": "ok", "jobs": "ok", "rate_limits": "ok", "audit_witness": "ok"}
    keys = Path(app.config["PORTAL_SETTINGS"].key_dir)
    moved = keys.with_name(keys.name + "-away")
    keys.rename(moved)  # the key store's volume is not mounted
    try:
        status, body = readiness(client)
        assert status == 503 and body["status"] == "not ready" and body["checks"]["key_store"] == "missing"
        assert [name for name, value in body["checks"].items() if value != "ok"] == ["key_store"]
    finally:
        moved.rename(keys)
    assert readiness(client)[0] == 200


def test_readyz_says_when_the_session_disk_is_full(full_disk: Path, tmp_path: Path, idp_url: str,
                                                   sqlite_template: Path) -> None:
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", session_dir=full_disk / "s"))
    client = app.test_client()
    assert readiness(client)[0] == 200
    filler = fill_disk(full_disk)
    status, body = readiness(client)
    assert status == 503 and body["checks"]["sessions"] == "the session store takes no writes"
    filler.unlink()
    assert readiness(client)[0] == 200


def test_with_redis_down_unlimited_requests_are_counted_and_readyz_says_so(tmp_path: Path, idp_url: str,
                                                                            sqlite_template: Path) -> None:
    """The rate-limit store does not answer: requests go through unlimited (sign-in must not be
    locked for everyone), but not silently: each is counted, and /readyz says so."""
    from portal.ratelimit import store_trouble

    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", redis_url="redis://127.0.0.1:1/0"))
    client = app.test_client()
    before = store_trouble.count
    codes = [client.get("/auth/login").status_code for _ in range(31)]
    assert codes == [503] * 31  # no session can be saved (said so); and not limited
    assert store_trouble.count >= before + 31
    status, body = readiness(client)
    assert status == 503 and body["checks"]["redis"] == "failed (ConnectionError)"
    assert body["checks"]["rate_limits"] == ("the store does not answer: requests are let through unlimited "
                                             f"until it is back ({store_trouble.count} so far in this process)")
    assert body["checks"]["database"] == "ok"
