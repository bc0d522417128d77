"""The pages: an admin records recipients (secret and token shown once, rotation, deactivation after
a confirmation; nobody else finds the pages), the DPO's case lists each task, overdue ones surface
in the queue, and the employee reads what each recipient confirmed, in plain words."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from portal.api.models import ApiToken
from portal.audit.services import Actor
from portal.extensions import db
from portal.jobs import services as jobs
from portal.people.models import Employee
from portal.recipients import services
from portal.recipients.models import Recipient, RecipientTask
from portal.rights import services as rs
from portal.rights.models import DataRequest, RequestState
from tests.helpers import audit_entries, csrf_token, existing, first_group
from tests.recipients.support import bearer
from tests.rights.staff.conftest import Cast

FORM = {"name": "AI Research", "contact": "ai@example.com", "categories": ["input_events", "ai_training_use"],
        "uses": ["ai_training"], "purpose": "Trains models on how people use computers", "role": "processor",
        "delivery": "pull"}


def test_an_admin_records_recipients_and_sees_secrets_once(cast: Cast, app: Flask) -> None:
    admin = cast.client("admin")
    page = admin.get("/admin/recipients").get_data(as_text=True)
    assert "No recipient is recorded yet" in page
    made = admin.post("/admin/recipients", data={"csrf_token": csrf_token(page), **FORM})
    assert made.status_code == 200
    token = first_group(r'id="new-token">(ppt_[^<]+)<', made.get_data(as_text=True))
    hook = admin.post("/admin/recipients", data={
        "csrf_token": csrf_token(page), **FORM, "name": "People Analytics", "delivery": "webhook",
        "webhook_url": "https://analytics.example.com/hooks", "role": "internal"}).get_data(as_text=True)
    secret = first_group(r'id="new-secret">(whsec_[^<]+)<', hook)
    listed = admin.get("/admin/recipients").get_data(as_text=True)
    assert "AI Research" in listed and token not in listed and secret not in listed
    with app.app_context():
        ai = db.session.scalar(sa.select(Recipient).where(Recipient.name == "AI Research"))
        pa = db.session.scalar(sa.select(Recipient).where(Recipient.name == "People Analytics"))
        assert ai is not None and pa is not None and ai.contact == "ai@example.com"
        assert b"ai@example.com" not in ai.contact_sealed
        bound = db.session.scalars(sa.select(ApiToken.recipient_id)).all()
        assert len(bound) == 2 and set(bound) == {ai.id, pa.id}
        ai_id, pa_id = ai.id, pa.id
    assert app.test_client().get("/api/v1/recipient-tasks", headers=bearer(token)).status_code == 200

    rotated = admin.post(f"/admin/recipients/{pa_id}/rotate", data={"csrf_token": csrf_token(listed)})
    new_secret = first_group(r'id="new-secret">(whsec_[^<]+)<', rotated.get_data(as_text=True))
    assert new_secret != secret
    unconfirmed = admin.post(f"/admin/recipients/{ai_id}/deactivate", data={"csrf_token": csrf_token(listed)})
    assert unconfirmed.status_code == 302
    with app.app_context():
        assert existing(Recipient, ai_id).active
    admin.post(f"/admin/recipients/{ai_id}/deactivate", data={"csrf_token": csrf_token(listed), "confirm": "y"})
    with app.app_context():
        assert not existing(Recipient, ai_id).active
    assert [e.tag for e in audit_entries(app, "recipients:secret:rotate")] == ["recipients:secret:rotate"]
    assert len(audit_entries(app, "recipients:recipient:create")) == 2

    bad = admin.post("/admin/recipients", data={"csrf_token": csrf_token(listed), **FORM, "name": "X",
                                                "delivery": "webhook", "webhook_url": "ftp://x"})
    assert bad.status_code == 400 and "Nothing was recorded" in bad.get_data(as_text=True)
    for who in ("alice", "dana"):
        assert cast.get(who, "/admin/recipients").status_code == 404
        assert cast.post(who, f"/admin/recipients/{pa_id}/rotate").status_code == 404


def test_the_case_the_queue_and_the_employee_page_show_each_task(cast: Cast, app: Flask) -> None:
    with app.app_context():
        ai, _ = services.create_recipient(name="AI Research", contact="ai@example.com",
                                          categories=["input_events", "ai_training_use"], uses=["ai_training"],
                                          purpose="Trains models", role="processor", delivery="pull",
                                          webhook_url=None, actor=Actor.system())
        _sec, _ = services.create_recipient(name="Security Operations", contact="soc@example.com",
                                           categories=["app_activity"], uses=[], purpose="Investigations",
                                           role="internal", delivery="manual", webhook_url=None, actor=Actor.system())
        db.session.commit()
        ai_id = ai.id
    request_id = cast.file("erasure", description="erase")
    with app.app_context():
        case = existing(DataRequest, request_id)
        dana, pat = existing(Employee, cast.ids["dana"]), existing(Employee, cast.ids["pat"])
        rs.claim(case, dana)
        rs.start_review(case, dana)
        rs.approve(case, dana, erasure_ground=rs.erasure_grounds(case)[0].code)
        rs.approve(case, pat)
        db.session.commit()
        job_id = existing(DataRequest, request_id).job_id
        assert job_id is not None
    with app.app_context():
        jobs.run_job(job_id)
        case = existing(DataRequest, request_id)
        assert case.state == RequestState.AWAITING_RECIPIENTS
        tasks = {t.recipient_id: t for t in services.tasks_of_request(request_id)}
        due = tasks[ai_id].due_on
        services.confirm(tasks[ai_id], "done", rows_deleted=12, snapshot_id="assist-v3", via="api",
                         actor=Actor.system())
        db.session.commit()

    mine = cast.get("alice", f"/me/requests/{request_id}").get_data(as_text=True)
    assert "The teams and systems that received this data" in mine
    assert "AI Research</strong> was asked to erase your data. Confirmed on" in mine
    assert "It reported 12 records." in mine and "snapshot assist-v3" in mine
    assert "Security Operations</strong> was asked to erase your data. Has not confirmed yet" in mine
    assert "The portal has done its part" in mine

    page = cast.get("dana", f"/dpo/requests/{request_id}").get_data(as_text=True)
    assert "Recipients&#39; tasks" in page or "Recipients' tasks" in page
    assert "AI Research" in page and "rows_deleted 12" in page and "Security Operations" in page
    assert "recipients/" not in cast.get("olga", "/dpo/queue").get_data(as_text=True)

    with app.app_context():
        assert services.escalate_overdue(today=due + timedelta(days=1)) == 1
        db.session.commit()
        assert existing(DataRequest, request_id).state == RequestState.COMPLETED
    queue = cast.get("dana", "/dpo/queue").get_data(as_text=True)
    assert 'id="overdue-tasks"' in queue and "Security Operations" in queue
    assert 'id="overdue-tasks"' not in cast.get("olga", "/dpo/queue").get_data(as_text=True)  # not her case
    mine = cast.get("alice", f"/me/requests/{request_id}").get_data(as_text=True)
    assert "Did not confirm by" in mine and "The Data Protection Officer has taken this up with it." in mine
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecipientTask)) == 2


def test_a_dpo_sends_a_dead_delivery_again(cast: Cast, app: Flask) -> None:
    from portal.jobs.models import Job
    from portal.recipients.models import DeliveryState

    with app.app_context():
        hook, _ = services.create_recipient(name="People Analytics", contact="pa@example.com",
                                            categories=["input_events"], uses=[], purpose="Reports",
                                            role="internal", delivery="webhook",
                                            webhook_url="http://127.0.0.1:9/hooks", actor=Actor.system())
        db.session.commit()
    request_id = cast.file("restriction", categories=["input_events"])
    with app.app_context():
        case = existing(DataRequest, request_id)
        rs.claim(case, existing(Employee, cast.ids["dana"]))
        rs.start_review(case, existing(Employee, cast.ids["dana"]))
        rs.approve(case, existing(Employee, cast.ids["dana"]))
        (task,) = services.tasks_of_request(request_id)
        task.delivery_state = DeliveryState.DEAD
        task.delivery_error = "the webhook answered HTTP 500; it is tried again"
        db.session.commit()
        task_id, first_job = task.id, task.delivery_job_id
    page = cast.get("dana", f"/dpo/requests/{request_id}").get_data(as_text=True)
    assert "Deliver again" in page and "HTTP 500" in page
    assert cast.post("olga", f"/dpo/requests/{request_id}/recipient-tasks/{task_id}/redeliver").status_code == 404
    sent = cast.post("dana", f"/dpo/requests/{request_id}/recipient-tasks/{task_id}/redeliver")
    assert sent.status_code == 302
    with app.app_context():
        task = existing(RecipientTask, task_id)
        assert task.delivery_state == DeliveryState.WAITING and task.delivery_job_id != first_job
        assert existing(Job, task.delivery_job_id).kind == services.WEBHOOK_JOB
    assert [e.targets["recipient_task"] for e in audit_entries(app, "recipients:task:redeliver")] == [task_id]
    again = cast.post("dana", f"/dpo/requests/{request_id}/recipient-tasks/{task_id}/redeliver")
    assert again.status_code == 400  # it is waiting again: nothing to send again
    _ = hook
