"""The training-set ledger through the API (scope ``training``): registering data sets, snapshots
with their members and models; a withdrawal, an upheld objection and an erasure mark snapshots
"removal required"; the pipeline's answers, with a replacement's membership verified; every call
audited with counts, never the people."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.api.openapi import document
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.extensions import db
from portal.people.pseudonyms import pseudonym
from portal.training.models import SnapshotMember, SnapshotRemoval, TrainingSnapshot
from portal.training.services import uses_of
from tests.helpers import audit_entries, json_of, make_employee

API = "/api/v1/training"


@pytest.fixture
def pipeline(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('training', name='training pipeline')}"}


@pytest.fixture
def people(app: Flask) -> dict[str, str]:
    return {name: make_employee(app, f"{name}@example.com", consents=name != "never")
            for name in ("ana", "ben", "cleo", "never")}


def tp(ids: dict[str, str], app: Flask, *names: str) -> list[str]:
    with app.app_context():
        return [pseudonym(ids[n]) for n in names]


def register(client: FlaskClient, headers: dict[str, str], app: Flask, ids: dict[str, str], snapshot: str,
             names: tuple[str, ...], created_on: str = "2026-10-09") -> Any:
    return client.post(f"{API}/datasets/activity/snapshots", headers=headers, json={
        "snapshot": snapshot, "created_on": created_on, "source_categories": ["app_activity"],
        "members": [{"subject": p, "records": 10 + n} for n, p in enumerate(tp(ids, app, *names))]})


def ledger(client: FlaskClient, headers: dict[str, str], app: Flask, ids: dict[str, str]) -> None:
    made = client.post(f"{API}/datasets", headers=headers, json={
        "name": "activity", "purpose": "Predict focus time.", "source_categories": ["input_events", "app_activity"]})
    assert made.status_code == 201, made.json
    assert register(client, headers, app, ids, "s1", ("ana", "ben")).status_code == 201
    model = client.post(f"{API}/models", headers=headers, json={
        "name": "FocusPredict", "version": "2.2", "trained_on": "2026-10-20",
        "snapshots": [{"dataset": "activity", "snapshot": "s1"}]})
    assert model.status_code == 201, model.json


def test_the_ledger_is_registered_read_back_and_audited_with_counts(app: Flask, client: FlaskClient,
                                                                    pipeline: dict[str, str],
                                                                    people: dict[str, str]) -> None:
    ledger(client, pipeline, app, people)
    snapshot = client.get(f"{API}/datasets/activity/snapshots/s1", headers=pipeline)
    assert snapshot.status_code == 200
    assert snapshot.json == {"dataset": "activity", "snapshot": "s1", "created_on": "2026-10-09",
                             "source_categories": ["app_activity"], "members": 2, "deleted_at": None,
                             "removals_pending": 0, "models": [{"name": "FocusPredict", "version": "2.2"}]}
    dataset = json_of(client.get(f"{API}/datasets/activity", headers=pipeline))
    assert dataset["source_categories"] == ["app_activity", "input_events"]
    assert [x["snapshot"] for x in dataset["snapshots"]] == ["s1"]
    model = json_of(client.get(f"{API}/models/FocusPredict/versions/2.2", headers=pipeline))
    assert model["snapshots"] == [{"dataset": "activity", "snapshot": "s1"}] and model["outcomes"] == []
    with app.app_context():
        assert db.session.get(SnapshotMember, (1, people["ana"])) is not None  # membership checkable by subject
        uses = uses_of(people["ana"])
        assert [(u.dataset, u.snapshot, u.record_count, u.model) for u in uses] == [
            ("activity", "s1", 10, "FocusPredict 2.2")]
    registered = audit_entries(app, "training:snapshot:register")
    assert [e.details["members"] for e in registered] == [2]
    assert all(e.subject_id is None for e in registered)
    assert not any(p in str(e.details) + str(e.targets) for e in registered for p in people.values())
    # The same names again conflict; unknown ones are 404; nothing about bodies is echoed.
    again = client.post(f"{API}/datasets", headers=pipeline, json={
        "name": "activity", "purpose": "x", "source_categories": ["app_activity"]})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert client.get(f"{API}/datasets/nothing", headers=pipeline).status_code == 404
    bad = client.post(f"{API}/datasets", headers=pipeline, json={"name": "x", "purpose": "x",
                                                                "source_categories": ["keystrokes-raw"]})
    assert bad.status_code == 422 and "keystrokes-raw" not in bad.get_data(as_text=True)


def test_a_snapshot_with_unknown_repeated_or_excluded_members_is_refused_whole(
        app: Flask, client: FlaskClient, pipeline: dict[str, str], people: dict[str, str]) -> None:
    ledger(client, pipeline, app, people)
    members = [{"subject": p} for p in tp(people, app, "ana", "never", "ana")] + [{"subject": "tp_" + "a" * 26}]
    refused = client.post(f"{API}/datasets/activity/snapshots", headers=pipeline, json={
        "snapshot": "s2", "created_on": "2026-11-01", "source_categories": ["app_activity"], "members": members})
    assert refused.status_code == 422
    assert json_of(refused)["type"] == "/api/docs#problem-members-refused"
    assert json_of(refused)["members"] == [{"index": 1, "reason": "excluded"}, {"index": 2, "reason": "duplicate"},
                                       {"index": 3, "reason": "unknown_subject"}]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TrainingSnapshot)) == 1
    assert [e.details for e in audit_entries(app, "api:training:refuse")] == [
        {"call": "snapshot", "problem": "/api/docs#problem-members-refused"}]


def withdraw(app: Flask, subject: str) -> None:
    with app.app_context():
        consent.decide(subject, Purpose.AI_TRAINING, Decision.WITHDRAWN, actor=Actor("employee", subject),
                       method="test", device="test", policy_version=None)
        db.session.commit()


def test_a_withdrawal_marks_the_snapshots_and_a_replacement_still_holding_the_person_is_refused(
        app: Flask, client: FlaskClient, pipeline: dict[str, str], people: dict[str, str]) -> None:
    ledger(client, pipeline, app, people)
    withdraw(app, people["ana"])
    pending = json_of(client.get(f"{API}/removals", headers=pipeline))
    assert pending["items"] == [{"dataset": "activity", "snapshot": "s1", "subject": tp(people, app, "ana")[0],
                                 "cause": "consent_withdrawn", "since": pending["items"][0]["since"],
                                 "models": [{"name": "FocusPredict", "version": "2.2"}]}]
    # A model may not be trained on a snapshot with a removal pending.
    blocked = client.post(f"{API}/models", headers=pipeline, json={
        "name": "FocusPredict", "version": "2.3", "trained_on": "2026-12-01",
        "snapshots": [{"dataset": "activity", "snapshot": "s1"}]})
    assert blocked.status_code == 409
    # The pipeline cannot register ana in a new snapshot any more (she is excluded now) ...
    assert register(client, pipeline, app, people, "s1-r1", ("ana", "ben")).status_code == 422
    # ... and a replacement that holds her (registered before the withdrawal, say) is refused.
    with app.app_context():
        snap = db.session.scalar(sa.select(TrainingSnapshot).where(TrainingSnapshot.name == "s1"))
        assert snap is not None
        older = TrainingSnapshot(dataset_id=snap.dataset_id, name="s0", created_on=snap.created_on,
                                 source_categories=["app_activity"], member_count=1)
        db.session.add(older)
        db.session.flush()
        db.session.add(SnapshotMember(snapshot_id=older.id, subject_id=people["ana"], record_count=1))
        db.session.commit()
    still = client.post(f"{API}/datasets/activity/snapshots/s1/answer", headers=pipeline,
                        json={"answer": "replaced", "replacement": "s0"})
    assert still.status_code == 422 and json_of(still)["type"] == "/api/docs#problem-membership-conflict"
    with app.app_context():
        assert db.session.scalar(sa.select(SnapshotRemoval.answer)) is None
    # A snapshot without her is accepted as the answer.
    assert register(client, pipeline, app, people, "s1-r1", ("ben",)).status_code == 201
    done = client.post(f"{API}/datasets/activity/snapshots/s1/answer", headers=pipeline,
                       json={"answer": "replaced", "replacement": "s1-r1"})
    assert done.status_code == 200 and done.json == {"dataset": "activity", "snapshot": "s1", "answer": "replaced",
                                                     "answered": 1}
    assert client.post(f"{API}/datasets/activity/snapshots/s1/answer", headers=pipeline,
                       json={"answer": "deleted"}).status_code == 409  # nothing pending any more
    assert json_of(client.get(f"{API}/removals", headers=pipeline))["items"] == []
    # The model: retrained as a registered version not trained on s1.
    assert client.post(f"{API}/models", headers=pipeline, json={
        "name": "FocusPredict", "version": "2.3", "trained_on": "2026-12-01",
        "snapshots": [{"dataset": "activity", "snapshot": "s1-r1"}]}).status_code == 201
    outcome = client.post(f"{API}/models/FocusPredict/versions/2.2/outcomes", headers=pipeline, json={
        "dataset": "activity", "snapshot": "s1", "action": "retrained", "new_version": "2.3"})
    assert outcome.status_code == 201 and json_of(outcome)["new_version"] == "2.3"
    assert client.post(f"{API}/models/FocusPredict/versions/2.2/outcomes", headers=pipeline, json={
        "dataset": "activity", "snapshot": "s1", "action": "unlearned"}).status_code == 409
    with app.app_context():
        use = next(u for u in uses_of(people["ana"]) if u.snapshot == "s1")
        assert use.removal is not None and use.removal.cause == "consent_withdrawn"
        assert (use.removal.answer, use.replacement) == ("replaced", "s1-r1")
        assert [(m.label, m.action, m.new_version) for m in use.models] == [("FocusPredict 2.2", "retrained", "2.3")]
    answers = audit_entries(app, "training:removal:answer")
    assert [(e.subject_id, e.details) for e in answers] == [(people["ana"], {"answer": "replaced"})]
    assert [e.details for e in audit_entries(app, "api:training:answer")] == [{"answer": "replaced", "answered": 1}]


def test_kept_needs_a_basis_and_deleted_marks_the_snapshot(app: Flask, client: FlaskClient,
                                                          pipeline: dict[str, str], people: dict[str, str]) -> None:
    ledger(client, pipeline, app, people)
    withdraw(app, people["ben"])
    no_basis = client.post(f"{API}/datasets/activity/snapshots/s1/answer", headers=pipeline, json={"answer": "kept"})
    assert no_basis.status_code == 422
    deleted = client.post(f"{API}/datasets/activity/snapshots/s1/answer", headers=pipeline, json={"answer": "deleted"})
    assert deleted.status_code == 200
    assert json_of(client.get(f"{API}/datasets/activity/snapshots/s1", headers=pipeline))["deleted_at"] is not None
    kept = client.post(f"{API}/models/FocusPredict/versions/2.2/outcomes", headers=pipeline, json={
        "dataset": "activity", "snapshot": "s1", "action": "kept", "basis": "GDPR Art. 17(3)(e)"})
    assert kept.status_code == 201 and json_of(kept)["basis"] == "GDPR Art. 17(3)(e)"


def test_the_openapi_document_has_the_training_operations_with_examples(app: Flask) -> None:
    with app.app_context():
        doc = document()
    paths = {p for p in doc["paths"] if p.startswith("/api/v1/training")}
    assert paths == {"/api/v1/training/datasets", "/api/v1/training/datasets/{dataset}",
                     "/api/v1/training/datasets/{dataset}/snapshots",
                     "/api/v1/training/datasets/{dataset}/snapshots/{snapshot}",
                     "/api/v1/training/datasets/{dataset}/snapshots/{snapshot}/answer",
                     "/api/v1/training/removals", "/api/v1/training/models",
                     "/api/v1/training/models/{name}/versions/{version}",
                     "/api/v1/training/models/{name}/versions/{version}/outcomes"}
    for path in paths:
        for op in doc["paths"][path].values():
            assert op["x-scope"] == "training"
            if "requestBody" in op:
                assert op["requestBody"]["content"]["application/json"]["examples"]
            assert any(r.get("content") for r in op["responses"].values())
