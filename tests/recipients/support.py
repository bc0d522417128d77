"""Recipients for the tests, a real webhook receiver on loopback, and bound tokens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from portal.api.tokens import create_token
from portal.audit.services import Actor
from portal.extensions import db
from portal.recipients import services
from portal.recipients.models import Recipient


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint: answers each POST with the next of ``script`` (a status, or ``("sleep",
    seconds)`` to answer 200 too late), then ``then`` for ever; records what it got."""

    url: str = ""
    script: list[Any] = field(default_factory=list)
    then: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> Any:
        with self.lock:
            return self.script.pop(0) if self.script else self.then


@contextmanager
def receiver(*script: Any, then: int = 200) -> Iterator[Receiver]:
    state = Receiver(script=list(script), then=then)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            answer = state.next_answer()
            if isinstance(answer, tuple):
                time.sleep(answer[1])
                answer = 200
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/portal"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def make_recipient(name: str, delivery: str, categories: list[str], *, uses: tuple[str, ...] = (),
                   role: str = "processor", url: str | None = None, needs_name: bool | None = None
                   ) -> tuple[Recipient, str | None]:
    """Inside an app context: a recipient (committed) and its signing secret for a webhook."""
    recipient, secret = services.create_recipient(
        name=name, contact=f"{name.lower().replace(' ', '-')}@example.com", categories=categories, uses=list(uses),
        purpose=f"{name} uses the data", role=role, delivery=delivery, webhook_url=url, actor=Actor.system(),
        needs_name=role == "internal" if needs_name is None else needs_name)
    db.session.commit()
    return recipient, secret


def bound_token(recipient_id: str | None, *scopes: str) -> str:
    """Inside an app context: a token of the scope recipient (or ``scopes``) bound to the recipient."""
    _, secret = create_token("recipient test", list(scopes or ("recipient",)), 30, actor=Actor.system(),
                             recipient_id=recipient_id)
    db.session.commit()
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
