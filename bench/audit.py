"""Benchmark: the audit log as a Merkle tree, at 100,000 entries.

Builds a fresh database (SQLite in a temporary directory by default; ``--postgres`` for a throw-away
database on the local PostgreSQL server), migrates it, and then:

1. appends N entries through the real ``portal.audit.services.record`` (the same call every audited
   action makes), ``--per-commit`` entries per transaction, and prints entries per second;
2. brings the stored subtree hashes up to date (as signing a tree head does) and prints the time;
3. for tree sizes 1,000, 2,000, 4,000, ... up to N, times ``--samples`` inclusion proofs of random
   entries and consistency proofs from random earlier sizes (each checked by the RFC 9162
   verification algorithm, not timed), and prints the median time and the proof's size. Both must
   grow as log2(n): the size is at most about log2(n) hashes of 32 bytes, and the time follows it.

    .venv/bin/python bench/audit.py [--entries 100000] [--per-commit 1] [--samples 200] [--postgres]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def make_app(workdir: Path, database_url: str):  # type: ignore[no-untyped-def]
    from flask_migrate import upgrade

    from portal import create_app
    from portal.config import new_key

    app = create_app({
        "demo": False, "instance_dir": workdir / "instance", "database_url": database_url,
        "secret_key": new_key(), "master_key": new_key(), "oidc_issuer": "http://127.0.0.1:9",
        "oidc_client_id": "bench", "oidc_client_secret": "bench", "artifact_dir": workdir / "artifacts",
        "key_dir": workdir.parent / "keys", "session_dir": workdir / "sessions", "secure_cookies": False,
    })
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def sizes_up_to(n: int) -> list[int]:
    sizes, size = [], 1000
    while size < n:
        sizes.append(size)
        size *= 2
    return sizes + [n]


def run(database_url: str, workdir: Path, entries: int, per_commit: int, samples: int) -> None:
    from portal.audit import merkle, tree
    from portal.audit.services import Actor, record
    from portal.extensions import db

    app = make_app(workdir, database_url)
    rng = random.Random(9162)  # choosing which entries to prove, not a secret
    with app.app_context():
        dialect = db.engine.dialect.name
        print(f"database: {dialect}; {os.cpu_count()} cores; {entries:,} entries, {per_commit} per transaction",
              flush=True)
        started = time.perf_counter()
        for i in range(entries):
            record("bench:entry:add", actor=Actor("employee", f"{i % 500:032x}"), subject_id=f"{i % 997:032x}",
                   targets={"request": f"{i % 3001:032x}"}, details={"n": i, "type": "access"})
            if (i + 1) % per_commit == 0:
                db.session.commit()
            if (i + 1) % 20_000 == 0:
                print(f"  {i + 1:,} appended ({(i + 1) / (time.perf_counter() - started):,.0f}/s)", flush=True)
        db.session.commit()
        elapsed = time.perf_counter() - started
        print(f"append: {entries:,} entries in {elapsed:.1f} s = {entries / elapsed:,.0f} entries/s")

        started = time.perf_counter()
        added = tree.sync_nodes()
        db.session.commit()
        print(f"subtree hashes stored: {added:,} in {time.perf_counter() - started:.2f} s "
              "(done incrementally each time a tree head is signed)")

        from portal.audit.heads import make_head
        from portal.audit.verify import verify_log

        started = time.perf_counter()
        result = verify_log()
        print(f"audit verify (every entry recomputed): {time.perf_counter() - started:.2f} s, ok={result.ok}")
        started = time.perf_counter()
        head = make_head()
        db.session.commit()
        print(f"signed tree head over {head.tree_size:,} entries (full: verify all + sign): "
              f"{time.perf_counter() - started:.2f} s")
        for i in range(1000):
            record("bench:entry:add", actor=Actor.system(), details={"n": entries + i})
        db.session.commit()
        started = time.perf_counter()
        head = make_head(full=False)
        db.session.commit()
        print(f"then 1,000 more entries and a head from the latest one (as for an evidence pack): "
              f"{time.perf_counter() - started:.2f} s")

        leaves = {}
        print(f"\n{'tree size':>10} {'log2 n':>7} | {'inclusion ms':>12} {'hashes':>6} {'bytes':>6} | "
              f"{'consistency ms':>14} {'hashes':>6} {'bytes':>6} | {'hashes read':>11}")
        for n in sizes_up_to(entries):  # the trees of the first n entries
            root = tree.root_at(n)
            inc_times, inc_lengths, con_times, con_lengths, reads = [], [], [], [], []
            for _ in range(samples):
                seq = rng.randint(1, n)
                t0 = time.perf_counter()
                proof = tree.inclusion_proof(seq, n)
                inc_times.append(time.perf_counter() - t0)
                inc_lengths.append(len(proof))
                reads.append(sum(len(merkle.perfect_pieces(lo, hi)) for lo, hi in merkle.inclusion_ranges(seq - 1, n)))
                if seq not in leaves:
                    leaves[seq] = bytes(db.session.scalar(sa.text("SELECT leaf_hash FROM audit_entries WHERE seq = :s"),
                                                          {"s": seq}))
                assert merkle.verify_inclusion(leaves[seq], seq - 1, n, proof, root), (seq, n)

                old = rng.randint(1, n - 1)
                t0 = time.perf_counter()
                proof = tree.consistency_proof(old, n)
                con_times.append(time.perf_counter() - t0)
                con_lengths.append(len(proof))
                assert merkle.verify_consistency(old, n, tree.root_at(old), root, proof), (old, n)
            db.session.rollback()
            inc_max, con_max = max(inc_lengths), max(con_lengths)
            print(f"{n:>10,} {math.log2(n):>7.1f} | {statistics.median(inc_times) * 1000:>12.3f} {inc_max:>6} "
                  f"{inc_max * 32:>6} | {statistics.median(con_times) * 1000:>14.3f} {con_max:>6} {con_max * 32:>6} | "
                  f"{max(reads):>11}")
        print("\n(times: median per proof, read from the database; sizes: the largest proof seen, in hashes and bytes;\n"
              " hashes read: the most stored hashes one inclusion proof read)")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--per-commit", type=int, default=1)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="use a throw-away database on local PostgreSQL")
    args = parser.parse_args()
    if args.entries < 1000:
        parser.error("--entries must be at least 1000")
    with tempfile.TemporaryDirectory(prefix="portal-bench-audit-") as tmp:
        workdir = Path(tmp) / "data"  # the key store goes beside it, never in the database's folder
        workdir.mkdir()
        if not args.postgres:
            run(f"sqlite:///{workdir / 'portal.db'}", workdir, args.entries, args.per_commit, args.samples)
            return
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"portal_bench_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            run(sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False), workdir,
                args.entries, args.per_commit, args.samples)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
