"""A collector's side of POST /api/v1/ingest: send batches, retry with backoff on 429 and 503
(honouring Retry-After) and on lost connections, stop on a refusal and say why.

    PORTAL_API_TOKEN=ppt_... python examples/collector.py --url http://127.0.0.1:5000 examples/ingest-batch.json

Each file holds one batch (JSON) or one batch per line (JSON Lines). A batch that was stored
before is answered with duplicates, so resending after a lost answer is safe. Needs `requests`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import requests

RETRY_STATUSES = {429, 502, 503, 504}


def batches(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def post_batch(session: requests.Session, url: str, batch: dict[str, Any], *, attempts: int = 6,
               base_delay: float = 0.5) -> tuple[int, dict[str, Any]]:
    """POST one batch; returns the final status and JSON answer (a problem for a refusal)."""
    for attempt in range(attempts):
        try:
            response = session.post(f"{url}/api/v1/ingest", json=batch, timeout=60)
        except requests.ConnectionError:
            if attempt == attempts - 1:
                raise
            time.sleep(base_delay * 2**attempt)
            continue
        if response.status_code in RETRY_STATUSES and attempt < attempts - 1:
            wait = response.headers.get("Retry-After")
            delay = float(wait) if wait and wait.isdigit() else base_delay * 2**attempt
            time.sleep(delay + random.uniform(0, base_delay))  # noqa: S311 - jitter, not a secret
            continue
        return response.status_code, response.json()
    raise RuntimeError("unreachable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="The portal's base URL.")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    token = os.environ.get("PORTAL_API_TOKEN")
    if not token:
        print("Set PORTAL_API_TOKEN to a token with the ingest scope.", file=sys.stderr)
        return 2
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    stored = duplicates = 0
    for path in args.files:
        for number, batch in enumerate(batches(path), 1):
            status, answer = post_batch(session, args.url.rstrip("/"), batch)
            if status != 200:
                print(f"{path} batch {number}: refused ({status} {answer.get('title')}): {answer.get('detail')}",
                      file=sys.stderr)
                for record in answer.get("refused") or []:
                    print(f"  {record['record']} {record['index']}: {record['reason']}: {record['detail']}",
                          file=sys.stderr)
                return 1
            stored += answer["stored"]
            duplicates += answer["duplicates"]
    print(f"stored {stored}, duplicates {duplicates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
