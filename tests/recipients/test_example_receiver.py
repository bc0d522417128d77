"""examples/webhook_receiver.py against a live portal: the portal's delivery job signs a task, the
receiver checks the signature with its own implementation of the specification, answers, and
confirms the task through the API; a forged delivery is refused and nothing is confirmed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import requests
import sqlalchemy as sa
from flask import Flask

from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.recipients import services
from portal.recipients.models import DeliveryState, RecipientTask
from tests.conftest import LiveServer, _free_port
from tests.helpers import make_employee
from tests.recipients.support import bound_token, make_recipient


def test_the_example_receiver_verifies_and_confirms(app: Flask) -> None:
    alice = make_employee(app, "alice@example.com", name="Alice Example")
    port = _free_port()
    with app.app_context():
        recipient, secret = make_recipient("People Analytics", "webhook", ["input_events"],
                                           url=f"http://127.0.0.1:{port}/hooks")
        token = bound_token(recipient.id)
    with LiveServer(app) as live:
        receiver = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "examples" / "webhook_receiver.py"), "--port", str(port),
             "--url", live.url], env={**os.environ, "WEBHOOK_SECRET": secret or "", "PORTAL_API_TOKEN": token},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        try:
            assert receiver.stdout is not None and "listening" in receiver.stdout.readline()
            reader = threading.Thread(target=lambda: lines.extend(receiver.stdout or ()), daemon=True)
            reader.start()
            forged = requests.post(f"http://127.0.0.1:{port}/hooks", data=b'{"data": {}}', timeout=10, headers={
                "webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
            assert forged.status_code == 400
            with app.app_context():
                (task,) = services.open_tasks(alice, services.Affected(services.TaskAction.ERASE), request=None)
                task_id = task.id
                db.session.commit()  # the delivery job runs on the portal's own runner after this
            deadline = time.monotonic() + 30
            state = None
            while time.monotonic() < deadline:
                with app.app_context():
                    row = db.session.execute(sa.select(RecipientTask.outcome, RecipientTask.confirmed_via,
                                                       RecipientTask.delivery_state)
                                             .where(RecipientTask.id == task_id)).one()
                if row.outcome is not None and row.delivery_state == DeliveryState.DELIVERED:
                    state = row
                    break
                time.sleep(0.2)
            assert state is not None and (state.outcome, state.confirmed_via) == ("done", "api")
            # The portal records the confirmation before the receiver has its answer and says so.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(f"confirmed {task_id}" in line for line in lines):
                time.sleep(0.05)
        finally:
            receiver.terminate()
            receiver.wait(10)
    output = "".join(lines)
    assert "refused: signature" in output and f"verified msg_{task_id}" in output and f"confirmed {task_id}" in output
