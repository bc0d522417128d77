"""Benchmark: ingestion over HTTP and one exclusion check, against gunicorn with 2 workers.

For each database (SQLite in a temporary instance, and PostgreSQL on 127.0.0.1:5432 in a
throw-away database when it answers): `db upgrade`, 100,000 employees inserted directly (a tenth
of them excluded from AI training), a service token made with `api token create`; then the portal
under gunicorn (2 synchronous workers) and:

- ingestion: 4 client threads POST /api/v1/ingest batches of 1,000 events for 8 employees in
  turn (bodies encoded before the clock starts) for `--seconds`; prints events stored per second and each worker's peak
  memory (VmHWM);
- the check: GET /api/v1/exclusions/{pseudonym} 300 times for random employees; prints the
  median and 90th percentile (ms, measured by the client, so including HTTP on loopback).

    .venv/bin/python bench/ingest.py [--seconds 10] [--database sqlite|postgres|both] [--employees 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEOPLE = 8  # employees whose collectors send batches at the same time (each batch is for one)
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout


POPULATE = r'''
import random, secrets, sys
from portal import create_app
from portal.extensions import db
from portal.crypto import blind_index
from portal.people.services import create_employee
from portal.audit.services import Actor
from portal.consent.services import decide
from portal.consent.models import Decision, Purpose
from portal.people.models import Employee
from portal.consent.models import Suppression
from portal.people.pseudonyms import pseudonym
app = create_app()
count, COLLECTED = int(sys.argv[1]), int(sys.argv[2])
with app.app_context():
    for n in range(1, COLLECTED + 1):
        person = create_employee(email=f"c{n}@example.com", display_name="C", jurisdiction="ES",
                                 employee_number=f"E{1000 + n}", actor=Actor.system())
        db.session.flush()
        for purpose in Purpose:
            decide(person.id, purpose, Decision.GRANTED, actor=Actor.system(), method="bench", device="bench",
                   policy_version=None)
    rows, excluded = [], []
    for n in range(count):
        subject = secrets.token_hex(16)
        rows.append({"id": subject, "email_index": blind_index("email", f"p{n}@example.com"),
                     "email_sealed": b"x", "name_sealed": b"x", "jurisdiction": "ES", "timezone": "UTC",
                     "employment_status": "active"})
        if n % 10 == 0:
            excluded.append({"subject_id": subject, "purpose": "ai_training", "reason": "objection"})
    db.session.execute(Employee.__table__.insert(), rows)
    db.session.execute(Suppression.__table__.insert(), excluded)
    db.session.commit()
    sample = random.Random(1).sample([r["id"] for r in rows], 300)
    print("\n".join(pseudonym(s) for s in sample))
'''


@contextmanager
def database(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    import sqlalchemy as sa

    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    name = f"portal_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def portal(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or busy with its first sweep
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the portal did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(20)


def peak_memory(master: int) -> list[int]:
    """Each worker's peak resident memory (kB), read from /proc."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    peaks = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return peaks


def bodies(count: int, size: int, people: int) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(hours=20)
    out = []
    for b in range(count):
        events = [{"event_id": f"b{b}-{n}", "kind": ("click", "site_visit", "key_timing", "app_focus")[n % 4],
                   "occurred_at": (start + timedelta(milliseconds=b * size + n)).isoformat(),
                   "application": "Firefox", "site_domain": "github.com", "duration_ms": 1200,
                   "url": f"https://github.com/acme/app/pull/{n}", "title": f"Pull request {n} - GitHub",
                   "x": n % 1920, "y": n % 1080} for n in range(size)]
        out.append(json.dumps({"employee_number": f"E{1001 + b % people}", "events": events}).encode())
    return out


def run(kind: str, seconds: float, employees: int) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-bench-ingest-") as tmp, database(kind) as url:
        port = free_port()
        env = {**os.environ, "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
               "PORTAL_BASE_URL": f"http://127.0.0.1:{port}", "PORTAL_OIDC_ISSUER": "http://127.0.0.1:9"}
        for name in ("PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_SESSION_DIR", "PORTAL_KEY_DIR",
                     "PORTAL_ARTIFACT_DIR"):
            env.pop(name, None)
        if url:
            env["PORTAL_DATABASE_URL"] = url
        flask(env, "db", "upgrade")
        started = time.perf_counter()
        sample = subprocess.run([sys.executable, "-c", POPULATE, str(employees), str(PEOPLE)], cwd=ROOT, env=env, check=True,
                                capture_output=True, text=True).stdout.split()
        print(f"[{kind}] {employees:,} employees in {time.perf_counter() - started:.1f} s", flush=True)
        token = flask(env, "api", "token", "create", "--name", "bench", "--scope", "ingest,exclusions:read",
                      "--days", "1").strip().splitlines()[-1]
        batch_size, prepared = 1000, bodies(int(seconds * 40) + 40, 1000, PEOPLE)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        env["PORTAL_API_RATE_LIMIT"] = "100000 per minute"
        with portal(env, port) as process:
            time.sleep(5)  # each worker's first sweep of periodic work, at start, is not what is measured
            base = f"http://127.0.0.1:{port}"
            stored, failures, lock = [0], [0], threading.Lock()
            queue = iter(prepared)
            deadline = time.perf_counter() + seconds

            def client() -> None:
                session = requests.Session()
                while time.perf_counter() < deadline:
                    with lock:
                        body = next(queue, None)
                    if body is None:
                        return
                    answer = session.post(f"{base}/api/v1/ingest", data=body, headers=headers, timeout=120)
                    with lock:
                        if answer.status_code == 200:
                            stored[0] += answer.json()["stored"]
                        else:
                            failures[0] += 1

            begin = time.perf_counter()
            threads = [threading.Thread(target=client) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - begin
            print(f"[{kind}] ingest: {stored[0]:,} events in {elapsed:.1f} s = {stored[0] / elapsed:,.0f} events/s "
                  f"(batches of {batch_size}, {failures[0]} failed); worker peak memory "
                  f"{', '.join(f'{kb / 1024:.0f} MiB' for kb in peak_memory(process.pid))}", flush=True)
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            times = []
            for who in sample:
                t0 = time.perf_counter()
                assert session.get(f"{base}/api/v1/exclusions/{who}", timeout=10).status_code == 200
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            print(f"[{kind}] one exclusion check with {employees:,} employees: median {statistics.median(times):.2f} ms, "
                  f"p90 {times[int(len(times) * 0.9)]:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--employees", type=int, default=100_000)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    for kind in (("sqlite", "postgres") if args.database == "both" else (args.database,)):
        run(kind, args.seconds, args.employees)


if __name__ == "__main__":
    main()
