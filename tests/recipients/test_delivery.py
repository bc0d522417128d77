"""Webhook delivery against a real HTTP server on loopback, its signatures checked by an
independent implementation (the ``standardwebhooks`` package): 5xx and timeouts retried with
backoff, 410 stops, nothing sent again after a success, a worker that died mid-delivery taken up
after its lease, dead after the last attempt and shown to the DPO; secret rotation signs with both;
the manual recipient's e-mail carries a working link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.people.pseudonyms import pseudonym
from portal.recipients import delivery, services
from portal.recipients.models import DeliveryState, RecipientTask
from tests.conftest import both_databases
from tests.recipients.support import make_recipient, receiver
from tests.rights.support import World, get, manual_jobs, run_now, start_world


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    settings = app.config["PORTAL_SETTINGS"]
    settings.webhook_timeout_seconds, settings.webhook_backoff_seconds, settings.webhook_attempts = 1, 2, 3
    yield from start_world(app)


def webhook_task(world: World, url: str) -> tuple[Any, str]:
    """A People Analytics webhook recipient and one erasure task for Alice; (task, secret)."""
    recipient, secret = make_recipient("People Analytics", "webhook", ["input_events"], url=url)
    (task,) = services.open_tasks(world.alice, services.Affected(services.TaskAction.ERASE, ("input_events",)),
                                  request=None)
    db.session.commit()
    assert secret is not None
    return SimpleNamespace(id=task.id, recipient_id=task.recipient_id), secret


def job_of(task_id: str) -> Job:
    task = get(RecipientTask, task_id)
    return get(Job, task.delivery_job_id)


def tags(task_id: str) -> list[str]:
    return [e.tag for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))
            if e.targets.get("recipient_task") == task_id]


def test_a_delivery_is_signed_as_standard_webhooks_verifies_it(world: World) -> None:
    with receiver() as hook:
        task, secret = webhook_task(world, hook.url)
        assert run_now(job_of(task.id).id) == JobState.SUCCEEDED
    (got,) = hook.received
    verified = Webhook(secret).verify(got.body, got.headers)
    assert verified["type"] == "recipient_task.created" and verified["data"]["id"] == task.id
    assert verified["data"]["subject"] == {"pseudonym": pseudonym(world.alice)}  # a processor: never the name
    assert got.headers["webhook-id"] == f"msg_{task.id}"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(got.body, got.headers)  # another secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"erase", b"rectify"), got.headers)
    task = get(RecipientTask, task.id)
    assert task.delivery_state == DeliveryState.DELIVERED and task.delivered_at is not None
    assert tags(task.id) == ["recipients:task:open", "recipients:task:deliver"]


def test_during_a_rotation_both_secrets_sign_and_each_verifies(world: World) -> None:
    with receiver() as hook:
        task, old = webhook_task(world, hook.url)
        recipient = get(services.Recipient, task.recipient_id)
        new = services.rotate_secret(recipient, actor=Actor.system())
        db.session.commit()
        assert run_now(job_of(task.id).id) == JobState.SUCCEEDED
        (got,) = hook.received
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):
            assert Webhook(secret).verify(got.body, got.headers)["data"]["id"] == task.id
        # After the rotation window only the new one signs.
        recipient = get(services.Recipient, task.recipient_id)
        later = datetime.now(UTC) + timedelta(hours=services.ROTATION_HOURS, minutes=1)
        assert services.secrets_in_force(recipient, later) == [new]
    raw = db.session.execute(sa.select(services.Recipient.secret_sealed, services.Recipient.previous_secret_sealed)
                             ).one()
    assert all(new.encode() not in blob and old.encode() not in blob for blob in raw)  # sealed, not in clear
    assert not any(old in str(e.details) or new in str(e.details) for e in db.session.scalars(sa.select(AuditEntry)))


def test_5xx_and_timeouts_are_retried_with_backoff_and_nothing_is_sent_after_success(world: World) -> None:
    with receiver(503, ("sleep", 1.6), 200) as hook:
        task, secret = webhook_task(world, hook.url)
        job_id = job_of(task.id).id
        before = datetime.now(UTC)
        assert jobs.run_job(job_id) == JobState.QUEUED
        db.session.remove()
        first = get(Job, job_id)
        assert first.error == "the webhook answered HTTP 503; it is tried again"
        assert first.not_before >= before + timedelta(seconds=2)  # the first pause: the setting
        assert run_now(job_id) == JobState.QUEUED  # the receiver answered too late
        second = get(Job, job_id)
        assert second.error == "the webhook did not answer in time; it is tried again"
        assert second.not_before - datetime.now(UTC) > timedelta(seconds=2.5)  # doubled
        assert run_now(job_id) == JobState.SUCCEEDED
        assert len(hook.received) == 3
        assert {r.headers["webhook-id"] for r in hook.received} == {f"msg_{task.id}"}
        assert all(Webhook(secret).verify(r.body, r.headers) for r in hook.received)
        # The job again, or a second job for the task: nothing more is sent.
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(state=JobState.QUEUED, attempts=0))
        db.session.commit()
        assert run_now(job_id) == JobState.SUCCEEDED
        again = jobs.enqueue(services.WEBHOOK_JOB, params={"task_id": task.id})
        db.session.commit()
        assert run_now(again.id) == JobState.SUCCEEDED
        assert len(hook.received) == 3
    assert get(RecipientTask, task.id).delivery_state == DeliveryState.DELIVERED


def test_410_stops_for_good_and_the_dpo_sees_it(world: World) -> None:
    with receiver(410) as hook:
        task, _ = webhook_task(world, hook.url)
        job_id = job_of(task.id).id
        assert run_now(job_id) == JobState.SUCCEEDED
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(state=JobState.QUEUED, attempts=0))
        db.session.commit()
        assert run_now(job_id) == JobState.SUCCEEDED
        assert len(hook.received) == 1
    task = get(RecipientTask, task.id)
    assert task.delivery_state == DeliveryState.GONE and task.state == "open"
    assert [t.id for t in services.overdue_tasks()] == [task.id]
    assert "recipients:task:undeliverable" in tags(task.id)


def test_dead_after_the_last_attempt_and_shown_to_the_dpo(world: World) -> None:
    with receiver(then=500) as hook:
        task, _ = webhook_task(world, hook.url)
        job_id = job_of(task.id).id
        assert [run_now(job_id) for _ in range(3)] == [JobState.QUEUED, JobState.QUEUED, JobState.FAILED]
        assert len(hook.received) == 3
    task = get(RecipientTask, task.id)
    assert task.delivery_state == DeliveryState.DEAD and task.delivery_error
    assert [t.id for t in services.overdue_tasks()] == [task.id]
    undeliverable = [e for e in db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.tag == "recipients:task:undeliverable")) if e.targets["recipient_task"] == task.id]
    assert len(undeliverable) == 1 and undeliverable[0].details["attempts"] == 3


@both_databases
def test_a_worker_that_died_mid_delivery_is_taken_up_after_its_lease(world: World, app: Flask) -> None:
    with receiver() as hook:
        task, secret = webhook_task(world, hook.url)
        job_id = job_of(task.id).id
        assert jobs.claim(job_id) is not None  # a worker took it, then died before it sent anything
        db.session.remove()
        assert jobs.run_job(job_id) is None  # its lease holds: nobody else runs it
        db.session.execute(sa.update(Job).where(Job.id == job_id)
                           .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
        assert job_id in jobs.due_jobs()
        assert jobs.run_job(job_id) == JobState.SUCCEEDED
        assert len(hook.received) == 1 and Webhook(secret).verify(hook.received[0].body, hook.received[0].headers)
    assert get(RecipientTask, task.id).delivery_state == DeliveryState.DELIVERED


def test_the_manual_recipient_is_mailed_a_link_that_works_once(world: World, app: Flask) -> None:
    from flask_mail import email_dispatched

    sent: list[Any] = []

    def keep(app: Any, message: Any) -> None:
        sent.append(message)

    recipient, _ = make_recipient("Security Operations", "manual", ["screenshots"], role="internal")
    (made,) = services.open_tasks(world.alice, services.Affected(services.TaskAction.ERASE), request=None)
    db.session.commit()
    task = SimpleNamespace(id=made.id)
    email_dispatched.connect(keep)
    try:
        assert run_now(job_of(task.id).id) == JobState.SUCCEEDED
    finally:
        email_dispatched.disconnect(keep)
    (message,) = sent
    assert message.recipients == ["security-operations@example.com"]
    assert "Alice Example" in message.body  # an internal team is told the name
    link = message.body.split("/recipient-tasks/", 1)[1].split()[0]
    assert get(RecipientTask, task.id).delivery_state == DeliveryState.DELIVERED
    client = app.test_client()
    assert client.get(f"/recipient-tasks/{link}").status_code == 200
    assert client.get(f"/recipient-tasks/{link[:-2]}xx").status_code == 404  # forged
    # Another task's nonce does not open with this link's signature, and an expired link is refused.
    assert delivery.task_of_link(link) is not None
    original = delivery.LINK_DAYS
    try:
        delivery.LINK_DAYS = -1
        assert delivery.task_of_link(link) is None
    finally:
        delivery.LINK_DAYS = original
    _ = manual_jobs
