"""The AI-training side: filter a JSON Lines training file through the portal's exclusions before
use. Each line is a training record whose `pseudonym` field is the employee's id in training data
(`tp_...`); a record is kept only if nothing excludes that employee from AI training now.

    PORTAL_API_TOKEN=ppt_... python examples/training_pipeline.py --url http://127.0.0.1:5000 \\
        --in training.jsonl --out training-filtered.jsonl

It reads the whole exclusions feed (every page), then checks each other pseudonym once with
GET /api/v1/exclusions/{pseudonym}, which also reports employees who never consented. A real
pipeline keeps the feed's `next` cursor to poll only what is new. Needs `requests`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import requests

PURPOSE = "ai_training"


def excluded_by_feed(session: requests.Session, url: str) -> set[str]:
    excluded: set[str] = set()
    after = None
    while True:
        response = session.get(f"{url}/api/v1/exclusions", params={"after": after} if after else None, timeout=30)
        response.raise_for_status()
        page = response.json()
        excluded |= {item["pseudonym"] for item in page["items"] if item["purpose"] == PURPOSE and item["excluded"]}
        after = page["next"]
        if not page["more"]:
            return excluded


def excluded_now(session: requests.Session, url: str, pseudonym: str) -> bool:
    response = session.get(f"{url}/api/v1/exclusions/{pseudonym}", timeout=30)
    if response.status_code == 404:
        return True  # nobody the portal knows: never train on it
    response.raise_for_status()
    return any(item["purpose"] == PURPOSE for item in response.json()["exclusions"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--in", dest="source", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    token = os.environ.get("PORTAL_API_TOKEN")
    if not token:
        print("Set PORTAL_API_TOKEN to a token with the exclusions:read scope.", file=sys.stderr)
        return 2
    url = args.url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    excluded = excluded_by_feed(session, url)
    decided: dict[str, bool] = {}
    kept = dropped = 0
    with args.source.open(encoding="utf-8") as source, args.out.open("w", encoding="utf-8") as out:
        for line in source:
            if not line.strip():
                continue
            who = json.loads(line)["pseudonym"]
            if who not in decided:
                decided[who] = who in excluded or excluded_now(session, url, who)
            if decided[who]:
                dropped += 1
            else:
                kept += 1
                out.write(line if line.endswith("\n") else line + "\n")
    print(f"kept {kept}, dropped {dropped} (excluded: {sum(decided.values())} of {len(decided)} people)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
