"""A recipient system's webhook endpoint: it checks each delivery's Standard Webhooks signature
(written here from the specification, https://www.standardwebhooks.com/, with nothing of the
portal's code), answers at once, then does the task and confirms it through the portal's API.

    WEBHOOK_SECRET=whsec_... PORTAL_API_TOKEN=ppt_... python examples/webhook_receiver.py \\
        --port 8765 --url http://127.0.0.1:5000

A delivery whose signature does not match any `v1` signature in `webhook-signature`, or whose
`webhook-timestamp` is more than five minutes off, is refused with 400 and nothing is done. A
`webhook-id` seen before is answered 200 and not done again (the portal sends the same id on every
attempt). "Doing the task" here is printing it; a real system deletes, corrects or restricts its
copy and confirms with what it did. Needs `requests`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

TOLERANCE_SECONDS = 300


def signature_ok(secret: str, message_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` holds a `v1` signature of ``id.timestamp.body`` under ``secret``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for part in header.split(" "):
        version, _, value = part.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(given, expected):
            return True
    return False


def make_handler(secret: str, confirm: Confirmer) -> type[BaseHTTPRequestHandler]:
    seen: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message_id = self.headers.get("webhook-id", "")
            timestamp = self.headers.get("webhook-timestamp", "")
            header = self.headers.get("webhook-signature", "")
            fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= TOLERANCE_SECONDS
            if not (message_id and fresh and signature_ok(secret, message_id, timestamp, body, header)):
                print("refused: signature or timestamp does not match", flush=True)
                self._answer(400)
                return
            with lock:
                repeat = message_id in seen
                seen.add(message_id)
            self._answer(200)  # answer at once; the work and the confirmation follow
            if repeat:
                print(f"repeat of {message_id}: already done", flush=True)
                return
            event = json.loads(body)
            task = event["data"]
            print(f"verified {message_id}: {task['action']} {task['subject']['pseudonym']} "
                  f"{','.join(task['categories'])} due {task['due']}", flush=True)
            threading.Thread(target=confirm, args=(task,), daemon=True).start()

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class Confirmer:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, task: dict[str, object]) -> None:
        for attempt in range(5):
            try:
                answer = self.session.post(f"{self.url}/api/v1/recipient-tasks/{task['id']}/confirm",
                                           json={"outcome": "done", "details": {"rows_deleted": 0}}, timeout=30)
            except requests.RequestException as exc:
                print(f"confirming {task['id']} failed ({type(exc).__name__}); trying again", flush=True)
            else:
                if answer.status_code == 200:
                    first = answer.json()["first"]
                    print(f"confirmed {task['id']}" + ("" if first else " (it was confirmed before)"), flush=True)
                    return
                if answer.status_code not in (429, 500, 502, 503, 504):
                    print(f"confirming {task['id']} refused: HTTP {answer.status_code}", flush=True)
                    return
            time.sleep(2 ** attempt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="the portal")
    args = parser.parse_args()
    secret, token = os.environ.get("WEBHOOK_SECRET", ""), os.environ.get("PORTAL_API_TOKEN", "")
    if not secret.startswith("whsec_") or not token:
        print("set WEBHOOK_SECRET (whsec_...) and PORTAL_API_TOKEN (the recipient's token)", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret, Confirmer(args.url, token)))
    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
