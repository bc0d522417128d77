"""Editing a recipient's record: the page shows it in the creation form's fields (the contact opened),
a GET changes nothing, each field saves and is audited by name only, bad input changes nothing and
is shown field by field, nobody without ``recipients:manage`` finds the page, an unknown or inactive
recipient is not found; coming to take webhooks shows a new signing secret once, and the tasks not
yet delivered follow a change of delivery (a job queued the old way sends nothing)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from standardwebhooks.webhooks import Webhook

from portal.api.models import ApiToken
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.recipients import services
from portal.recipients.models import Delivery, DeliveryState, Recipient, RecipientRole, RecipientTask, TaskAction
from tests.conftest import both_databases
from tests.helpers import audit_entries, existing, first_group, snapshot
from tests.recipients.support import make_recipient, receiver
from tests.rights.staff.conftest import Cast
from tests.rights.support import World, get, run_now, start_world

EDIT = "recipients:recipient:edit"


def recorded(app: Flask, **changes: Any) -> str:
    """A pull processor, AI Research, recorded by the service (no API token); its id."""
    fields: dict[str, Any] = {
        "name": "AI Research", "contact": "ai@example.com", "categories": ["input_events", "ai_training_use"],
        "uses": ["ai_training"], "purpose": "Trains models", "role": "processor", "delivery": "pull",
        "webhook_url": None, **changes}
    with app.app_context():
        recipient, _ = services.create_recipient(**fields, actor=Actor.system())
        db.session.commit()
        return recipient.id


def form_of(app: Flask, recipient_id: str) -> dict[str, Any]:
    """What the edit form posts for the record as it stands."""
    with app.app_context():
        r = existing(Recipient, recipient_id, fresh=True)
        data: dict[str, Any] = {"name": r.name, "contact": r.contact, "categories": list(r.categories),
                                "uses": list(r.uses), "purpose": r.purpose, "role": r.role.value,
                                "delivery": r.delivery.value, "webhook_url": r.webhook_url or ""}
        if r.needs_name:
            data["needs_name"] = "y"
        return data


def ticked(html: str, name: str, value: str) -> bool:
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return " checked" in tag
    raise AssertionError(f"no {name}={value} input")


def edit_url(recipient_id: str) -> str:
    return f"/admin/recipients/{recipient_id}/edit"


@both_databases
def test_the_page_shows_the_record_and_a_get_changes_nothing(cast: Cast, app: Flask) -> None:
    recipient_id = recorded(app, contact="ai-team@example.com")
    listed = cast.get("admin", "/admin/recipients").get_data(as_text=True)
    assert f'href="{edit_url(recipient_id)}"' in listed
    before = snapshot(app, skip=frozenset())
    page = cast.get("admin", edit_url(recipient_id))
    assert page.status_code == 200
    assert snapshot(app, skip=frozenset()) == before
    html = page.get_data(as_text=True)
    assert 'value="AI Research"' in html and 'value="ai-team@example.com"' in html  # the contact, opened
    assert ticked(html, "categories", "input_events") and ticked(html, "categories", "ai_training_use")
    assert not ticked(html, "categories", "app_activity")
    assert ticked(html, "uses", "ai_training") and not ticked(html, "uses", "analytics")
    assert ticked(html, "role", "processor") and ticked(html, "delivery", "pull")
    assert "Trains models</textarea>" in html
    assert "Tasks already given keep their categories and deadline" in html
    assert f'action="{edit_url(recipient_id)}"' in html and 'name="csrf_token"' in html


@both_databases
def test_each_field_is_saved_and_audited_by_its_name(cast: Cast, app: Flask) -> None:
    recipient_id = recorded(app)
    steps: list[tuple[dict[str, Any], list[str]]] = [
        ({"name": "AI Research Lab"}, ["name"]),
        ({"contact": "lab@example.com"}, ["contact"]),
        ({"categories": ["app_activity"]}, ["categories"]),
        ({"uses": ["analytics", "ai_training"]}, ["uses"]),
        ({"purpose": "Trains and evaluates models"}, ["purpose"]),
        ({"role": "internal"}, ["role"]),
        ({"needs_name": "y"}, ["needs_name"]),
        ({"delivery": "manual"}, ["delivery"]),
        ({"webhook_url": "https://lab.example.com/hooks", "delivery": "webhook"}, ["delivery", "webhook_url"]),
        ({"webhook_url": "https://lab.example.com/v2/hooks"}, ["webhook_url"]),
        ({"delivery": "pull"}, ["delivery", "webhook_url"]),
    ]
    admin = cast.ids["admin"]
    for change, names in steps:
        answer = cast.post("admin", edit_url(recipient_id), {**form_of(app, recipient_id), **change})
        assert answer.status_code in (200, 302), (change, answer.status_code)
        entries = audit_entries(app, EDIT)
        assert entries[-1].details["changed"] == names, change
        assert (entries[-1].actor_type, entries[-1].actor_id) == ("employee", admin)
        assert entries[-1].targets == {"recipient": recipient_id}
    assert len(audit_entries(app, EDIT)) == len(steps)
    with app.app_context():
        r = existing(Recipient, recipient_id, fresh=True)
        assert (r.name, r.contact, r.categories, r.uses, r.purpose) == (
            "AI Research Lab", "lab@example.com", ["app_activity"], ["ai_training", "analytics"],
            "Trains and evaluates models")
        assert (r.role, r.needs_name, r.delivery, r.webhook_url) == (RecipientRole.INTERNAL, True, Delivery.PULL, None)
        assert r.secret_sealed is None and r.previous_secret_sealed is None  # left webhooks: no secret kept
        assert b"lab@example.com" not in r.contact_sealed
        trail = json.dumps([[e.targets, e.details] for e in db.session.scalars(sa.select(AuditEntry))])
    assert "lab@example.com" not in trail and "ai@example.com" not in trail  # names of fields, never the contact
    assert "lab.example.com" not in trail
    assert [e.details.get("signing") for e in audit_entries(app, EDIT)][-3:] == ["new secret", None, "dropped"]

    # Saving the record unchanged changes nothing and records nothing.
    before = snapshot(app, skip=frozenset())
    same = cast.post("admin", edit_url(recipient_id), form_of(app, recipient_id))
    assert same.status_code == 302
    assert snapshot(app, skip=frozenset()) == before
    assert "Nothing changed" in cast.get("admin", "/admin/recipients").get_data(as_text=True)


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "  "}, "name", "Give the recipient a name."),
    ({"name": "AI\x07Research"}, "name", "without control characters"),
    ({"name": "Security Operations"}, "name", "A recipient of that name exists already."),
    ({"contact": "not-an-address"}, "contact", "Give a valid e-mail address."),
    ({"contact": ""}, "contact", "Give a contact address."),
    ({"categories": []}, "categories", "Choose at least one category."),
    ({"categories": ["input_events", "no_such_category"]}, "categories", "not a valid choice"),
    ({"uses": ["marketing"]}, "uses", "not a valid choice"),
    ({"purpose": ""}, "purpose", "Say what the recipient does with the data."),
    ({"role": "overlord"}, "role", "Not a valid choice"),
    ({"needs_name": "y"}, "needs_name", "Only an internal team can be told the person&#39;s name."),
    ({"delivery": "webhook", "webhook_url": ""}, "webhook_url", "A webhook needs an http or https address."),
    ({"delivery": "webhook", "webhook_url": "ftp://files.example.com/x"}, "webhook_url",
     "A webhook needs an http or https address."),
    ({"delivery": "webhook", "webhook_url": "javascript:alert(1)"}, "webhook_url",
     "A webhook needs an http or https address."),
]


@both_databases
def test_bad_input_is_shown_by_its_field_and_changes_nothing(cast: Cast, app: Flask) -> None:
    recipient_id = recorded(app)
    recorded(app, name="Security Operations", contact="soc@example.com", role="internal", delivery="manual")
    good = form_of(app, recipient_id)
    for change, field, message in BAD:
        before = snapshot(app, skip=frozenset())
        answer = cast.post("admin", edit_url(recipient_id), {**good, **change})
        assert answer.status_code == 400, change
        html = answer.get_data(as_text=True)
        assert "The changes could not be saved" in html and "Nothing was changed." in html, change
        assert message in html, change
        assert f'href="#{field}' in html, change  # the summary links to the field at fault
        assert snapshot(app, skip=frozenset()) == before, f"{change} changed something"
    assert audit_entries(app, EDIT) == []


@both_databases
def test_nobody_else_finds_it_and_an_unknown_or_inactive_recipient_is_not_found(cast: Cast, app: Flask) -> None:
    recipient_id = recorded(app)
    good = form_of(app, recipient_id)
    before = snapshot(app)
    for who in ("alice", "dana"):
        assert cast.get(who, "/admin/recipients").status_code == 404  # as for every recipient page
        assert cast.get(who, edit_url(recipient_id)).status_code == 404
        assert cast.post(who, edit_url(recipient_id), {**good, "name": "Renamed"}).status_code == 404
    assert snapshot(app) == before

    missing = "0" * 32
    refused = len(audit_entries(app, "access:object:refused"))
    assert cast.get("admin", edit_url(missing)).status_code == 404
    assert cast.post("admin", edit_url(missing), good).status_code == 404
    assert [e.targets for e in audit_entries(app, "access:object:refused")[refused:]] == [
        {"type": "recipients", "id": missing}] * 2

    listed = cast.get("admin", "/admin/recipients").get_data(as_text=True)
    cast.post("admin", f"/admin/recipients/{recipient_id}/deactivate", {"confirm": "y"})
    with app.app_context():
        assert not existing(Recipient, recipient_id, fresh=True).active
    assert edit_url(recipient_id) not in cast.get("admin", "/admin/recipients").get_data(as_text=True)
    assert edit_url(recipient_id) in listed
    before = snapshot(app, skip=frozenset({"audit_entries"}))
    assert cast.get("admin", edit_url(recipient_id)).status_code == 404
    assert cast.post("admin", edit_url(recipient_id), {**good, "name": "Renamed"}).status_code == 404
    assert snapshot(app, skip=frozenset({"audit_entries"})) == before
    assert audit_entries(app, EDIT) == []


@both_databases
def test_coming_to_take_webhooks_shows_a_new_secret_once(cast: Cast, app: Flask) -> None:
    recipient_id = recorded(app, delivery="manual")
    answer = cast.post("admin", edit_url(recipient_id), {
        **form_of(app, recipient_id), "delivery": "webhook", "webhook_url": "https://ai.example.com/hooks"})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    secret = first_group(r'id="new-secret">(whsec_[^<]+)<', html)
    token = first_group(r'id="new-token">(ppt_[^<]+)<', html)  # it left manual delivery: it needs the API
    assert "The record of AI Research is saved." in html
    with app.app_context():
        r = existing(Recipient, recipient_id, fresh=True)
        assert r.signing_secret == secret and r.webhook_url == "https://ai.example.com/hooks"
        assert db.session.scalars(sa.select(ApiToken.recipient_id)).all() == [recipient_id]
    listed = cast.get("admin", "/admin/recipients").get_data(as_text=True)
    assert secret not in listed and token not in listed
    edit_page = cast.get("admin", edit_url(recipient_id)).get_data(as_text=True)
    assert secret not in edit_page and token not in edit_page

    # A new address keeps the secret; away from webhooks and back again makes a new one, and no
    # second token while the first is in force.
    moved = cast.post("admin", edit_url(recipient_id), {**form_of(app, recipient_id),
                                                        "webhook_url": "https://ai.example.com/v2"})
    assert moved.status_code == 302
    with app.app_context():
        assert existing(Recipient, recipient_id, fresh=True).signing_secret == secret
    cast.post("admin", edit_url(recipient_id), {**form_of(app, recipient_id), "delivery": "pull"})
    again = cast.post("admin", edit_url(recipient_id), {
        **form_of(app, recipient_id), "delivery": "webhook", "webhook_url": "https://ai.example.com/v3"})
    fresh = first_group(r'id="new-secret">(whsec_[^<]+)<', again.get_data(as_text=True))
    assert fresh != secret and 'id="new-token"' not in again.get_data(as_text=True)
    with app.app_context():
        assert existing(Recipient, recipient_id, fresh=True).signing_secret == fresh
        assert len(db.session.scalars(sa.select(ApiToken.id)).all()) == 1


# -- what an edit does to tasks already given ----------------------------------------------------------

@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    settings = app.config["PORTAL_SETTINGS"]
    settings.webhook_timeout_seconds, settings.webhook_backoff_seconds, settings.webhook_attempts = 1, 2, 3
    yield from start_world(app)


def edit(recipient_id: str, **changes: Any) -> services.Edit:
    r = get(Recipient, recipient_id)
    fields: dict[str, Any] = {"name": r.name, "contact": r.contact, "categories": r.categories, "uses": r.uses,
                              "purpose": r.purpose, "role": r.role.value, "delivery": r.delivery.value,
                              "webhook_url": r.webhook_url, "needs_name": r.needs_name, **changes}
    done = services.update_recipient(r, **fields, actor=Actor.system())
    db.session.commit()
    return done


def erase_for(world: World) -> RecipientTask:
    (task,) = services.open_tasks(world.alice, services.Affected(TaskAction.ERASE), request=None)
    db.session.commit()
    return get(RecipientTask, task.id)


@both_databases
def test_a_waiting_task_goes_by_webhook_once_the_recipient_takes_them(world: World, app: Flask) -> None:
    recipient, _ = make_recipient("People Analytics", "pull", ["input_events", "app_activity"])
    task = erase_for(world)
    task_id = task.id
    assert task.delivery_job_id is None and task.delivery_state == DeliveryState.WAITING
    with receiver() as hook:
        done = edit(recipient.id, delivery="webhook", webhook_url=hook.url, categories=["screenshots"])
        assert done.changed == ("categories", "delivery", "webhook_url") and done.rerouted == 1
        assert done.secret is not None
        task = get(RecipientTask, task_id)
        assert task.categories == ["app_activity", "input_events"]  # a task keeps what it was given
        assert run_now(task.delivery_job_id) == JobState.SUCCEEDED
        (sent,) = hook.received
        assert Webhook(done.secret).verify(sent.body, sent.headers)
        assert sent.json["data"]["categories"] == ["app_activity", "input_events"]
    assert get(RecipientTask, task_id).delivery_state == DeliveryState.DELIVERED
    rerouted = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "recipients:task:reroute")))
    assert [(e.subject_id, e.targets["recipient_task"], e.details["delivery"]) for e in rerouted] == [
        (world.alice, task_id, "webhook")]
    # Later outcomes reach it by the categories saved.
    assert services.open_tasks(world.alice, services.Affected(TaskAction.ERASE, ("input_events",)),
                               request=None) == []
    db.session.rollback()


@both_databases
def test_a_job_queued_the_old_way_sends_nothing(world: World, app: Flask) -> None:
    with receiver() as hook:
        recipient, _ = make_recipient("People Analytics", "webhook", ["input_events"], url=hook.url)
        task = erase_for(world)
        task_id, recipient_id, old_job = task.id, recipient.id, task.delivery_job_id
        done = edit(recipient_id, delivery="pull")
        assert done.rerouted == 1 and done.secret is None
        assert run_now(old_job) == JobState.SUCCEEDED
        assert hook.received == []
    task = get(RecipientTask, task_id)
    assert task.delivery_state == DeliveryState.WAITING and task.delivery_job_id is None  # the recipient lists it
    r = get(Recipient, recipient_id)
    assert r.webhook_url is None and r.secret_sealed is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.tag == "recipients:task:undeliverable")) == 0

    # Manual, then pull again before the e-mail went: nothing is mailed.
    done = edit(recipient_id, delivery="manual")
    task = get(RecipientTask, task_id)
    mail_job = task.delivery_job_id
    assert done.rerouted == 1 and task.link_nonce is not None and get(Job, mail_job).kind == services.MANUAL_JOB
    edit(recipient_id, delivery="pull")
    assert run_now(mail_job) == JobState.SUCCEEDED
    assert get(Job, mail_job).result == {"task_id": task_id, "skipped": "no longer manual"}
    assert get(RecipientTask, task_id).delivery_state == DeliveryState.WAITING


@both_databases
def test_the_service_refuses_to_edit_an_inactive_recipient_and_changes_nothing(app: Flask) -> None:
    """The page answers 404 first; the service keeps the rule for any other caller."""
    recipient_id = recorded(app)
    with app.app_context():
        services.deactivate(existing(Recipient, recipient_id), actor=Actor.system())
        db.session.commit()
    before = snapshot(app)
    with app.app_context():
        fields: dict[str, Any] = {"name": "Renamed", "contact": "ai@example.com", "categories": ["input_events"],
                  "uses": ["ai_training"], "purpose": "Trains models", "role": "processor", "delivery": "pull",
                  "webhook_url": None, "needs_name": False}
        with pytest.raises(services.RecipientError, match="inactive recipient"):
            services.update_recipient(existing(Recipient, recipient_id), **fields, actor=Actor.system())
        db.session.rollback()
    assert snapshot(app) == before
