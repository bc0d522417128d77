"""Delivering tasks: a signed webhook per task, or an e-mail to a manual recipient's contact with a
link to a confirmation page. Both are jobs (``portal.jobs``): retried with backoff, taken up again
after a crash (the job's lease), and idempotent.

Webhooks (Standard Webhooks): ``webhook-id`` is ``msg_<task id>`` on every attempt, so a receiver
recognises a repeat; a 2xx answer is recorded as delivered in the job's own transaction and the task
is never sent again after that; 410 Gone stops for good (the endpoint is gone); any other answer, a
timeout or a refused connection is retried, up to ``PORTAL_WEBHOOK_ATTEMPTS``, then the delivery is
dead and the DPO sees it on the case and in the queue. No redirect is followed. Nothing of the
secret, the body or the answer is logged; a failure's reason names the status or the error class.

The link of a manual task is signed with the secret key, bound to the task's nonce and expires after
``LINK_DAYS``; the page it opens takes one confirmation (a second changes nothing).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import msgspec
import requests
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.api import schemas as s
from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.crypto.keys import SealError
from portal.db import utcnow
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job
from portal.rights import services as request_services
from portal.rights.models import DataRequest

from . import services, signing
from .models import Delivery, DeliveryState, Recipient, RecipientTask, TaskState
from .payload import item

log = logging.getLogger(__name__)

LINK_DAYS = 60
LINK_SALT = "recipient-task-link"
BACKOFF_CAP_SECONDS = 3600


def webhook_backoff(attempts: int) -> float:
    base = current_settings().webhook_backoff_seconds
    return float(min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempts - 1)))


def message_id(task: RecipientTask) -> str:
    return f"msg_{task.id}"


def event_body(task: RecipientTask, recipient: Recipient, *, now: datetime | None = None) -> bytes:
    return msgspec.json.encode(s.WebhookEvent(type="recipient_task.created", timestamp=now or utcnow(),
                                              data=item(task, recipient)))


def _task_and_recipient(task_id: str) -> tuple[RecipientTask, Recipient]:
    task = db.session.get(RecipientTask, task_id)
    if task is None:
        raise jobs.JobError("the task no longer exists; nothing was sent", retry=False)
    recipient = db.session.get(Recipient, task.recipient_id)
    if recipient is None:
        raise jobs.JobError("the recipient no longer exists; nothing was sent", retry=False)
    return task, recipient


def _audit(task: RecipientTask, action: str, **details: Any) -> None:
    record(f"recipients:task:{action}", actor=Actor.system(), subject_id=task.subject_id,
           targets={"recipient_task": task.id, "recipient": task.recipient_id,
                    **({"request": task.request_id} if task.request_id else {})}, details=details)


def _dead(job: Job, reason: str) -> None:
    """Every attempt failed: the task stays open (and escalates when overdue); the DPO is told now."""
    task = db.session.get(RecipientTask, (job.params or {}).get("task_id", ""))
    if task is None or task.delivery_state != DeliveryState.WAITING:
        return
    task.delivery_state = DeliveryState.DEAD
    task.delivery_error = reason
    _audit(task, "undeliverable", reason=reason, attempts=job.attempts)
    request = db.session.get(DataRequest, task.request_id) if task.request_id else None
    if request is not None:
        request_services.notify_queue("dpo_recipient_undeliverable", request)


@jobs.handler(services.WEBHOOK_JOB, on_give_up=_dead, backoff=webhook_backoff)
def deliver_webhook(ctx: jobs.JobContext) -> dict[str, Any]:
    task, recipient = _task_and_recipient(str(ctx.params.get("task_id", "")))
    if task.delivery_state != DeliveryState.WAITING:
        return {"task_id": task.id, "already": str(task.delivery_state)}  # never sent twice
    if task.state == TaskState.CONFIRMED:
        return {"task_id": task.id, "skipped": "confirmed"}  # the recipient answered already (pulled it)
    if recipient.delivery != Delivery.WEBHOOK or not recipient.webhook_url:
        # An edit moved it to another way of delivery and queued the task that way (services._reroute).
        return {"task_id": task.id, "skipped": "no longer a webhook"}
    try:
        in_force = services.secrets_in_force(recipient)
    except SealError:
        raise jobs.JobError("the signing secret cannot be opened (was the master key changed?)", retry=False) from None
    body = event_body(task, recipient)
    headers = {"Content-Type": "application/json", "User-Agent": "privacy-portal-webhooks/1",
               **signing.headers(in_force, message_id(task), int(time.time()), body)}
    timeout = current_settings().webhook_timeout_seconds
    try:
        answer = requests.post(recipient.webhook_url, data=body, headers=headers, timeout=(timeout, timeout),
                               allow_redirects=False)
        status = answer.status_code
        answer.close()
    except requests.Timeout:
        raise jobs.JobError("the webhook did not answer in time; it is tried again") from None
    except requests.RequestException as exc:
        raise jobs.JobError(f"the webhook could not be reached ({type(exc).__name__}); it is tried again") from None
    if 200 <= status < 300:
        task.delivery_state = DeliveryState.DELIVERED
        task.delivered_at = utcnow()
        task.delivery_error = None
        _audit(task, "deliver", via="webhook", status=status, attempt=ctx.attempt)
        return {"task_id": task.id, "status": status}
    if status == 410:
        task.delivery_state = DeliveryState.GONE
        task.delivery_error = "the webhook answered 410 Gone: nothing more is sent to it"
        _audit(task, "undeliverable", reason="gone", status=status, attempt=ctx.attempt)
        request = db.session.get(DataRequest, task.request_id) if task.request_id else None
        if request is not None:
            request_services.notify_queue("dpo_recipient_undeliverable", request)
        return {"task_id": task.id, "status": status, "gone": True}
    raise jobs.JobError(f"the webhook answered HTTP {status}; it is tried again")


# -- manual recipients: an e-mail with a signed, expiring, single-use link --------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=LINK_SALT)


def link_token(task: RecipientTask) -> str:
    return _serializer().dumps({"t": task.id, "n": task.link_nonce})


def task_of_link(token: str) -> RecipientTask | None:
    """The task a link names, if the link is genuine, not expired and still bound to it."""
    try:
        value = _serializer().loads(token, max_age=LINK_DAYS * 86400)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("t"), str) or not isinstance(value.get("n"), str):
        return None
    task = db.session.get(RecipientTask, value["t"])
    if task is None or task.link_nonce is None or task.link_nonce != value["n"]:
        return None
    return task


def link_url(task: RecipientTask) -> str:
    base = str(current_settings().base_url).rstrip("/")
    return f"{base}/recipient-tasks/{link_token(task)}"


@jobs.handler(services.MANUAL_JOB, on_give_up=_dead)
def mail_manual(ctx: jobs.JobContext) -> dict[str, Any]:
    from portal.mail.services import MailError, message_id_for, render, send_now

    task, recipient = _task_and_recipient(str(ctx.params.get("task_id", "")))
    if task.delivery_state != DeliveryState.WAITING:
        return {"task_id": task.id, "already": str(task.delivery_state)}
    if recipient.delivery != Delivery.MANUAL or task.link_nonce is None:
        # An edit moved it to another way of delivery and queued the task that way (services._reroute).
        return {"task_id": task.id, "skipped": "no longer manual"}
    try:
        address = recipient.contact
    except SealError:
        raise jobs.JobError("the contact address cannot be opened; nothing was sent", retry=False) from None
    rendered = render("recipient_task", {"recipient_name": recipient.name, "base_url": current_settings().base_url,
                                         "refs": {}, "task": item(task, recipient), "link": link_url(task),
                                         "link_days": LINK_DAYS})
    try:
        send_now(address, rendered.subject, rendered.body, html=rendered.html,
                 message_id=message_id_for(ctx.job_id))
    except MailError as exc:
        raise jobs.JobError(exc.reason, retry=not exc.permanent) from None
    task.delivery_state = DeliveryState.DELIVERED
    task.delivered_at = utcnow()
    _audit(task, "deliver", via="e-mail", attempt=ctx.attempt)
    return {"task_id": task.id}
