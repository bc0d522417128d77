"""Fixtures: a real OIDC provider on loopback, apps on SQLite (always) and PostgreSQL / Redis
(whenever they answer; required under CI=true), employees and signed-in clients."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
import werkzeug.serving
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.config import new_key
from portal.demo import idp as demo_idp
from portal.extensions import db
from tests import speedups

speedups.install()

CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KEEP_TABLES = {"data_categories", "alembic_version"}
# Redis keys of this run (rate-limit counters, ...) stay apart from other runs' and from a portal's.
REDIS_PREFIX = f"portal-test-{secrets.token_hex(4)}:"
APPEND_ONLY_TABLES = ("audit_entries", "tree_heads", "audit_tree_nodes")


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> Iterator[None]:
    """Tests configure the app explicitly; stray PORTAL_* variables must not leak in."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PORTAL_") and not k.startswith("PORTAL_TEST_")}
    yield
    os.environ.update(saved)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.server = werkzeug.serving.make_server("127.0.0.1", self.port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="session")
def idp_url() -> Iterator[str]:
    """The demo OIDC provider (oidc-provider-mock) with the demo identities, on loopback."""
    from tests.helpers import _IDP_KEYS, IDP_APPS

    idp_app = demo_idp.make_app()
    with LiveServer(idp_app) as live:
        IDP_APPS[live.url] = idp_app  # for tests.helpers.signed_in_as
        yield live.url
        IDP_APPS.pop(live.url, None)
        _IDP_KEYS.pop(live.url, None)


def set_idp_user(idp_url: str, sub: str, claims: dict[str, Any]) -> None:
    response = requests.put(f"{idp_url}/users/{sub}", json=claims, timeout=10)
    assert response.status_code == 204, response.text


def set_idp_auth_time(idp_url: str, sub: str, auth_time: int | str | None) -> None:
    """Make the IdP report ``auth_time`` for ``sub`` ("omit": none at all) whatever really
    happened; None: the truth again (see portal.demo.idp)."""
    if auth_time is None:
        response = requests.delete(f"{idp_url}/users/{sub}/auth-time", timeout=10)
    else:
        response = requests.put(f"{idp_url}/users/{sub}/auth-time", json={"auth_time": auth_time}, timeout=10)
    assert response.status_code == 204, response.text


def _service_unavailable(what: str, why: str) -> None:
    message = f"{what} is not reachable ({why}); set PORTAL_TEST_{'DATABASE' if 'Postgre' in what else 'REDIS'}_URL"
    if CI:
        pytest.fail(f"CI=true requires {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throw-away database for this run on the PostgreSQL server, dropped afterwards."""
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        _service_unavailable("PostgreSQL", type(exc).__name__)
    name = f"portal_test_{secrets.token_hex(6)}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = urlsplit(PG_URL)._replace(path=f"/{name}").geturl()
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        _service_unavailable("Redis", type(exc).__name__)
    yield REDIS_URL
    # This run's keys: those under its prefix, and the rate limiter's, which hold it after "LIMITS:LIMITER/".
    for pattern in (f"{REDIS_PREFIX}*", f"LIMITS:LIMITER/{REDIS_PREFIX}*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


# Key stores live outside every test's folders, as the portal requires of the data's folders; one
# per folder a test configures, so two apps over the same folder share their keys.
KEYS_ROOT = Path(tempfile.mkdtemp(prefix="portal-test-keys-"))


def key_store_for(tmp_path: Path) -> Path:
    return KEYS_ROOT / hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]


# The longest tests (a real browser, worker processes killed, servers stopped and started again: from
# 5 to 30 seconds each) start first, so that no test process is left running one of them alone at
# the end of a run while the others have finished. pytest-xdist would hand each process a long run
# of consecutive tests to start with (a quarter of its share), which would give all of them to the
# first process: under -n, tests are handed out one at a time instead (pytest_configure), each to
# the first process that is free.
SLOW_MODULES = frozenset({
    "api/test_examples.py", "api/test_schemathesis.py", "exports/test_crash_recovery.py",
    "exports/test_database_restart.py", "exports/test_paused_workers.py", "jobs/test_database_restart.py",
    "jobs/test_redis_outage.py", "rights/test_erasure.py", "rights/test_state_machine.py",
})


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "maxschedchunk", False) is None:  # xdist's option, unless given
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    items.sort(key=lambda item: not (item.get_closest_marker("browser") is not None
                                     or item.path.relative_to(tests).as_posix() in SLOW_MODULES))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(KEYS_ROOT, ignore_errors=True)


def app_config(tmp_path: Path, idp_url: str, database_url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "demo": False,
        "instance_dir": tmp_path / "instance",
        "database_url": database_url,
        "secret_key": new_key(),
        "master_key": new_key(),
        "oidc_issuer": idp_url,
        "oidc_client_id": "portal-test",
        "oidc_client_secret": "test-client-secret",
        "base_url": "http://localhost",
        "artifact_dir": tmp_path / "artifacts",
        "key_dir": key_store_for(tmp_path),
        "session_dir": tmp_path / "sessions",
        "secure_cookies": False,
        "SESSION_KEY_PREFIX": f"portal-test-{secrets.token_hex(4)}:",
        "redis_prefix": REDIS_PREFIX,
        # English only, so that tests read the source strings whatever a person's regime; the
        # language tests (tests/i18n) offer every language.
        "languages": ("en",),
    }
    config.update(extra)
    return config


def _upgrade(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, idp_url: str) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    base = tmp_path_factory.mktemp("template")
    path = base / "portal.db"
    app = create_app(app_config(base, idp_url, f"sqlite:///{path}"))
    _upgrade(app)
    with app.app_context():
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server: str, tmp_path_factory: pytest.TempPathFactory, idp_url: str) -> str:
    app = create_app(app_config(tmp_path_factory.mktemp("pg"), idp_url, postgres_server))
    _upgrade(app)
    with app.app_context():
        db.engine.dispose()
    return postgres_server


def _truncate(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
        with db.engine.begin() as conn:
            # The append-only triggers (migration 0005) refuse TRUNCATE: off for this transaction only.
            for table in APPEND_ONLY_TABLES:
                conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            # Only the tables the test wrote to: each TRUNCATE makes new files for a table and its
            # indexes, the slow part. Every sequence of the tables starts again (RESTART IDENTITY
            # does it for those truncated; an insert rolled back moves a sequence too).
            written = [name for (name,) in conn.execute(sa.text(" UNION ALL ".join(
                f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in tables)))]
            if written:
                conn.execute(sa.text(f"TRUNCATE {', '.join(written)} RESTART IDENTITY CASCADE"))
            for (sequence,) in conn.execute(sa.text(
                    "SELECT s.oid::regclass::text FROM pg_class s JOIN pg_depend d ON d.classid = 'pg_class'::regclass "
                    "AND d.objid = s.oid AND d.deptype IN ('a', 'i') JOIN pg_class t ON t.oid = d.refobjid "
                    "WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"), {"tables": tables}):
                conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))
            # The test's own per-person partitions (portal/monitoring/partitions.py) go with it.
            for (name,) in conn.execute(sa.text(
                    "SELECT c.relname FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
                    "WHERE c.relkind = 'r' AND c.relname ~ '^(activity_(events|daily|hourly|targets)|screenshots"
                    "|subject_category_stats)_[0-9a-f]{32}$'")):
                conn.execute(sa.text(f'DROP TABLE "{name}"'))
            for table in APPEND_ONLY_TABLES:
                conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        db.engine.dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path, idp_url: str, sqlite_template: Path) -> Iterator[Flask]:
    """The portal on SQLite; parametrize indirectly with "postgres" (and/or "redis") to run on those."""
    backend = getattr(request, "param", "sqlite")
    extra: dict[str, Any] = {}
    if "redis" in backend:
        extra["redis_url"] = request.getfixturevalue("redis_url")
    if backend.startswith("postgres"):
        database_url = request.getfixturevalue("postgres_migrated")
    else:
        target = tmp_path / "portal.db"
        target.write_bytes(sqlite_template.read_bytes())
        database_url = f"sqlite:///{target}"
    application = create_app(app_config(tmp_path, idp_url, database_url, **extra))
    application.config["TESTING"] = True
    yield application
    _stop_job_runner(application)
    if backend.startswith("postgres"):
        _truncate(application)
    else:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _stop_job_runner(application: Flask) -> None:
    """No job or sweep of this test may outlive it (and run against the next test's database)."""
    from portal.jobs.runners import EXTENSION, ThreadRunner

    active = application.extensions.get(EXTENSION)
    if isinstance(active, ThreadRunner):
        active.shutdown()


both_databases = pytest.mark.parametrize("app", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                                         indirect=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.rollback()


def live_portal(tmp_path: Path, idp_url: str, sqlite_template: Path, **extra: Any) -> tuple[Flask, int]:
    """A portal on its own SQLite copy, configured for a real server on a free loopback port
    (start it with ``LiveServer(app, port)``), for browser tests."""
    port = _free_port()
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    application = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}",
                                        base_url=f"http://127.0.0.1:{port}", **extra))
    return application, port


@dataclass(frozen=True)
class SeededDemo:
    """The demo (portal.demo.seed) seeded once per test process into a portal of its own, whose files
    each browser test that needs the demo copies (:func:`seeded_live_portal`) instead of seeding
    again: its SQLite database, instance folder (witness, outbox) and artifacts in ``folder``, its
    key store, and the keys and loopback port (the witness's origin) it was seeded under."""

    folder: Path
    port: int
    secret_key: str
    master_key: str


@pytest.fixture(scope="session")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory, idp_url: str, sqlite_template: Path) -> SeededDemo:
    from portal.demo.seed import seed
    from portal.jobs.runners import EXTENSION, ThreadRunner

    folder = tmp_path_factory.mktemp("demo")
    database = folder / "portal.db"
    shutil.copyfile(sqlite_template, database)
    port = _free_port()
    config = app_config(folder, idp_url, f"sqlite:///{database}", base_url=f"http://127.0.0.1:{port}")
    application = create_app(config)
    with application.app_context():
        seed(idp_url)
    runner = application.extensions.get(EXTENSION)
    if isinstance(runner, ThreadRunner):  # the seed's jobs (mail, ...) end here, not in a copy
        assert runner.wait_idle(60), "the demo seed's jobs did not finish"
    _stop_job_runner(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()  # the last connection folds the WAL into the database file
    return SeededDemo(folder, port, config["secret_key"], config["master_key"])


def seeded_live_portal(tmp_path: Path, idp_url: str, seeded: SeededDemo, **extra: Any) -> tuple[Flask, int]:
    """:func:`live_portal` with the demo in it, as if seeded there: a copy of ``seeded``'s files under
    its keys, for a server on its port."""
    for name in ("portal.db", "portal.db-wal"):
        if (seeded.folder / name).exists():
            shutil.copyfile(seeded.folder / name, tmp_path / name)
    for name in ("instance", "artifacts"):
        if (seeded.folder / name).exists():
            shutil.copytree(seeded.folder / name, tmp_path / name)
    shutil.copytree(key_store_for(seeded.folder), key_store_for(tmp_path))
    application = create_app(app_config(tmp_path, idp_url, f"sqlite:///{tmp_path / 'portal.db'}",
                                        base_url=f"http://127.0.0.1:{seeded.port}", secret_key=seeded.secret_key,
                                        master_key=seeded.master_key, **extra))
    return application, seeded.port


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real tmpfs of 256 KiB for the test (fill it with ``tests.helpers.fill_disk``); skipped
    where a tmpfs cannot be mounted (it needs root)."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
