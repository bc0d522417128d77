"""Requests: filing, routing, the state machine, deadlines and fulfilment
(docs/architecture.md, "Requests").

Every change of state goes through :func:`_transition`, which refuses anything not in
:data:`TRANSITIONS`, writes a timeline entry and an audit entry. Each public function checks who
may act first, changes nothing when it refuses (it raises before touching the session), and queues
its e-mails as jobs, which are dispatched only after the caller's commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update

from portal.audit.services import Actor, record
from portal.consent import services as consent
from portal.consent.models import OBJECTION_PURPOSES, ProcessingPurpose, Purpose, Suppression
from portal.db import new_id, utcnow
from portal.exports.services import request_export
from portal.extensions import db
from portal.i18n.statements import render, statement
from portal.jurisdictions import KINDS, Ground, regime_for
from portal.jurisdictions import kind as kind_of
from portal.monitoring.models import DataCategory
from portal.people.models import Employee, Role

from . import deadlines, statements
from .models import (
    CARRIED_OUT_STATES,
    CLOSED_STATES,
    OPEN_STATES,
    Channel,
    DataRequest,
    ErasureApproval,
    ErasureCount,
    EventKind,
    LegalHold,
    Queue,
    QueueMember,
    Rectification,
    RequestEvent,
    RequestState,
    RequestType,
    Restriction,
    RoutingRule,
)

S = RequestState
MAX_TEXT = 4000
DEFAULT_QUEUE = "General"
ERASURE_JOB = "requests.erasure"
ERASURE_AFTER_HOLD_JOB = "requests.erasure-after-hold"
ERASABLE = ("input_events", "app_activity", "screenshots", "ai_training_use")

# (from, to) -> the action's name, as it appears in audit tags and messages.
TRANSITIONS: dict[tuple[RequestState, RequestState], str] = {
    (S.RECEIVED, S.OPEN): "open",
    (S.OPEN, S.IN_REVIEW): "review",
    (S.IN_REVIEW, S.AWAITING_REQUESTER): "ask",
    (S.AWAITING_REQUESTER, S.IN_REVIEW): "answer",
    (S.IN_REVIEW, S.APPROVED): "approve",
    (S.APPROVED, S.FULFILLING): "fulfil",
    (S.FULFILLING, S.COMPLETED): "complete",
    (S.FULFILLING, S.AWAITING_RECIPIENTS): "await-recipients",
    (S.AWAITING_RECIPIENTS, S.COMPLETED): "complete",
    (S.FULFILLING, S.FAILED): "fail",
    (S.FAILED, S.FULFILLING): "retry",
    # A failed request can also be refused: when what it asks can no longer be done (an export
    # approved before an erasure destroyed the data), the DPO closes it with a legal basis.
    **{(state, S.REJECTED): "reject" for state in (S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER,
                                                     S.FAILED)},
    **{(state, S.WITHDRAWN): "withdraw" for state in (S.RECEIVED, S.OPEN, S.IN_REVIEW, S.AWAITING_REQUESTER,
                                                        S.APPROVED)},
}

STATE_LABELS = {
    S.RECEIVED: _l("Received"), S.OPEN: _l("Open"), S.IN_REVIEW: _l("In review"),
    S.AWAITING_REQUESTER: _l("Waiting for you"), S.APPROVED: _l("Approved"), S.FULFILLING: _l("Being carried out"),
    S.AWAITING_RECIPIENTS: _l("Done here; waiting for the recipients to confirm"),
    S.COMPLETED: _l("Completed"), S.REJECTED: _l("Refused"), S.WITHDRAWN: _l("Withdrawn"),
    S.FAILED: _l("Failed (being retried)"),
}
# The requester's labels speak to the requester ("Waiting for you"); staff read these, on every
# page, e-mail and report that staff see.
STAFF_STATE_LABELS = {**STATE_LABELS, S.AWAITING_REQUESTER: _l("Waiting for the requester"),
                      S.FAILED: _l("Fulfilment failed (retry it)")}
TYPE_LABELS = {k.type: k.employee_label for k in KINDS}
STAFF_TYPE_LABELS = {k.type: k.staff_label for k in KINDS}
# What an objection is to (GDPR Art. 21), as the employee reads it and as staff do.
OBJECTION_LABELS = {
    ProcessingPurpose.AI_TRAINING: _l("The use of your monitoring data to train and evaluate AI models"),
    ProcessingPurpose.ANALYTICS: _l("Productivity analytics and profiling: scores and reports about how you work"),
    ProcessingPurpose.SECURITY_MONITORING: _l("Security monitoring: checking activity for threats to the company's "
                                              "systems and data"),
}
STAFF_OBJECTION_LABELS = {
    ProcessingPurpose.AI_TRAINING: _l("AI training"),
    ProcessingPurpose.ANALYTICS: _l("Productivity analytics and profiling"),
    ProcessingPurpose.SECURITY_MONITORING: _l("Security monitoring"),
}


class RequestError(ValueError):
    """Refused: the message says why, for the person who asked. Nothing was changed."""


class NotAllowed(RequestError):
    """The person may not take this step on this request."""


class IllegalTransition(RequestError):
    """The request's state does not allow this step."""


class AlreadyClaimed(RequestError):
    """Someone else claimed the case first."""


# -- who may do what -----------------------------------------------------------------------------

def queue_ids_of(staff: Employee) -> set[str]:
    return set(db.session.scalars(select(QueueMember.queue_id).where(QueueMember.employee_id == staff.id)))


def may_view(staff: Employee, request: DataRequest) -> bool:
    """Admins see every case; a DPO sees the cases of their queues and those assigned to them."""
    roles = staff.role_names
    if Role.ADMIN in roles:
        return True
    if Role.DPO not in roles:
        return False
    return request.assignee_id == staff.id or (request.queue_id is not None and request.queue_id in queue_ids_of(staff))


def may_work(staff: Employee, request: DataRequest) -> bool:
    """DPOs of the case's queue (or its assignee) work it; nobody works a request about themselves."""
    return request.subject_id != staff.id and Role.DPO in staff.role_names and may_view(staff, request)


def _role_of(staff: Employee) -> str:
    return "dpo" if Role.DPO in staff.role_names else "admin" if Role.ADMIN in staff.role_names else "staff"


def _require_worker(staff: Employee, request: DataRequest) -> None:
    if request.subject_id == staff.id:
        raise NotAllowed("Nobody may work a request about themselves.")
    if not may_work(staff, request):
        raise NotAllowed("Only a DPO of this request's queue may do that.")


def _require_requester(subject: Employee, request: DataRequest) -> None:
    if subject.id != request.subject_id:
        raise NotAllowed("Only the person who made the request may do that.")


def _clean_text(value: str | None, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if required and not text:
        raise RequestError(f"{what} is required.")
    if len(text) > limit:
        raise RequestError(f"{what} is too long (at most {limit} characters).")
    return text


# -- the timeline and the audit ------------------------------------------------------------------

def _event(request: DataRequest, kind: EventKind, *, actor_id: str | None, actor_role: str,
           body: str | None = None, visible: bool = True, from_state: str | None = None,
           to_state: str | None = None, said: dict[str, Any] | None = None) -> RequestEvent:
    """A timeline entry: ``body`` is what a person wrote (sealed), ``said`` the portal's own
    message as a statement (worded when read: portal.i18n.statements)."""
    event = RequestEvent(request_id=request.id, kind=kind, actor_id=actor_id, actor_role=actor_role,
                         from_state=from_state, to_state=to_state, visible_to_requester=visible, body_statement=said)
    event.body_text = body or None
    db.session.add(event)
    return event


def _audit(request: DataRequest, action: str, actor: Actor, **details: Any) -> None:
    record(f"requests:request:{action}", actor=actor, subject_id=request.subject_id,
           targets={"request": request.id}, details={"type": str(request.type) if request.type else None,
                                                     "state": str(request.state) if request.state else None,
                                                     **details})


def _transition(request: DataRequest, to: RequestState, *, actor: Actor, actor_role: str,
                body: str | None = None, visible: bool = True, **details: Any) -> None:
    """The one place a request changes state."""
    current = request.state
    action = TRANSITIONS.get((current, to))
    if action is None:
        raise IllegalTransition(f"A request that is {STATE_LABELS[current].lower()} cannot be moved to "
                                f"{STATE_LABELS[to].lower()}.")
    request.state = to
    if to in (S.COMPLETED, S.AWAITING_RECIPIENTS):
        now = utcnow()
        request.carried_out_at = request.carried_out_at or now
        if to == S.COMPLETED:
            request.completed_at = now
    _event(request, EventKind.TRANSITION, actor_id=actor.id if actor.type == "employee" else None,
           actor_role=actor_role, body=body, visible=visible, from_state=current.value, to_state=to.value)
    _audit(request, action, actor, **{"from": current.value, **details})


def _ensure(request: DataRequest, to: RequestState) -> None:
    """Refuse early (before anything is touched) a step the state machine does not allow."""
    if (request.state, to) not in TRANSITIONS:
        raise IllegalTransition(f"A request that is {STATE_LABELS[request.state].lower()} "
                                f"cannot be moved to {STATE_LABELS[to].lower()}.")


def _notify(template: str, recipient_id: str, request: DataRequest) -> None:
    from portal.mail.services import notify

    notify(template, recipient_id=recipient_id, refs={"request": request.id})


def _notify_queue(template: str, request: DataRequest) -> None:
    """Tell the assignee, or else every DPO of the request's queue."""
    recipients = [request.assignee_id] if request.assignee_id else list(db.session.scalars(
        select(QueueMember.employee_id).where(QueueMember.queue_id == request.queue_id)))
    for recipient in recipients:
        if recipient:
            _notify(template, recipient, request)


# -- routing ---------------------------------------------------------------------------------------

def default_queue() -> Queue:
    queue = db.session.scalar(select(Queue).where(Queue.name == DEFAULT_QUEUE))
    if queue is None:
        queue = Queue(id=new_id(), name=DEFAULT_QUEUE, description="Requests no routing rule sends elsewhere")
        db.session.add(queue)
        db.session.flush()
        record("requests:queue:create", actor=Actor.system(), targets={"queue": queue.id},
               details={"reason": "default"})
    return queue


def route(jurisdiction: str, request_type: RequestType) -> Queue:
    """The queue of the most specific rule: (jurisdiction, type), (jurisdiction, *), (country, ...),
    (*, type), (*, *); else the default queue."""
    country = jurisdiction.split("-", 1)[0]
    candidates = [(jurisdiction, request_type.value), (jurisdiction, "*"), (country, request_type.value),
                  (country, "*"), ("*", request_type.value), ("*", "*")]
    rules = {(r.jurisdiction, r.request_type): r for r in db.session.scalars(select(RoutingRule).where(
        RoutingRule.jurisdiction.in_({jurisdiction, country, "*"})))}
    for key in candidates:
        rule = rules.get(key)
        if rule is not None:
            queue = db.session.get(Queue, rule.queue_id)
            if queue is not None:
                return queue
    return default_queue()


# -- filing ------------------------------------------------------------------------------------------

@dataclass
class Filed:
    request: DataRequest
    duplicate_of: DataRequest | None


def _categories() -> list[str]:
    return list(db.session.scalars(select(DataCategory.key).order_by(DataCategory.sort_order, DataCategory.key)))


def _clean_scope(request_type: RequestType, categories: Iterable[str] | None, date_from: date | None,
                 date_to: date | None, zone: str | None = None, purpose: str = "") -> dict[str, Any] | None:
    scope = kind_of(request_type).scope  # what the kind asks the form for (the registry's kinds)
    if scope == "purpose":
        chosen_purpose = purpose or ProcessingPurpose.AI_TRAINING.value
        if chosen_purpose not in OBJECTION_PURPOSES:
            raise RequestError("That is not a purpose you can object to.")
        return {"purpose": chosen_purpose}
    if scope != "categories":
        return None
    known = _categories()
    chosen = sorted(set(categories or []))
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise RequestError("Some of the chosen categories do not exist.")
    if date_from and date_to and date_from > date_to:
        raise RequestError("The start date is after the end date.")
    cleaned: dict[str, Any] = {"categories": chosen, "date_from": date_from.isoformat() if date_from else None,
                               "date_to": date_to.isoformat() if date_to else None}
    if date_from or date_to:
        cleaned["zone"] = zone or "UTC"  # the dates are days in the person's time zone
    return cleaned


def file_request(subject: Employee, request_type: RequestType | str, *, description: str = "",
                 categories: Iterable[str] | None = None, date_from: date | None = None, date_to: date | None = None,
                 wrong: str = "", correct: str = "", grounds: str = "", purpose: str = "",
                 channel: Channel = Channel.PORTAL, received_at: datetime | None = None,
                 actor: Actor | None = None) -> Filed:
    """File a request for ``subject``: validated, routed to a queue, its deadline set, the
    requester and the queue told. A repeat of an open request of the same type is filed all the
    same and linked to it (never dropped)."""
    try:
        request_type = RequestType(request_type)
    except ValueError:
        raise RequestError("Unknown kind of request.") from None
    description = _clean_text(description, "A description", required=False)
    details: dict[str, Any] = {"description": description}
    if request_type == RequestType.RECTIFICATION:
        details["wrong"] = _clean_text(wrong, "What is wrong")
        details["correct"] = _clean_text(correct, "What it should say")
    if request_type == RequestType.OBJECTION:
        details["grounds"] = _clean_text(grounds, "The grounds for your objection")
    scope = _clean_scope(request_type, categories, date_from, date_to, subject.timezone, purpose)
    received = received_at or utcnow()
    due = deadlines.deadline_for(subject.jurisdiction, request_type, received.date())
    duplicate_of = db.session.scalar(select(DataRequest).where(
        DataRequest.subject_id == subject.id, DataRequest.type == request_type.value,
        DataRequest.state.in_([s.value for s in OPEN_STATES]), DataRequest.channel != Channel.SELF_SERVICE.value,
    ).order_by(DataRequest.received_at).limit(1))
    queue = route(subject.jurisdiction, request_type)
    due_on, acknowledge_by = due.due, due.acknowledge_by
    if duplicate_of is not None and duplicate_of.due_on is not None:
        # A repeat of an open request is answered with it: it shares the original's deadline.
        due_on, acknowledge_by = duplicate_of.due_on, duplicate_of.acknowledge_by
    request = DataRequest(id=new_id(), subject_id=subject.id, type=request_type, state=S.RECEIVED, channel=channel,
                          jurisdiction=subject.jurisdiction, received_at=received, scope=scope,
                          regime=due.regime, due_on=due_on, acknowledge_by=acknowledge_by,
                          acknowledged_at=received, queue_id=queue.id,
                          duplicate_of_id=duplicate_of.id if duplicate_of else None)
    request.details = details
    db.session.add(request)
    db.session.flush()
    actor = actor or Actor("employee", subject.id)
    _event(request, EventKind.FILED, actor_id=subject.id, actor_role="requester", to_state=S.RECEIVED.value)
    if duplicate_of is not None:
        _event(request, EventKind.DUPLICATE, actor_id=None, actor_role="system",
               said=statement(statements.DUPLICATE, ref=duplicate_of.reference))
    _audit(request, "file", actor, channel=channel.value, jurisdiction=request.jurisdiction, queue=queue.id,
           due=due_on.isoformat(), duplicate_of=duplicate_of.id if duplicate_of else None)
    _notify("request_received", subject.id, request)
    _notify_queue("dpo_new_case", request)
    return Filed(request, duplicate_of)


def record_self_service_access(subject_id: str, jurisdiction: str, *, actor: Actor,
                               details: dict[str, Any]) -> DataRequest:
    """An access request the portal fulfilled itself (a completed export), in the caller's
    transaction, with its audit entry."""
    now = utcnow()
    request = DataRequest(subject_id=subject_id, type=RequestType.ACCESS, state=RequestState.COMPLETED,
                          channel=Channel.SELF_SERVICE, jurisdiction=jurisdiction, received_at=now,
                          completed_at=now, outcome_statement=statement(statements.COPY_MADE))
    db.session.add(request)
    db.session.flush()
    record("requests:request:complete", actor=actor, subject_id=subject_id,
           targets={"request": request.id}, details={"type": request.type.value, "channel": request.channel.value,
                                                     **details})
    return request


# -- the DPO's steps -------------------------------------------------------------------------------

def claim(request: DataRequest, staff: Employee) -> DataRequest:
    """Take an unassigned case. Two DPOs claiming at once: one conditional UPDATE decides, the
    other is told someone was first."""
    _require_worker(staff, request)
    if request.state in CLOSED_STATES:
        raise IllegalTransition("This request is closed.")
    if request.assignee_id == staff.id:
        raise RequestError("You have already taken this case.")
    won = db.session.execute(update(DataRequest).where(  # type: ignore[attr-defined]  # CursorResult
        DataRequest.id == request.id, DataRequest.assignee_id.is_(None),
        DataRequest.state.in_([s.value for s in OPEN_STATES])).values(assignee_id=staff.id)
        .execution_options(synchronize_session=False)).rowcount
    if won != 1:
        db.session.refresh(request)
        raise AlreadyClaimed("Someone else has already taken this case.")
    db.session.refresh(request)
    _event(request, EventKind.CLAIM, actor_id=staff.id, actor_role="dpo", visible=False)
    _audit(request, "claim", Actor("employee", staff.id), assignee=staff.id)
    if request.state == S.RECEIVED:
        _transition(request, S.OPEN, actor=Actor("employee", staff.id), actor_role="dpo")
    return request


def assign(request: DataRequest, staff: Employee, assignee: Employee) -> None:
    """Give the case to a DPO of its queue (admins and the queue's DPOs may)."""
    if not (may_work(staff, request) or Role.ADMIN in staff.role_names):
        raise NotAllowed("Only a DPO of this queue or an admin may assign this case.")
    if request.state in CLOSED_STATES:
        raise IllegalTransition("This request is closed.")
    if Role.DPO not in assignee.role_names or request.queue_id not in queue_ids_of(assignee):
        raise RequestError("A case can only be given to a DPO of its queue.")
    previous = request.assignee_id
    if previous == assignee.id:
        raise RequestError("The case is already assigned to that person.")
    request.assignee_id = assignee.id
    _event(request, EventKind.ASSIGN, actor_id=staff.id, actor_role=_role_of(staff), visible=False)
    _audit(request, "assign" if previous is None else "reassign", Actor("employee", staff.id),
           assignee=assignee.id, previous=previous)
    if request.state == S.RECEIVED:
        _transition(request, S.OPEN, actor=Actor("employee", staff.id), actor_role=_role_of(staff))
    if assignee.id != staff.id:
        _notify("dpo_new_case", assignee.id, request)


MAX_BULK = 100  # cases one bulk assignment may name (a queue page holds fewer)


@dataclass(frozen=True)
class BulkAssignment:
    """What a bulk assignment did: the references assigned, and each refused case with why (a
    code: ``not-yours``, ``about-you``, ``about-assignee``, ``closed``, ``not-in-queue``,
    ``already``)."""

    assigned: list[str]
    refused: list[tuple[str, str]]


def assign_many(staff: Employee, cases: Iterable[DataRequest], assignee: Employee) -> BulkAssignment:
    """Give several cases (each one ``staff`` may see: the caller refuses the others as not
    theirs) to one DPO at once, each as :func:`assign` would, and audited as it is. A case about
    ``staff`` or about ``assignee`` (nobody works a request about themselves), a closed one, one
    whose queue ``assignee`` is not a DPO of, one already theirs, or one ``staff`` may not work is
    refused, and the refusal audited; the others are assigned."""
    assigned: list[str] = []
    refused: list[tuple[str, str]] = []
    actor = Actor("employee", staff.id)
    for request in cases:
        reason = None
        if request.subject_id == staff.id:
            reason = "about-you"
        elif request.subject_id == assignee.id:
            reason = "about-assignee"
        elif not (may_work(staff, request) or Role.ADMIN in staff.role_names):
            reason = "not-yours"
        elif request.state in CLOSED_STATES:
            reason = "closed"
        elif Role.DPO not in assignee.role_names or request.queue_id not in queue_ids_of(assignee):
            reason = "not-in-queue"
        elif request.assignee_id == assignee.id:
            reason = "already"
        if reason is not None:
            _audit(request, "assign-refused", actor, reason=reason, assignee=assignee.id, bulk=True)
            refused.append((request.reference, reason))
            continue
        assign(request, staff, assignee)
        assigned.append(request.reference)
    return BulkAssignment(assigned, refused)


def start_review(request: DataRequest, staff: Employee) -> None:
    _require_worker(staff, request)
    _ensure(request, S.IN_REVIEW)
    if request.state == S.AWAITING_REQUESTER:
        raise IllegalTransition("The requester has not answered yet.")
    _transition(request, S.IN_REVIEW, actor=Actor("employee", staff.id), actor_role="dpo")


def ask_requester(request: DataRequest, staff: Employee, message: str) -> None:
    """Ask the requester for information (the message is sent to them)."""
    _require_worker(staff, request)
    _ensure(request, S.AWAITING_REQUESTER)
    body = _clean_text(message, "The question to the requester")
    _transition(request, S.AWAITING_REQUESTER, actor=Actor("employee", staff.id), actor_role="dpo", body=body)
    _notify("request_info_needed", request.subject_id, request)


def answer(request: DataRequest, subject: Employee, message: str) -> None:
    """The requester answers; the case goes back to review."""
    _require_requester(subject, request)
    _ensure(request, S.IN_REVIEW)
    if request.state != S.AWAITING_REQUESTER:
        raise IllegalTransition("Nothing has been asked of you on this request.")
    body = _clean_text(message, "Your answer")
    _transition(request, S.IN_REVIEW, actor=Actor("employee", subject.id), actor_role="requester", body=body)
    _notify_queue("dpo_requester_answered", request)


def message_requester(request: DataRequest, staff: Employee, message: str) -> None:
    _require_worker(staff, request)
    if request.state in CLOSED_STATES:
        raise IllegalTransition("This request is closed.")
    body = _clean_text(message, "The message")
    _event(request, EventKind.MESSAGE, actor_id=staff.id, actor_role="dpo", body=body)
    _audit(request, "message", Actor("employee", staff.id))
    _notify("request_message", request.subject_id, request)


def tell_of_erasure(erasure: DataRequest) -> list[str]:
    """After an erasure that left nothing of the person's monitoring data (its key destroyed):
    every other open request of theirs gets a message saying what that means for it (shown to
    them and to the DPO, and e-mailed to them). Returns the ids of the requests told."""
    told = []
    for other in db.session.scalars(select(DataRequest).where(
            DataRequest.subject_id == erasure.subject_id, DataRequest.id != erasure.id,
            DataRequest.state.not_in([state.value for state in CLOSED_STATES]))):
        _event(other, EventKind.MESSAGE, actor_id=None, actor_role="system",
               said=statement(statements.ERASED_NOTICE, type=other.type.value, ref=erasure.reference))
        _audit(other, "message", Actor.system(), reason="data-erased", erasure=erasure.id)
        _notify("request_message", other.subject_id, other)
        told.append(other.id)
    return told


def tell_requester(request: DataRequest, said: dict[str, Any], *, template: str = "request_message") -> None:
    """A message from the portal itself on the request's timeline (shown to the requester and the
    DPO), audited, and an e-mail saying there is one (``templates/mail/<template>.txt``). ``said``
    is a statement (portal.i18n.statements): each reader reads it in their language."""
    _event(request, EventKind.MESSAGE, actor_id=None, actor_role="system", said=said)
    _audit(request, "message", Actor.system(), reason=template)
    _notify(template, request.subject_id, request)


def add_note(request: DataRequest, staff: Employee, note: str) -> None:
    """An internal note: staff only, never shown to the requester."""
    _require_worker(staff, request)
    body = _clean_text(note, "The note")
    _event(request, EventKind.NOTE, actor_id=staff.id, actor_role="dpo", body=body, visible=False)
    _audit(request, "note", Actor("employee", staff.id))


def deadline_origin(request: DataRequest) -> DataRequest:
    """The request whose receipt sets this one's deadline: a repeat of an open request shares the
    original's (see :func:`file_request`), so its extension is counted from the original too."""
    if request.duplicate_of_id:
        original = db.session.get(DataRequest, request.duplicate_of_id)
        if original is not None and original.due_on == request.due_on:
            return original
    return request


def extend(request: DataRequest, staff: Employee, reason: str, *, today: date | None = None) -> date:
    """Extend the deadline once, with reasons sent to the requester, before the first one passes.
    Its open repeats, which share its deadline, are extended with it."""
    _require_worker(staff, request)
    if not request.is_open:
        raise IllegalTransition("Only an open request's deadline can be extended.")
    if request.due_on is None:
        raise RequestError("This request has no deadline to extend.")
    reason = _clean_text(reason, "The reason for the extension")
    today = today or utcnow().date()
    origin = deadline_origin(request)
    allowed, why = deadlines.can_extend(origin.jurisdiction, request.type, origin.received_at.date(),
                                        today, request.extended_due_on is not None)
    if not allowed:
        raise RequestError(f"The deadline cannot be extended: {why}.")
    new_due = deadlines.extended_due(origin.jurisdiction, request.type, origin.received_at.date())
    _apply_extension(request, staff, reason, new_due)
    for repeat in db.session.scalars(select(DataRequest).where(
            DataRequest.duplicate_of_id == request.id, DataRequest.due_on == request.due_on,
            DataRequest.extended_due_on.is_(None), DataRequest.state.in_([s.value for s in OPEN_STATES]))):
        _apply_extension(repeat, staff, reason, new_due)
    return new_due


def _apply_extension(request: DataRequest, staff: Employee, reason: str, new_due: date) -> None:
    assert request.due_on is not None  # noqa: S101 - checked by extend
    request.extended_due_on = new_due
    request.extended_at = utcnow()
    request.extended_by_id = staff.id
    request.extension_reason = reason
    _event(request, EventKind.EXTENSION, actor_id=staff.id, actor_role="dpo", body=reason)
    _audit(request, "extend", Actor("employee", staff.id), due=request.due_on.isoformat(),
           extended_due=new_due.isoformat())
    _notify("request_extended", request.subject_id, request)


def approvals_of(request: DataRequest) -> list[ErasureApproval]:
    return list(db.session.scalars(select(ErasureApproval).where(ErasureApproval.request_id == request.id)
                                   .order_by(ErasureApproval.approved_at)))


def approval_refusal(staff: Employee, request: DataRequest) -> RequestError | None:
    """Why ``staff`` may not give the next approval (the error to raise), or None."""
    if request.subject_id == staff.id:
        return NotAllowed("Nobody may approve a request about themselves.")
    if request.state != S.IN_REVIEW:
        return IllegalTransition("Only a request in review can be approved.")
    approvals = approvals_of(request)
    if any(a.approver_id == staff.id for a in approvals):
        return NotAllowed("You have already approved this erasure; a second person must approve it.")
    if request.type == RequestType.ERASURE and approvals:
        if Role.ADMIN in staff.role_names or may_work(staff, request):
            return None
        return NotAllowed("Only a DPO of this queue or an admin may give the second approval.")
    if not may_work(staff, request):
        return NotAllowed("Only a DPO of this request's queue may approve it.")
    return None


def may_approve(staff: Employee, request: DataRequest) -> tuple[bool, str]:
    """Whether ``staff`` may give the next approval, and if not, why."""
    refusal = approval_refusal(staff, request)
    return (True, "") if refusal is None else (False, str(refusal))


def approve(request: DataRequest, staff: Employee, note: str = "", erasure_ground: str | None = None) -> bool:
    """Approve the request. An erasure needs two approvals by two different people; the second
    one approves it. Then fulfilment starts. Returns whether the request is now approved.

    An erasure rests on a ground of its own regime (GDPR Art. 17(1)'s letters, or the regime's
    articles: ``Regime.erasure_grounds``), which the first approval chooses and the second confirms
    (it may leave it out, not change it); the certificate and the evidence pack name it.

    The request's row is locked first, so that two approvals given at the same moment are counted
    one after the other (on PostgreSQL each transaction would otherwise count only its own)."""
    db.session.flush()  # what this transaction changed already counts
    db.session.refresh(request, with_for_update=True)
    refusal = approval_refusal(staff, request)
    if refusal is not None:
        raise refusal
    note = _clean_text(note, "The note", required=False)
    _require_data_for(request)
    actor = Actor("employee", staff.id)
    if request.type == RequestType.ERASURE:
        ground = _erasure_ground(request, erasure_ground)
        request.erasure_ground = ground
        db.session.add(ErasureApproval(request_id=request.id, approver_id=staff.id, approver_role=_role_of(staff)))
        db.session.flush()
        count = len(approvals_of(request))
        _event(request, EventKind.APPROVAL, actor_id=staff.id, actor_role=_role_of(staff), body=note or None,
               visible=False)
        _audit(request, "approve-erasure", actor, approval=count, ground=ground)
        if count < 2:
            return False
    request.decided_by_id = staff.id
    request.decided_at = utcnow()
    _transition(request, S.APPROVED, actor=actor, actor_role=_role_of(staff), body=note or None, visible=False)
    start_fulfilment(request, actor=actor, actor_role=_role_of(staff))
    return True


def erasure_grounds(request: DataRequest) -> tuple[Ground, ...]:
    """What an erasure of ``request`` may rest on: its regime's erasure grounds."""
    return regime_for(request.jurisdiction).erasure_grounds


def _erasure_ground(request: DataRequest, chosen: str | None) -> str:
    """The ground an approval of an erasure gives: one of its regime's; the first approval's stays."""
    chosen = (chosen or "").strip() or None
    if request.erasure_ground is not None:
        if chosen is not None and chosen != request.erasure_ground:
            raise RequestError(str(_l("The first approval gave the ground for this erasure; a second approval "
                                      "confirms it and cannot change it.")))
        return request.erasure_ground
    if chosen is None:
        raise RequestError(str(_l("Choose the ground the erasure rests on.")))
    if regime_for(request.jurisdiction).erasure_ground(chosen) is None:
        raise RequestError(str(_l("That ground is not one of this request's law.")))
    return chosen


def _require_data_for(request: DataRequest) -> None:
    """A correction needs the subject's data key; once an erasure has destroyed it there is
    nothing left to correct (fulfilling would fail for good): refuse before anything changes, and
    say what to do instead. A copy is still made after an erasure, of what remains (requests,
    consent history, access log)."""
    if request.type != RequestType.RECTIFICATION:
        return
    from portal.crypto import keystore

    if not keystore().exists(request.subject_id):
        no_data = regime_for(request.jurisdiction).ground("no-data")
        raise RequestError("This person's monitoring data has been erased, so there is nothing left to correct: "
                           f"refuse the request instead ({no_data.label if no_data else 'no data held'}).")


def refusal_grounds(request: DataRequest) -> tuple[Ground, ...]:
    """The grounds a refusal of ``request`` may rest on: its regime's, for its kind only."""
    return regime_for(request.jurisdiction).grounds_for(request.type)


def reject(request: DataRequest, staff: Employee, legal_basis: str, reasons: str) -> None:
    """Refuse, on a ground of the request's own regime and kind, with reasons the requester reads."""
    _require_worker(staff, request)
    _ensure(request, S.REJECTED)
    ground = next((g for g in refusal_grounds(request) if g.code == legal_basis), None)
    if ground is None:
        raise RequestError(f"Choose a legal basis from the list: only the grounds of {regime_for(request.jurisdiction).name} "
                           "for this kind of request can be given.")
    reasons = _clean_text(reasons, "The reasons for the requester")
    request.legal_basis = ground.code
    request.decision_text = reasons
    request.decided_by_id = staff.id
    request.decided_at = utcnow()
    _transition(request, S.REJECTED, actor=Actor("employee", staff.id), actor_role="dpo", body=reasons,
                legal_basis=ground.code)
    _notify("request_rejected", request.subject_id, request)


def withdraw(request: DataRequest, subject: Employee) -> None:
    _require_requester(subject, request)
    if not request.can_be_withdrawn:
        raise IllegalTransition("This request can no longer be withdrawn.")
    _transition(request, S.WITHDRAWN, actor=Actor("employee", subject.id), actor_role="requester")
    if request.assignee_id or request.queue_id:
        _notify_queue("dpo_withdrawn", request)


def retry(request: DataRequest, staff: Employee) -> None:
    _require_worker(staff, request)
    _ensure(request, S.FULFILLING)
    if request.state != S.FAILED:
        raise IllegalTransition("Only a failed request can be retried.")
    _transition(request, S.FULFILLING, actor=Actor("employee", staff.id), actor_role="dpo")
    _dispatch_fulfilment(request)


# -- fulfilment ------------------------------------------------------------------------------------

def start_fulfilment(request: DataRequest, *, actor: Actor, actor_role: str) -> None:
    _transition(request, S.FULFILLING, actor=actor, actor_role=actor_role)
    _dispatch_fulfilment(request)


def _dispatch_fulfilment(request: DataRequest) -> None:
    """Long work becomes a job; what is a single write is done at once and completes the request."""
    fulfilment = kind_of(request.type).fulfilment
    subject = db.session.get(Employee, request.subject_id)
    assert subject is not None  # noqa: S101 - the foreign key cascades
    if fulfilment == "export":
        export = request_export(subject, actor=Actor.system(), origin="request", request_id=request.id)
        request.job_id = export.job_id
    elif fulfilment == "erasure-job":
        from portal.jobs import services as jobs

        job = jobs.enqueue(ERASURE_JOB, params={"request_id": request.id}, owner_id=request.subject_id)
        request.job_id = job.id
    elif fulfilment == "rectification":
        from portal.crypto import keystore

        details = request.details or {}
        sealed = keystore().cipher(subject.id).seal_json("rectification", request.id, {
            "wrong": details.get("wrong"), "correct": details.get("correct")})
        db.session.add(Rectification(request_id=request.id, subject_id=subject.id, sealed=sealed))
        complete(request, result={"rectified": 1}, outcome=statement(statements.RECTIFICATION_RECORDED))
    elif fulfilment == "restriction":
        categories = list((request.scope or {}).get("categories") or [])
        place_restriction(request.id, subject.id, categories)
        complete(request, result={"restricted": categories or ["all"]}, outcome=statement(statements.RESTRICTED))
    elif fulfilment == "objection":
        # The DPO's approval is the balancing decision: the objection is upheld (a refusal cites
        # the regime's compelling-legitimate-grounds ground, with reasons).
        purpose = ProcessingPurpose((request.scope or {}).get("purpose") or ProcessingPurpose.AI_TRAINING.value)
        suppress(subject.id, "objection", purpose)
        if purpose == ProcessingPurpose.AI_TRAINING:  # every snapshot holding them: "removal required"
            from portal.training.models import RemovalCause
            from portal.training.services import mark_removals

            mark_removals(subject.id, RemovalCause.OBJECTION, request_id=request.id)
        complete(request, result={"suppressed": purpose.value},
                 outcome=statement(statements.OBJECTION_UPHELD, purpose=purpose.value))


def place_restriction(request_id: str, subject_id: str, categories: list[str]) -> Restriction:
    """Restrict processing (of ``categories``; none: all) and keep the data out of AI training."""
    restriction = Restriction(request_id=request_id, subject_id=subject_id, categories=categories)
    db.session.add(restriction)
    suppress(subject_id, "restriction")
    consent.log_exclusion(subject_id, "analytics", "restriction", excluded=True, categories=categories)
    db.session.flush()
    return restriction


def lift_restriction(restriction: Restriction, *, actor: Actor, now: datetime | None = None,
                     lifted_by_id: str | None = None) -> None:
    """End a restriction of processing (the notice GDPR Art. 18(3) asks for comes first: see
    ``rights.restrictions.lift``). The AI-training exclusion it made ends with the last
    restriction in force, unless something else keeps the data out: an objection or an erasure
    is left alone, and a withdrawn consent takes its place again."""
    if restriction.lifted_at is not None:
        raise RequestError("This restriction has already been lifted.")
    if restriction.lift_notified_at is None:
        raise RequestError("The employee must be told before a restriction is lifted (GDPR Art. 18(3)).")
    restriction.lifted_at = now or utcnow()
    restriction.lifted_by_id = lifted_by_id
    subject_id = restriction.subject_id
    consent.log_exclusion(subject_id, "analytics", "restriction", excluded=False,
                          categories=list(restriction.categories or []))
    db.session.flush()
    others = db.session.scalar(select(func.count()).select_from(Restriction).where(
        Restriction.subject_id == subject_id, Restriction.lifted_at.is_(None))) or 0
    lifted_training = False
    existing = consent.suppression(subject_id, Purpose.AI_TRAINING)
    if not others and existing is not None and existing.reason == "restriction":
        consent.log_exclusion(subject_id, Purpose.AI_TRAINING.value, "restriction", excluded=False)
        latest = consent.latest(subject_id, Purpose.AI_TRAINING)
        if latest is not None and latest.decision == "withdrawn":
            existing.reason = "consent-withdrawn"  # what kept the data out before the restriction
            consent.log_exclusion(subject_id, Purpose.AI_TRAINING.value, "consent-withdrawn", excluded=True)
        else:
            db.session.delete(existing)
            lifted_training = True
        record("consent:suppression:remove", actor=actor, subject_id=subject_id,
               details={"purpose": Purpose.AI_TRAINING.value, "reason": "restriction"})
    db.session.flush()
    record("requests:restriction:lift", actor=actor, subject_id=subject_id,
           targets={"request": restriction.request_id, "restriction": restriction.id},
           details={"categories": list(restriction.categories or []) or ["all"],
                    "ai_training_lifted": lifted_training})
    from portal.recipients import services as recipients
    from portal.recipients.models import TaskAction

    request = db.session.get(DataRequest, restriction.request_id)
    recipients.open_tasks(subject_id, recipients.Affected(TaskAction.LIFT_RESTRICTION,
                                                          tuple(restriction.categories or ())),
                          request=request, actor=actor)


def suppress(subject_id: str, reason: str, purpose: ProcessingPurpose = ProcessingPurpose.AI_TRAINING) -> None:
    """Put the subject on the suppression list for ``purpose`` (AI training unless named; a
    stronger reason replaces consent's). The exclusions feed reports it."""
    existing = consent.suppression(subject_id, purpose)
    if existing is None:
        db.session.add(Suppression(subject_id=subject_id, purpose=purpose.value, reason=reason))
        consent.log_exclusion(subject_id, purpose.value, reason, excluded=True)
    elif existing.reason == "consent-withdrawn" and reason != existing.reason:
        existing.reason = reason
        consent.log_exclusion(subject_id, purpose.value, reason, excluded=True)
    db.session.flush()
    record("consent:suppression:add", actor=Actor.system(), subject_id=subject_id,
           details={"purpose": purpose.value, "reason": reason})


def complete(request: DataRequest, *, result: dict[str, Any] | None = None, outcome: str | dict[str, Any],
             actor: Actor | None = None) -> None:
    """The portal's own work on ``request`` is done: ``outcome`` is a statement
    (portal.i18n.statements), worded in each reader's language, or a text shown as it is. Each
    recipient system that received the data it concerns is given a task in this same transaction;
    the request then waits for their confirmations (see :func:`finish_after_recipients`), or
    completes at once when there is none."""
    from portal.recipients import services as recipients

    request.result = result
    counts: dict[str, Any] = {f"count_{k}": v for k, v in (result or {}).items() if isinstance(v, int)}
    affected = recipients.affected_by(request)
    tasks = recipients.open_tasks(request.subject_id, affected, request=request) if affected else []
    also = recipients.outcome_sentence(request, tasks)
    if isinstance(outcome, dict):
        request.outcome_statement = {**outcome, "also": [also]} if also else outcome
        request.outcome_legacy = None
    else:
        request.outcome_statement = None
        request.outcome_legacy = outcome + (" " + (render(also) or "") if also else "")
    if tasks:
        _transition(request, S.AWAITING_RECIPIENTS, actor=actor or Actor.system(), actor_role="system",
                    tasks=len(tasks), **counts)
        return
    _transition(request, S.COMPLETED, actor=actor or Actor.system(), actor_role="system", **counts)
    _notify("request_completed", request.subject_id, request)


def finish_after_recipients(request: DataRequest) -> None:
    """Every task of ``request`` is confirmed, or overdue and escalated: it is complete."""
    _transition(request, S.COMPLETED, actor=Actor.system(), actor_role="system", reason="recipients-settled")
    _notify("request_completed", request.subject_id, request)


def notify_queue(template: str, request: DataRequest) -> None:
    """Tell the assignee, or else every DPO of the request's queue (``templates/mail/<template>.txt``)."""
    _notify_queue(template, request)


def fail(request: DataRequest, reason: str) -> None:
    _transition(request, S.FAILED, actor=Actor.system(), actor_role="system", body=reason, visible=False)
    _notify_queue("dpo_failed", request)


# -- legal holds -----------------------------------------------------------------------------------

def active_holds(subject_id: str) -> list[LegalHold]:
    return list(db.session.scalars(select(LegalHold).where(LegalHold.subject_id == subject_id,
                                                           LegalHold.lifted_at.is_(None))
                                   .order_by(LegalHold.placed_at)))


def held_categories(subject_id: str) -> set[str]:
    """The register categories an active legal hold covers for the subject (all, for a hold
    naming none)."""
    holds = active_holds(subject_id)
    return {key for key in _categories() if any(hold.covers(key) for hold in holds)}


@dataclass(frozen=True)
class CategoryErasure:
    """What the latest completed erasure did to one category of a subject's data."""

    reference: str
    completed_at: datetime
    deleted: int
    blocked: int  # kept under a legal hold instead of erased


def erasure_results(subject_id: str) -> dict[str, CategoryErasure]:
    """Per register category, the latest completed erasure that touched it (erased or blocked):
    the dashboard says when and by which request the data went, or that a hold kept it."""
    rows = db.session.execute(
        select(DataRequest, ErasureCount)
        .join(ErasureCount, ErasureCount.request_id == DataRequest.id)
        .where(DataRequest.subject_id == subject_id, DataRequest.type == RequestType.ERASURE,
               DataRequest.state.in_([s.value for s in CARRIED_OUT_STATES]),
               or_(ErasureCount.deleted > 0, ErasureCount.blocked > 0))
        .order_by(func.coalesce(DataRequest.carried_out_at, DataRequest.completed_at), DataRequest.received_at))
    results: dict[str, CategoryErasure] = {}
    for request, count in rows:
        assert request.done_at is not None  # noqa: S101 - filtered above
        results[count.category] = CategoryErasure(request.reference, request.done_at,
                                                  count.deleted, count.blocked)
    return results


def place_hold(subject: Employee, staff: Employee, *, categories: Iterable[str], matter_reference: str,
               reason: str) -> LegalHold:
    if not ({Role.DPO, Role.ADMIN} & staff.role_names):
        raise NotAllowed("Only a DPO or an admin may place a legal hold.")
    chosen = sorted(set(categories))
    known = set(_categories())
    if any(c not in known for c in chosen):
        raise RequestError("Some of the chosen categories do not exist.")
    matter = _clean_text(matter_reference, "A matter reference", limit=80)
    reason = _clean_text(reason, "The reason for the hold")
    hold = LegalHold(id=new_id(), subject_id=subject.id, categories=chosen, matter_reference=matter,
                     placed_by_id=staff.id)
    hold.reason = reason
    db.session.add(hold)
    db.session.flush()
    record("requests:hold:place", actor=Actor("employee", staff.id), subject_id=subject.id,
           targets={"hold": hold.id}, details={"categories": chosen})
    return hold


def lift_hold(hold: LegalHold, staff: Employee) -> None:
    if not ({Role.DPO, Role.ADMIN} & staff.role_names):
        raise NotAllowed("Only a DPO or an admin may lift a legal hold.")
    if hold.lifted_at is not None:
        raise RequestError("This hold has already been lifted.")
    hold.lifted_at = utcnow()
    hold.lifted_by_id = staff.id
    db.session.flush()
    resumed = resume_held_erasures(hold)
    record("requests:hold:lift", actor=Actor("employee", staff.id), subject_id=hold.subject_id,
           targets={"hold": hold.id}, details={"erasures_resumed": resumed})


def resume_held_erasures(hold: LegalHold) -> list[str]:
    """After ``hold`` is lifted: a job for each completed erasure of the person that it kept data
    back from (a category it covered, blocked), unless another active hold still covers all of
    them. The job erases that data and tells the person. Returns the requests' ids."""
    from portal.jobs import services as jobs

    still = active_holds(hold.subject_id)
    resumed = []
    for request in db.session.scalars(select(DataRequest).where(
            DataRequest.subject_id == hold.subject_id, DataRequest.type == RequestType.ERASURE.value,
            DataRequest.state.in_([s.value for s in CARRIED_OUT_STATES]))
            .order_by(DataRequest.completed_at, DataRequest.received_at, DataRequest.id)):
        blocked = db.session.scalars(select(ErasureCount.category).where(ErasureCount.request_id == request.id,
                                                                         ErasureCount.blocked > 0))
        if any(hold.covers(c) and not any(h.covers(c) for h in still) for c in blocked):
            job = jobs.enqueue(ERASURE_AFTER_HOLD_JOB, params={"request_id": request.id, "hold_id": hold.id},
                               owner_id=request.subject_id)
            _audit(request, "resume", Actor.system(), hold=hold.id, job=job.id)
            resumed.append(request.id)
    return resumed


# -- reading ---------------------------------------------------------------------------------------

def requests_of(subject_id: str) -> list[DataRequest]:
    return list(db.session.scalars(select(DataRequest).where(DataRequest.subject_id == subject_id)
                                   .order_by(DataRequest.received_at.desc(), DataRequest.id)))


@dataclass(frozen=True)
class TimelineEntry:
    """An entry of a request's history read from another record than ``request_events`` (the
    lift of the restriction the request placed, from its ``restrictions`` row), with the
    attributes the timeline tables read of a :class:`RequestEvent`."""

    kind: str
    created_at: datetime
    actor_id: str | None
    actor_role: str
    visible_to_requester: bool = True
    from_state: str | None = None
    to_state: str | None = None
    body: str | None = None


RESTRICTION_LIFTED = "restriction_lifted"  # a TimelineEntry's kind: the request's restriction was lifted


def timeline(request: DataRequest, *, for_requester: bool) -> list[RequestEvent | TimelineEntry]:
    """The request's history, oldest first: its events (for the requester, those shown to them)
    and the lift of the restriction it placed, at the moment it was lifted."""
    query = select(RequestEvent).where(RequestEvent.request_id == request.id)
    if for_requester:
        query = query.where(RequestEvent.visible_to_requester.is_(True))
    entries: list[RequestEvent | TimelineEntry] = list(db.session.scalars(query.order_by(RequestEvent.id)))
    restriction = db.session.scalar(select(Restriction).where(Restriction.request_id == request.id))
    if restriction is not None and restriction.lifted_at is not None:
        lifted = TimelineEntry(RESTRICTION_LIFTED, restriction.lifted_at, restriction.lifted_by_id,
                               "dpo" if restriction.lifted_by_id else "system")
        at = next((n for n, e in enumerate(entries) if e.created_at > lifted.created_at), len(entries))
        entries.insert(at, lifted)
    return entries


@dataclass
class QueueFilter:
    state: RequestState | None = None
    type: RequestType | None = None
    jurisdiction: str | None = None
    mine: bool = False
    overdue: bool = False
    due_soon: bool = False
    queue_id: str | None = None
    include_closed: bool = False
    id_prefix: str | None = None  # a reference (R-1A2B3C4D) searched for: the start of the id
    subject_id: str | None = None  # one requester's cases


def queue_query(staff: Employee, flt: QueueFilter, *, today: date | None = None) -> Any:
    """The requests ``staff`` may see, filtered, soonest deadline first."""
    today = today or utcnow().date()
    due = func.coalesce(DataRequest.extended_due_on, DataRequest.due_on)
    query = select(DataRequest).where(DataRequest.channel != Channel.SELF_SERVICE.value)
    if Role.ADMIN not in staff.role_names:
        query = query.where(or_(DataRequest.queue_id.in_(queue_ids_of(staff) or {""}),
                                DataRequest.assignee_id == staff.id))
    if flt.queue_id:
        query = query.where(DataRequest.queue_id == flt.queue_id)
    if flt.id_prefix:
        query = query.where(DataRequest.id.startswith(flt.id_prefix, autoescape=True))
    if flt.subject_id:
        query = query.where(DataRequest.subject_id == flt.subject_id)
    if flt.state:
        query = query.where(DataRequest.state == flt.state)
    elif not flt.include_closed:
        query = query.where(DataRequest.state.in_([s.value for s in OPEN_STATES]))
    if flt.type:
        query = query.where(DataRequest.type == flt.type)
    if flt.jurisdiction:
        query = query.where(DataRequest.jurisdiction == flt.jurisdiction)
    if flt.mine:
        query = query.where(DataRequest.assignee_id == staff.id)
    if flt.overdue:
        query = query.where(due < today, DataRequest.state.in_([s.value for s in OPEN_STATES]))
    if flt.due_soon:
        from datetime import timedelta

        query = query.where(and_(due >= today, due <= today + timedelta(days=7)),
                            DataRequest.state.in_([s.value for s in OPEN_STATES]))
    return query.order_by(due.asc().nulls_last(), DataRequest.received_at, DataRequest.id)


def waiting_for_requester(subject_id: str) -> list[DataRequest]:
    """The person's requests that wait for them (a DPO asked a question), oldest first: the
    dashboard puts them at the top."""
    return list(db.session.scalars(
        select(DataRequest).where(DataRequest.subject_id == subject_id,
                                  DataRequest.state == S.AWAITING_REQUESTER)
        .order_by(DataRequest.received_at, DataRequest.id)))


def role_of(staff: Employee) -> str:
    """The role a member of staff acts in, as the audit log records it."""
    return _role_of(staff)
