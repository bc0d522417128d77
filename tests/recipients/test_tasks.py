"""Tasks for recipient systems: which outcomes open them and for whom, what they carry, the API
that lists and confirms them (the scope and recipient-binding matrix, a repeat that changes
nothing, a confirmation racing another that counts once), the manual link, escalation, and the
request that completes only once every task is confirmed or escalated."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.db import utcnow
from portal.extensions import db
from portal.jobs.models import Job
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym
from portal.recipients import delivery, services
from portal.recipients.models import RecipientTask, TaskState
from portal.rights import restrictions
from portal.rights import services as rs
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.conftest import both_databases
from tests.helpers import csrf_token, existing, json_of
from tests.recipients.support import bearer, bound_token, make_recipient
from tests.rights.support import World, fill, get, run_now, start_world

ALL = ["input_events", "app_activity", "screenshots", "ai_training_use"]


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


@pytest.fixture
def three(world: World) -> dict[str, Any]:
    """The demo's three: AI Research pulls, People Analytics (an internal team) takes webhooks,
    Security Operations is manual."""
    ai, _ = make_recipient("AI Research", "pull", ["input_events", "app_activity", "screenshots", "ai_training_use"],
                           uses=("ai_training",))
    pa, secret = make_recipient("People Analytics", "webhook", ["input_events", "app_activity"], uses=("analytics",),
                                role="internal", url="http://127.0.0.1:9/hooks")
    sec, _ = make_recipient("Security Operations", "manual", ["screenshots"], uses=("security_monitoring",),
                            role="internal")
    return {"ai": ai.id, "pa": pa.id, "sec": sec.id, "secret": secret,
            "ai_token": bound_token(ai.id), "pa_token": bound_token(pa.id)}


def approve(w: World, request_id: str) -> DataRequest:
    rs.claim(get(DataRequest, request_id), w["dpo"])
    rs.start_review(get(DataRequest, request_id), w["dpo"])
    first = get(DataRequest, request_id)
    ground = rs.erasure_grounds(first)[0].code if first.type == RequestType.ERASURE else None
    if not rs.approve(first, w["dpo"], erasure_ground=ground):
        rs.approve(get(DataRequest, request_id), w["dpo2"])
    db.session.commit()
    return get(DataRequest, request_id)


def erased(w: World, **scope: Any) -> DataRequest:
    fill(w.alice, events=6, shots=1)
    request_id = rs.file_request(w["alice"], RequestType.ERASURE, description="Erase it", **scope).request.id
    request = approve(w, request_id)
    assert run_now(request.job_id) is not None
    return get(DataRequest, request_id)


def tasks_of(request_id: str | None = None, subject_id: str | None = None) -> list[RecipientTask]:
    query = sa.select(RecipientTask)
    if request_id:
        query = query.where(RecipientTask.request_id == request_id)
    if subject_id:
        query = query.where(RecipientTask.subject_id == subject_id)
    return list(db.session.scalars(query.order_by(RecipientTask.created_at, RecipientTask.id)))


def by_recipient(tasks: list[RecipientTask]) -> dict[str, RecipientTask]:
    return {t.recipient_id: t for t in tasks}


def confirm_entries(task_id: str) -> list[AuditEntry]:
    return [e for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "recipients:task:confirm"))
            if e.targets.get("recipient_task") == task_id]


def queued_mail(template: str) -> list[Job]:
    return [j for j in db.session.scalars(sa.select(Job).where(Job.kind == "mail.send"))
            if j.params.get("template") == template]


def test_an_erasure_opens_a_task_per_recipient_and_completes_once_each_confirms(
        world: World, three: dict[str, Any], app: Flask) -> None:
    request = erased(world)
    assert request.state == RequestState.AWAITING_RECIPIENTS and request.completed_at is None
    assert request.carried_out_at is not None and request.is_open
    assert "AI Research, People Analytics, Security Operations" in (request.outcome or "")
    assert not queued_mail("request_completed")
    tasks = by_recipient(tasks_of(request.id))
    assert set(tasks) == {three["ai"], three["pa"], three["sec"]}
    assert tasks[three["ai"]].categories == sorted(ALL)
    assert tasks[three["sec"]].categories == ["screenshots"]
    due = request.effective_due
    assert due is not None and all(t.due_on == due - timedelta(days=services.MARGIN_DAYS) for t in tasks.values())
    assert {t.action for t in tasks.values()} == {"erase"}
    # Each delivered its own way: a webhook job, an e-mail job; the pull recipient lists it itself.
    kinds = {t.recipient_id: existing(Job, t.delivery_job_id).kind if t.delivery_job_id else None
             for t in tasks.values()}
    assert kinds == {three["ai"]: None, three["pa"]: services.WEBHOOK_JOB, three["sec"]: services.MANUAL_JOB}
    opened = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "recipients:task:open")).all()
    assert {e.targets["recipient_task"] for e in opened} == {t.id for t in tasks.values()}
    assert all(e.targets["request"] == request.id for e in opened)

    client = app.test_client()
    listed = json_of(client.get("/api/v1/recipient-tasks", headers=bearer(three["ai_token"])))
    assert [i["id"] for i in listed["items"]] == [tasks[three["ai"]].id]
    item = listed["items"][0]
    # A processor gets the pseudonymous training id, never the name; an internal team gets the name.
    assert item["subject"] == {"pseudonym": pseudonym(world.alice)} and item["request"] == request.reference
    assert item["due"] == tasks[three["ai"]].due_on.isoformat() and item["state"] == "open"
    pa_item = json_of(client.get("/api/v1/recipient-tasks", headers=bearer(three["pa_token"])))["items"][0]
    assert pa_item["subject"] == {"pseudonym": pseudonym(world.alice), "name": "Alice Example"}

    ai_task, pa_task, sec_id = tasks[three["ai"]].id, tasks[three["pa"]].id, tasks[three["sec"]].id
    request_id = request.id
    first = client.post(f"/api/v1/recipient-tasks/{ai_task}/confirm", headers=bearer(three["ai_token"]),
                        json={"outcome": "done", "details": {"rows_deleted": 7, "snapshot_id": "snap-2"}})
    assert first.status_code == 200 and json_of(first)["first"] is True
    assert json_of(first)["task"]["confirmation"]["details"] == {"rows_deleted": 7, "snapshot_id": "snap-2"}
    again = client.post(f"/api/v1/recipient-tasks/{ai_task}/confirm", headers=bearer(three["ai_token"]),
                        json={"outcome": "refused", "reason": "changed our mind"})
    assert again.status_code == 200 and json_of(again)["first"] is False
    assert json_of(again)["task"]["confirmation"]["outcome"] == "done"  # the first answer stands
    db.session.remove()
    task = get(RecipientTask, ai_task)
    entries = confirm_entries(ai_task)
    assert len(entries) == 1 and task.confirm_entry_id == entries[0].entry_id
    assert entries[0].actor_type == "api-token" and entries[0].details["rows_deleted"] == 7
    assert get(DataRequest, request_id).state == RequestState.AWAITING_RECIPIENTS

    assert client.post(f"/api/v1/recipient-tasks/{pa_task}/confirm", headers=bearer(three["pa_token"]),
                       json={"outcome": "not_applicable"}).status_code == 200
    # Security Operations answers through the link in its e-mail.
    sec_task = get(RecipientTask, sec_id)
    link = delivery.link_url(sec_task).split("/recipient-tasks/", 1)[1]
    page = client.get(f"/recipient-tasks/{link}")
    assert page.status_code == 200 and "Alice Example" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    refused = client.post(f"/recipient-tasks/{link}", data={"csrf_token": token, "outcome": "refused"})
    assert refused.status_code == 400 and "A refusal needs a reason" in refused.get_data(as_text=True)
    done = client.post(f"/recipient-tasks/{link}", data={"csrf_token": token, "outcome": "done", "rows_deleted": "3"})
    assert done.status_code == 200 and "Your answer was recorded" in done.get_data(as_text=True)
    once_more = client.post(f"/recipient-tasks/{link}", data={"csrf_token": token, "outcome": "not_applicable"})
    assert "Your answer was recorded" in once_more.get_data(as_text=True)
    db.session.remove()
    assert get(RecipientTask, sec_id).outcome == "done" and len(confirm_entries(sec_id)) == 1

    request = get(DataRequest, request_id)
    assert request.state == RequestState.COMPLETED and request.completed_at is not None
    assert len(queued_mail("request_completed")) == 1


def test_the_binding_matrix_another_recipients_token_finds_nothing(world: World, three: dict[str, Any],
                                                                   app: Flask) -> None:
    request = erased(world)
    ai_task = by_recipient(tasks_of(request.id))[three["ai"]].id
    client = app.test_client()
    unbound = bound_token(None)
    wrong_scope = bound_token(three["ai"], "recipient", "ingest")  # bound, and with the scope: allowed
    no_scope = bound_token(None, "exclusions:read")
    for token, status in ((three["pa_token"], 404), (unbound, 404), (no_scope, 403)):
        answer = client.post(f"/api/v1/recipient-tasks/{ai_task}/confirm", headers=bearer(token),
                             json={"outcome": "done"})
        assert answer.status_code == status, token
    assert json_of(client.get("/api/v1/recipient-tasks", headers=bearer(unbound)))["items"] == []
    assert client.get("/api/v1/recipient-tasks", headers=bearer(no_scope)).status_code == 403
    pa_ids = [i["id"] for i in json_of(client.get("/api/v1/recipient-tasks", headers=bearer(three["pa_token"])))["items"]]
    assert ai_task not in pa_ids
    # A cursor must name one of the recipient's own tasks.
    assert client.get(f"/api/v1/recipient-tasks?after={ai_task}", headers=bearer(three["pa_token"])).status_code == 400
    db.session.remove()
    assert get(RecipientTask, ai_task).outcome is None
    assert client.post(f"/api/v1/recipient-tasks/{ai_task}/confirm", headers=bearer(wrong_scope),
                       json={"outcome": "done"}).status_code == 200


def test_pages_of_tasks_follow_the_cursor(world: World, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    ai, _ = make_recipient("AI Research", "pull", ["ai_training_use"], uses=("ai_training",))
    token = bound_token(ai.id)
    for _n in range(5):
        services.open_tasks(world.alice, services.Affected(services.TaskAction.ERASE), request=None)
    db.session.commit()
    from portal.recipients import api

    monkeypatch.setattr(api, "PAGE", 2)
    client = app.test_client()
    seen, after = [], ""
    for _ in range(4):
        page = json_of(client.get(f"/api/v1/recipient-tasks{'?after=' + after if after else ''}", headers=bearer(token)))
        seen += [i["id"] for i in page["items"]]
        after = page["next"]
        if not page["more"]:
            break
    assert seen == [t.id for t in tasks_of(subject_id=world.alice)] and len(seen) == 5


@both_databases
def test_two_confirmations_at_once_count_once(world: World, three: dict[str, Any], app: Flask) -> None:
    request = erased(world)
    task_id = by_recipient(tasks_of(request.id))[three["ai"]].id
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def answer(outcome: str) -> None:
        with app.app_context():
            task = get(RecipientTask, task_id)
            barrier.wait()
            results.append(services.confirm(task, outcome, reason="no", via="api", actor=Actor.system()).first)
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=answer, args=(o,)) for o in ("done", "refused")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.session.remove()
    assert sorted(results) == [False, True]
    assert len(confirm_entries(task_id)) == 1
    assert get(RecipientTask, task_id).state == TaskState.CONFIRMED


def test_an_overdue_task_is_escalated_and_the_request_then_completes(world: World, three: dict[str, Any]) -> None:
    request = erased(world)
    tasks = tasks_of(request.id)
    for task in tasks[:2]:
        services.confirm(task, "done", via="api", actor=Actor.system())
    db.session.commit()
    assert services.escalate_overdue(today=tasks[2].due_on) == 0  # due today: not yet overdue
    assert services.escalate_overdue(today=tasks[2].due_on + timedelta(days=1)) == 1
    db.session.commit()
    late = get(RecipientTask, tasks[2].id)
    assert late.state == TaskState.ESCALATED and late.escalated_at is not None
    assert get(DataRequest, request.id).state == RequestState.COMPLETED
    assert [j.params["recipient_id"] for j in queued_mail("dpo_recipient_overdue")] == [world.dpo]  # the assignee
    assert [t.id for t in services.overdue_tasks()] == [late.id]
    # It can still answer afterwards; the answer is recorded.
    assert services.confirm(late, "done", via="api", actor=Actor.system()).first
    db.session.commit()
    assert services.overdue_tasks() == []


def test_a_rectification_sends_the_correction_sealed(world: World, three: dict[str, Any], app: Flask) -> None:
    fill(world.alice, events=2, shots=0, training=False)
    request_id = rs.file_request(world["alice"], RequestType.RECTIFICATION, wrong="Team: Sales",
                                 correct="Team: Support").request.id
    request = approve(world, request_id)
    assert request.state == RequestState.AWAITING_RECIPIENTS
    assert "Your correction is recorded" in (request.outcome or "") and "does not send" not in (request.outcome or "")
    tasks = by_recipient(tasks_of(request_id))
    assert set(tasks) == {three["ai"], three["pa"], three["sec"]}
    raw = db.session.execute(sa.select(RecipientTask.correction_sealed).where(
        RecipientTask.id == tasks[three["ai"]].id)).scalar_one()
    assert raw is not None and b"Support" not in raw
    item = json_of(app.test_client().get("/api/v1/recipient-tasks", headers=bearer(three["ai_token"])))["items"][0]
    assert item["action"] == "rectify" and item["correction"] == {"wrong": "Team: Sales", "correct": "Team: Support"}


def test_a_restriction_and_its_lift_and_an_objection_and_a_withdrawal(world: World, three: dict[str, Any]) -> None:
    request_id = rs.file_request(world["alice"], RequestType.RESTRICTION, categories=["screenshots"]).request.id
    request = approve(world, request_id)
    assert request.state == RequestState.AWAITING_RECIPIENTS
    # Only those that received screenshots; each told of that category alone.
    assert sorted((t.recipient_id, t.action, t.categories) for t in tasks_of(request_id)) == sorted(
        [(three["ai"], "restrict", ["screenshots"]), (three["sec"], "restrict", ["screenshots"])])
    for t in tasks_of(request_id):
        services.confirm(t, "done", via="api", actor=Actor.system())
    db.session.commit()
    assert get(DataRequest, request_id).state == RequestState.COMPLETED
    restriction = restrictions.of_request(request_id)
    assert restriction is not None
    restrictions.lift(restriction, world["dpo"])
    db.session.commit()
    lifts = [t for t in tasks_of(request_id) if t.action == "lift_restriction"]
    assert lifts and all(t.due_on == utcnow().date() + timedelta(days=services.FOLLOW_UP_DAYS) for t in lifts)
    assert get(DataRequest, request_id).state == RequestState.COMPLETED  # a lift reopens nothing

    objection = rs.file_request(world["alice"], RequestType.OBJECTION, grounds="No", purpose="analytics").request.id
    approve(world, objection)
    assert [(t.recipient_id, t.action) for t in tasks_of(objection)] == [(three["pa"], "stop_processing")]

    consent.decide(world.bob, Purpose.AI_TRAINING, Decision.WITHDRAWN, actor=Actor("employee", world.bob),
                   method="test", device="test", policy_version=None)
    db.session.commit()
    (withdrawn,) = tasks_of(subject_id=world.bob)
    assert (withdrawn.recipient_id, withdrawn.action, withdrawn.request_id) == (three["ai"], "stop_training", None)


def test_no_recipient_no_task_and_the_request_completes_at_once(world: World) -> None:
    request = erased(world)
    assert request.state == RequestState.COMPLETED and tasks_of(request.id) == []
    assert "teams and systems" not in (request.outcome or "")


def test_an_inactive_recipient_gets_no_new_task(world: World, three: dict[str, Any]) -> None:
    services.deactivate(get(services.Recipient, three["sec"]), actor=Actor.system())
    db.session.commit()
    request = erased(world)
    assert three["sec"] not in by_recipient(tasks_of(request.id))


def test_subject_never_named_to_a_processor_even_after_erasure(world: World, three: dict[str, Any]) -> None:
    request = erased(world)
    task = by_recipient(tasks_of(request.id))[three["ai"]]
    from portal.recipients.payload import item

    shown = item(task, get(services.Recipient, three["ai"]))
    assert shown.subject.name is None and shown.subject.pseudonym == pseudonym(world.alice)
    assert get(Employee, world.alice).display_name == "Alice Example"


def test_only_an_internal_team_that_needs_it_is_told_the_name(world: World) -> None:
    with pytest.raises(services.RecipientError, match="Only an internal team"):
        make_recipient("Vendor", "pull", ["input_events"], role="third_party", needs_name=True)
    db.session.rollback()
    quiet, _ = make_recipient("Model governance", "pull", ["input_events"], role="internal", needs_name=False)
    (task,) = services.open_tasks(world.alice, services.Affected(services.TaskAction.ERASE), request=None)
    from portal.recipients.payload import item

    assert item(task, quiet).subject.name is None


def test_what_a_hold_kept_back_gets_its_own_tasks_once_the_hold_is_lifted(world: World, three: dict[str, Any]) -> None:
    fill(world.alice, events=6, shots=2)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots"], matter_reference="LIT-1",
                  reason="A claim is pending.")
    db.session.commit()
    request_id = rs.file_request(world["alice"], RequestType.ERASURE, description="Erase it").request.id
    request = approve(world, request_id)
    run_now(request.job_id)
    first = tasks_of(request_id)
    # Screenshots were held back whole: Security Operations (screenshots only) is not asked yet.
    assert three["sec"] not in by_recipient(first)
    assert all("screenshots" not in t.categories for t in first)
    first_ids = {t.id for t in first}
    for task in first:
        services.confirm(task, "done", via="api", actor=Actor.system())
    db.session.commit()
    assert get(DataRequest, request_id).state == RequestState.COMPLETED
    (hold,) = rs.active_holds(world.alice)
    rs.lift_hold(hold, world["dpo2"])
    db.session.commit()
    resume = db.session.scalars(sa.select(Job.id).where(Job.kind == rs.ERASURE_AFTER_HOLD_JOB)).one()
    run_now(resume)
    later = [t for t in tasks_of(request_id) if t.id not in first_ids]
    assert sorted((t.recipient_id, t.categories) for t in later) == sorted(
        [(three["ai"], ["screenshots"]), (three["sec"], ["screenshots"])])
    assert get(DataRequest, request_id).state == RequestState.COMPLETED  # complete already; told all the same


def test_the_dpo_emails_render(world: World, three: dict[str, Any]) -> None:
    from portal.mail.services import build_context, render

    request = erased(world)
    with app_request_context(world.app):
        for template in ("dpo_recipient_overdue", "dpo_recipient_undeliverable"):
            rendered = render(template, build_context("Dana", {"request": request.id}))
            assert request.reference in rendered.subject and f"/dpo/requests/{request.id}" in rendered.body
            assert "Alice" not in rendered.body  # staff mail names no requester


def app_request_context(app: Flask) -> Any:
    return app.test_request_context("/")
