"""Benchmark: `demo generate` of N events (default 1,000,000) for one employee on a fresh SQLite
demo instance. Prints wall time, events per second, peak RSS and the machine's core count.

    .venv/bin/python bench/generate.py [--events N] [--screenshots M]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--screenshots", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        env = {**os.environ, "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
               "PORTAL_KEY_DIR": f"{tmp}/keys"}  # the key store lives outside the instance
        env.pop("PORTAL_DATABASE_URL", None)
        flask(env, "db", "upgrade")
        flask(env, "demo", "seed")
        started = time.perf_counter()
        flask(env, "demo", "generate", "--employee", "alice@example.com", "--events", str(args.events),
              "--screenshots", str(args.screenshots), "--seed", "1")
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = (Path(tmp) / "instance" / "portal.db").stat().st_size
    print(f"cores: {os.cpu_count()}")
    print(f"events: {args.events:,}  screenshots: {args.screenshots}")
    print(f"wall time: {elapsed:.1f} s  ({args.events / elapsed:,.0f} events/s, including process start-up)")
    print(f"peak RSS of the generating process: {peak_kib / 1024:.0f} MiB")
    print(f"database size after: {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
