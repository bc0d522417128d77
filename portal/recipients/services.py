"""Recipients and their tasks: the records, the tasks an outcome opens, confirmations, escalation.

* :func:`open_tasks` is called by the services that reach an outcome (``rights.services.complete``,
  ``lift_restriction``, consent withdrawn for AI training through ``consent.services``'s withdrawal
  hook), in their transaction: one task per active recipient that received the affected
  categories (or, for an objection or a withdrawal, that uses the data for that purpose).
* Each task is delivered as its recipient says: a signed webhook (``recipients.webhook`` job), an
  e-mail with a confirmation link (``recipients.manual-mail`` job), or left for the recipient to pull
  from the API.
* :func:`confirm` records an answer once: a conditional UPDATE decides, so a confirmation racing a
  retry, or two at once, count once; a repeat changes nothing and is answered with the first.
* A task whose deadline passes unconfirmed is escalated (the DPO is told); a request waiting for
  its recipients completes once each of its tasks is confirmed or escalated.

Services never commit: the caller's request or job does, once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.consent.services import on_withdrawal
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.i18n.statements import renders, statement
from portal.jobs.runners import periodic
from portal.monitoring.models import DataCategory
from portal.rights.models import DataRequest, RequestState, RequestType

from . import signing
from .models import (
    Delivery,
    DeliveryState,
    Outcome,
    Recipient,
    RecipientRole,
    RecipientTask,
    TaskAction,
    TaskState,
)

NAME_MAX = 120
PURPOSE_MAX = 2000
REASON_MAX = 2000
SNAPSHOT_MAX = 120
ROTATION_HOURS = 24  # the old secret still signs this long after a rotation
MARGIN_DAYS = 3  # a task is due this many days before its request
FOLLOW_UP_DAYS = 14  # a task without an open request (a lift, a withdrawal) is due this many days on
WEBHOOK_JOB = "recipients.webhook"
MANUAL_JOB = "recipients.manual-mail"
USES = ("ai_training", "analytics", "security_monitoring")  # processing purposes (consent.models.ProcessingPurpose)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class RecipientError(ValueError):
    """Refused: the message says why. Nothing was changed. ``field`` names the form field at fault,
    when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- recipients -------------------------------------------------------------------------------------

def _clean_name(value: str) -> str:
    name = (value or "").strip()
    if not name:
        raise RecipientError(_("A recipient needs a name."), "name")
    if len(name) > NAME_MAX or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise RecipientError(_("The name must be at most %(count)d characters, without control characters.", count=NAME_MAX), "name")
    return name


def _clean_url(value: str | None) -> str:
    url = (value or "").strip()
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", url) or len(url) > 2048:
        raise RecipientError(_("A webhook needs an http or https address."), "webhook_url")
    return url


@dataclass(frozen=True)
class _Record:
    """A recipient's fields as given, checked and cleaned (``webhook_url`` is None unless it takes webhooks)."""

    name: str
    contact: str
    categories: list[str]
    uses: list[str]
    purpose: str
    role: RecipientRole
    needs_name: bool
    delivery: Delivery
    webhook_url: str | None


def _checked(*, name: str, contact: str, categories: Iterable[str], uses: Iterable[str], purpose: str, role: str,
             delivery: str, webhook_url: str | None, needs_name: bool, other_than: str | None = None) -> _Record:
    """The one set of checks for a recipient's fields, on creation and on an edit (``other_than``:
    the recipient being edited, whose own name is no clash)."""
    clean = _clean_name(name)
    same_name = select(Recipient.id).where(Recipient.name == clean)
    if other_than is not None:
        same_name = same_name.where(Recipient.id != other_than)
    if db.session.scalar(same_name) is not None:
        raise RecipientError(_("A recipient of that name exists already."), "name")
    address = (contact or "").strip()
    if not _EMAIL.match(address):
        raise RecipientError(_("A recipient needs a contact e-mail address."), "contact")
    known = set(db.session.scalars(select(DataCategory.key)))
    chosen = sorted(set(categories))
    if not chosen or any(c not in known for c in chosen):
        raise RecipientError(_("Choose the register categories the recipient receives."), "categories")
    chosen_uses = sorted(set(uses))
    if any(u not in USES for u in chosen_uses):
        raise RecipientError(_("Unknown purpose."), "uses")
    what_for = (purpose or "").strip()
    if not what_for or len(what_for) > PURPOSE_MAX:
        raise RecipientError(_("Say what the recipient uses the data for (at most %(count)d characters).",
                               count=PURPOSE_MAX),
                             "purpose")
    try:
        chosen_role, mode = RecipientRole(role), Delivery(delivery)
    except ValueError:
        raise RecipientError(_("Choose a role and a way to deliver tasks.")) from None
    if needs_name and chosen_role != RecipientRole.INTERNAL:
        raise RecipientError(_("Only an internal team can be told the person's name."), "needs_name")
    url = _clean_url(webhook_url) if mode == Delivery.WEBHOOK else None
    return _Record(clean, address, chosen, chosen_uses, what_for, chosen_role, bool(needs_name), mode, url)


def create_recipient(*, name: str, contact: str, categories: Iterable[str], uses: Iterable[str], purpose: str,
                     role: str, delivery: str, webhook_url: str | None, actor: Actor,
                     needs_name: bool = False) -> tuple[Recipient, str | None]:
    """Record a recipient. Returns it and, for a webhook, its signing secret (shown once)."""
    given = _checked(name=name, contact=contact, categories=categories, uses=uses, purpose=purpose, role=role,
                     delivery=delivery, webhook_url=webhook_url, needs_name=needs_name)
    recipient = Recipient(id=new_id(), name=given.name, categories=given.categories, uses=given.uses,
                          purpose=given.purpose, role=given.role, needs_name=given.needs_name,
                          delivery=given.delivery, active=True)
    recipient.contact = given.contact
    secret = None
    if given.delivery == Delivery.WEBHOOK:
        recipient.webhook_url = given.webhook_url
        secret = signing.new_secret()
        recipient.signing_secret = secret
    db.session.add(recipient)
    db.session.flush()
    record("recipients:recipient:create", actor=actor, targets={"recipient": recipient.id},
           details={"categories": given.categories, "uses": given.uses, "role": given.role.value,
                    "delivery": given.delivery.value, "needs_name": given.needs_name})
    return recipient, secret


EDITABLE = ("name", "contact", "categories", "uses", "purpose", "role", "needs_name", "delivery", "webhook_url")


@dataclass(frozen=True)
class Edit:
    """What an edit did: the names of the fields it changed (in ``EDITABLE``'s order), the new
    signing secret when the recipient came to take webhooks (shown once), the tasks re-routed."""

    changed: tuple[str, ...]
    secret: str | None = None
    rerouted: int = 0


def update_recipient(recipient: Recipient, *, name: str, contact: str, categories: Iterable[str],
                     uses: Iterable[str], purpose: str, role: str, delivery: str, webhook_url: str | None,
                     needs_name: bool, actor: Actor) -> Edit:
    """Change an active recipient's record, checked exactly as on creation; nothing is changed
    when a check fails. Audited with the names of the fields changed, never their values.

    Tasks already given keep what they were given (action, categories, period, deadline): the
    categories and uses decide only which recipients later outcomes reach. What is still to be
    sent goes as the record now says: to the new webhook address or contact, and, when the way of
    delivery changes, each unanswered task not yet delivered is queued again the new way (see
    :func:`_reroute`). Coming to take webhooks makes a signing secret (returned to be shown once);
    leaving them drops the address and every secret: the portal only signs what it sends and never
    checks a signature afterwards (the receiver checks each delivery with its own copy when it
    arrives), so nothing already sent depends on them.
    """
    if not recipient.active:
        raise RecipientError(_("An inactive recipient's record is kept as it was; it cannot be edited."))
    given = _checked(name=name, contact=contact, categories=categories, uses=uses, purpose=purpose, role=role,
                     delivery=delivery, webhook_url=webhook_url, needs_name=needs_name, other_than=recipient.id)
    before = {"name": recipient.name, "contact": recipient.contact, "categories": sorted(recipient.categories),
              "uses": sorted(recipient.uses or []), "purpose": recipient.purpose, "role": recipient.role,
              "needs_name": bool(recipient.needs_name), "delivery": recipient.delivery,
              "webhook_url": recipient.webhook_url}
    changed = tuple(f for f in EDITABLE if before[f] != getattr(given, f))
    if not changed:
        return Edit(())
    was = recipient.delivery
    recipient.name, recipient.categories, recipient.uses = given.name, given.categories, given.uses
    recipient.purpose, recipient.role, recipient.needs_name = given.purpose, given.role, given.needs_name
    if "contact" in changed:
        recipient.contact = given.contact
    recipient.delivery, recipient.webhook_url = given.delivery, given.webhook_url
    details: dict[str, Any] = {"changed": list(changed)}
    secret = None
    if given.delivery == Delivery.WEBHOOK and recipient.secret_sealed is None:
        secret = signing.new_secret()
        recipient.signing_secret = secret
        details["signing"] = "new secret"
    elif given.delivery != Delivery.WEBHOOK and recipient.secret_sealed is not None:
        recipient.secret_sealed = recipient.previous_secret_sealed = None
        recipient.previous_secret_until = None
        details["signing"] = "dropped"
    db.session.flush()
    entry = record("recipients:recipient:edit", actor=actor, targets={"recipient": recipient.id}, details=details)
    rerouted = _reroute(recipient, actor=actor, edit_entry=entry.entry_id) if given.delivery != was else 0
    return Edit(changed, secret, rerouted)


def _queue_delivery(task: RecipientTask, recipient: Recipient) -> None:
    """A webhook or an e-mail for ``task``, as its recipient takes them; a pull recipient lists it."""
    from portal.jobs import services as jobs

    task.delivery_job_id = None
    if recipient.delivery == Delivery.WEBHOOK:
        job = jobs.enqueue(WEBHOOK_JOB, params={"task_id": task.id}, max_attempts=current_settings().webhook_attempts)
        task.delivery_job_id = job.id
    elif recipient.delivery == Delivery.MANUAL:
        if task.link_nonce is None:
            task.link_nonce = secrets.token_hex(16)
        job = jobs.enqueue(MANUAL_JOB, params={"task_id": task.id}, max_attempts=10)
        task.delivery_job_id = job.id


def _reroute(recipient: Recipient, *, actor: Actor, edit_entry: str) -> int:
    """The recipient's way of delivery changed: each unanswered task still waiting to be delivered
    is queued the new way (a job queued the old way finds the recipient changed and sends
    nothing). A delivered task was received and is answered as before; one whose delivery failed
    is the DPO's to send again (:func:`redeliver`)."""
    waiting = list(db.session.scalars(select(RecipientTask).where(
        RecipientTask.recipient_id == recipient.id, RecipientTask.outcome.is_(None),
        RecipientTask.delivery_state == DeliveryState.WAITING.value).order_by(RecipientTask.created_at, RecipientTask.id)))
    for task in waiting:
        _queue_delivery(task, recipient)
        db.session.flush()
        record("recipients:task:reroute", actor=actor, subject_id=task.subject_id,
               targets={"recipient_task": task.id, "recipient": recipient.id,
                        **({"request": task.request_id} if task.request_id else {})},
               details={"delivery": recipient.delivery.value, "edit": edit_entry})
    return len(waiting)


def rotate_secret(recipient: Recipient, *, actor: Actor, now: datetime | None = None) -> str:
    """A new signing secret; the old one keeps signing beside it for ``ROTATION_HOURS``."""
    old = recipient.signing_secret
    if recipient.delivery != Delivery.WEBHOOK or old is None:
        raise RecipientError("Only a webhook recipient has a signing secret.")
    moment = now or utcnow()
    secret = signing.new_secret()
    recipient.previous_signing_secret = old
    recipient.previous_secret_until = moment + timedelta(hours=ROTATION_HOURS)
    recipient.signing_secret = secret
    db.session.flush()
    record("recipients:secret:rotate", actor=actor, targets={"recipient": recipient.id},
           details={"old_valid_hours": ROTATION_HOURS})
    return secret


def secrets_in_force(recipient: Recipient, now: datetime | None = None) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during a rotation."""
    current = recipient.signing_secret
    if current is None:
        return []
    found = [current]
    moment = now or utcnow()
    previous = recipient.previous_signing_secret
    if previous is not None and recipient.previous_secret_until is not None and recipient.previous_secret_until > moment:
        found.append(previous)
    return found


def deactivate(recipient: Recipient, *, actor: Actor) -> None:
    """No new tasks go to it; its open tasks stay as they are (and escalate when overdue)."""
    if not recipient.active:
        raise RecipientError("This recipient is already inactive.")
    recipient.active = False
    db.session.flush()
    record("recipients:recipient:deactivate", actor=actor, targets={"recipient": recipient.id})


def all_recipients() -> list[Recipient]:
    return list(db.session.scalars(select(Recipient).order_by(Recipient.active.desc(), Recipient.name)))


# -- tasks ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Affected:
    """What an outcome touched: the categories (empty: every category), the period, the purpose."""

    action: TaskAction
    categories: tuple[str, ...] = ()
    period: dict[str, Any] | None = None
    purpose: str | None = None  # an objection or a withdrawal: recipients that use the data for it
    correction: dict[str, str] | None = None


def _due(request: DataRequest | None, today: date) -> date:
    due = request.effective_due if request is not None and request.is_open else None
    if due is None:
        return today + timedelta(days=FOLLOW_UP_DAYS)
    return max(today, due - timedelta(days=MARGIN_DAYS))


def _period(scope: dict[str, Any] | None) -> dict[str, Any] | None:
    scope = scope or {}
    if not scope.get("date_from") and not scope.get("date_to"):
        return None
    return {"date_from": scope.get("date_from"), "date_to": scope.get("date_to")}


def affected_by(request: DataRequest) -> Affected | None:
    """What the completed ``request`` asks of the recipients, if anything."""
    kind = request.type
    scope = request.scope or {}
    if kind == RequestType.ERASURE:
        counts = (request.result or {}).get("categories") or {}
        # Categories a legal hold kept back whole were not erased at the portal either.
        held = {k for k, v in counts.items() if isinstance(v, dict) and v.get("blocked") and not v.get("deleted")}
        asked = tuple(scope.get("categories") or ())
        if not asked and not held:
            return Affected(TaskAction.ERASE, (), _period(scope))  # every category
        every = asked or tuple(db.session.scalars(select(DataCategory.key).order_by(DataCategory.sort_order)))
        erased = tuple(c for c in every if c not in held)
        return Affected(TaskAction.ERASE, erased, _period(scope)) if erased else None
    if kind == RequestType.RECTIFICATION:
        details = request.details or {}
        return Affected(TaskAction.RECTIFY, (), None, None,
                        {"wrong": str(details.get("wrong") or ""), "correct": str(details.get("correct") or "")})
    if kind == RequestType.RESTRICTION:
        return Affected(TaskAction.RESTRICT, tuple(scope.get("categories") or ()), _period(scope))
    if kind == RequestType.OBJECTION:
        return Affected(TaskAction.STOP_PROCESSING, (), None, str(scope.get("purpose") or "ai_training"))
    return None


def _receivers(affected: Affected) -> list[tuple[Recipient, list[str]]]:
    found = []
    for recipient in db.session.scalars(select(Recipient).where(Recipient.active.is_(True)).order_by(Recipient.name)):
        if affected.purpose is not None:
            if affected.purpose in (recipient.uses or []):
                found.append((recipient, list(recipient.categories)))
            continue
        shared = [c for c in recipient.categories if not affected.categories or c in affected.categories]
        if shared:
            found.append((recipient, shared))
    return found


def open_tasks(subject_id: str, affected: Affected, *, request: DataRequest | None, actor: Actor | None = None,
               today: date | None = None) -> list[RecipientTask]:
    """One task per recipient the outcome concerns, queued for delivery, in the caller's transaction."""
    day = today or utcnow().date()
    opened = []
    for recipient, categories in _receivers(affected):
        task = RecipientTask(id=new_id(), recipient_id=recipient.id, request_id=request.id if request else None,
                             subject_id=subject_id, action=affected.action, categories=categories,
                             period=affected.period, due_on=_due(request, day), state=TaskState.OPEN,
                             delivery_state=DeliveryState.WAITING)
        if affected.correction is not None:
            task.correction = affected.correction
        if recipient.delivery == Delivery.MANUAL:
            task.link_nonce = secrets.token_hex(16)
        db.session.add(task)
        db.session.flush()
        _queue_delivery(task, recipient)
        record("recipients:task:open", actor=actor or Actor.system(), subject_id=subject_id,
               targets={"recipient_task": task.id, "recipient": recipient.id,
                        **({"request": request.id} if request else {})},
               details={"action": str(affected.action), "categories": categories, "due": task.due_on.isoformat(),
                        "delivery": str(recipient.delivery)})
        opened.append(task)
    return opened


def tasks_of_request(request_id: str) -> list[RecipientTask]:
    return list(db.session.scalars(select(RecipientTask).where(RecipientTask.request_id == request_id)
                                   .order_by(RecipientTask.created_at, RecipientTask.id)))


def recipient_names(tasks: Iterable[RecipientTask]) -> dict[str, Recipient]:
    ids = {t.recipient_id for t in tasks}
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(Recipient).where(Recipient.id.in_(ids)))}


def gating(request: DataRequest) -> list[RecipientTask]:
    """The tasks the request waits for: those its own outcome opened (a later lift's do not count)."""
    return [t for t in tasks_of_request(request.id) if t.action != TaskAction.LIFT_RESTRICTION]


@dataclass(frozen=True)
class Confirmation:
    task: RecipientTask
    first: bool  # False: it was confirmed before; nothing changed


def confirm(task: RecipientTask, outcome: str, *, reason: str | None = None, rows_deleted: int | None = None,
            snapshot_id: str | None = None, via: str, actor: Actor, now: datetime | None = None) -> Confirmation:
    """Record the recipient's answer, once. A second answer (or one racing a retry) changes nothing."""
    try:
        answer = Outcome(outcome)
    except ValueError:
        raise RecipientError("The outcome is done, not_applicable or refused.") from None
    why = (reason or "").strip()
    if answer == Outcome.REFUSED and not why:
        raise RecipientError("A refusal needs a reason.")
    if len(why) > REASON_MAX:
        raise RecipientError(f"The reason is longer than {REASON_MAX} characters.")
    if rows_deleted is not None and (isinstance(rows_deleted, bool) or rows_deleted < 0):
        raise RecipientError("rows_deleted is a whole number, 0 or more.")
    snapshot = (snapshot_id or "").strip() or None
    if snapshot is not None and len(snapshot) > SNAPSHOT_MAX:
        raise RecipientError(f"snapshot_id is longer than {SNAPSHOT_MAX} characters.")
    details: dict[str, Any] = {}
    if rows_deleted is not None:
        details["rows_deleted"] = rows_deleted
    if snapshot is not None:
        details["snapshot_id"] = snapshot
    moment = now or utcnow()
    won = db.session.execute(  # type: ignore[attr-defined]  # CursorResult
        update(RecipientTask).where(RecipientTask.id == task.id, RecipientTask.outcome.is_(None))
        .values(outcome=answer.value, confirmed_at=moment, confirmed_via=via, details=details or None,
                state=TaskState.CONFIRMED.value,
                reason_sealed=RecipientTask.reason.seal(task, why) if why else None)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(task)
    if won != 1:
        return Confirmation(task, first=False)
    entry = record("recipients:task:confirm", actor=actor, subject_id=task.subject_id,
                   targets={"recipient_task": task.id, "recipient": task.recipient_id,
                            **({"request": task.request_id} if task.request_id else {})},
                   details={"outcome": answer.value, "via": via, **details})
    task.confirm_entry_id = entry.entry_id  # the task names its audit entry
    db.session.flush()
    request = db.session.get(DataRequest, task.request_id) if task.request_id else None
    if request is not None:
        settle(request)
    return Confirmation(task, first=True)


def settle(request: DataRequest) -> bool:
    """Complete a request that waits for its recipients once each task is confirmed or escalated."""
    if request.state != RequestState.AWAITING_RECIPIENTS:
        return False
    if not all(t.settled for t in gating(request)):
        return False
    from portal.rights import services as rights

    rights.finish_after_recipients(request)
    return True


def escalate_overdue(today: date | None = None) -> int:
    """Tasks past their deadline without an answer: escalated, audited, the DPO told; then each
    request that waited for them is settled."""
    from portal.rights import services as rights

    day = today or utcnow().date()
    count = 0
    for task in db.session.scalars(select(RecipientTask).where(
            RecipientTask.state == TaskState.OPEN.value, RecipientTask.due_on < day)
            .order_by(RecipientTask.due_on, RecipientTask.id).with_for_update(skip_locked=True)).all():
        task.state = TaskState.ESCALATED
        task.escalated_at = utcnow()
        record("recipients:task:escalate", actor=Actor.system(), subject_id=task.subject_id,
               targets={"recipient_task": task.id, "recipient": task.recipient_id,
                        **({"request": task.request_id} if task.request_id else {})},
               details={"due": task.due_on.isoformat()})
        request = db.session.get(DataRequest, task.request_id) if task.request_id else None
        if request is not None:
            rights.notify_queue("dpo_recipient_overdue", request)
            settle(request)
        count += 1
    return count


@periodic(every=3600)
def escalate() -> None:
    escalate_overdue()
    db.session.commit()


def overdue_tasks() -> list[RecipientTask]:
    """What the DPO queue shows: escalated and still unanswered, or undeliverable, oldest deadline first."""
    return list(db.session.scalars(select(RecipientTask).where(
        (RecipientTask.state == TaskState.ESCALATED.value)
        | ((RecipientTask.state == TaskState.OPEN.value)
           & RecipientTask.delivery_state.in_([DeliveryState.DEAD.value, DeliveryState.GONE.value])))
        .order_by(RecipientTask.due_on, RecipientTask.id)))


def outcome_sentence(request: DataRequest, tasks: list[RecipientTask]) -> dict[str, Any] | None:
    """What the request's outcome adds about its recipients: a statement stored with the outcome
    (portal.i18n.statements), worded in each reader's language."""
    if not tasks:
        return None
    names = [r.name for r in sorted(recipient_names(tasks).values(), key=lambda r: r.name)]
    return statement(TASKS_GIVEN, names=names, due=max(t.due_on for t in tasks).isoformat())


TASKS_GIVEN = "recipients.tasks-given"


@renders(TASKS_GIVEN)
def _tasks_given(params: Mapping[str, Any]) -> str:
    from portal.i18n import format_date

    return _("The teams and systems that received this data (%(names)s) have each been given a task to do the "
             "same with their copy, to be confirmed by %(due)s; this request is complete once each has confirmed, "
             "or the Data Protection Officer has taken up any that did not answer in time.",
             names=", ".join(params.get("names") or ()), due=format_date(date.fromisoformat(str(params["due"]))))


@on_withdrawal
def _consent_withdrawn(subject_id: str, purpose: Any) -> None:
    """Consent to AI training withdrawn: each recipient that trains on the data is told to stop."""
    if str(purpose) != "ai_training":
        return
    open_tasks(subject_id, Affected(TaskAction.STOP_TRAINING, (), None, "ai_training"), request=None)


@dataclass(frozen=True)
class Row:
    """A task with its recipient, for the pages, certificate and evidence pack."""

    task: RecipientTask
    recipient: Recipient


def rows_of_request(request_id: str) -> list[Row]:
    tasks = tasks_of_request(request_id)
    recipients = recipient_names(tasks)
    return [Row(t, recipients[t.recipient_id]) for t in tasks]


def redeliver(task: RecipientTask, staff: Any, *, actor: Actor) -> None:
    """A delivery that died or met 410 is sent again (say, after the recipient fixed its
    endpoint), by a DPO who may work the task's request. Nothing changes for an answered task."""
    from portal.rights import services as rights

    request = db.session.get(DataRequest, task.request_id) if task.request_id else None
    if request is None or not rights.may_work(staff, request):
        raise RecipientError("Only a DPO of this request's queue may send a task again.")
    if task.outcome is not None or task.delivery_state not in (DeliveryState.DEAD, DeliveryState.GONE):
        raise RecipientError("Only an unanswered task whose delivery failed can be sent again.")
    recipient = db.session.get(Recipient, task.recipient_id)
    assert recipient is not None  # noqa: S101 - the foreign key cascades
    task.delivery_state, task.delivery_error = DeliveryState.WAITING, None
    _queue_delivery(task, recipient)  # as the recipient takes tasks now (it may have been edited since)
    db.session.flush()
    record("recipients:task:redeliver", actor=actor, subject_id=task.subject_id,
           targets={"recipient_task": task.id, "recipient": task.recipient_id, "request": request.id})
