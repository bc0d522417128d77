"""Profile: where one batch of 1,000 events goes, in-process through the test client (SQLite in a
temporary instance, or PostgreSQL with --database-url), with cProfile; prints the hottest
functions by cumulative and by own time.

    .venv/bin/python bench/ingest_profile.py [--batches 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import bodies  # noqa: E402 - after the path is set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-profile-") as tmp:
        os.environ.update({"PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": f"{tmp}/instance",
                           "PORTAL_OIDC_ISSUER": "http://127.0.0.1:9", "PORTAL_API_RATE_LIMIT": "100000 per minute"})
        for name in ("PORTAL_DATABASE_URL", "PORTAL_REDIS_URL", "PORTAL_KEY_DIR", "PORTAL_ARTIFACT_DIR"):
            os.environ.pop(name, None)
        if args.database_url:
            os.environ["PORTAL_DATABASE_URL"] = args.database_url
        from flask_migrate import upgrade

        from portal import create_app
        from portal.api.tokens import create_token
        from portal.audit.services import Actor
        from portal.consent.models import Decision, Purpose
        from portal.consent.services import decide
        from portal.extensions import db
        from portal.people.services import create_employee

        app = create_app()
        with app.app_context():
            upgrade()
            for n in range(1, 9):
                person = create_employee(email=f"c{n}@example.com", display_name="C", jurisdiction="ES",
                                         employee_number=f"E{1000 + n}", actor=Actor.system())
                db.session.flush()
                for purpose in Purpose:
                    decide(person.id, purpose, Decision.GRANTED, actor=Actor.system(), method="bench",
                           device="bench", policy_version=None)
            _, token = create_token("profile", ["ingest"], 1, actor=Actor.system())
            db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        prepared = bodies(args.batches + 1, 1000, 8)
        assert client.post("/api/v1/ingest", data=prepared[0], headers=headers).status_code == 200  # warm
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for body in prepared[1:]:
            answer = client.post("/api/v1/ingest", data=body, headers=headers)
            assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"{args.batches} batches of 1,000 events: {args.batches * 1000 / elapsed:,.0f} events/s in one "
              f"process (profiled)")
        if os.environ.get("PROFILE_OUT"):
            profiler.dump_stats(os.environ["PROFILE_OUT"])
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
