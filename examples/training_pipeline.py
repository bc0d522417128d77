"""The AI-training side: filter a JSON Lines training file through the portal's exclusions before
use. Each line is a training record whose `pseudonym` field is the employee's id in training data
(`tp_...`); a record is kept only if nothing excludes that employee from AI training now.

    PORTAL_API_TOKEN=ppt_... python examples/training_pipeline.py --url http://127.0.0.1:5000 \\
        --in training.jsonl --out training-filtered.jsonl

It replays the exclusions feed, a log of changes in the order they happened: an item with
`state: excluded` starts an exclusion, one with `state: lifted` ends it (consent given again, a
restriction lifted), so the last state per pseudonym and reason is what is in force. With
`--state FILE` it keeps that and the feed's `next` cursor between runs, and asks only for the
changes since. Then it checks each other pseudonym once with GET /api/v1/exclusions/{pseudonym},
which also reports employees who never consented. Needs `requests`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import requests

PURPOSE = "ai_training"


def excluded_by_feed(session: requests.Session, url: str, state: Path | None) -> set[str]:
    """Who is excluded from AI training now, from the changes since the cursor kept in ``state``."""
    kept = json.loads(state.read_text()) if state is not None and state.exists() else {}
    in_force = {tuple(pair) for pair in kept.get("in_force", [])}  # (pseudonym, reason)
    after = kept.get("after")
    while True:
        response = session.get(f"{url}/api/v1/exclusions", params={"after": after} if after else None, timeout=30)
        response.raise_for_status()
        page = response.json()
        for item in page["items"]:
            if item["purpose"] != PURPOSE:
                continue
            if item["state"] == "excluded":
                in_force.add((item["pseudonym"], item["reason"]))
            else:
                in_force.discard((item["pseudonym"], item["reason"]))
        after = page["next"]
        if not page["more"]:
            break
    if state is not None:
        state.write_text(json.dumps({"after": after, "in_force": sorted(in_force)}))
    return {who for who, _ in in_force}


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
    parser.add_argument("--state", type=Path, help="where to keep the feed's cursor and what is in force")
    args = parser.parse_args(argv)
    token = os.environ.get("PORTAL_API_TOKEN")
    if not token:
        print("Set PORTAL_API_TOKEN to a token with the exclusions:read scope.", file=sys.stderr)
        return 2
    url = args.url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    excluded = excluded_by_feed(session, url, args.state)
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
