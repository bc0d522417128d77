"""The demo's recipient systems, as the register names them: AI Research pulls its tasks from the
API; People Analytics takes signed webhooks at ``examples/webhook_receiver.py``, which ``make run``
starts on 127.0.0.1:5001 with a fresh secret and token (:func:`webhook_credentials`); Security
Operations is manual: an e-mail with a link, which in the demo lands in ``instance/outbox/``.
People Analytics and Security Operations are internal teams that need the person's name.

:func:`answer_demo_tasks` then answers the tasks the demo requests opened as the recipients
would, so the demo shows a completed erasure with every confirmation and one still waiting on AI
Research. Idempotent: recipients are ensured by name; answered tasks are left as they are."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.audit.services import Actor
from portal.extensions import db
from portal.recipients import services as recipients
from portal.recipients.models import Recipient, RecipientTask
from portal.rights.models import DataRequest

RECIPIENTS: tuple[dict[str, Any], ...] = (
    {"name": "AI Research", "contact": "ai-research@example.com",
     "categories": ["input_events", "app_activity", "screenshots", "ai_training_use"], "uses": ["ai_training"],
     "purpose": "Trains and evaluates models that learn how people use computers, with consent.",
     "role": "internal", "delivery": "pull", "needs_name": False},
    {"name": "People Analytics", "contact": "people-analytics@example.com",
     "categories": ["input_events", "app_activity"], "uses": ["analytics"],
     "purpose": "Productivity and ergonomics reports.", "role": "internal", "delivery": "webhook",
     "webhook_url": "http://127.0.0.1:5001/hooks", "needs_name": True},
    {"name": "Security Operations", "contact": "soc@example.com", "categories": ["app_activity", "screenshots"],
     "uses": ["security_monitoring"], "purpose": "Information security monitoring and investigations.",
     "role": "internal", "delivery": "manual", "needs_name": True},
)


def ensure_recipients() -> list[str]:
    """The three recipients (made once, by name); returns the names made now."""
    made = []
    for spec in RECIPIENTS:
        if db.session.scalar(select(Recipient.id).where(Recipient.name == spec["name"])) is None:
            recipients.create_recipient(name=str(spec["name"]), contact=str(spec["contact"]),
                                        categories=list(spec["categories"]), uses=list(spec["uses"]),
                                        purpose=str(spec["purpose"]), role=str(spec["role"]),
                                        delivery=str(spec["delivery"]), webhook_url=spec.get("webhook_url"),
                                        actor=Actor.system(),
                                        needs_name=bool(spec["needs_name"]))
            made.append(str(spec["name"]))
    return made


def answer_demo_tasks(request_ids: list[str], *, waiting_on: dict[str, str]) -> int:
    """Answer every open task of ``request_ids`` as its recipient would, except those of
    ``waiting_on`` (request id -> recipient name) which are left open. Returns how many were answered."""
    answered = 0
    names = {r.id: r.name for r in db.session.scalars(select(Recipient))}
    for request_id in request_ids:
        request = db.session.get(DataRequest, request_id)
        if request is None:
            continue
        for task in db.session.scalars(select(RecipientTask).where(RecipientTask.request_id == request_id,
                                                                   RecipientTask.outcome.is_(None))).all():
            name = names.get(task.recipient_id, "")
            if waiting_on.get(request_id) == name:
                continue
            pulled = name == "AI Research"  # counts what it removed and names the data set it made anew
            recipients.confirm(task, "done", via="link" if name == "Security Operations" else "api",
                               actor=Actor("recipient", task.recipient_id), rows_deleted=1200 if pulled else None,
                               snapshot_id="assist-v3-2026-12" if pulled else None)
            answered += 1
    return answered


def webhook_credentials() -> tuple[str, str, str] | None:
    """For ``make run``: People Analytics' webhook address, a new signing secret (the old one keeps
    signing for a day, as after any rotation) and a new one-day token bound to it, both audited."""
    from portal.api.tokens import create_token

    recipient = db.session.scalar(select(Recipient).where(Recipient.name == "People Analytics",
                                                          Recipient.delivery == "webhook", Recipient.active))
    if recipient is None or not recipient.webhook_url:
        return None
    secret = recipients.rotate_secret(recipient, actor=Actor.system())
    _, token = create_token("demo webhook receiver", ["recipient"], 1, actor=Actor.system(),
                            recipient_id=recipient.id)
    return recipient.webhook_url, secret, token
