"""Benchmark: the employee's pages against a real server, with 1,000,000 events for one employee.

Builds a fresh SQLite demo instance in a temporary directory (`db upgrade`, `demo seed`, `demo
generate --events N`), starts the demo identity provider (in this process) and the portal
(gunicorn, one worker, in its own process), signs in as alice@example.com through the real
OpenID Connect flow, then times 20 GETs each of:

- the dashboard (`/`),
- the data browser's first page (`/me/activity`),
- a page deep in the history: the one reached by following the browser's "Older" link
  (`<a rel="next">`) 200 times from the first page.

Prints the median and 90th percentile of each (ms, measured by the client, so including HTTP
on loopback) and the machine's core count.

    .venv/bin/python bench/pages.py [--events N] [--requests 20] [--deep 200]
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEXT_LINK = re.compile(r"<a\b[^>]*\brel=\"[^\"]*\bnext\b[^\"]*\"[^>]*>", re.IGNORECASE)
HREF = re.compile(r"\bhref=\"([^\"]+)\"")


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


@contextmanager
def portal_server(env: dict[str, str], port: int) -> Iterator[str]:
    """The portal under gunicorn (one synchronous worker), like a production process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "wsgi:app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(url + "/", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the portal did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def sign_in(base: str, sub: str) -> requests.Session:
    """The real code flow: portal -> IdP (pick ``sub``) -> portal callback, in one client session."""
    session = requests.Session()
    start = session.get(base + "/auth/login", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.status_code
    authorize = session.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text[:300]
    callback = session.get(authorize.headers["Location"], allow_redirects=False, timeout=30)
    assert callback.status_code == 302 and callback.headers["Location"] == "/", callback.status_code
    home = session.get(base + "/", timeout=30)
    assert home.status_code == 200 and "Hello," in home.text, "not signed in"
    return session


def older_link(page: str, current: str) -> str | None:
    tag = NEXT_LINK.search(page)
    if tag is None:
        return None
    href = HREF.search(tag.group(0))
    return urljoin(current, html.unescape(href.group(1))) if href else None


def deep_page(session: requests.Session, first: str, steps: int) -> tuple[str, int]:
    """Follow the "Older" link ``steps`` times (or as far as it goes); returns the URL and the steps taken."""
    url = first
    for step in range(steps):
        response = session.get(url, timeout=30)
        response.raise_for_status()
        following = older_link(response.text, url)
        if following is None:
            return url, step
        url = following
    return url, steps


def timings(session: requests.Session, url: str, count: int) -> list[float]:
    for _ in range(2):  # warm caches and the worker, as a server that has been running would be
        session.get(url, timeout=30).raise_for_status()
    elapsed = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=30)
        elapsed.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return elapsed


def report(name: str, url: str, values: list[float] | None, note: str = "") -> None:
    if not values:
        print(f"  {name:<28} {'n/a':>10} {'':>10}   {note}")
        return
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
    print(f"  {name:<28} {statistics.median(values):>8.1f} ms {p90:>7.1f} ms   {urlsplit(url).path}"
          f"{'?' + urlsplit(url).query if urlsplit(url).query else ''} {note}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--screenshots", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--deep", type=int, default=200, help="how many times to follow the Older link")
    args = parser.parse_args()

    warnings.filterwarnings("ignore", message=".*deprecated")  # third-party notices, not ours
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process IdP's request log
    from portal.demo import idp

    idp_port, portal_port = free_port(), free_port()
    server = idp.serve("127.0.0.1", idp_port)
    try:
        with tempfile.TemporaryDirectory(prefix="portal-bench-pages-") as tmp:
            env = {**os.environ, "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
                   "PORTAL_OIDC_ISSUER": f"http://127.0.0.1:{idp_port}",
                   "PORTAL_BASE_URL": f"http://127.0.0.1:{portal_port}"}
            for name in ("PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_SESSION_DIR", "PORTAL_KEY_DIR",
                         "PORTAL_ARTIFACT_DIR"):
                env.pop(name, None)
            print(f"Building a demo instance in {tmp} with {args.events:,} events for alice@example.com ...",
                  flush=True)
            flask(env, "db", "upgrade")
            flask(env, "demo", "seed")
            flask(env, "demo", "generate", "--employee", "alice@example.com", "--events", str(args.events),
                  "--screenshots", str(args.screenshots), "--seed", "1")
            with portal_server(env, portal_port) as base:
                session = sign_in(base, "alice@example.com")
                results: list[tuple[str, str, list[float] | None, str]] = []
                results.append(("dashboard", base + "/", timings(session, base + "/", args.requests), ""))
                first = base + "/me/activity"
                if session.get(first, timeout=30).status_code == 200:
                    results.append(("browser, first page", first, timings(session, first, args.requests), ""))
                    deep, steps = deep_page(session, first, args.deep)
                    note = f"(after {steps} x Older)" if steps == args.deep else f"(only {steps} x Older: no more)"
                    results.append(("browser, deep page", deep, timings(session, deep, args.requests), note))
                else:
                    results.append(("browser, first page", first, None, "(/me/activity is not there yet)"))
                    results.append(("browser, deep page", first, None, "(/me/activity is not there yet)"))
    finally:
        server.shutdown()

    print(f"\ncores: {os.cpu_count()}   events: {args.events:,}   requests per page: {args.requests}")
    print(f"  {'page':<28} {'median':>11} {'p90':>10}")
    for name, url, values, note in results:
        report(name, url, values, note)


if __name__ == "__main__":
    main()
