"""The requests domain's services (portal.rights.services), without HTTP: routing, duplicates,
the state machine's refusals, who may do what (four eyes for erasure, down to the database),
rejections, extensions, withdrawal, and fulfilment of each request type (rectification,
restriction, objection, access through an export job that may fail and be retried)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from portal.api import exclusions as feed
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.consent.models import Purpose, Suppression
from portal.consent.services import SuppressedError, is_suppressed, record_training_use, suppression
from portal.crypto import keystore
from portal.db import utcnow
from portal.exports import services as exports
from portal.exports.models import Export, ExportState
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym
from portal.rights import deadlines
from portal.rights import services as rs
from portal.rights.models import (
    Channel,
    DataRequest,
    ErasureApproval,
    EventKind,
    LegalHold,
    QueueMember,
    Rectification,
    RequestEvent,
    RequestState,
    RequestType,
    Restriction,
)
from portal.training.services import uses_of
from tests.helpers import make_employee
from tests.rights.support import (
    World,
    count,
    fill,
    get,
    make_queue,
    request_state_of_world,
    run_pending,
    start_world,
    tags_for,
)

S = RequestState


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


def file(w: World, who: str = "alice", kind: RequestType = RequestType.ACCESS, **fields: Any) -> str:
    if kind == RequestType.RECTIFICATION:
        fields = {"wrong": "The app says I used LinkedIn", "correct": "That was a colleague", **fields}
    if kind == RequestType.OBJECTION:
        fields = {"grounds": "I object to AI training", **fields}
    filed = rs.file_request(w[who], kind, description="Please", **fields)
    db.session.commit()
    return filed.request.id


def req(request_id: str) -> DataRequest:
    found: DataRequest = get(DataRequest, request_id)
    return found


def with_ground(fn: Callable[..., Any], request_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    request = req(request_id)
    if fn is rs.approve and request.type == RequestType.ERASURE and "erasure_ground" not in kwargs:
        return {**kwargs, "erasure_ground": rs.erasure_grounds(request)[0].code}
    return kwargs


def step(fn: Callable[..., Any], request_id: str, who: Any, *args: Any, **kwargs: Any) -> Any:
    """Take a step as a view would: call the service, commit. An erasure's approval names its
    regime's first ground, as the case page's form does (tests/rights/staff/test_erasure_ground.py tests
    the choice itself)."""
    result = fn(req(request_id), who, *args, **with_ground(fn, request_id, kwargs))
    db.session.commit()
    return result


def to_review(w: World, request_id: str, dpo: str = "dpo") -> None:
    step(rs.claim, request_id, w[dpo])
    step(rs.start_review, request_id, w[dpo])


def refused(exc: type[Exception], request_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """``fn(request, *args)`` must raise ``exc`` and change nothing (before and after the view's
    rollback). Returns the message, which must be a sentence for a person."""
    before = request_state_of_world(request_id)
    with pytest.raises(exc) as raised:
        fn(req(request_id), *args, **with_ground(fn, request_id, kwargs))
    assert request_state_of_world(request_id) == before  # nothing pending either (queries autoflush)
    db.session.rollback()
    assert request_state_of_world(request_id) == before
    message = str(raised.value)
    assert message[:1].isupper() and message.endswith("."), message
    return message


# -- routing -----------------------------------------------------------------------------------------

def test_the_most_specific_routing_rule_wins_and_anything_else_goes_to_the_default_queue(world: World) -> None:
    erasure_es = make_queue("Spain erasure", rules=[("ES", "erasure")])  # beats ("ES", "*")
    us = make_queue("United States", rules=[("US", "*")])  # a country rule for US-CA and every state
    objections = make_queue("Objections", rules=[("*", "objection")])
    db.session.commit()

    assert rs.route("ES", RequestType.ERASURE).id == erasure_es
    assert rs.route("ES", RequestType.ACCESS).id == world.spain
    assert rs.route("US-CA", RequestType.OBJECTION).id == world.americas  # (US-CA, *) beats (US, *) and (*, type)
    assert rs.route("US-NY", RequestType.ACCESS).id == us  # the country's rule covers its states
    assert rs.route("US-NY", RequestType.OBJECTION).id == us  # (country, *) beats (*, type)
    assert rs.route("CO", RequestType.OBJECTION).id == objections
    default = rs.route("CO", RequestType.ACCESS)
    assert default.name == rs.DEFAULT_QUEUE
    assert rs.route("BR", RequestType.ERASURE).id == default.id  # created once, then found
    db.session.commit()
    assert count(AuditEntry, AuditEntry.tag == "requests:queue:create") == 1

    anything = make_queue("Anything", rules=[("*", "*")])
    db.session.commit()
    assert rs.route("CO", RequestType.ACCESS).id == anything  # a catch-all rule replaces the default queue

    # Filing routes the request (and the audit entry names the queue).
    carla = make_employee(world.app, "carla@example.com", jurisdiction="CO")
    filed = rs.file_request(get(Employee, carla), RequestType.OBJECTION, grounds="No AI on me")
    db.session.commit()
    assert filed.request.queue_id == objections
    (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "requests:request:file"))
    assert entry.details["queue"] == objections and entry.targets == {"request": filed.request.id}


def test_filing_sets_the_deadline_tells_the_requester_and_the_queue(world: World) -> None:
    request_id = file(world, "bob", RequestType.ERASURE, categories=["screenshots"])
    request = req(request_id)
    due = deadlines.deadline_for("US-CA", RequestType.ERASURE, request.received_at.date())
    assert (request.state, request.queue_id, request.jurisdiction) == (S.RECEIVED, world.americas, "US-CA")
    assert (request.due_on, request.acknowledge_by, request.regime) == (due.due, due.acknowledge_by, due.regime)
    assert request.scope == {"categories": ["screenshots"], "date_from": None, "date_to": None}
    assert request.details == {"description": "Please"}
    assert [(e.kind, e.actor_role, e.to_state) for e in rs.timeline(request, for_requester=True)] == [
        (EventKind.FILED, "requester", "received")]
    mails = db.session.scalars(sa.select(Job).where(Job.kind == "mail.send")).all()
    assert sorted((m.params["template"], m.params["recipient_id"]) for m in mails) == sorted(
        [("request_received", world.bob), ("dpo_new_case", world.us_dpo)])


@pytest.mark.parametrize(("kind", "fields", "message"), [
    ("deletion", {}, "Unknown kind of request."),
    (RequestType.ERASURE, {"categories": ["keystrokes"]}, "Some of the chosen categories do not exist."),
    (RequestType.RECTIFICATION, {"wrong": "x", "correct": "  "}, "What it should say is required."),
    (RequestType.OBJECTION, {"grounds": ""}, "The grounds for your objection is required."),
    (RequestType.ACCESS, {"description": "x" * (rs.MAX_TEXT + 1)}, "A description is too long"),
])
def test_a_bad_filing_is_refused_and_stores_nothing(world: World, kind: Any, fields: dict[str, Any],
                                                     message: str) -> None:
    before = (count(DataRequest), count(RequestEvent), count(AuditEntry), count(Job))
    with pytest.raises(rs.RequestError, match=message.replace("(", r"\(")):
        rs.file_request(world["alice"], kind, **fields)
    assert (count(DataRequest), count(RequestEvent), count(AuditEntry), count(Job)) == before
    db.session.rollback()


def test_an_erasure_date_range_must_be_in_order(world: World) -> None:
    today = utcnow().date()
    with pytest.raises(rs.RequestError, match="The start date is after the end date."):
        rs.file_request(world["alice"], RequestType.ERASURE, date_from=today, date_to=today - timedelta(days=1))


# -- duplicates ----------------------------------------------------------------------------------------

def test_a_repeated_request_is_filed_and_linked_to_the_open_one_never_dropped(world: World) -> None:
    first = file(world, "alice", RequestType.ACCESS)
    second = file(world, "alice", RequestType.ACCESS)
    other_type = file(world, "alice", RequestType.ERASURE)
    someone_else = file(world, "bob", RequestType.ACCESS)
    assert req(second).duplicate_of_id == first
    assert req(first).duplicate_of_id is None and req(other_type).duplicate_of_id is None
    assert req(someone_else).duplicate_of_id is None
    assert req(second).state == S.RECEIVED and req(second).queue_id == world.spain  # handled like any other
    kinds = [e.kind for e in rs.timeline(req(second), for_requester=True)]
    assert kinds == [EventKind.FILED, EventKind.DUPLICATE]
    assert req(first).reference in (rs.timeline(req(second), for_requester=True)[1].body or "")
    (entry,) = [e for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "requests:request:file"))
                if e.targets["request"] == second]
    assert entry.details["duplicate_of"] == first

    # Once the first is closed, a new one is no repeat; a self-service export never counts as one.
    step(rs.withdraw, first, world["alice"])
    step(rs.withdraw, second, world["alice"])
    rs.record_self_service_access(world.alice, "ES", actor=Actor("employee", world.alice), details={})
    db.session.commit()
    assert req(file(world, "alice", RequestType.ACCESS)).duplicate_of_id is None


# -- the state machine refuses what it does not allow ------------------------------------------------------

def test_every_transition_is_listed_in_the_design() -> None:
    """The transitions of docs/architecture.md, "Requests", and no others."""
    design = {
        (S.RECEIVED, S.OPEN), (S.OPEN, S.IN_REVIEW), (S.IN_REVIEW, S.AWAITING_REQUESTER),
        (S.AWAITING_REQUESTER, S.IN_REVIEW), (S.IN_REVIEW, S.APPROVED), (S.APPROVED, S.FULFILLING),
        (S.FULFILLING, S.COMPLETED), (S.FULFILLING, S.FAILED), (S.FAILED, S.FULFILLING),
        *((s, S.REJECTED) for s in (S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER)),
        (S.FAILED, S.REJECTED),  # a request that can no longer be fulfilled is closed
        # An outcome that gave recipient systems tasks waits for their answers.
        (S.FULFILLING, S.AWAITING_RECIPIENTS), (S.AWAITING_RECIPIENTS, S.COMPLETED),
        *((s, S.WITHDRAWN) for s in (S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER, S.APPROVED)),
    }
    assert set(rs.TRANSITIONS) == design
    assert set(rs.STATE_LABELS) == set(RequestState) and set(rs.TYPE_LABELS) == set(RequestType)


def at(w: World, state: RequestState, kind: RequestType = RequestType.ACCESS) -> str:
    """A request of Alice's in ``state``."""
    request_id = file(w, "alice", kind)
    if state == S.RECEIVED:
        return request_id
    step(rs.claim, request_id, w["dpo"])
    if state == S.OPEN:
        return request_id
    step(rs.start_review, request_id, w["dpo"])
    if state == S.IN_REVIEW:
        return request_id
    if state == S.AWAITING_REQUESTER:
        step(rs.ask_requester, request_id, w["dpo"], "Which laptop?")
        return request_id
    if state == S.REJECTED:
        step(rs.reject, request_id, w["dpo"], "gdpr-12-5", "The fourth this week.")
        return request_id
    step(rs.approve, request_id, w["dpo"])
    if state == S.FULFILLING:
        return request_id
    assert state == S.COMPLETED
    run_pending()
    assert req(request_id).state == S.COMPLETED
    return request_id


@pytest.mark.parametrize(("state", "action", "args"), [
    (S.RECEIVED, rs.start_review, ("dpo",)),
    (S.AWAITING_REQUESTER, rs.start_review, ("dpo",)),
    (S.OPEN, rs.ask_requester, ("dpo", "Anything?")),
    (S.OPEN, rs.approve, ("dpo",)),
    (S.AWAITING_REQUESTER, rs.approve, ("dpo",)),
    (S.IN_REVIEW, rs.answer, ("alice", "Here you are")),
    (S.IN_REVIEW, rs.retry, ("dpo",)),
    (S.FULFILLING, rs.retry, ("dpo",)),
    (S.FULFILLING, rs.withdraw, ("alice",)),
    (S.FULFILLING, rs.reject, ("dpo", "other", "Too late")),
    (S.COMPLETED, rs.reject, ("dpo", "other", "Too late")),
    (S.COMPLETED, rs.withdraw, ("alice",)),
    (S.COMPLETED, rs.claim, ("dpo2",)),
    (S.COMPLETED, rs.message_requester, ("dpo", "Hello")),
    (S.COMPLETED, rs.extend, ("dpo", "Busy")),
    (S.REJECTED, rs.start_review, ("dpo",)),
    (S.REJECTED, rs.withdraw, ("alice",)),
])
def test_an_illegal_transition_is_refused_with_a_clear_message_and_changes_nothing(
        world: World, state: RequestState, action: Callable[..., Any], args: tuple[Any, ...]) -> None:
    request_id = at(world, state)
    who, *rest = args
    message = refused(rs.IllegalTransition, request_id, action, world[who], *rest)
    assert message
    assert req(request_id).state == state


def test_a_claimed_case_cannot_be_claimed_again(world: World) -> None:
    request_id = file(world)
    step(rs.claim, request_id, world["dpo"])
    assert (req(request_id).assignee_id, req(request_id).state) == (world.dpo, S.OPEN)
    assert refused(rs.AlreadyClaimed, request_id, rs.claim, world["dpo2"]) == "Someone else has already taken this case."
    assert refused(rs.RequestError, request_id, rs.claim, world["dpo"]) == "You have already taken this case."
    assert tags_for(request_id) == ["requests:request:file", "requests:request:claim", "requests:request:open"]


# -- who may do what --------------------------------------------------------------------------------------

def test_who_may_view_and_work_a_case(world: World) -> None:
    request_id = file(world)
    request = req(request_id)
    expected = {"alice": (False, False), "bob": (False, False), "dpo": (True, True), "dpo2": (True, True),
                "us_dpo": (False, False), "admin": (True, False)}
    assert {who: (rs.may_view(world[who], request), rs.may_work(world[who], request)) for who in expected} == expected

    # A DPO who has left the queue still sees and works the case assigned to them; the others not.
    step(rs.claim, request_id, world["dpo2"])
    db.session.execute(sa.delete(QueueMember).where(QueueMember.employee_id == world.dpo2))
    db.session.commit()
    request = req(request_id)
    assert rs.may_view(world["dpo2"], request) and rs.may_work(world["dpo2"], request)
    assert not rs.may_view(world["us_dpo"], request)


@pytest.mark.parametrize("who", ["alice", "bob", "us_dpo", "admin"])
def test_who_is_not_a_dpo_of_the_queue_may_not_work_the_case(world: World, who: str) -> None:
    request_id = at(world, S.IN_REVIEW)
    actions: list[tuple[Callable[..., Any], tuple[str, ...]]] = [
        (rs.claim, ()), (rs.start_review, ()), (rs.ask_requester, ("?",)),
        (rs.message_requester, ("Hi",)), (rs.add_note, ("Note",)), (rs.extend, ("Busy",)),
        (rs.approve, ()), (rs.reject, ("other", "No")), (rs.retry, ())]
    for action, args in actions:
        refused(rs.NotAllowed, request_id, action, world[who], *args)
    if who != "admin":
        refused(rs.NotAllowed, request_id, rs.assign, world[who], world["dpo2"])


def test_only_the_requester_may_answer_or_withdraw(world: World) -> None:
    request_id = at(world, S.AWAITING_REQUESTER)
    for who in ("bob", "dpo", "admin"):
        refused(rs.NotAllowed, request_id, rs.answer, world[who], "It was me")
        refused(rs.NotAllowed, request_id, rs.withdraw, world[who])
    refused(rs.RequestError, request_id, rs.answer, world["alice"], "   ")
    step(rs.answer, request_id, world["alice"], "The grey one")
    assert req(request_id).state == S.IN_REVIEW
    events = rs.timeline(req(request_id), for_requester=True)
    assert (events[-1].actor_role, events[-1].body) == ("requester", "The grey one")


def test_assign_goes_to_a_dpo_of_the_queue_only(world: World) -> None:
    request_id = file(world)
    refused(rs.RequestError, request_id, rs.assign, world["admin"], world["us_dpo"])  # not of this queue
    refused(rs.RequestError, request_id, rs.assign, world["admin"], world["bob"])  # not a DPO
    step(rs.assign, request_id, world["admin"], world["dpo2"])  # an admin may assign
    assert (req(request_id).assignee_id, req(request_id).state) == (world.dpo2, S.OPEN)
    refused(rs.RequestError, request_id, rs.assign, world["dpo"], world["dpo2"])  # already theirs
    step(rs.assign, request_id, world["dpo2"], world["dpo"])
    assert tags_for(request_id) == ["requests:request:file", "requests:request:assign", "requests:request:open",
                                    "requests:request:reassign"]
    mails = [(j.params["template"], j.params["recipient_id"]) for j in db.session.scalars(
        sa.select(Job).where(Job.kind == "mail.send").order_by(Job.created_at, Job.id))]
    assert mails[-2:] == [("dpo_new_case", world.dpo2), ("dpo_new_case", world.dpo)]


def test_an_erasure_needs_two_different_people_and_an_admin_may_be_the_second(world: World) -> None:
    fill(world.alice)
    request_id = at(world, S.IN_REVIEW, RequestType.ERASURE)
    # An admin, or a DPO of another queue, may not give the first approval.
    refused(rs.NotAllowed, request_id, rs.approve, world["admin"])
    refused(rs.NotAllowed, request_id, rs.approve, world["us_dpo"])
    assert step(rs.approve, request_id, world["dpo"], "Checked the scope") is False
    assert req(request_id).state == S.IN_REVIEW
    assert rs.may_approve(world["dpo"], req(request_id)) == (
        False, "You have already approved this erasure; a second person must approve it.")
    refused(rs.NotAllowed, request_id, rs.approve, world["dpo"])  # the same person twice
    refused(rs.NotAllowed, request_id, rs.approve, world["us_dpo"])
    assert rs.may_approve(world["admin"], req(request_id)) == (True, "")
    assert step(rs.approve, request_id, world["admin"]) is True
    request = req(request_id)
    assert (request.state, request.decided_by_id) == (S.FULFILLING, world.admin)
    approvals = rs.approvals_of(request)
    assert [(a.approver_id, a.approver_role) for a in approvals] == [(world.dpo, "dpo"), (world.admin, "admin")]
    assert tags_for(request_id)[-4:] == ["requests:request:approve-erasure", "requests:request:approve-erasure",
                                         "requests:request:approve", "requests:request:fulfil"]
    job = db.session.get(Job, request.job_id)
    assert job is not None and (job.kind, job.params, job.state) == (rs.ERASURE_JOB, {"request_id": request_id},
                                                                     JobState.QUEUED)
    # Approvals are internal: the requester's timeline shows neither who nor the note.
    assert EventKind.APPROVAL not in {e.kind for e in rs.timeline(request, for_requester=True)}


def test_the_database_itself_refuses_a_second_approval_by_the_same_person(world: World) -> None:
    request_id = at(world, S.IN_REVIEW, RequestType.ERASURE)
    step(rs.approve, request_id, world["dpo"])
    db.session.add(ErasureApproval(request_id=request_id, approver_id=world.dpo, approver_role="dpo"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert count(ErasureApproval, ErasureApproval.request_id == request_id) == 1


# -- rejection ----------------------------------------------------------------------------------------------

def test_a_rejection_needs_a_legal_basis_from_the_list_and_reasons(world: World) -> None:
    request_id = at(world, S.IN_REVIEW)
    only = ("Choose a legal basis from the list: only the grounds of LOPDGDD/GDPR for this kind of request can be "
            "given.")
    assert refused(rs.RequestError, request_id, rs.reject, world["dpo"], "because-i-say-so", "Reasons.") == only
    assert refused(rs.RequestError, request_id, rs.reject, world["dpo"], "", "Reasons.") == only
    # A ground of another regime (California's, Colombia's) or of another kind is refused too.
    for foreign in ("ccpa-1798-105-d", "co-1377-9", "lgpd-16", "gdpr-17-3-e"):
        assert refused(rs.RequestError, request_id, rs.reject, world["dpo"], foreign, "Reasons.") == only
    assert refused(rs.RequestError, request_id, rs.reject, world["dpo"], "no-data", " \n") == (
        "The reasons for the requester is required.")
    step(rs.reject, request_id, world["dpo"], "no-data", "We hold nothing of yours from before 2024.")
    request = req(request_id)
    assert (request.state, request.legal_basis, request.decided_by_id) == (S.REJECTED, "no-data", world.dpo)
    assert request.decision_text == "We hold nothing of yours from before 2024."
    last = rs.timeline(request, for_requester=True)[-1]
    assert (last.from_state, last.to_state, last.body) == ("in_review", "rejected", request.decision_text)
    (entry,) = [e for e in db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.tag == "requests:request:reject")) if e.targets["request"] == request_id]
    assert entry.details["legal_basis"] == "no-data" and "We hold" not in str(entry.details)


def test_the_database_refuses_a_rejection_without_basis_or_reasons(world: World) -> None:
    request_id = file(world)
    for values in ({"state": "rejected"}, {"state": "rejected", "legal_basis": "other"},
                   {"state": "rejected", "decision_sealed": b"x"}):
        with pytest.raises(IntegrityError):
            db.session.execute(sa.update(DataRequest).where(DataRequest.id == request_id).values(**values))
            db.session.flush()
        db.session.rollback()
    assert req(request_id).state == S.RECEIVED


# -- extension --------------------------------------------------------------------------------------------

def test_the_deadline_is_extended_once_with_reasons_before_the_first_passes(world: World) -> None:
    request_id = at(world, S.IN_REVIEW)
    request = req(request_id)
    received, due = request.received_at.date(), request.due_on
    assert due is not None
    refused(rs.RequestError, request_id, rs.extend, world["dpo"], "  ")
    message = refused(rs.RequestError, request_id, rs.extend, world["dpo"], "Many screenshots to redact",
                      today=due + timedelta(days=1))
    assert "has passed" in message
    new_due = step(rs.extend, request_id, world["dpo"], "Many screenshots to redact", today=due)
    request = req(request_id)
    assert new_due == request.extended_due_on == deadlines.extended_due("ES", RequestType.ACCESS, received)
    assert (request.due_on, request.effective_due, request.extended_by_id) == (due, new_due, world.dpo)
    assert request.extension_reason == "Many screenshots to redact"
    assert "already been extended" in refused(rs.RequestError, request_id, rs.extend, world["dpo2"], "Again",
                                              today=received)
    assert tags_for(request_id).count("requests:request:extend") == 1
    mails = [j.params["template"] for j in db.session.scalars(sa.select(Job).where(Job.kind == "mail.send"))]
    assert "request_extended" in mails
    last = rs.timeline(request, for_requester=True)[-1]
    assert (last.kind, last.body) == (EventKind.EXTENSION, "Many screenshots to redact")


def test_no_extension_where_the_law_allows_none(world: World) -> None:
    brazil = make_employee(world.app, "bruna@example.com", jurisdiction="BR")
    filed = rs.file_request(get(Employee, brazil), RequestType.ACCESS)
    db.session.commit()
    db.session.add(QueueMember(queue_id=filed.request.queue_id, employee_id=world.dpo))  # the default queue
    db.session.commit()
    assert "allows no extension" in refused(rs.RequestError, filed.request.id, rs.extend, world["dpo"], "Busy",
                                            today=filed.request.received_at.date())


def test_the_database_refuses_an_extension_that_is_not_later_or_has_no_reason(world: World) -> None:
    request_id = file(world)
    due = req(request_id).due_on
    assert due is not None
    for values in ({"extended_due_on": due, "extension_reason_sealed": b"x"},
                   {"extended_due_on": due + timedelta(days=30)}):
        with pytest.raises(IntegrityError):
            db.session.execute(sa.update(DataRequest).where(DataRequest.id == request_id).values(**values))
            db.session.flush()
        db.session.rollback()


# -- withdrawal ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("state", [S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER])
def test_the_requester_withdraws_an_open_request(world: World, state: RequestState) -> None:
    request_id = at(world, state)
    step(rs.withdraw, request_id, world["alice"])
    request = req(request_id)
    assert request.state == S.WITHDRAWN and not request.is_open
    assert tags_for(request_id)[-1] == "requests:request:withdraw"
    last = rs.timeline(request, for_requester=True)[-1]
    assert (last.from_state, last.to_state, last.actor_role) == (state.value, "withdrawn", "requester")
    if state != S.RECEIVED:  # someone works it: they are told
        mails = [j.params["template"] for j in db.session.scalars(sa.select(Job).where(Job.kind == "mail.send"))]
        assert "dpo_withdrawn" in mails


@pytest.mark.parametrize("state", [S.FULFILLING, S.COMPLETED, S.REJECTED])
def test_too_late_to_withdraw(world: World, state: RequestState) -> None:
    request_id = at(world, state)
    assert refused(rs.IllegalTransition, request_id, rs.withdraw, world["alice"]) == (
        "This request can no longer be withdrawn.")


# -- fulfilment per type ---------------------------------------------------------------------------------

def test_a_rectification_is_recorded_alongside_the_original_sealed_with_the_subject_key(world: World) -> None:
    fill(world.alice)
    original = db.session.execute(sa.select(ActivityEvent.id, ActivityEvent.sealed, ActivityEvent.sealed_names)
                                  .order_by(ActivityEvent.id)).all()
    request_id = at(world, S.IN_REVIEW, RequestType.RECTIFICATION)
    assert step(rs.approve, request_id, world["dpo"]) is True
    request = req(request_id)
    assert request.state == S.COMPLETED and request.completed_at is not None
    assert request.result == {"rectified": 1}
    (row,) = db.session.scalars(sa.select(Rectification))
    assert (row.request_id, row.subject_id) == (request_id, world.alice)
    assert keystore().cipher(world.alice).open_json("rectification", request_id, row.sealed) == {
        "wrong": "The app says I used LinkedIn", "correct": "That was a colleague"}
    assert b"LinkedIn" not in row.sealed
    # The original is kept exactly as collected.
    assert db.session.execute(sa.select(ActivityEvent.id, ActivityEvent.sealed, ActivityEvent.sealed_names)
                              .order_by(ActivityEvent.id)).all() == original
    assert tags_for(request_id)[-3:] == ["requests:request:approve", "requests:request:fulfil",
                                         "requests:request:complete"]


def test_a_restriction_adds_a_restriction_and_an_ai_training_suppression(world: World) -> None:
    request_id = file(world, "alice", RequestType.RESTRICTION, categories=["screenshots", "input_events"])
    to_review(world, request_id)
    assert not is_suppressed(world.alice)
    step(rs.approve, request_id, world["dpo"])
    request = req(request_id)
    assert request.state == S.COMPLETED
    (restriction,) = db.session.scalars(sa.select(Restriction))
    assert (restriction.request_id, restriction.subject_id, restriction.categories, restriction.lifted_at) == (
        request_id, world.alice, ["input_events", "screenshots"], None)
    found = suppression(world.alice, Purpose.AI_TRAINING)
    assert found is not None and found.reason == "restriction"
    assert request.result == {"restricted": ["input_events", "screenshots"]}


def test_an_upheld_objection_stops_ai_training_use(world: World) -> None:
    fill(world.alice, training=False)
    record_training_use(world.alice, dataset="assist-v2", snapshot="before", record_count=5,
                        used_on=utcnow().date(), model="m", actor=Actor.system())  # allowed so far
    db.session.commit()
    request_id = at(world, S.IN_REVIEW, RequestType.OBJECTION)
    step(rs.approve, request_id, world["dpo"])
    assert req(request_id).state == S.COMPLETED
    assert is_suppressed(world.alice)
    found = suppression(world.alice, Purpose.AI_TRAINING)
    assert found is not None and found.reason == "objection"
    # The snapshot that held her is marked "removal required" by the objection, in the ledger.
    [use] = uses_of(world.alice)
    assert use.snapshot == "before" and use.removal is not None and use.pending
    assert (use.removal.cause, use.removal.request_id) == ("objection", request_id)
    with pytest.raises(SuppressedError):
        record_training_use(world.alice, dataset="assist-v2", snapshot="after", record_count=5,
                            used_on=utcnow().date(), model="m", actor=Actor.system())
    db.session.rollback()
    assert not is_suppressed(world.bob)


@pytest.mark.parametrize("purpose", ["analytics", "security_monitoring"])
def test_an_upheld_objection_to_a_legitimate_interest_purpose_stops_that_purpose_alone(
        world: World, purpose: str) -> None:
    """GDPR Art. 21(1): an objection names its purpose; the DPO's approval is the balancing decision
    (upheld), and the upheld objection stops that purpose for that employee (an exclusion the feed
    reports under that purpose), not AI training and not anyone else's."""
    request_id = file(world, "alice", RequestType.OBJECTION, purpose=purpose)
    assert req(request_id).scope == {"purpose": purpose}
    to_review(world, request_id)
    step(rs.approve, request_id, world["dpo"])
    request = req(request_id)
    assert (request.state, request.result) == (S.COMPLETED, {"suppressed": purpose})
    assert "upheld" in (request.outcome or "") and "AI training" not in (request.outcome or "")
    found = db.session.get(Suppression, (world.alice, purpose))
    assert found is not None and found.reason == "objection"
    assert suppression(world.alice, Purpose.AI_TRAINING) is None, "AI training is another purpose"
    assert db.session.get(Suppression, (world.bob, purpose)) is None
    items, _, _ = feed.page(None)
    assert [(i.pseudonym, i.purpose, i.reason) for i in items if i.purpose == purpose] == [
        (pseudonym(world.alice), purpose, "objection_upheld")]


def test_an_objection_refused_on_compelling_legitimate_grounds_stops_nothing(world: World) -> None:
    """The other side of the balance (GDPR Art. 21(1)): refused citing compelling legitimate
    grounds, with the reasons the employee reads; nothing is suppressed."""
    request_id = file(world, "alice", RequestType.OBJECTION, purpose="security_monitoring")
    to_review(world, request_id)
    step(rs.reject, request_id, world["dpo"], "gdpr-21-1",
         "Monitoring for malware on every workstation protects the data of customers and staff alike.")
    request = req(request_id)
    assert (request.state, request.legal_basis) == (S.REJECTED, "gdpr-21-1")
    assert db.session.get(Suppression, (world.alice, "security_monitoring")) is None


@pytest.mark.parametrize("purpose", ["screenshot_capture", "dreams"])
def test_an_objection_to_what_is_not_an_objectionable_purpose_is_refused(world: World, purpose: str) -> None:
    with pytest.raises(rs.RequestError, match="not a purpose you can object to"):
        rs.file_request(world["alice"], RequestType.OBJECTION, grounds="Because", purpose=purpose)
    db.session.rollback()
    assert count(DataRequest) == 0


def test_an_approved_access_request_is_completed_by_its_export(world: World) -> None:
    fill(world.alice)
    request_id = at(world, S.IN_REVIEW, RequestType.ACCESS)
    step(rs.approve, request_id, world["dpo"])
    request = req(request_id)
    assert request.state == S.FULFILLING
    (export,) = db.session.scalars(sa.select(Export).where(Export.request_id == request_id))
    assert (export.job_id, export.origin, export.state) == (request.job_id, "request", ExportState.QUEUED)
    export_id = export.id
    assert run_pending() == [JobState.SUCCEEDED]
    request, export = req(request_id), get(Export, export_id)
    assert (request.state, export.state) == (S.COMPLETED, ExportState.READY)
    assert request.result == {"export": export.id, **(export.counts or {})}
    assert request.result["screenshots"] == 2
    assert tags_for(request_id)[-3:] == ["requests:request:fulfil", "requests:request:complete",
                                         "exports:export:complete"]
    assert request.channel == Channel.PORTAL  # not recorded again as a self-service access
    assert count(DataRequest) == 1


def test_a_failing_export_gives_up_fails_the_request_and_a_retry_completes_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(world.alice)
    request_id = at(world, S.IN_REVIEW, RequestType.PORTABILITY)
    step(rs.approve, request_id, world["dpo"])

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(exports, "PackageWriter", disk_full)
        outcomes = run_pending()
    assert outcomes == [JobState.QUEUED] * 4 + [JobState.FAILED]  # retried with backoff, then given up
    request = req(request_id)
    assert request.state == S.FAILED
    first_job = request.job_id
    staff_view = rs.timeline(request, for_requester=False)[-1]
    assert (staff_view.from_state, staff_view.to_state, staff_view.visible_to_requester) == (
        "fulfilling", "failed", False)
    assert tags_for(request_id)[-1] == "requests:request:fail"
    assert count(AuditEntry, AuditEntry.tag == "exports:export:fail") == 1
    mails = [(j.params["template"], j.params["recipient_id"]) for j in db.session.scalars(
        sa.select(Job).where(Job.kind == "mail.send"))]
    assert ("dpo_failed", world.dpo) in mails  # the assignee is told

    refused(rs.NotAllowed, request_id, rs.retry, world["us_dpo"])
    step(rs.retry, request_id, world["dpo2"])
    request = req(request_id)
    assert request.state == S.FULFILLING and request.job_id != first_job
    assert run_pending() == [JobState.SUCCEEDED]
    request = req(request_id)
    assert request.state == S.COMPLETED
    exported = db.session.scalars(sa.select(Export).where(Export.request_id == request_id)
                                  .order_by(Export.created_at)).all()
    assert [e.state for e in exported] == [ExportState.FAILED, ExportState.READY]
    assert tags_for(request_id).count("requests:request:retry") == 1


def test_after_an_erasure_what_remains_is_exported_and_open_requests_are_told(world: World) -> None:
    """An erasure that leaves nothing (its key destroyed): the person's other open requests each
    get a message saying what it means for them (and an e-mail); an access request is still
    answered, with a copy of what remains (requests, consent history, access log) that opens
    without the destroyed key; a correction is refused, nothing being left to correct."""
    fill(world.alice)
    access, correction = at(world, S.IN_REVIEW, RequestType.ACCESS), at(world, S.IN_REVIEW, RequestType.RECTIFICATION)
    erasure = at(world, S.IN_REVIEW, RequestType.ERASURE)
    step(rs.approve, erasure, world["dpo"])
    step(rs.approve, erasure, world["dpo2"])
    assert run_pending() == [JobState.SUCCEEDED]
    assert not keystore().exists(world.alice)
    assert count(ActivityEvent, ActivityEvent.subject_id == world.alice) == 0
    assert count(Screenshot, Screenshot.subject_id == world.alice) == 0

    for request_id, says in ((access, "copy this request gives you will hold what remains"),
                             (correction, "nothing left to correct")):
        (told,) = [e for e in rs.timeline(req(request_id), for_requester=True)
                   if e.kind == "message" and e.actor_role == "system"]
        assert says in (told.body or "") and req(erasure).reference in (told.body or "")
    mails = [(j.params["template"], j.params["refs"].get("request")) for j in db.session.scalars(
        sa.select(Job).where(Job.kind == "mail.send"))]
    assert ("request_message", access) in mails and ("request_message", correction) in mails

    message = refused(rs.RequestError, correction, rs.approve, world["dpo"])
    assert "nothing left to correct" in message and "no personal data" in message
    step(rs.reject, correction, world["dpo"], "no-data", "Your data was erased on request.")
    assert req(correction).state == S.REJECTED

    step(rs.approve, access, world["dpo"])
    assert run_pending() == [JobState.SUCCEEDED]
    assert req(access).state == S.COMPLETED
    (export,) = db.session.scalars(sa.select(Export).where(Export.request_id == access)).all()
    assert export.state == ExportState.READY
    archive = zipfile.ZipFile(io.BytesIO(b"".join(exports.open_download(export))))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["input_events"] == manifest["counts"]["app_activity"] == 0
    assert manifest["counts"]["screenshots"] == 0
    consents = archive.read("data/consent_history.csv").decode()
    assert consents.count("\n") > 1  # a header and the consents she gave


def test_a_legal_hold_is_placed_and_lifted_by_staff_only(world: World) -> None:
    alice = world["alice"]
    with pytest.raises(rs.NotAllowed):
        rs.place_hold(alice, world["bob"], categories=[], matter_reference="M-1", reason="Litigation")
    with pytest.raises(rs.RequestError, match="do not exist"):
        rs.place_hold(alice, world["dpo"], categories=["keystrokes"], matter_reference="M-1", reason="Litigation")
    with pytest.raises(rs.RequestError, match="A matter reference is required."):
        rs.place_hold(alice, world["dpo"], categories=[], matter_reference=" ", reason="Litigation")
    db.session.rollback()
    assert rs.active_holds(world.alice) == []
    hold = rs.place_hold(alice, world["admin"], categories=["screenshots"], matter_reference="M-1",
                         reason="Litigation")
    db.session.commit()
    assert [h.id for h in rs.active_holds(world.alice)] == [hold.id]
    assert hold.covers("screenshots") and not hold.covers("input_events") and hold.reason == "Litigation"
    with pytest.raises(rs.NotAllowed):
        rs.lift_hold(hold, world["alice"])
    rs.lift_hold(hold, world["dpo"])
    db.session.commit()
    assert rs.active_holds(world.alice) == []
    with pytest.raises(rs.RequestError, match="already been lifted"):
        rs.lift_hold(get(LegalHold, hold.id), world["dpo"])
    assert [e.tag for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag.like("requests:hold:%"))
                                              .order_by(AuditEntry.seq))] == ["requests:hold:place",
                                                                              "requests:hold:lift"]


def test_the_queue_shows_what_a_dpo_may_see_soonest_deadline_first(world: World) -> None:
    first = file(world, "alice", RequestType.ACCESS)
    second = file(world, "alice", RequestType.ERASURE)
    americas = file(world, "bob", RequestType.ACCESS)
    step(rs.extend, first, world["dpo"], "Busy", today=req(first).received_at.date())
    closed = file(world, "alice", RequestType.OBJECTION)
    step(rs.withdraw, closed, world["alice"])

    def ids(who: str, **flt: Any) -> list[str]:
        return [r.id for r in db.session.scalars(rs.queue_query(world[who], rs.QueueFilter(**flt)))]

    assert ids("dpo") == [second, first]  # the extended one is due later
    assert ids("us_dpo") == [americas]
    assert set(ids("admin")) == {first, second, americas}
    assert set(ids("admin", include_closed=True)) == {first, second, americas, closed}
    assert ids("dpo", type="erasure") == [second]
    assert ids("dpo", mine=True) == []
    step(rs.claim, first, world["dpo"])
    assert ids("dpo", mine=True) == [first]
    assert ids("dpo2", mine=True) == []
    assert ids("dpo", state="open") == [first]
    assert ids("dpo", overdue=True) == [] and ids("dpo", due_soon=True) == []


def test_nobody_claims_reviews_approves_or_refuses_a_request_about_themselves(world: World) -> None:
    dana = world["dpo"]
    dana.jurisdiction = "ES"  # her own request goes to the queue she works
    db.session.commit()
    request_id = file(world, "dpo", RequestType.ERASURE)
    assert req(request_id).queue_id == world.spain
    assert not rs.may_work(world["dpo"], req(request_id))
    refused(rs.NotAllowed, request_id, rs.claim, world["dpo"])
    step(rs.claim, request_id, world["dpo2"])
    refused(rs.NotAllowed, request_id, rs.start_review, world["dpo"])
    step(rs.start_review, request_id, world["dpo2"])
    message = refused(rs.NotAllowed, request_id, rs.approve, world["dpo"])
    assert message == "Nobody may approve a request about themselves."
    refused(rs.NotAllowed, request_id, rs.reject, world["dpo"], "no-data", "No.")
    assert step(rs.approve, request_id, world["dpo2"]) is False
    refused(rs.NotAllowed, request_id, rs.approve, world["dpo"])  # not the second approval either
    assert step(rs.approve, request_id, world["admin"]) is True
