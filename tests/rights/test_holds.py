"""An erasure a legal hold cut short: the outcome gives the legal basis for keeping the data in the
person's own regime (GDPR Art. 17(3)(e), with Spain's blocking; CCPA §1798.145(a)(1)(E); Colombia's
duty to remain, Decreto 1377 Art. 9; LGPD Art. 16, I) and how to complain (Colombia: a reclamo to
the controller first, Ley 1581 Art. 16); lifting the hold queues a job that erases what it kept,
updates the request's counts and certificate, tells the person on the request and by e-mail, and
is audited; another hold that still covers the data keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.crypto import keystore
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.mail import services as mailer
from portal.monitoring.models import Screenshot
from portal.people.models import Employee
from portal.rights import erasure
from portal.rights import services as rs
from portal.rights.certificate import certificate_facts
from portal.rights.models import DataRequest, ErasureCount, EventKind, RequestEvent, RequestState
from portal.training.models import SnapshotRemoval
from tests.conftest import both_databases
from tests.helpers import make_employee
from tests.rights.support import World, count, fill, get, pending_jobs, run_now, start_world, tags_for
from tests.rights.test_erasure import approved_erasure
from tests.rights.test_notifications import strict_render

RESUME = rs.ERASURE_AFTER_HOLD_JOB


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def counts(request_id: str) -> dict[str, tuple[int, int, int]]:
    return {c.category: (c.deleted, c.blocked, c.removal_required) for c in db.session.scalars(
        sa.select(ErasureCount).where(ErasureCount.request_id == request_id))}


def shot_files(subject_id: str, app: Flask) -> set[str]:
    folder = Path(app.config["PORTAL_SETTINGS"].artifact_dir) / "screenshots" / subject_id
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.parametrize(("jurisdiction", "basis", "complaint"), [
    ("ES", "GDPR Art. 17(3)(e): the data is needed for the establishment, exercise or defence of legal claims; it is "
           "kept blocked, as LOPDGDD Art. 32 requires",
     "If you disagree, you may complain to the Agencia Española de Protección de Datos (AEPD), "
     "https://sedeagpd.gob.es/sede-electronica-web/."),
    ("FR", "GDPR Art. 17(3)(e): the data is needed for the establishment, exercise or defence of legal claims",
     "If you disagree, you may complain to the data protection supervisory authority of the EU/EEA country where "
     "you live or work (GDPR Art. 77) (the list: https://www.edpb.europa.eu/about-edpb/about-edpb/members_en)."),
    ("US-CA", "Cal. Civ. Code §1798.145(a)(1)(E): a business may keep personal information it needs to exercise or "
              "defend legal claims",
     "If you disagree, you may complain to the California Privacy Protection Agency (CPPA), "
     "https://cppa.ca.gov/webapplications/complaint."),
    ("CO", "Decreto 1377 de 2013 Art. 9 (Decreto 1074 de 2015, art. 2.2.2.25.2.8): erasure does not proceed while a "
           "legal or contractual duty requires the data to remain in the database",
     "If you disagree, you may complain to the Superintendencia de Industria y Comercio (SIC), "
     "https://www.sic.gov.co: this request was the request to the controller that Ley 1581 Art. 16 requires "
     "first."),
    ("BR", "LGPD Art. 16, I: the data may be kept to comply with a legal or regulatory obligation, here its "
           "preservation for judicial, administrative or arbitral proceedings (Art. 7, VI)",
     "If you disagree, you may complain to the Autoridade Nacional de Proteção de Dados (ANPD), "
     "https://www.gov.br/anpd/pt-br/canais_atendimento/cidadao-titular-de-dados/"
     "peticao-de-titular-contra-controlador-de-dados: this request was the request to the controller that LGPD "
     "Art. 55-J(V) requires first."),
])
def test_the_outcome_gives_the_regimes_legal_basis_and_how_to_complain(
        world: World, app: Flask, jurisdiction: str, basis: str, complaint: str) -> None:
    """GDPR Art. 17(3)(e) lets a controller keep what legal claims need, and Spain's LOPDGDD Art. 32
    has it blocked; CCPA §1798.145(a)(1)(E) lets a business exercise or defend legal claims;
    Colombia's Decreto 1377 Art. 9 refuses erasure while a duty to remain lasts, and Ley 1581
    Art. 16 makes the claim to the controller a step before the SIC (this erasure request was that
    claim, so the person may now complain); LGPD Art. 16, I keeps data a legal obligation requires,
    and Art. 55-J(V) likewise wants the request to the controller first."""
    app.config["PORTAL_SETTINGS"].dpo_contact = "privacy@example.com"
    person = make_employee(app, f"held-{jurisdiction.lower()}@example.com", jurisdiction=jurisdiction)
    fill(person, events=6, shots=2)
    rs.place_hold(get(Employee, person), world["admin"], categories=["screenshots"], matter_reference="LIT-9",
                  reason="A claim is pending.")
    db.session.commit()
    assert erasure.hold_basis(jurisdiction) == basis
    assert erasure.how_to_complain(jurisdiction) == complaint
    request_id, job_id = approved_erasure(world, person) if jurisdiction == "ES" else _approved_by_admin(world, person)
    assert run_now(job_id) == JobState.SUCCEEDED
    request = get(DataRequest, request_id)
    assert request.outcome is not None
    assert ("Some of your data is under a legal hold and was not erased: Screenshots (2). It is kept blocked "
            "(stored, not used for anything else) until the hold is lifted; the portal then erases it as this "
            f"request asked and tells you. Legal basis: {basis}. {complaint}") in request.outcome
    assert request.result is not None and request.result["hold_basis"] == basis
    assert certificate_facts(request)["hold_basis"] == basis


def _approved_by_admin(w: World, subject_id: str) -> tuple[str, str]:
    """An erasure outside Spain's queue: the default queue's work, approved by two admins' hands
    (the admin and a DPO made a member of the request's queue)."""
    from portal.rights.models import QueueMember

    request = rs.file_request(get(Employee, subject_id), "erasure", description="Erase it").request
    db.session.add(QueueMember(queue_id=request.queue_id, employee_id=w.dpo))
    db.session.add(QueueMember(queue_id=request.queue_id, employee_id=w.dpo2))
    db.session.flush()
    rs.claim(request, w["dpo"])
    rs.start_review(request, w["dpo"])
    rs.approve(request, w["dpo"], erasure_ground=rs.erasure_grounds(request)[0].code)
    assert rs.approve(get(DataRequest, request.id), w["dpo2"]) is True
    db.session.commit()
    request = get(DataRequest, request.id)
    assert request.job_id
    return request.id, request.job_id


@both_databases
def test_lifting_the_hold_erases_what_it_kept_and_tells_the_person(world: World, app: Flask) -> None:
    fill(world.alice, events=12, shots=3)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots", "ai_training_use"],
                  matter_reference="LIT-1", reason="A claim is pending.")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    assert counts(request_id) == {"input_events": (8, 0, 0), "app_activity": (4, 0, 0), "screenshots": (0, 3, 0),
                                  "ai_training_use": (0, 1, 0)}
    assert keystore().exists(world.alice) and len(shot_files(world.alice, app)) == 3
    (hold,) = rs.active_holds(world.alice)
    assert pending_jobs([RESUME]) == []

    rs.lift_hold(hold, world["dpo2"])
    db.session.commit()
    (resume,) = pending_jobs([RESUME])
    assert tags_for(request_id)[-1] == "requests:request:resume"
    (lift,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "requests:hold:lift"))
    assert lift.details == {"erasures_resumed": [request_id]}
    assert run_now(resume) == JobState.SUCCEEDED

    assert counts(request_id) == {"input_events": (8, 0, 0), "app_activity": (4, 0, 0), "screenshots": (3, 0, 0),
                                  "ai_training_use": (0, 0, 1)}
    assert count(Screenshot, Screenshot.subject_id == world.alice) == 0 and shot_files(world.alice, app) == set()
    assert db.session.scalar(sa.select(SnapshotRemoval.request_id)
                             .where(SnapshotRemoval.subject_id == world.alice)) == request_id
    assert not keystore().exists(world.alice)  # nothing sealed is left: the key is destroyed
    request = get(DataRequest, request_id)
    assert request.state == RequestState.COMPLETED
    assert request.result is not None and request.result["key_destroyed"] is True and "hold_basis" not in request.result
    facts = certificate_facts(request)
    assert facts["categories"]["screenshots"] == {"deleted": 3, "blocked": 0}
    assert facts["categories"]["ai_training_use"] == {"deleted": 0, "blocked": 0, "removal_required": 1}
    assert facts["key_destroyed"] is True

    # The person is told on the request (visible to them) and by e-mail.
    message = db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == request_id,
                                                               RequestEvent.kind == EventKind.MESSAGE)).one()
    assert message.visible_to_requester and message.actor_role == "system"
    assert message.body == (
        f"The legal hold on part of your data has been lifted, and your erasure {request.reference} has now been "
        "carried out for what it kept: Screenshots (3 deleted), Use in AI training (1 kept as evidence, marked "
        "“removal required”). Nothing of your monitoring data is left, and its key has been destroyed. Your "
        "deletion certificate shows the new counts.")
    (mail,) = db.session.scalars(sa.select(Job).where(Job.kind == mailer.SEND_KIND,
                                                      Job.params["template"].as_string() == "request_erasure_resumed"))
    assert mail.params["recipient_id"] == world.alice
    text = strict_render(app, "request_erasure_resumed", world.alice, request_id)
    assert text.startswith(f"Subject: Your erasure {request.reference} has been carried out for data a legal hold "
                           "kept\n")
    assert f"/me/requests/{request_id}" in text
    (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "requests:erasure:resume"))
    assert (entry.subject_id, entry.targets) == (world.alice, {"request": request_id, "job": resume})
    assert entry.details == {"deleted_screenshots": 3, "removal_required": 1, "key_destroyed": True,
                             "still_blocked": []}

    # Run again (a duplicate dispatch): nothing more to do.
    db.session.execute(sa.update(Job).where(Job.id == resume).values(state=JobState.QUEUED))
    db.session.commit()
    assert run_now(resume) == JobState.SUCCEEDED
    assert count(AuditEntry, AuditEntry.tag == "requests:erasure:resume") == 1


def test_a_hold_still_in_force_keeps_its_data_and_a_lift_with_nothing_held_queues_nothing(world: World) -> None:
    fill(world.alice, events=6, shots=2)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots"], matter_reference="LIT-1",
                  reason="One claim.")
    rs.place_hold(world["alice"], world["dpo"], categories=[], matter_reference="LIT-2", reason="Another claim.")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    first, second = sorted(rs.active_holds(world.alice), key=lambda h: h.matter_reference)
    rs.lift_hold(first, world["dpo2"])  # the other hold covers everything still
    db.session.commit()
    assert pending_jobs([RESUME]) == []
    assert counts(request_id)["screenshots"] == (0, 2, 0)

    rs.lift_hold(second, world["dpo2"])
    db.session.commit()
    (resume,) = pending_jobs([RESUME])
    assert run_now(resume) == JobState.SUCCEEDED
    assert {c: v[:2] for c, v in counts(request_id).items()} == {
        "input_events": (4, 0), "app_activity": (2, 0), "screenshots": (2, 0), "ai_training_use": (0, 0)}

    # Bob has no erasure: lifting his hold queues nothing.
    hold = rs.place_hold(world["bob"], world["us_dpo"], categories=[], matter_reference="LIT-3", reason="A claim.")
    db.session.commit()
    rs.lift_hold(hold, world["us_dpo"])
    db.session.commit()
    assert pending_jobs([RESUME]) == []


def test_a_resumed_erasure_cut_short_carries_on_and_counts_once(world: World, app: Flask,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fill(world.alice, events=6, shots=3)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots"], matter_reference="LIT-1",
                  reason="A claim is pending.")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    (hold,) = rs.active_holds(world.alice)
    rs.lift_hold(hold, world["dpo2"])
    db.session.commit()
    (resume,) = pending_jobs([RESUME])
    original = rs.tell_requester

    def cut_short(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker died")

    monkeypatch.setattr(rs, "tell_requester", cut_short)
    assert run_now(resume) == JobState.QUEUED  # failed after the batches committed; tried again later
    assert count(Screenshot, Screenshot.subject_id == world.alice) == 0  # the rows went
    assert counts(request_id)["screenshots"] == (3, 3, 0)  # blocked is settled with the run's end
    monkeypatch.setattr(rs, "tell_requester", original)
    assert run_now(resume) == JobState.SUCCEEDED
    assert counts(request_id)["screenshots"] == (3, 0, 0)
    message = db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == request_id,
                                                               RequestEvent.kind == EventKind.MESSAGE)).one()
    assert "Screenshots (3 deleted)" in (message.body or "")
    (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "requests:erasure:resume"))
    assert entry.details["deleted_screenshots"] == 3
