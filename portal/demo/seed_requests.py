"""Demo requests: DPO queues and routing, and requests of every type in every state for alice
(ES), bob (US-CA), carla (CO) and frank (a former employee, verified path).

Everything is driven through the real service functions, each step at the moment it shows
(:mod:`portal.demo.timeline`: filing,
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.demo.seed_recipients import answer_demo_tasks, ensure_recipients
from portal.demo.timeline import Timeline
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.jobs.services import run_job
from portal.people.models import Employee, Role
from portal.rights import deadlines, routing
from portal.rights import services as rights
from portal.rights.models import Channel, DataRequest, Queue, QueueMember, RequestType, RoutingRule

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
QUEUES_DAYS_AGO = 45  # the queues were set up before the first demo request came in

T = RequestType


@dataclass
class RequestsReport:
    created: list[str] = field(default_factory=list)  # request ids
    skipped: bool = False
    jobs: list[str] = field(default_factory=list)  # the approved requests' jobs, run after the commit
    named: dict[str, str] = field(default_factory=dict)  # the seed's name of each request -> its id


def ensure_queues(dpo: Employee | None) -> dict[str, Queue]:
    """The demo queues (and the default one), their routing rules, and the DPO as a member of
    each, through the admin's own functions; what exists already (or was changed since) is kept."""
    actor = Actor.system()
    queues = {rights.DEFAULT_QUEUE: rights.default_queue()}
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


def seed_requests(ids: Mapping[str, str], timeline: Timeline) -> RequestsReport:
    """Plan the demo requests (see the module docstring) on ``timeline``, each step at the moment
    it shows (the caller runs it); then :func:`finish_requests` marks the seed done, commits and
    runs the jobs that carry out the approved ones (an export, two erasures)."""
    people = {email: db.session.get(Employee, ids[email]) for email in (ALICE, BOB, CARLA, FRANK, DPO, ADMIN)
              if email in ids}
    report = RequestsReport()
    now = timeline.now
    timeline.at(now - timedelta(days=QUEUES_DAYS_AGO), lambda: ensure_queues(people.get(DPO)))
    # The systems that receive the data were recorded before any request came in: each outcome
    # that affects them gives them tasks.
    timeline.at(now - timedelta(days=QUEUES_DAYS_AGO) + timedelta(hours=1), ensure_recipients)
    alice, bob, carla, dana, admin = (people.get(e) for e in (ALICE, BOB, CARLA, DPO, ADMIN))
    if (_seeded() or alice is None or bob is None or carla is None
            or dana is None or Role.DPO not in dana.role_names  # she works the cases
            or admin is None or Role.ADMIN not in admin.role_names):  # the second pair of eyes
        report.skipped = True
        return report
    today = now.date()
    made: dict[str, DataRequest] = {}
    H, D = timedelta(hours=1), timedelta(days=1)

    Later = tuple[timedelta, Callable[[DataRequest], object]]

    def file(key: str, subject: Employee, kind: RequestType, days_ago: int, *later: Later, **kwargs: Any) -> None:
        """File the request ``days_ago`` days ago, then each later step that long after its receipt."""
        def filing() -> None:
            made[key] = rights.file_request(subject, kind, received_at=utcnow(), **kwargs).request
            report.created.append(made[key].id)
            report.named[key] = made[key].id

        received = now - timedelta(days=days_ago)
        timeline.at(received, filing)
        for offset, action in later:
            timeline.at(received + offset, lambda action=action: action(made[key]))  # type: ignore[misc]

    def due_in(subject: Employee, kind: RequestType, low: int, high: int) -> int:
        """How many days ago a request must have come for its lawful deadline (weekends and
        holidays rolled, as the registry counts) to fall ``low`` to ``high`` days from today."""
        for days_ago in range(0, 120):
            left = (deadlines.deadline_for(subject.jurisdiction, kind, today - timedelta(days=days_ago)).due
                    - today).days
            if low <= left <= high:
                return days_ago
        raise ValueError(f"no receipt date gives a deadline {low} to {high} days away")

    reviewed: tuple[Later, Later] = ((H, lambda r: rights.claim(r, dana)),
                                     (2 * H, lambda r: rights.start_review(r, dana)))

    def approve(staff: Employee, note: str = "", ground: str | None = None) -> Callable[[DataRequest], object]:
        return lambda r: rights.approve(r, staff, note, erasure_ground=ground)

    def run_job(request: DataRequest) -> None:
        if request.job_id:
            report.jobs.append(request.job_id)

    def days(first: int, last: int) -> dict[str, date]:
        """An erasure's period; three days or more hold a working day (weekends have no data)."""
        return {"date_from": today - timedelta(days=first), "date_to": today - timedelta(days=last)}

    # -- alice, Spain (GDPR: one calendar month) --------------------------------------------------
    file("access", alice, T.ACCESS, due_in(alice, T.ACCESS, 2, 7),  # open, due within a week
         (H, lambda r: rights.claim(r, dana)),
         (D, lambda r: rights.message_requester(r, dana, "We are preparing your copy; it includes your "
                                                           "screenshots, with colleagues' faces and names "
                                                           "redacted.")),
         description="A copy of everything the monitoring program holds about me.")
    file("rectification", alice, T.RECTIFICATION, 33, *reviewed,  # overdue
         (D, lambda r: rights.add_note(r, dana, "Checking the leave calendar with HR before correcting.")),
         wrong="My 12 March app activity shows 9 hours of LinkedIn.",
         correct="I was on leave on 12 March; nothing should be recorded.")
    file("restriction", alice, T.RESTRICTION, 20, *reviewed,
         (3 * D, lambda r: rights.extend(r, dana, "Your complaint is being investigated by an external firm, "
                                                    "whose report we need before we can decide; it is expected "
                                                    "within six weeks.", today=utcnow().date())),
         categories=["screenshots"], description="Please stop using my screenshots while my complaint is looked at.")
    file("objection", alice, T.OBJECTION, 10, *reviewed,
         (D, lambda r: rights.ask_requester(r, dana, "Do you object to all AI training, or only to the models "
                                                       "shared with the vendor?")),
         grounds="I do not want my work habits to train AI models.")
    file("portability", alice, T.PORTABILITY, 5, (2 * H, lambda r: rights.withdraw(r, alice)),
         description="My app activity as CSV, for my own records.")
    timeline.at(now - timedelta(days=16), lambda: rights.place_hold(
        alice, dana, categories=["app_activity"], matter_reference="LIT-2026-031",
        reason="Employment tribunal claim: application records must be preserved until it ends."))
    file("held_erasure", alice, T.ERASURE, 15, *reviewed,
         (D, approve(dana, "Scope checked: three days of app activity and screenshots.", "gdpr-17-1-a")),
         (D + H, approve(admin, "Second approval.")), (D + H, run_job),
         categories=["app_activity", "screenshots", "ai_training_use"], **days(20, 18))

    # -- bob, California (CCPA/CPRA: 45 days) -----------------------------------------------------
    file("bob_access", bob, T.ACCESS, 12, *reviewed, (D, approve(dana)), (D, run_job),  # answered by an export
         description="What do you hold about me?")
    file("refused", bob, T.ERASURE, 25, *reviewed,
         (2 * D, lambda r: rights.reject(
             r, dana, "ccpa-1798-105-d", "Your input events of these days are needed to complete a security "
                                         "incident investigation that is still open (Cal. Civ. Code "
                                         "§1798.105(d)(2)). We will erase them when it closes; you can ask again "
                                         "then.")),
         categories=["input_events"], **days(29, 26))
    file("failed", bob, T.ERASURE, 9, *reviewed, (D, approve(dana, ground="ccpa-1798-105-a")),
         (D + H, approve(admin)),
         (D + 2 * H, lambda r: rights.fail(r, "The screenshot store did not answer (a simulated outage in the "
                                                "demo); retry it.")),
         (D + 2 * H, run_job),  # finds the request failed and gives up: nothing is erased
         categories=["screenshots"], **days(13, 11))
    file("corrected", bob, T.RECTIFICATION, 40, *reviewed, (2 * D, approve(dana)),  # recorded at once: completed
         wrong="My job title in the monitoring register is 'Contractor'.",
         correct="I am a permanent employee since January.")
    file("bob_portability", bob, T.PORTABILITY, due_in(bob, T.PORTABILITY, 0, 1),  # due within a day
         description="My activity as CSV: I am moving to the new HR system.")
    file("bob_restriction", bob, T.RESTRICTION, 0,
         description="Please keep but do not use my data until my transfer is settled.")

    # -- carla, Colombia (Ley 1581: 10 business days for queries, 15 for claims) ------------------
    file("carla_access", carla, T.ACCESS, 3, *reviewed,
         (3 * H, lambda r: rights.ask_requester(r, dana, "Which period do you need: the last month, or "
                                                           "everything?")),
         (D, lambda r: rights.answer(r, carla, "Everything, please.")),
         description="Quiero una copia de mis datos.")
    file("carla_portability", carla, T.PORTABILITY, 21,  # overdue, unclaimed
         description="My data in a machine-readable form.")
    file("carla_rectification", carla, T.RECTIFICATION, 8, (H, lambda r: rights.claim(r, dana)),
         wrong="My time zone is shown as Lima.", correct="Bogotá.")
    file("carla_objection", carla, T.OBJECTION, 11, *reviewed, (D, approve(dana)),  # upheld at once: completed
         grounds="I object to AI training on my data.")
    file("certificate", carla, T.ERASURE, 18, *reviewed,
         (D, approve(dana, "Three days of input events and screenshots.", "co-1377-9-supresion")),
         (D + H, approve(admin)), (D + H, run_job),
         categories=["input_events", "screenshots"], **days(24, 22))

    # -- frank, a former employee, by the verified e-mail path -------------------------------------
    frank = people.get(FRANK)
    if frank is not None:
        file("frank_access", frank, T.ACCESS, 2, channel=Channel.VERIFIED,
             description="A copy of my data, please; I left the company recently.")
    return report


def finish_requests(report: RequestsReport) -> None:
    """Mark the seed done (once), commit, then run the approved requests' jobs here."""
    if report.skipped:
        return
    record(MARKER, actor=Actor.system(), details={"requests": len(report.created)})
    db.session.commit()
    for job_id in report.jobs:
        _finish(job_id)
    # The recipients answer: carla's erasure and the other completed outcomes with every
    # confirmation; alice's erasure still waits on AI Research.
    named = report.named
    answer_demo_tasks([named[k] for k in ("certificate", "corrected", "carla_objection", "held_erasure") if k in named],
                      waiting_on={named["held_erasure"]: "AI Research"} if "held_erasure" in named else {})
    db.session.commit()


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
