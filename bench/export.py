"""Benchmark: one employee's complete export, against a baseline on the same rows.

Builds a fresh SQLite demo instance in a temporary directory (`db upgrade`, `demo seed`, `demo
generate --events N --screenshots M` for alice@example.com), then, on the same database:

1. runs `flask --app wsgi export run --employee alice@example.com --out ...` (the same code as
   the web export: decrypt every event, JSON Lines + CSV per category, screenshots, PDF report,
   offline index, manifest, the ZIP sealed at rest, then unsealed to the output file) as a child
   process, and reads its peak RSS from the kernel (`ru_maxrss` of the waited-for child);
2. times the baseline: `sqlite3 -json` of the same event and screenshot rows, piped into
   `gzip -1` (a plain dump, nothing decrypted).

Prints wall time, events per second, peak RSS, the baseline's time, the ratio of the two, and
the machine's core count.

    .venv/bin/python bench/export.py [--events 1000000] [--screenshots 200]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def flask(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    print(f"  flask {' '.join(args[:2])}: {elapsed:.1f} s", flush=True)
    return elapsed


def export_run(env: dict[str, str], out: Path) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of the export command, measured on the child alone."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "export", "run",
                                "--employee", "alice@example.com", "--out", str(out)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export failed:\n{stdout}\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024, stdout.strip()


BASELINE_QUERY = ("SELECT * FROM activity_events WHERE subject_id = :subject ORDER BY occurred_at, id; "
                  "SELECT * FROM screenshots WHERE subject_id = :subject ORDER BY captured_at, id;")


def baseline(database: Path, subject_id: str) -> float:
    """`sqlite3 -json` of the same rows piped into `gzip -1`, all of it, timed end to end."""
    sqlite = shutil.which("sqlite3")
    if sqlite is None:
        raise SystemExit("the baseline needs the sqlite3 command (Debian package sqlite3)")
    if not re.fullmatch(r"[0-9a-f]{32}", subject_id):
        raise SystemExit("unexpected subject id")
    query = BASELINE_QUERY.replace(":subject", f"'{subject_id}'")
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        dump = subprocess.Popen([sqlite, "-json", str(database), query], stdout=subprocess.PIPE)
        gzip = subprocess.run(["gzip", "-1"], stdin=dump.stdout, stdout=sink, check=True)
        if dump.stdout:
            dump.stdout.close()
        dump.wait()
    if dump.returncode != 0 or gzip.returncode != 0:
        raise SystemExit("the baseline failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--screenshots", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="portal-bench-export-") as tmp:
        instance = Path(tmp) / "instance"
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
               "PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": str(instance)}
        print(f"Preparing {args.events:,} events and {args.screenshots} screenshots for alice@example.com ...")
        flask(env, "db", "upgrade")
        flask(env, "demo", "seed")
        flask(env, "demo", "generate", "--employee", "alice@example.com", "--events", str(args.events),
              "--screenshots", str(args.screenshots), "--seed", "7")
        database = instance / "portal.db"
        with sqlite3.connect(database) as conn:
            subject_id, events = conn.execute(
                "SELECT subject_id, count(*) FROM activity_events GROUP BY subject_id ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()
            shots = conn.execute("SELECT count(*) FROM screenshots WHERE subject_id = ?", (subject_id,)).fetchone()[0]

        out = Path(tmp) / "export.zip"
        elapsed, peak_mib, said = export_run(env, out)
        base = min(baseline(database, subject_id) for _ in range(2))

        print()
        print(f"cores: {os.cpu_count()}")
        print(f"rows: {events:,} events and {shots} screenshots of one employee")
        print(f"export: {said}")
        print(f"export wall time:       {elapsed:8.1f} s   ({events / elapsed:,.0f} events/s)")
        print(f"export peak RSS:        {peak_mib:8.1f} MiB")
        print(f"export ZIP size:        {out.stat().st_size / 2**20:8.1f} MiB")
        print(f"baseline (sqlite3 -json | gzip -1, best of 2): {base:.1f} s")
        print(f"ratio export / baseline: {elapsed / base:.2f}x")


if __name__ == "__main__":
    main()
