"""Benchmark: an erasure of one employee's N events (default 1,000,000) and M screenshots, done the
way the portal does it: filed by alice, claimed and approved by dana, approved a second time by
admin, carried out by the erasure job. On a fresh demo instance, SQLite by default or a throw-away
PostgreSQL database with --postgres. Prints the job's wall time, rows per second, and the raw
database files' size; other employees' rows are left as they were (checked).

    .venv/bin/python bench/erasure.py [--events N] [--screenshots M] [--postgres] [--prepared DIR]

With --prepared DIR (SQLite), the generated instance (database, artifacts, keys) is kept in DIR the
first time and copied from there on later runs, so that repeated measurements skip the generation.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)


class OtherPeople(threading.Thread):
    """Another employee using the portal while the erasure runs: the dashboard read and an audited
    write (what a consent change or a sign-in does), one after the other, as fast as they go."""

    def __init__(self, app: Any, subject_id: str) -> None:
        super().__init__(daemon=True)
        self.app, self.subject_id = app, subject_id
        self.done = threading.Event()
        self.served = self.failed = 0
        self.slowest = 0.0

    def run(self) -> None:
        from portal.audit.services import Actor, record
        from portal.extensions import db
        from portal.monitoring.services import dashboard

        with self.app.app_context():
            while not self.done.is_set():
                began = time.perf_counter()
                try:
                    dashboard(self.subject_id, "America/Los_Angeles")
                    record("bench:other:write", actor=Actor("employee", self.subject_id), subject_id=self.subject_id)
                    db.session.commit()
                    self.served += 1
                except Exception as exc:
                    db.session.rollback()
                    self.failed += 1
                    print(f"  a request for another employee failed: {type(exc).__name__}: {exc}", flush=True)
                self.slowest = max(self.slowest, time.perf_counter() - began)
                time.sleep(0.02)

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(30)


def erase(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select

    from portal import create_app
    from portal.extensions import db
    from portal.jobs import services as jobs
    from portal.jobs.runners import EXTENSION
    from portal.monitoring.models import ActivityEvent, Screenshot
    from portal.people.models import Employee
    from portal.people.services import find_by_email
    from portal.rights import services as rs
    from portal.rights.models import DataRequest, RequestType

    class Held:  # jobs wait for this script, which runs the erasure itself and times it
        def dispatch(self, job_id: str, delay: float = 0) -> None:
            pass

    app = create_app()
    app.extensions[EXTENSION] = Held()
    with app.app_context():
        alice, dana, admin = (find_by_email(f"{who}@example.com") for who in ("alice", "dana", "admin"))
        assert alice and dana and admin
        held = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                                 .where(ActivityEvent.subject_id == alice.id)) or 0
        shots = db.session.scalar(select(func.count()).select_from(Screenshot)
                                  .where(Screenshot.subject_id == alice.id)) or 0
        others = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                                   .where(ActivityEvent.subject_id != alice.id)) or 0
        ids = {who: person.id for who, person in (("alice", alice), ("dana", dana), ("admin", admin))}

        def person(who: str) -> Employee:
            found = db.session.get(Employee, ids[who])
            assert found is not None
            return found

        for hold in rs.active_holds(ids["alice"]):  # the demo's legal hold would block a category
            rs.lift_hold(hold, person("dana"))
        db.session.commit()
        request_id = rs.file_request(person("alice"), RequestType.ERASURE, description="bench").request.id
        db.session.commit()
        for step, who in ((rs.claim, "dana"), (rs.start_review, "dana"), (rs.approve, "dana"), (rs.approve, "admin")):
            request = db.session.get(DataRequest, request_id)
            if step is rs.approve and who == "dana":  # the first approval names the ground of the erasure
                rs.approve(request, person(who), erasure_ground=rs.erasure_grounds(request)[0].code)
            else:
                step(request, person(who))
            db.session.commit()
        job_id = db.session.get(DataRequest, request_id).job_id
        print(f"cores: {os.cpu_count()}  database: {db.engine.dialect.name}")
        print(f"alice holds {held:,} events and {shots} screenshots; others hold {others:,} events")
        bob = find_by_email("bob@example.com")
        assert bob is not None
        load = OtherPeople(app, bob.id)
        if not os.environ.get("BENCH_NO_LOAD"):
            load.start()
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            state = profile.runcall(jobs.run_job, job_id)
            pstats.Stats(profile).sort_stats(os.environ["BENCH_PROFILE"]).print_stats(18)
        else:
            state = jobs.run_job(job_id)
        elapsed = time.perf_counter() - started
        load.stop()
        if not os.environ.get("BENCH_NO_LOAD"):
            print(f"meanwhile, for another employee: {load.served:,} dashboard reads and audited writes "
                  f"served, {load.failed} failed, slowest {load.slowest * 1000:.0f} ms")
        db.session.remove()
        left = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                                 .where(ActivityEvent.subject_id == ids["alice"]))
        kept = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                                 .where(ActivityEvent.subject_id != ids["alice"]))
        remaining = db.session.execute(select(ActivityEvent.kind, func.count()).where(
            ActivityEvent.subject_id == ids["alice"]).group_by(ActivityEvent.kind)).all()
        if remaining:
            print(f"LEFT BEHIND: {remaining}")
        print(f"erasure job: {state}, {elapsed:.1f} s wall, {(held + shots) / elapsed:,.0f} rows/s; "
              f"alice's events left: {left}; others' events kept: {kept:,} of {others:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--screenshots", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--prepared", type=Path, help="keep the generated instance here and reuse it (SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-erasure-") as tmp:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
               "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance"}
        admin_engine = name = None
        if args.postgres:
            import sqlalchemy as sa

            name = f"portal_bench_{secrets.token_hex(4)}"
            admin_engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            env["PORTAL_DATABASE_URL"] = sa.engine.make_url(PG_URL).set(database=name).render_as_string(
                hide_password=False)
        try:
            prepared = args.prepared if args.prepared and not args.postgres else None
            if prepared is not None and prepared.is_dir():
                print(f"Copying the instance prepared in {prepared} ...", flush=True)
                shutil.copytree(prepared, tmp, dirs_exist_ok=True)
            else:
                print(f"Preparing {args.events:,} events and {args.screenshots} screenshots for alice ...", flush=True)
                flask(env, "db", "upgrade")
                flask(env, "demo", "seed")
                flask(env, "demo", "generate", "--employee", "alice@example.com", "--events", str(args.events),
                      "--screenshots", str(args.screenshots), "--seed", "1")
                if prepared is not None:
                    shutil.copytree(tmp, prepared)
            erase(env)
            database = Path(tmp) / "instance" / "portal.db"
            if database.exists():
                wal = database.with_name("portal.db-wal")
                print(f"portal.db {database.stat().st_size / 1e6:.0f} MB, portal.db-wal "
                      f"{(wal.stat().st_size if wal.exists() else 0) / 1e6:.1f} MB after")
        finally:
            if admin_engine is not None:  # FORCE ends the bench's own connections too
                with admin_engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
