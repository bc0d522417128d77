"""Benchmark: the everyday mix under load, with locust (headless), against a real server.

Builds a fresh demo instance in a temporary directory (`db upgrade`, `demo seed`; SQLite, or the
PostgreSQL database given with --database-url, which must be empty), starts the demo identity
provider and the portal (gunicorn, --workers processes with 4 threads each), registers 32
employees and 4 DPOs at the identity provider, signs each in once and gives each employee
--events events, then runs locust for --seconds with one simulated person per account:

- employees: the dashboard, the data browser, the screenshot gallery, consent, the access log,
  their exports (now and then asking for one) and their requests (now and then filing an access
  request);
- DPOs: the queue, a case page, claiming an open case, the reports.

Each simulated person signs in through the real OpenID Connect flow and waits 1 to 3 s between
actions. Prints requests, failures, 5xx answers, the median and 95th percentile (ms, measured by
the client) per kind of page and overall, and exits 1 if any answer was a 5xx.

    .venv/bin/python bench/load.py [--seconds 60] [--events 2000] [--workers 2] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from locust import HttpUser, between, task  # it patches the standard library with gevent

ROOT = Path(__file__).resolve().parent.parent
EMPLOYEES = 32
DPOS = 4
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CASE_LINK = re.compile(r'href="(/dpo/requests/[0-9a-f]{32})"')
CATEGORY = re.compile(r'name="categories"[^>]*value="([^"]+)"')


def employee_email(n: int) -> str:
    return f"load-employee-{n:02d}@example.com"


def dpo_email(n: int) -> str:
    return f"load-dpo-{n}@example.com"


# -- the simulated people (run by locust in its own process) --------------------------------------

_employees = itertools.count()
_dpos = itertools.count()


def csrf(page: str) -> str:
    found = CSRF.search(page)
    return found.group(1) if found else ""


class Person(HttpUser):
    abstract = True
    wait_time = between(1, 3)
    email = ""

    def sign_in(self) -> None:
        start = self.client.get("/auth/login", allow_redirects=False, name="sign-in")
        authorize = self.client.post(start.headers["Location"], data={"sub": self.email}, allow_redirects=False,
                                     name="sign-in (IdP)")
        self.client.get(authorize.headers["Location"], allow_redirects=False, name="sign-in (callback)")
        with self.client.get("/me/consent", allow_redirects=False, name="signed in?", catch_response=True) as page:
            if page.status_code != 200:
                page.failure(f"not signed in ({page.status_code})")
                self.stop()

    def on_start(self) -> None:
        # Each person from an address of their own, as behind the load balancer (PORTAL_PROXY_HOPS=1):
        # the sign-in rate limit counts clients, and 36 people from one address would exceed it.
        self.client.headers["X-Forwarded-For"] = f"10.0.{random.randint(0, 255)}.{random.randint(1, 254)}"
        self.sign_in()


class Employee(Person):
    weight = EMPLOYEES

    def on_start(self) -> None:
        self.email = employee_email(next(_employees) % EMPLOYEES)
        super().on_start()

    @task(6)
    def dashboard(self) -> None:
        self.client.get("/", name="dashboard")

    @task(4)
    def browse(self) -> None:
        self.client.get("/me/activity", name="browse")

    @task(1)
    def screenshots(self) -> None:
        self.client.get("/me/screenshots", name="screenshots")

    @task(1)
    def consent_and_access_log(self) -> None:
        self.client.get("/me/consent", name="consent")
        self.client.get("/me/access-log", name="access log")

    @task(2)
    def exports(self) -> None:
        page = self.client.get("/me/exports", name="exports").text
        if random.random() < 0.25:
            data = [("csrf_token", csrf(page))] + [("categories", c) for c in CATEGORY.findall(page)]
            # Two exports at a time per person: a third is refused with a 400 that says so.
            with self.client.post("/me/exports", data=data, allow_redirects=False, name="ask for an export",
                                  catch_response=True) as answer:
                if answer.status_code in (302, 400):
                    answer.success()

    @task(2)
    def requests(self) -> None:
        self.client.get("/me/requests", name="requests")
        if random.random() < 0.2:
            page = self.client.get("/me/requests/new/access", name="request form").text
            self.client.post("/me/requests/new/access", data={"csrf_token": csrf(page), "description": "load test"},
                             allow_redirects=False, name="file a request")


class Dpo(Person):
    weight = DPOS
    fixed_count = DPOS

    def on_start(self) -> None:
        self.email = dpo_email(next(_dpos) % DPOS)
        super().on_start()

    @task(4)
    def queue_and_case(self) -> None:
        queue = self.client.get("/dpo/queue", name="queue").text
        cases = CASE_LINK.findall(queue)
        if not cases:
            return
        case = random.choice(cases)
        page = self.client.get(case, name="case").text
        if "/claim" in page and random.random() < 0.3:
            with self.client.post(f"{case}/claim", data={"csrf_token": csrf(page)}, allow_redirects=False,
                                  name="claim", catch_response=True) as answer:
                if answer.status_code in (302, 400, 409):  # someone else was quicker: said so
                    answer.success()

    @task(1)
    def reports(self) -> None:
        self.client.get("/dpo/reports", name="reports")


# -- building the instance and running locust ------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def flask(env: dict[str, str], *args: str) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    print(f"  flask {' '.join(args)}: {time.perf_counter() - started:.1f} s", flush=True)


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    import requests

    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url} did not start") from None
            time.sleep(0.2)


def prepare_people(idp: str, base: str, env: dict[str, str], events: int) -> None:
    """Register the accounts at the IdP, sign each in once (the portal makes their records), give
    the employees data, and put the DPOs in the demo's queues."""
    import requests

    people = [(employee_email(n), {"email": employee_email(n), "name": f"Load Employee {n}", "country": "ES",
                                   "groups": []}) for n in range(EMPLOYEES)]
    people += [(dpo_email(n), {"email": dpo_email(n), "name": f"Load DPO {n}", "country": "ES", "groups": ["dpo"]})
               for n in range(DPOS)]
    for index, (sub, claims) in enumerate(people):
        assert requests.put(f"{idp}/users/{sub}", json=claims, timeout=10).status_code == 204
        session = requests.Session()
        session.headers["X-Forwarded-For"] = f"10.1.0.{index + 1}"
        start = session.get(base + "/auth/login", allow_redirects=False, timeout=10)
        authorize = session.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
        done = session.get(authorize.headers["Location"], allow_redirects=False, timeout=30)
        assert done.status_code == 302, (sub, done.status_code)
    script = f"""
from portal import create_app
from portal.demo.seed import generate
from portal.extensions import db
from portal.people.services import find_by_email
from portal.rights.models import Queue, QueueMember
app = create_app()
with app.app_context():
    for n in range({EMPLOYEES}):
        generate(find_by_email(f"load-employee-{{n:02d}}@example.com"), events={events}, screenshots=2, seed_value=n)
        db.session.commit()
    for queue in db.session.query(Queue).all():
        for n in range({DPOS}):
            db.session.add(QueueMember(queue_id=queue.id, employee_id=find_by_email(f"load-dpo-{{n}}@example.com").id))
    db.session.commit()
"""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    print(f"  {EMPLOYEES} employees with {events:,} events each, {DPOS} DPOs in the queues: "
          f"{time.perf_counter() - started:.1f} s", flush=True)


def summary(prefix: Path) -> int:
    """Print the figures from locust's CSV; returns the number of 5xx answers."""
    with open(f"{prefix}_stats.csv") as fh:
        stats = list(csv.DictReader(fh))
    server_errors = 0
    failures_file = Path(f"{prefix}_failures.csv")
    failures: list[dict[str, str]] = []
    if failures_file.exists():
        with open(failures_file) as fh:
            failures = list(csv.DictReader(fh))
    for row in failures:
        if re.search(r"\b5\d\d\b", row["Error"]):
            server_errors += int(row["Occurrences"])
    print(f"\n  {'page':<22} {'requests':>9} {'failures':>9} {'median':>9} {'p95':>9}")
    for row in stats:
        name = row["Name"] if row["Name"] != "Aggregated" else "all"
        print(f"  {name:<22} {row['Request Count']:>9} {row['Failure Count']:>9} {row['50%']:>7} ms "
              f"{row['95%']:>6} ms")
    for row in failures:
        print(f"  failure: {row['Method']} {row['Name']}: {row['Error']} x {row['Occurrences']}")
    print(f"\n5xx answers: {server_errors}")
    return server_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--events", type=int, default=2000, help="events per employee")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()

    idp_port, portal_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="portal-bench-load-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update({"PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
                    "PORTAL_OIDC_ISSUER": f"http://127.0.0.1:{idp_port}",
                    "PORTAL_BASE_URL": f"http://127.0.0.1:{portal_port}", "PORTAL_PROXY_HOPS": "1",
                    "PYTHONPATH": str(ROOT)})
        if args.database_url:
            env["PORTAL_DATABASE_URL"] = args.database_url
        idp = f"http://127.0.0.1:{idp_port}"
        base = f"http://127.0.0.1:{portal_port}"
        print(f"Building a demo instance in {tmp} ...", flush=True)
        flask(env, "db", "upgrade")
        flask(env, "demo", "seed")
        idp_process = subprocess.Popen([sys.executable, "-m", "portal.demo.idp", "--port", str(idp_port)], cwd=ROOT,
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        portal = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--threads", "4", "--worker-class",
             "gthread", "--keep-alive", "10", "--bind", f"127.0.0.1:{portal_port}", "--log-level", "warning",
             "wsgi:app"],
            cwd=ROOT, env=env)
        try:
            wait_until_up(idp + "/.well-known/openid-configuration", idp_process)
            wait_until_up(base + "/healthz", portal)
            prepare_people(idp, base, env, args.events)
            prefix = Path(tmp) / "locust"
            people = EMPLOYEES + DPOS
            print(f"Running {EMPLOYEES} employees and {DPOS} DPOs for {args.seconds} s ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "locust", "-f", __file__, "--headless", "--users", str(people),
                 "--spawn-rate", str(people), "--run-time", f"{args.seconds}s", "--host", base, "--csv", str(prefix),
                 "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"],
                cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)
            server_errors = summary(prefix)
        finally:
            portal.terminate()
            idp_process.terminate()
            portal.wait(20)
            idp_process.wait(10)
    print(f"cores: {os.cpu_count()}   database: {'PostgreSQL' if args.database_url else 'SQLite'}   "
          f"gunicorn: {args.workers} workers x 4 threads")
    sys.exit(1 if server_errors else 0)


if __name__ == "__main__":
    main()
