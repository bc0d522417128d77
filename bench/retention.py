"""Benchmark: the daily retention run over one employee's N events (default 600,000, about 200
working days of 2,000 to 4,000 events back from today, so that those older than the register's
retention period are due), on a fresh SQLite demo instance or a throw-away PostgreSQL database
with --postgres. Prints the run's wall time (the `retention run` command, the process's start
included) and what it deleted, then the cost of recounting the person's dashboard aggregates from
the rows left (`rebuild_aggregates`, timed alone): the run used to do that for every person it
deleted from; it now takes each batch it deletes off the aggregates, at a cost that follows what
it deletes, and the recount is the erasure job's and the repair.

    .venv/bin/python bench/retention.py [--events N] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

REBUILD = r'''
import time
from sqlalchemy import func, select
from portal import create_app
from portal.extensions import db
from portal.monitoring.deletion import rebuild_aggregates
from portal.monitoring.models import ActivityEvent
from portal.people.services import find_by_email
app = create_app()
with app.app_context():
    alice = find_by_email("alice@example.com")
    left = db.session.scalar(select(func.count()).select_from(ActivityEvent).where(ActivityEvent.subject_id == alice.id))
    started = time.perf_counter()
    rebuild_aggregates(alice)
    db.session.commit()
    print(left, time.perf_counter() - started)
'''


def flask(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="portal-bench-retention-") as tmp:
        env = {**os.environ, "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
               "PORTAL_KEY_DIR": f"{tmp}/keys"}
        for name in ("PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_ARTIFACT_DIR"):
            env.pop(name, None)
        admin = database = None
        if args.postgres:
            import sqlalchemy as sa

            admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            database = f"portal_bench_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            env["PORTAL_DATABASE_URL"] = PG_URL.rsplit("/", 1)[0] + f"/{database}"
        try:
            flask(env, "db", "upgrade")
            flask(env, "demo", "seed")
            started = time.perf_counter()
            flask(env, "demo", "generate", "--employee", "alice@example.com", "--events", str(args.events),
                  "--seed", "1")
            print(f"generated {args.events:,} events in {time.perf_counter() - started:.1f} s", flush=True)
            started = time.perf_counter()
            summary = flask(env, "retention", "run")
            elapsed = time.perf_counter() - started
            print(f"retention run: {elapsed:.1f} s", flush=True)
            print("  " + "\n  ".join(line for line in summary.strip().splitlines() if line.strip()), flush=True)
            left, seconds = subprocess.run([sys.executable, "-c", REBUILD], cwd=ROOT, env=env, check=True,
                                           capture_output=True, text=True).stdout.split()
            print(f"rebuild_aggregates alone over the {int(left):,} events left: {float(seconds):.2f} s "
                  f"({int(left) / float(seconds):,.0f} events/s)", flush=True)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
