"""``flask --app wsgi demo seed`` on a fresh database: DPO queues and routing, and requests of every
type in every state, made through the real services (timeline and audit included), with the
erasure and export jobs run; and a second run adds nothing (docs/architecture.md, "The demo":
the seed is idempotent)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from datetime import timedelta as sa_timedelta

import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.db import utcnow
from portal.demo.seed_requests import MARKER, QUEUES
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.people.services import find_by_email, find_former_by_personal_email
from portal.recipients import services as recipient_services
from portal.rights import services as rights
from portal.rights.models import (
    Channel,
    DataRequest,
    ErasureCount,
    LegalHold,
    Queue,
    QueueMember,
    RequestEvent,
    RequestState,
    RequestType,
    RoutingRule,
)
from tests.rights.support import manual_jobs

S = RequestState


def _counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (DataRequest, RequestEvent, Queue, QueueMember, RoutingRule, LegalHold, ErasureCount,
                          AuditEntry, Job)}


def test_the_demo_seed_makes_every_type_and_state_once(app: Flask) -> None:
    manual_jobs(app)  # nothing runs behind the test's back: what is done, the seed did itself
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    assert "18 requests (alice, bob, carla, frank), queues and routing" in result.output

    with app.app_context():
        today = utcnow().date()
        people = {email.split("@")[0]: str(getattr(find_by_email(email), "id", ""))
                  for email in ("alice@example.com", "bob@example.com", "carla@example.com", "frank@example.com",
                                "dana@example.com")}
        frank = find_former_by_personal_email("frank.home@example.net")  # the /former path of the demo
        assert frank is not None and frank.id == people["frank"]
        filed = list(db.session.scalars(sa.select(DataRequest).where(DataRequest.channel != Channel.SELF_SERVICE)))
        assert {r.subject_id for r in filed} == {people[p] for p in ("alice", "bob", "carla", "frank")}
        assert {r.type for r in filed} == set(RequestType)
        states = Counter(r.state for r in filed)
        # Approval starts fulfilment at once and the seed runs the jobs: those two show in the timelines.
        assert set(states) == set(RequestState) - {S.APPROVED, S.FULFILLING}
        passed = set(db.session.scalars(sa.select(RequestEvent.to_state).where(RequestEvent.to_state.is_not(None))))
        assert passed == {s.value for s in RequestState}

        # Routing: each requester's queue, all worked by dana.
        queues = {q.id: q.name for q in db.session.scalars(sa.select(Queue))}
        assert set(queues.values()) == set(QUEUES) | {rights.DEFAULT_QUEUE}
        expected = {"ES": "Spain & EU", "US-CA": "California", "CO": "Colombia"}
        assert all(queues[r.queue_id or ""] == expected[r.jurisdiction] for r in filed)
        dana_queues = set(db.session.scalars(sa.select(QueueMember.queue_id)
                                             .where(QueueMember.employee_id == people["dana"])))
        assert {queues[q] for q in dana_queues} >= set(QUEUES)

        # Deadlines: overdue, due within a week (one within a day), one extended.
        open_ = [r for r in filed if r.is_open]
        left = sorted((r.effective_due - today).days for r in open_ if r.effective_due is not None)
        assert sum(1 for d in left if d < 0) >= 2
        assert any(0 <= d <= 1 for d in left) and any(2 <= d <= 7 for d in left)
        (extended,) = [r for r in filed if r.extended_due_on is not None]
        assert extended.extension_reason and isinstance(extended.extended_due_on, date)

        # The decisions: a refusal with its basis, a withdrawal, a failure.
        (refused,) = [r for r in filed if r.state == S.REJECTED]
        assert refused.legal_basis and refused.decision_text and refused.jurisdiction == "US-CA"
        (failed,) = [r for r in filed if r.state == S.FAILED]
        assert failed.type == RequestType.ERASURE and failed.job_id
        failed_job = db.session.get(Job, failed.job_id)
        assert failed_job is not None and failed_job.state == JobState.FAILED  # it erased nothing
        assert not db.session.scalar(sa.select(ErasureCount.request_id).where(ErasureCount.request_id == failed.id))

        # Two erasures done by their job: one a plain certificate, one blocked in part by a legal hold.
        erased = {r.subject_id: r for r in filed if r.type == RequestType.ERASURE
                  and r.state in (S.COMPLETED, S.AWAITING_RECIPIENTS)}
        assert set(erased) == {people["alice"], people["carla"]}
        counts = {(c.request_id, c.category): (c.deleted, c.blocked) for c in db.session.scalars(sa.select(ErasureCount))}
        held = erased[people["alice"]]
        assert held.state == S.AWAITING_RECIPIENTS and erased[people["carla"]].state == S.COMPLETED
        waiting = [(t.recipient_id, t.outcome) for t in recipient_services.tasks_of_request(held.id)]
        names = {r.id: r.name for r in recipient_services.all_recipients()}
        assert sorted((names[r], o) for r, o in waiting) == [("AI Research", None), ("Security Operations", "done")]
        assert all(t.outcome == "done" for t in recipient_services.tasks_of_request(erased[people["carla"]].id))
        assert counts[(held.id, "app_activity")][0] == 0 and counts[(held.id, "app_activity")][1] > 0
        assert "legal hold" in (held.outcome or "")
        certificate = erased[people["carla"]]
        assert sum(counts[(certificate.id, c)][0] for c in ("input_events", "screenshots")) > 0
        assert all(blocked == 0 for (rid, _), (_, blocked) in counts.items() if rid == certificate.id)
        (hold,) = db.session.scalars(sa.select(LegalHold))
        assert hold.subject_id == people["alice"] and hold.active

        # bob's access request was answered by an export; frank came by the verified path.
        (access,) = [r for r in filed if r.subject_id == people["bob"] and r.type == RequestType.ACCESS]
        assert access.state == S.COMPLETED and (access.result or {}).get("export")
        assert [r.channel for r in filed if r.subject_id == people["frank"]] == [Channel.VERIFIED]

        # Real timelines and audit: every request was filed, and the e-mails are queued as jobs.
        tags = Counter(db.session.scalars(sa.select(AuditEntry.tag).where(AuditEntry.tag.like("requests:%"))))
        assert tags["requests:request:file"] == len(filed) == 18
        assert tags["requests:request:approve-erasure"] == 6 and tags["requests:request:reject"] == 1
        assert tags["requests:hold:place"] == 1 and tags["requests:request:extend"] == 1
        mails = Counter(j.params["template"] for j in db.session.scalars(sa.select(Job).where(Job.kind == "mail.send")))
        assert mails["request_received"] == 18 and mails["request_rejected"] == 1
        assert mails["request_extended"] == 1
        assert mails["request_completed"] == 4  # alice's erasure still waits on AI Research
        before = _counts()

    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0, again.output
    assert "requests" not in again.output
    with app.app_context():
        assert _counts() == before
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.tag == MARKER)) == 1


def test_the_demo_seeds_dates_agree_with_its_audit_log(app: Flask) -> None:
    """What a page shows must agree with the tamper-evident record of what happened. A request
    "received" on one day whose first audit entry (its filing) is dated another would make the
    evidence pack and the DPO's queue contradict each other; so every seeded request's receipt is
    the moment of its first audit entry. Consent must precede the processing that rests on it
    (GDPR Art. 6(1)(a), 7(1): the controller must be able to show it was given): every seeded
    screenshot is captured after its subject consented to screenshot capture, and every seeded
    use in an AI training set comes after the consent to AI training; each consent records the
    policy version in force, published before it. And the log, written step by step at those
    moments, still verifies: its times follow its sequence."""
    from portal.audit.verify import verify_log
    from portal.consent.models import ConsentEvent, Decision, Purpose
    from portal.monitoring.models import Screenshot
    from portal.policy.models import PolicyVersion
    from portal.training.models import SnapshotMember, TrainingSnapshot

    manual_jobs(app)
    result = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        first: dict[str, AuditEntry] = {}
        for entry in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)):
            request_id = (entry.targets or {}).get("request")
            if request_id and request_id not in first:
                first[request_id] = entry
        filed = list(db.session.scalars(sa.select(DataRequest)))
        assert len(filed) >= 18
        for request in filed:
            entry = first[request.id]
            assert entry.tag == "requests:request:file"
            assert entry.recorded_at.date() == request.received_at.date(), (request.reference, entry.recorded_at)
            assert entry.recorded_at == request.received_at
        # The overdue and the old ones were really received weeks ago, as the audit log says.
        assert min(r.received_at for r in filed) <= utcnow() - sa_timedelta(days=30)

        consents = list(db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.decision == Decision.GRANTED)))
        given = {(c.subject_id, c.purpose): c for c in consents}
        v1 = db.session.scalar(sa.select(PolicyVersion).where(PolicyVersion.version == 1))
        assert v1 is not None and v1.published_at is not None
        for c in consents:
            assert c.policy_version == 1 and v1.published_at < c.decided_at
        shots = list(db.session.scalars(sa.select(Screenshot)))
        assert shots
        for shot in shots:
            assert given[(shot.subject_id, Purpose.SCREENSHOT_CAPTURE)].decided_at < shot.captured_at
        uses = db.session.execute(sa.select(SnapshotMember.subject_id, TrainingSnapshot.created_on)
                                  .join(TrainingSnapshot, TrainingSnapshot.id == SnapshotMember.snapshot_id)).all()
        assert uses
        for subject_id, created_on in uses:  # no snapshot holds anyone before their consent to AI training
            assert given[(subject_id, Purpose.AI_TRAINING)].decided_at.date() <= created_on
        verified = verify_log(check_heads=False)
        assert verified.ok, verified.problems
