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
which also reports employees who never consented.

With `--dataset NAME --snapshot ID` it then registers the filtered file in the portal's training-set
ledger as that snapshot of the data set (its members: the pseudonyms kept, with their record
counts). With `--replaces OLD` as well, the new snapshot answers the removals pending on snapshot OLD
(an erasure, an upheld objection or a withdrawn consent marked it "removal required"): the portal
checks that the new one holds none of those people and records the answer; `--retrained-version V`
registers each model trained on OLD as version V trained on the new snapshot and records that it was
retrained. That needs a token with the `training` scope too. Needs `requests`.

    PORTAL_API_TOKEN=ppt_... python examples/training_pipeline.py --in training.jsonl \
        --out s1-r1.jsonl --dataset activity-patterns --snapshot s1-r1 --replaces s1 --retrained-version 2.3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime
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


def _ok(response: requests.Response) -> dict:
    if response.status_code >= 400:
        problem = response.json() if response.headers.get("Content-Type", "").startswith("application/") else {}
        raise SystemExit(f"{response.request.method} {response.url}: {response.status_code} {problem.get('detail', '')}")
    return response.json()


def register_snapshot(session: requests.Session, url: str, dataset: str, snapshot: str,
                      records: Counter[str]) -> dict:
    """Register the kept records as a snapshot of ``dataset``: every pseudonym in it, with its count."""
    info = _ok(session.get(f"{url}/api/v1/training/datasets/{dataset}", timeout=30))
    return _ok(session.post(f"{url}/api/v1/training/datasets/{dataset}/snapshots", timeout=120, json={
        "snapshot": snapshot, "created_on": datetime.now(UTC).date().isoformat(),
        "source_categories": info["source_categories"],
        "members": [{"subject": who, "records": n} for who, n in sorted(records.items())]}))


def answer_with(session: requests.Session, url: str, dataset: str, old: str, new: str,
                retrained: str | None) -> str:
    """Answer the removals pending on ``old`` with the new snapshot; record each model's retraining."""
    pending = _ok(session.get(f"{url}/api/v1/training/removals", timeout=30))["items"]
    mine = [item for item in pending if (item["dataset"], item["snapshot"]) == (dataset, old)]
    if not mine:
        return f"no removal pending on {dataset}/{old}"
    answer = _ok(session.post(f"{url}/api/v1/training/datasets/{dataset}/snapshots/{old}/answer", timeout=30,
                              json={"answer": "replaced", "replacement": new}))
    said = f"answered {answer['answered']} removal(s) on {dataset}/{old}: replaced by {new}"
    if retrained:
        for model in mine[0]["models"]:
            _ok(session.post(f"{url}/api/v1/training/models", timeout=30, json={
                "name": model["name"], "version": retrained, "trained_on": datetime.now(UTC).date().isoformat(),
                "snapshots": [{"dataset": dataset, "snapshot": new}]}))
            _ok(session.post(f"{url}/api/v1/training/models/{model['name']}/versions/{model['version']}/outcomes",
                             timeout=30, json={"dataset": dataset, "snapshot": old, "action": "retrained",
                                               "new_version": retrained}))
            said += f"; {model['name']} {model['version']} retrained as {retrained}"
    return said


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--in", dest="source", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--state", type=Path, help="where to keep the feed's cursor and what is in force")
    parser.add_argument("--dataset", help="register the filtered file as a snapshot of this data set")
    parser.add_argument("--snapshot", help="the new snapshot's id")
    parser.add_argument("--replaces", help="answer the removals pending on this snapshot with the new one")
    parser.add_argument("--retrained-version", help="each model trained on the replaced snapshot was retrained "
                                                    "on the new one as this version")
    args = parser.parse_args(argv)
    if bool(args.dataset) != bool(args.snapshot) or (args.replaces and not args.snapshot):
        parser.error("--dataset and --snapshot go together; --replaces needs them")
    token = os.environ.get("PORTAL_API_TOKEN")
    if not token:
        print("Set PORTAL_API_TOKEN to a token with the exclusions:read scope.", file=sys.stderr)
        return 2
    url = args.url.rstrip("/")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    excluded = excluded_by_feed(session, url, args.state)
    decided: dict[str, bool] = {}
    records: Counter[str] = Counter()
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
                records[who] += 1
                out.write(line if line.endswith("\n") else line + "\n")
    print(f"kept {kept}, dropped {dropped} (excluded: {sum(decided.values())} of {len(decided)} people)")
    if args.snapshot:
        made = register_snapshot(session, url, args.dataset, args.snapshot, records)
        print(f"registered {args.dataset}/{args.snapshot} with {made['members']} people")
        if args.replaces:
            print(answer_with(session, url, args.dataset, args.replaces, args.snapshot, args.retrained_version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
