"""Demo requests: DPO queues and routing, and requests of every type in every state for alice
(ES), bob (US-CA), carla (CO) and frank (a former employee, verified path).

Everything is driven through the real service functions (filing with a back-dated receipt,
claiming, reviewing, asking, answering, extending, approving with four eyes, refusing,
withdrawing, legal holds), so the timelines, audit entries and e-mails are the real ones. The
erasures run their job here, after a commit, so the demo starts with a deletion certificate and
one erasure blocked in part by a legal hold, and bob with an access request answered by an export.
The recipient systems (``seed_recipients``) answer the tasks those outcomes gave them: carla's
erasure is complete with every confirmation, alice's still waits on AI Research.

What it makes, relative to today: two requests overdue, two due within a week (one within a
day), one extended, one refused with a legal basis, one withdrawn, one failed, and completed ones
of each kind of fulfilment (an export, a correction, an upheld objection, erasures). ``approved``
and ``fulfilling`` are not states a request rests in (approval starts fulfilment at once, and
the jobs are run here): they show in the timelines.

Idempotent: the first run leaves a ``demo:requests:seed`` audit entry; a run that finds it, or
that lacks one of the demo people (or dana's DPO role, or the admin's), adds nothing (queues and rules are ensured by name either way).
"""

from __future__ import annotations

import time as clock
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.demo.seed_recipients import answer_demo_tasks
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.jobs.services import run_job
from portal.people.models import Employee, Role
from portal.requests import deadlines, routing
from portal.requests import services as requests
from portal.requests.models import Channel, DataRequest, Queue, QueueMember, RequestType, RoutingRule

MARKER = "demo:requests:seed"
ALICE, BOB, CARLA, FRANK = "alice@example.com", "bob@example.com", "carla@example.com", "frank@example.com"
DPO, ADMIN = "dana@example.com", "admin@example.com"

# name -> (description, jurisdictions routed to it)
QUEUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Spain & EU": ("Requests from Spain and the rest of the EU/EEA (LOPDGDD, GDPR)", ("ES",)),
    "California": ("Requests from California (CCPA/CPRA)", ("US-CA",)),
    "Colombia": ("Requests from Colombia (Ley 1581)", ("CO",)),
}
JOB_WAIT_SECONDS = 60

T = RequestType


@dataclass
class RequestsReport:
    created: list[str] = field(default_factory=list)  # request ids
    skipped: bool = False


def ensure_queues(dpo: Employee | None) -> dict[str, Queue]:
    """The demo queues (and the default one), their routing rules, and the DPO as a member of
    each, through the admin's own functions; what exists already (or was changed since) is kept."""
    actor = Actor.system()
    queues = {requests.DEFAULT_QUEUE: requests.default_queue()}
    for name, (description, jurisdictions) in QUEUES.items():
        queue = db.session.scalar(select(Queue).where(Queue.name == name))
        queues[name] = queue if queue is not None else routing.create_queue(name, description, actor=actor)
        for jurisdiction in jurisdictions:
            if db.session.scalar(select(RoutingRule.id).where(RoutingRule.jurisdiction == jurisdiction,
                                                              RoutingRule.request_type == routing.ANY)) is None:
                routing.set_rule(jurisdiction, routing.ANY, queues[name], actor=actor)
    if dpo is not None and Role.DPO in dpo.role_names:
        for queue in queues.values():
            if db.session.get(QueueMember, (queue.id, dpo.id)) is None:
                routing.add_member(queue, dpo, actor=actor)
    return queues


def _seeded() -> bool:
    return db.session.scalar(select(AuditEntry.seq).where(AuditEntry.tag == MARKER).limit(1)) is not None


def seed_requests(ids: Mapping[str, str], *, now: datetime | None = None) -> RequestsReport:
    """Create the demo requests (see the module docstring). Commits: the jobs that carry out the
    approved ones (an export, two erasures) run after that, here."""
    people = {email: db.session.get(Employee, ids[email]) for email in (ALICE, BOB, CARLA, FRANK, DPO, ADMIN)
              if email in ids}
    ensure_queues(people.get(DPO))
    report = RequestsReport()
    alice, bob, carla, dana, admin = (people.get(e) for e in (ALICE, BOB, CARLA, DPO, ADMIN))
    if (_seeded() or alice is None or bob is None or carla is None
            or dana is None or Role.DPO not in dana.role_names  # she works the cases
            or admin is None or Role.ADMIN not in admin.role_names):  # the second pair of eyes
        report.skipped = True
        return report
    now = now or utcnow()
    today = now.date()
    jobs_to_run: list[str] = []

    def file(subject: Employee, kind: RequestType, days_ago: int, **kwargs: Any) -> DataRequest:
        filed = requests.file_request(subject, kind, received_at=now - timedelta(days=days_ago), **kwargs)
        report.created.append(filed.request.id)
        return filed.request

    def due_in(subject: Employee, kind: RequestType, low: int, high: int) -> int:
        """How many days ago a request must have come for its lawful deadline (weekends and
        holidays rolled, as the registry counts) to fall ``low`` to ``high`` days from today."""
        for days_ago in range(0, 120):
            left = (deadlines.deadline_for(subject.jurisdiction, kind, today - timedelta(days=days_ago)).due
                    - today).days
            if low <= left <= high:
                return days_ago
        raise ValueError(f"no receipt date gives a deadline {low} to {high} days away")

    def reviewed(request: DataRequest) -> DataRequest:
        requests.claim(request, dana)
        requests.start_review(request, dana)
        return request

    def days(first: int, last: int) -> dict[str, date]:
        """An erasure's period; three days or more hold a working day (weekends have no data)."""
        return {"date_from": today - timedelta(days=first), "date_to": today - timedelta(days=last)}

    # -- alice, Spain (GDPR: one calendar month) --------------------------------------------------
    access = file(alice, T.ACCESS, due_in(alice, T.ACCESS, 2, 7), description="A copy of everything the monitoring program holds about me.")
    requests.claim(access, dana)  # open, due within a week
    requests.message_requester(access, dana, "We are preparing your copy; it includes your screenshots, with "
                                             "colleagues' faces and names redacted.")

    rectification = reviewed(file(alice, T.RECTIFICATION, 33, wrong="My 12 March app activity shows 9 hours of "
                                  "LinkedIn.", correct="I was on leave on 12 March; nothing should be recorded."))
    requests.add_note(rectification, dana, "Checking the leave calendar with HR before correcting.")  # overdue

    restriction = reviewed(file(alice, T.RESTRICTION, 20, categories=["screenshots"],
                                description="Please stop using my screenshots while my complaint is looked at."))
    requests.extend(restriction, dana, "Your complaint is being investigated by an external firm, whose report "
                                       "we need before we can decide; it is expected within six weeks.", today=today)

    objection = reviewed(file(alice, T.OBJECTION, 10, grounds="I do not want my work habits to train AI models."))
    requests.ask_requester(objection, dana, "Do you object to all AI training, or only to the models shared "
                                            "with the vendor?")

    portability = file(alice, T.PORTABILITY, 5, description="My app activity as CSV, for my own records.")
    requests.withdraw(portability, alice)

    requests.place_hold(alice, dana, categories=["app_activity"], matter_reference="LIT-2026-031",
                        reason="Employment tribunal claim: application records must be preserved until it ends.")
    held_erasure = reviewed(file(alice, T.ERASURE, 15, categories=["app_activity", "screenshots"], **days(6, 4)))
    requests.approve(held_erasure, dana, "Scope checked: three days of app activity and screenshots.")
    requests.approve(held_erasure, admin, "Second approval.")
    if held_erasure.job_id:
        jobs_to_run.append(held_erasure.job_id)

    # -- bob, California (CCPA/CPRA: 45 days) -----------------------------------------------------
    bob_access = reviewed(file(bob, T.ACCESS, 12, description="What do you hold about me?"))
    requests.approve(bob_access, dana)  # completed by its export job, run below: bob can download it
    if bob_access.job_id:
        jobs_to_run.append(bob_access.job_id)

    refused = reviewed(file(bob, T.ERASURE, 30, categories=["input_events"], **days(20, 10)))
    requests.reject(refused, dana, "ccpa-1798-105-d",
                    "Your input events of these days are needed to complete a security incident investigation "
                    "that is still open (Cal. Civ. Code §1798.105(d)(2)). We will erase them when it closes; you "
                    "can ask again then.")

    failed = reviewed(file(bob, T.ERASURE, 9, categories=["screenshots"], **days(3, 2)))
    requests.approve(failed, dana)
    requests.approve(failed, admin)
    requests.fail(failed, "The screenshot store did not answer (a simulated outage in the demo); retry it.")
    if failed.job_id:
        jobs_to_run.append(failed.job_id)  # finds the request failed and gives up: nothing is erased

    corrected = reviewed(file(bob, T.RECTIFICATION, 40, wrong="My job title in the monitoring register is "
                              "'Contractor'.", correct="I am a permanent employee since January."))
    requests.approve(corrected, dana)  # recorded at once: completed

    file(bob, T.PORTABILITY, due_in(bob, T.PORTABILITY, 0, 1),  # due within a day
         description="My activity as CSV: I am moving to the new HR system.")
    file(bob, T.RESTRICTION, 0, description="Please keep but do not use my data until my transfer is settled.")

    # -- carla, Colombia (Ley 1581: 10 business days for queries, 15 for claims) ------------------
    carla_access = reviewed(file(carla, T.ACCESS, 3, description="Quiero una copia de mis datos."))
    requests.ask_requester(carla_access, dana, "Which period do you need: the last month, or everything?")
    requests.answer(carla_access, carla, "Everything, please.")

    file(carla, T.PORTABILITY, 21, description="My data in a machine-readable form.")  # overdue, unclaimed

    carla_rectification = file(carla, T.RECTIFICATION, 8, wrong="My time zone is shown as Lima.",
                               correct="Bogotá.")
    requests.claim(carla_rectification, dana)

    carla_objection = reviewed(file(carla, T.OBJECTION, 11, grounds="I object to AI training on my data."))
    requests.approve(carla_objection, dana)  # upheld at once: completed

    certificate = reviewed(file(carla, T.ERASURE, 18, categories=["input_events", "screenshots"], **days(9, 7)))
    requests.approve(certificate, dana, "Three days of input events and screenshots.")
    requests.approve(certificate, admin)
    if certificate.job_id:
        jobs_to_run.append(certificate.job_id)

    # -- frank, a former employee, by the verified e-mail path -------------------------------------
    frank = people.get(FRANK)
    if frank is not None:
        file(frank, T.ACCESS, 2, channel=Channel.VERIFIED, description="A copy of my data, please; I left in "
                                                                       "January.")

    record(MARKER, actor=Actor.system(), details={"requests": len(report.created)})
    db.session.commit()
    for job_id in jobs_to_run:
        _finish(job_id)
    # The recipients answer: carla's erasure and the other completed outcomes with every
    # confirmation; alice's erasure still waits on AI Research.
    answer_demo_tasks([certificate.id, corrected.id, carla_objection.id, held_erasure.id],
                      waiting_on={held_erasure.id: "AI Research"})
    db.session.commit()
    return report


def _finish(job_id: str) -> None:
    """Run the job here; if the job runner took it first, wait for the runner to finish it."""
    deadline = clock.monotonic() + JOB_WAIT_SECONDS
    while clock.monotonic() < deadline:
        state = run_job(job_id)
        if state in (JobState.SUCCEEDED, JobState.FAILED):
            return
        db.session.rollback()
        job = db.session.get(Job, job_id, populate_existing=True)
        if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED):
            db.session.rollback()
            return
        db.session.rollback()
        clock.sleep(0.05)
