"""The deletion certificate and the evidence pack list each recipient's answer, tied to the audit
entry that recorded it (which the pack carries, with its proof)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from portal.api.models import ApiToken
from portal.audit.services import Actor
from portal.evidence.verify import verify_pack
from portal.extensions import db
from portal.people.models import Employee
from portal.recipients import services
from portal.rights import certificate
from portal.rights import services as rs
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.evidence.pack_support import make_pack, public_key
from tests.recipients.support import make_recipient
from tests.rights.support import World, fill, get, run_now, start_world


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def erasure_waiting(world: World) -> str:
    make_recipient("AI Research", "pull", ["input_events", "ai_training_use"], uses=("ai_training",))
    make_recipient("Security Operations", "manual", ["screenshots"], role="internal")
    fill(world.alice, events=4, shots=1)
    request_id = rs.file_request(world["alice"], RequestType.ERASURE, description="Erase it").request.id
    rs.claim(get(DataRequest, request_id), world["dpo"])
    rs.start_review(get(DataRequest, request_id), world["dpo"])
    first = get(DataRequest, request_id)
    rs.approve(first, world["dpo"], erasure_ground=rs.erasure_grounds(first)[0].code)
    rs.approve(get(DataRequest, request_id), world["dpo2"])
    db.session.commit()
    run_now(get(DataRequest, request_id).job_id)
    assert get(DataRequest, request_id).state == RequestState.AWAITING_RECIPIENTS
    return request_id


def test_the_certificate_lists_each_answer_with_its_audit_entry(world: World) -> None:
    request_id = erasure_waiting(world)
    request, alice = get(DataRequest, request_id), get(Employee, world.alice)
    assert certificate.is_certifiable(request)
    waiting = text_of(certificate.issue_certificate(request, alice, actor=Actor("employee", world.alice)))
    assert "Not yet: erased here on" in waiting and "Not confirmed yet; due" in waiting
    tasks = {t.recipient_id: t for t in services.tasks_of_request(request_id)}
    ai = next(t for t in tasks.values() if t.categories == ["ai_training_use", "input_events"])
    services.confirm(ai, "done", rows_deleted=4, snapshot_id="assist-v3", via="api", actor=Actor.system())
    other = next(t for t in tasks.values() if t.id != ai.id)
    services.confirm(other, "not_applicable", via="link", actor=Actor("recipient", other.recipient_id))
    db.session.commit()
    request = get(DataRequest, request_id)
    assert request.state == RequestState.COMPLETED
    facts = certificate.certificate_facts(request)
    by_name = {r["recipient"]: r for r in facts["recipients"]}
    assert by_name["AI Research"]["outcome"] == "done" and by_name["AI Research"]["details"] == {
        "rows_deleted": 4, "snapshot_id": "assist-v3"}
    assert by_name["AI Research"]["audit_entry"] == get(type(ai), ai.id).confirm_entry_id
    text = text_of(certificate.issue_certificate(request, get(Employee, world.alice), actor=Actor.system()))
    assert "The teams and systems that received your data" in text
    assert "AI Research" in text and "Erased, confirmed" in text and "4 records." in text
    assert "Held none of this data" in text
    assert by_name["AI Research"]["audit_entry"] in text.replace("\n", "")


def test_the_evidence_pack_carries_each_answer_and_its_entry(world: World, tmp_path: Path) -> None:
    request_id = erasure_waiting(world)
    for task in services.tasks_of_request(request_id):
        services.confirm(task, "done", rows_deleted=1, via="api", actor=Actor.system())
    db.session.commit()
    made = make_pack(request_id)
    facts = made.json("request.json")
    listed = {r["recipient"]: r for r in facts["recipients"]}
    assert set(listed) == {"AI Research", "Security Operations"}
    bodies = [json.loads(e["entry"]) for e in made.entries()]
    entry_ids = {b["id"] for b in bodies}
    assert all(r["audit_entry"] in entry_ids for r in listed.values())
    tags = [b["tag"] for b in bodies]
    assert tags.count("recipients:task:open") == 2 and tags.count("recipients:task:confirm") == 2
    assert verify_pack(made.write(tmp_path / made.result.filename), public_key()).ok


def test_the_demo_recipients_and_the_receivers_credentials(world: World) -> None:
    from portal.demo.seed_recipients import ensure_recipients, webhook_credentials

    assert ensure_recipients() == ["AI Research", "People Analytics", "Security Operations"]
    assert ensure_recipients() == []  # by name: once
    db.session.commit()
    hook = webhook_credentials()
    db.session.commit()
    assert hook is not None
    url, secret, token = hook
    assert url == "http://127.0.0.1:5001/hooks" and secret.startswith("whsec_") and token.startswith("ppt_")
    pa = db.session.scalars(sa.select(services.Recipient).where(services.Recipient.name == "People Analytics")).one()
    assert services.secrets_in_force(pa)[0] == secret
    bound = db.session.scalar(sa.select(ApiToken).where(ApiToken.recipient_id == pa.id))
    assert bound is not None and bound.scopes == ["recipient"]
