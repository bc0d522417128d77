"""A PostgreSQL cluster of a test's own (initdb and pg_ctl from Debian's packages, in a temporary
folder, on a free loopback port), to stop, kill and start under a running portal without touching
the shared server other tests use."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.extensions import db
from tests.conftest import CI, _free_port, _stop_job_runner, _upgrade, app_config


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="portal-test-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/portal"
        # PostgreSQL refuses to run as root: then the cluster belongs to the postgres user.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def init(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nfsync = off\nsynchronous_commit = off\n"
                       "full_page_writes = off\nshared_buffers = 16MB\nmax_connections = 50\n")
        self.start()
        self._psql("CREATE DATABASE portal")

    def _psql(self, sql: str) -> None:
        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(sql))
        finally:
            engine.dispose()

    def start(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: every session is ended (as an administrator's restart does); ``immediate``: the
        server stops at once, as if it had crashed."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_for: float = 0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A fresh cluster with an empty database ``portal``; removed after the test."""
    bin_dir = _binaries()
    if bin_dir is None:
        message = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed"
        if CI:
            pytest.fail(f"CI=true requires them: {message}")
        pytest.skip(message)
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_app(request: pytest.FixtureRequest, own_postgres: PostgresCluster, tmp_path: Path,
           idp_url: str) -> Iterator[Flask]:
    """The portal, migrated, on the test's own cluster (parametrize indirectly with a dict of
    settings to change them)."""
    app = create_app(app_config(tmp_path, idp_url, own_postgres.url, **getattr(request, "param", {})))
    app.config["TESTING"] = True
    _upgrade(app)
    yield app
    _stop_job_runner(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
