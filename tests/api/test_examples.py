"""The programs in examples/ run against a live portal: the collector (with retries on 429) and
the training pipeline's filter; examples/ingest-batch.json is the documented example."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from portal.api.views import EXAMPLE_BATCH
from portal.audit.services import Actor
from portal.config import PROJECT_ROOT
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.extensions import db
from portal.people import services as people
from portal.people.models import EmploymentStatus
from portal.people.pseudonyms import pseudonym
from portal.rights import services as requests_services
from tests.conftest import LiveServer
from tests.helpers import audit_entries, make_employee

EXAMPLES = PROJECT_ROOT / "examples"


def run(script: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTAL_API_TOKEN": token}
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_the_batch_file_is_the_documented_example() -> None:
    assert json.loads((EXAMPLES / "ingest-batch.json").read_text()) == EXAMPLE_BATCH


def test_the_collector_posts_retries_on_429_and_reports_refusals(app: Flask, tmp_path: Path,
                                                                 make_token: Callable[..., str], e1001: str) -> None:
    token = make_token("ingest", name="example collector")
    lines = tmp_path / "batches.jsonl"
    batch = dict(EXAMPLE_BATCH)
    lines.write_text("\n".join(json.dumps({**batch, "events": [{**e, "event_id": f"{n}-{e['event_id']}"}
                                                                for e in batch["events"]], "screenshots": []})
                               for n in range(3)) + "\n")
    app.config["API_RATE_LIMIT"] = "2 per 2 seconds"
    with LiveServer(app) as live:
        first = run("collector.py", token, "--url", live.url, str(EXAMPLES / "ingest-batch.json"), str(lines))
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == "stored 13, duplicates 0"  # the 4th request waited for its 429
        again = run("collector.py", token, "--url", live.url, str(EXAMPLES / "ingest-batch.json"))
        assert again.stdout.strip() == "stored 0, duplicates 4"
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**batch, "events": [{**batch["events"][0], "occurred_at": "1999-01-01T00:00:00Z"}]}))
        refused = run("collector.py", token, "--url", live.url, str(bad))
        assert refused.returncode == 1 and "event 0: time_out_of_range" in refused.stderr


def test_the_training_pipeline_drops_everyone_excluded(app: Flask, tmp_path: Path,
                                                       make_token: Callable[..., str]) -> None:
    ids = {name: make_employee(app, f"{name}@example.com", consents=name != "never")
           for name in ("kept", "withdrew", "objected", "never", "came_back")}

    def decide(name: str, decision: Decision) -> None:
        consent.decide(ids[name], Purpose.AI_TRAINING, decision, actor=Actor("employee", ids[name]),
                       method="test", device="test", policy_version=None)

    with app.app_context():
        decide("withdrew", Decision.WITHDRAWN)
        requests_services.suppress(ids["objected"], "objection")
        decide("came_back", Decision.WITHDRAWN)
        db.session.commit()
        names = {pseudonym(subject): name for name, subject in ids.items()}
    source, out, state = tmp_path / "training.jsonl", tmp_path / "filtered.jsonl", tmp_path / "feed.json"
    source.write_text("".join(json.dumps({"pseudonym": p, "features": [n]}) + "\n"
                              for n in range(3) for p in names) + json.dumps({"pseudonym": "tp_" + "b" * 26}) + "\n")
    token = make_token("exclusions:read", name="training pipeline")
    with LiveServer(app) as live:
        def filtered() -> tuple[set[str], str]:
            done = run("training_pipeline.py", token, "--url", live.url, "--in", str(source), "--out", str(out),
                       "--state", str(state))
            assert done.returncode == 0, done.stderr
            return {names[json.loads(line)["pseudonym"]] for line in out.read_text().splitlines()}, done.stdout

        kept, said = filtered()
        assert kept == {"kept"} and "kept 3, dropped 13" in said
        # Consent given again: the next run learns it from the changes after its cursor alone.
        with app.app_context():
            decide("came_back", Decision.GRANTED)
            decide("kept", Decision.WITHDRAWN)
            db.session.commit()
        kept, said = filtered()
        assert kept == {"came_back"} and "kept 3, dropped 13" in said
        in_force = {names[who]: reason for who, reason in json.loads(state.read_text())["in_force"]}
        assert in_force == {"withdrew": "consent_withdrawn", "objected": "objection_upheld",
                            "kept": "consent_withdrawn"}


def test_the_demo_seeds_its_data_through_the_ingestion_service(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    batches = audit_entries(app, "monitoring:batch:ingest")
    with app.app_context():
        seeded = {people.find_by_email(email).id: email  # type: ignore[union-attr]
                  for email in ("alice@example.com", "bob@example.com", "carla@example.com", "dana@example.com",
                                "bruno@example.com", "frank@example.com")}
        frank = people.find_by_email("frank@example.com")
        assert frank is not None and frank.employment_status == EmploymentStatus.FORMER and frank.left_at is not None
    assert {e.subject_id for e in batches} == set(seeded)
    assert all(e.details["events"] > 1000 and e.details["screenshots"] == 20 for e in batches)
    # The training-set ledger: two data sets, their snapshots and models; alice's erasure marked the
    # newest snapshot holding her, which waits for the pipeline's answer.
    from portal.training.models import TrainingDataset, TrainingModel
    from portal.training.services import uses_of

    with app.app_context():
        assert set(db.session.scalars(sa.select(TrainingDataset.name))) == {"activity-patterns", "screen-context"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TrainingModel)) == 3
        alice = people.find_by_email("alice@example.com")
        assert alice is not None
        uses = uses_of(alice.id)
        pending = [u for u in uses if u.pending]
        assert len(uses) == 3 and len(pending) == 1
        assert pending[0].dataset == "screen-context" and pending[0].removal is not None
        assert pending[0].removal.cause == "erasure" and pending[0].request_reference is not None


def test_the_training_pipeline_registers_a_snapshot_and_answers_a_removal(app: Flask, tmp_path: Path,
                                                                          make_token: Callable[..., str]) -> None:
    from portal.training.services import uses_of

    ids = {name: make_employee(app, f"{name}@example.com") for name in ("ana", "ben", "cleo")}
    with app.app_context():
        names = {pseudonym(subject): name for name, subject in ids.items()}
    source, out = tmp_path / "training.jsonl", tmp_path / "filtered.jsonl"
    source.write_text("".join(json.dumps({"pseudonym": p, "features": [n]}) + "\n" for n in range(2) for p in names))
    token = make_token("exclusions:read", "training", name="training pipeline")
    headers = {"Authorization": f"Bearer {token}"}
    with LiveServer(app) as live:
        client = app.test_client()
        assert client.post("/api/v1/training/datasets", headers=headers, json={
            "name": "activity", "purpose": "Predict focus time.",
            "source_categories": ["app_activity"]}).status_code == 201
        first = run("training_pipeline.py", token, "--url", live.url, "--in", str(source), "--out", str(out),
                    "--dataset", "activity", "--snapshot", "s1")
        assert first.returncode == 0, first.stderr
        assert "registered activity/s1 with 3 people" in first.stdout
        assert client.post("/api/v1/training/models", headers=headers, json={
            "name": "FocusPredict", "version": "1", "trained_on": "2026-12-01",
            "snapshots": [{"dataset": "activity", "snapshot": "s1"}]}).status_code == 201
        with app.app_context():  # ben withdraws: s1 must have him removed
            consent.decide(ids["ben"], Purpose.AI_TRAINING, Decision.WITHDRAWN, actor=Actor("employee", ids["ben"]),
                           method="test", device="test", policy_version=None)
            db.session.commit()
        second = run("training_pipeline.py", token, "--url", live.url, "--in", str(source), "--out", str(out),
                     "--dataset", "activity", "--snapshot", "s1-r1", "--replaces", "s1", "--retrained-version", "2")
        assert second.returncode == 0, second.stderr
        assert "registered activity/s1-r1 with 2 people" in second.stdout
        assert "answered 1 removal(s) on activity/s1: replaced by s1-r1; FocusPredict 1 retrained as 2" in second.stdout
    assert {names[json.loads(line)["pseudonym"]] for line in out.read_text().splitlines()} == {"ana", "cleo"}
    with app.app_context():
        (use,) = [u for u in uses_of(ids["ben"]) if u.snapshot == "s1"]
        assert use.removal is not None and (use.removal.answer, use.replacement) == ("replaced", "s1-r1")
        assert [(m.label, m.action, m.new_version) for m in use.models] == [("FocusPredict 1", "retrained", "2")]
