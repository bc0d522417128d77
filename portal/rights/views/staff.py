"""The DPO's pages: the queue, the case, the subject-data summary, legal holds.

Every case is loaded through :func:`_case_or_404`: a case this member of staff may not view (a DPO
of another queue) is answered 404 and the attempt audited, exactly as one that does not exist.
Each POST loads, checks, calls one service function, commits, flashes and redirects back; a
refusal rolls back, flashes the reason and shows the page again with 400 (409 when the case moved
on under the person: someone claimed it first, or its state no longer allows the step).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from portal.audit.services import Actor, record
from portal.auth.models import SsoIdentity
from portal.auth.stepup import fresh_sign_in_required
from portal.db import utcnow
from portal.extensions import db
from portal.forms import ButtonForm
from portal.i18n import ground_wording
from portal.i18n.statements import statement
from portal.jurisdictions import regime_for
from portal.monitoring import access as access_log
from portal.monitoring.aggregates import zone_of
from portal.monitoring.models import DataCategory
from portal.people.models import Employee, Role
from portal.people.services import JURISDICTION, find_by_email
from portal.recipients import services as recipients
from portal.rights import deadlines, restrictions, routing
from portal.rights import services as rights
from portal.rights import summary as subject_data
from portal.rights.cases import case_or_404
from portal.rights.models import (
    CLOSED_STATES,
    OPEN_STATES,
    Channel,
    DataRequest,
    LegalHold,
    Queue,
    RequestState,
    RequestType,
)
from portal.security import Permission, refuse_access, requires

from .staff_forms import (
    ApproveForm,
    AskForm,
    AssignForm,
    BulkAssignForm,
    DataPurposeForm,
    ExtendForm,
    HoldForm,
    LiftHoldForm,
    MessageForm,
    NoteForm,
    RejectForm,
)

bp = Blueprint("dpo", __name__, url_prefix="/dpo")

PAGE_SIZE = 50
S = RequestState

# The staff's labels, the same on every page, e-mail and report staff read (services.STAFF_STATE_LABELS).
STAFF_STATE_LABELS: dict[str, str] = {state.value: label for state, label in rights.STAFF_STATE_LABELS.items()}
TYPE_NAMES: dict[str, str] = {t.value: label for t, label in rights.STAFF_TYPE_LABELS.items()}
CHANNEL_LABELS: dict[str, Any] = {
    Channel.PORTAL.value: _l("Signed in to the portal through the company's SSO"),
    Channel.VERIFIED.value: _l("Identity: personal e-mail code (a former employee, without SSO: a one-time code "
                               "sent to the personal e-mail address on record)"),
    Channel.SELF_SERVICE.value: _l("Self-service in the portal"),
}
TRUE_VALUES = {"1", "true", "on", "yes"}
FALSE_VALUES = {"", "0", "false", "off", "no"}


@bp.context_processor
def case_labels() -> dict[str, Any]:
    """The wording of states, types, grounds and channels that staff case pages use (a context
    processor here and on the evidence pages)."""
    return {"state_labels": STAFF_STATE_LABELS, "type_names": TYPE_NAMES, "type_labels": TYPE_NAMES,
            "ground_label": ground_wording,
            "channel_labels": CHANNEL_LABELS, "closed_states": {s.value for s in CLOSED_STATES}}


# -- shared helpers ---------------------------------------------------------------------------------

def _today() -> date:
    return utcnow().date()


def _role() -> str:
    """The role in which the signed-in member of staff acts on a case."""
    return "dpo" if Role.DPO in current_user.role_names else "admin"


def _case_or_404(request_id: str) -> DataRequest:
    """The case as the signed-in member of staff may view it (:func:`portal.rights.cases.case_or_404`)."""
    return case_or_404(current_user, request_id)


def _names(ids: Iterable[str | None]) -> dict[str, str]:
    """Display names of employees (staff names are fine for staff), one query for all of them."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {e.id: e.display_name for e in db.session.scalars(select(Employee).where(Employee.id.in_(wanted)))}


def _count(query: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _form_errors(form: FlaskForm) -> str:
    return " ".join(str(m) for messages in form.errors.values() for m in messages)


def reference_of(request_id: str) -> str:
    return f"R-{request_id[:8].upper()}"


# -- the queue --------------------------------------------------------------------------------------

@dataclass
class QueueArgs:
    """The queue's filters as read from the query string: the filter, the values to keep in links,
    and a notice for each value that was not understood (and ignored)."""

    filter: rights.QueueFilter
    values: dict[str, str]
    notices: list[str]
    page: int
    sort: str = "due"
    descending: bool = False


# The queue's sortable columns: what each sorts by (the id last, so that pages never overlap).
SORTS: dict[str, Callable[[], Any]] = {
    "due": lambda: func.coalesce(DataRequest.extended_due_on, DataRequest.due_on),
    "received": lambda: DataRequest.received_at,
    "reference": lambda: DataRequest.id,
    "type": lambda: DataRequest.type,
    "state": lambda: DataRequest.state,
    "jurisdiction": lambda: DataRequest.jurisdiction,
}
REFERENCE = re.compile(r"^(?:R-?)?([0-9a-f]{4,32})$", re.IGNORECASE)


def _search(text: str, flt: rights.QueueFilter, notices: list[str]) -> bool:
    """A reference (R-1A2B3C4D, or its start) or a requester's whole e-mail address. Looking a
    person up by address is audited, since it tells which cases are theirs."""
    if found := REFERENCE.match(text):
        flt.id_prefix = found.group(1).lower()
        return True
    if "@" in text:
        person = find_by_email(text)
        flt.subject_id = person.id if person is not None else "-"
        record("dpo:queue:search-requester", actor=Actor(rights.role_of(current_user), current_user.id),
               subject_id=person.id if person is not None else None, details={"found": person is not None})
        db.session.commit()
        return True
    notices.append(_("Search by a reference (R-1A2B3C4D) or a requester's whole e-mail address; “%(value)s” is "
                     "neither, so it was ignored.", value=text[:40]))
    return False


def _flag(args: Mapping[str, str], name: str, label: str, notices: list[str]) -> bool:
    value = (args.get(name) or "").strip().lower()
    if value in TRUE_VALUES:
        return True
    if value not in FALSE_VALUES:
        notices.append(_("The “%(name)s” filter takes yes or no; it was ignored.", name=label))
    return False


def _queue_args(args: Mapping[str, str], visible_queues: dict[str, str]) -> QueueArgs:
    notices: list[str] = []
    flt = rights.QueueFilter()
    values: dict[str, str] = {}
    state = (args.get("state") or "").strip()
    if state == "all":
        flt.include_closed = True
        values["state"] = state
    elif state in STAFF_STATE_LABELS:
        flt.state = RequestState(state)
        values["state"] = state
    elif state:
        notices.append(_("There is no state “%(value)s”; that filter was ignored.", value=state[:40]))
    kind = (args.get("type") or "").strip()
    if kind in TYPE_NAMES:
        flt.type, values["type"] = RequestType(kind), kind
    elif kind:
        notices.append(_("There is no request type “%(value)s”; that filter was ignored.", value=kind[:40]))
    jurisdiction = (args.get("jurisdiction") or "").strip().upper()
    if jurisdiction and JURISDICTION.match(jurisdiction):
        flt.jurisdiction = values["jurisdiction"] = jurisdiction
    elif jurisdiction:
        notices.append(_("“%(value)s” is not a jurisdiction (ES, US-CA, …); that filter was ignored.",
                         value=jurisdiction[:40]))
    queue_id = (args.get("queue") or "").strip()
    if queue_id in visible_queues:
        flt.queue_id = values["queue"] = queue_id
    elif queue_id:
        notices.append(_("That queue is not one of yours; the queue filter was ignored."))
    for name, label in (("mine", _("assigned to me")), ("overdue", _("overdue")),
                        ("due_soon", _("due within 7 days"))):
        if _flag(args, name, label, notices):
            setattr(flt, name, True)
            values[name] = "1"
    if _flag(args, "who", _("show who asked"), notices):
        values["who"] = "1"
    text = (args.get("q") or "").strip()
    if text and _search(text, flt, notices):
        values["q"] = text
    sort = (args.get("sort") or "").strip()
    if sort and sort not in SORTS:
        notices.append(_("The cases cannot be sorted by “%(value)s”; they are sorted by deadline.", value=sort[:40]))
        sort = ""
    if sort:
        values["sort"] = sort
    descending = (args.get("dir") or "").strip() == "desc"
    if descending and sort:
        values["dir"] = "desc"
    raw_page = (args.get("page") or "").strip()
    page = 1
    if raw_page:
        if raw_page.isdigit() and int(raw_page) >= 1:
            page = int(raw_page)
        else:
            notices.append(_("“%(value)s” is not a page number; showing the first page.", value=raw_page[:20]))
    return QueueArgs(flt, values, notices, page, sort or "due", descending and bool(sort))


def _visible_queues() -> dict[str, str]:
    """The queues this member of staff may filter by: every queue for an admin, one's own for a DPO."""
    query = select(Queue.id, Queue.name).order_by(func.lower(Queue.name))
    if Role.ADMIN not in current_user.role_names:
        query = query.where(Queue.id.in_(rights.queue_ids_of(current_user) or {""}))
    return dict(db.session.execute(query).tuples().all())


def _visible_jurisdictions(today: date) -> list[str]:
    """The jurisdictions of the cases this person may see (for the filter's choices)."""
    seen = rights.queue_query(current_user, rights.QueueFilter(include_closed=True), today=today)
    sub = seen.order_by(None).subquery()
    return sorted(db.session.scalars(select(sub.c.jurisdiction).distinct()))


def _queue_counts(today: date) -> dict[str, Any]:
    """Counts over everything this person may see, whatever the filters."""
    seen = rights.queue_query(current_user, rights.QueueFilter(include_closed=True), today=today)
    sub = seen.order_by(None).subquery()
    per_state = dict(db.session.execute(select(sub.c.state, func.count()).group_by(sub.c.state)).tuples().all())
    return {
        "states": per_state,
        "open": sum(n for s, n in per_state.items() if s in {o.value for o in OPEN_STATES}),
        "overdue": _count(rights.queue_query(current_user, rights.QueueFilter(overdue=True), today=today)),
        "due_soon": _count(rights.queue_query(current_user, rights.QueueFilter(due_soon=True), today=today)),
        "mine": _count(rights.queue_query(current_user, rights.QueueFilter(mine=True), today=today)),
    }


def page_numbers(page: int, pages: int) -> list[int | None]:
    """Page links to show: the first, the last and two either side of the current (None: a gap)."""
    keep = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for n in keep:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


@bp.get("/queue")
@requires(Permission.REQUESTS_REVIEW)
def queue() -> str:
    today = _today()
    visible_queues = _visible_queues()
    parsed = _queue_args(request.args, visible_queues)
    query = rights.queue_query(current_user, parsed.filter, today=today)
    total = _count(query)
    if parsed.sort != "due" or parsed.descending:
        column = SORTS[parsed.sort]()
        query = query.order_by(None).order_by(column.desc().nulls_last() if parsed.descending
                                              else column.asc().nulls_last(), DataRequest.id)
    pages = max(1, -(-total // PAGE_SIZE))
    if parsed.page > pages:
        parsed.notices.append(_("There is no page %(n)s; showing the last page.", n=parsed.page))
    page = min(parsed.page, pages)
    cases = list(db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    subjects = {c.subject_id for c in cases}
    requesters = _requesters_shown(cases, page) if parsed.values.get("who") else {}
    held = set(db.session.scalars(select(LegalHold.subject_id).where(
        LegalHold.subject_id.in_(subjects or {""}), LegalHold.lifted_at.is_(None))))
    return render_template(
        "rights/staff/queue.html", cases=cases, total=total, page=page, pages=pages,
        page_links=page_numbers(page, pages), values=parsed.values, notices=parsed.notices,
        filtered=bool(parsed.values), counts=_queue_counts(today), queues=visible_queues,
        names=_names(c.assignee_id for c in cases), held=held, today=today, reference_of=reference_of,
        days_left=deadlines.days_left, zone=zone_of(current_user.timezone), page_size=PAGE_SIZE,
        jurisdictions=_visible_jurisdictions(today), sort=parsed.sort, descending=parsed.descending,
        requesters=requesters, bulk_form=_bulk_form(bound=False), back=urlencode(parsed.values),
        overdue_tasks=_overdue_tasks(),
    )


QUEUE_PURPOSE = "working the queue"


def _requesters_shown(cases: list[DataRequest], page: int) -> dict[str, str]:
    """Who asked, for the cases of the page: it tells who exercised their rights, so each page
    view that shows it is audited (one entry: the cases shown, the purpose), like a search by
    e-mail. Reading it is the only thing this GET writes."""
    if not cases:
        return {}
    record("dpo:queue:requesters-shown", actor=Actor(rights.role_of(current_user), current_user.id),
           targets={"requests": [c.id for c in cases]},
           details={"purpose": QUEUE_PURPOSE, "page": page, "shown": len({c.subject_id for c in cases})})
    db.session.commit()
    return _names(c.subject_id for c in cases)


def _bulk_assignees() -> list[SelectChoice]:
    """The DPOs of the queues this person sees: those the chosen cases may be given to (each case
    is checked against its own queue when assigned)."""
    members = {m.id: m for queue_id in _visible_queues() for m in routing.dpo_members_of(queue_id)}
    you = _("you")
    return [SelectChoice("", _("Choose…"))] + [
        SelectChoice(m.id, f"{m.display_name} ({you})" if m.id == current_user.id else m.display_name)
        for m in sorted(members.values(), key=lambda m: m.display_name.lower())]


def _bulk_form(*, bound: bool = True) -> BulkAssignForm:
    form = BulkAssignForm() if bound else BulkAssignForm(formdata=None)
    form.assignee.choices = _bulk_assignees()
    return form


BULK_REFUSALS = {
    "not-yours": _l("not a case you may assign"),
    "about-you": _l("about you: nobody works a request about themselves"),
    "about-assignee": _l("about the person chosen: nobody works a request about themselves"),
    "closed": _l("closed"),
    "not-in-queue": _l("the person chosen is not a DPO of its queue"),
    "already": _l("already assigned to that person"),
}


def _back_to_queue(back: str) -> Response:
    """The queue as it was (its filters, sort and page), from the form's ``back``; anything else
    in it is dropped."""
    kept: dict[str, Any] = {k: v for k, v in parse_qsl(back or "")[:20]
            if k in {"state", "type", "jurisdiction", "queue", "mine", "overdue", "due_soon", "q", "sort", "dir",
                     "page", "who"}}
    return redirect(url_for("dpo.queue", **kept))


@bp.post("/queue/assign")
@requires(Permission.REQUESTS_REVIEW)
def bulk_assign() -> Response:
    """Give the chosen cases to one DPO: each assignment audited, each refusal too (and said)."""
    back = request.form.get("back", "")
    chosen = list(dict.fromkeys(request.form.getlist("cases")))[:rights.MAX_BULK]
    cases = [_case_or_404(request_id) for request_id in chosen]  # any case not theirs: 404, audited
    form = _bulk_form()
    if not form.validate_on_submit():
        flash(_("Nothing was assigned: %(errors)s", errors=_form_errors(form)), "error")
        return _back_to_queue(back)
    if not chosen:
        flash(_("Nothing was assigned: choose at least one case with its checkbox."), "error")
        return _back_to_queue(back)
    assignee = db.session.get(Employee, form.assignee.data)
    if assignee is None:
        flash(_("Nothing was assigned: choose a DPO to give the cases to."), "error")
        return _back_to_queue(back)
    done = rights.assign_many(current_user, cases, assignee)
    db.session.commit()
    if done.assigned:
        flash(ngettext("%(num)s case is now assigned to %(name)s: %(refs)s.",
                       "%(num)s cases are now assigned to %(name)s: %(refs)s.", len(done.assigned),
                       name=assignee.display_name, refs=", ".join(done.assigned)), "success")
    if done.refused:
        flash(ngettext("%(num)s case was not assigned: %(cases)s.", "%(num)s cases were not assigned: %(cases)s.",
                       len(done.refused), cases="; ".join(f"{ref} ({BULK_REFUSALS[why]})" for ref, why in done.refused)),
              "error")
    return _back_to_queue(back)


def _overdue_tasks() -> list[recipients.Row]:
    """Recipient tasks past their deadline unanswered, or undeliverable, on the cases this person
    may see (the DPO queue lists them above the cases)."""
    tasks = [t for t in recipients.overdue_tasks() if t.request_id]
    cases = {c.id: c for c in db.session.scalars(select(DataRequest).where(
        DataRequest.id.in_({t.request_id for t in tasks} or {""})))}
    visible = [t for t in tasks if t.request_id in cases and rights.may_view(current_user, cases[t.request_id])]
    found = recipients.recipient_names(visible)
    return [recipients.Row(t, found[t.recipient_id]) for t in visible]


# -- the case page ----------------------------------------------------------------------------------

@dataclass
class Extension:
    possible: bool
    why: str
    new_due: date | None


def _extension(case: DataRequest, today: date) -> Extension:
    if case.due_on is None:
        return Extension(False, _("this request has no deadline"), None)
    if not case.is_open:
        return Extension(False, _("the request is closed"), None)
    origin = rights.deadline_origin(case)
    allowed, why = deadlines.can_extend(origin.jurisdiction, case.type, origin.received_at.date(), today,
                                        case.extended_due_on is not None)
    if not allowed:
        return Extension(False, why, None)
    return Extension(True, "", deadlines.extended_due(origin.jurisdiction, case.type,
                                                      origin.received_at.date()))


def _timers(case: DataRequest, events: list[Any]) -> list[deadlines.TimerDate]:
    """The regime's further time limits of an open case (Ley 1581 Art. 15's), as dates; the one
    counted from a request to complete the claim only while the requester is being asked."""
    if not case.is_open:
        return []
    asked = None
    if case.state == S.AWAITING_REQUESTER:
        asked = next((e.created_at.date() for e in reversed(events)
                      if e.to_state == S.AWAITING_REQUESTER.value), None)
    return deadlines.timers(case.jurisdiction, case.type, case.received_at.date(), asked)


def _assignee_choices(case: DataRequest) -> list[SelectChoice]:
    members = [m for m in routing.dpo_members_of(case.queue_id) if m.id != case.assignee_id]
    you = _("you")
    return [SelectChoice("", _("Choose…"))] + [
        SelectChoice(m.id, f"{m.display_name} ({you})" if m.id == current_user.id else m.display_name)
        for m in members]


def _blank(form_class: type[FlaskForm]) -> FlaskForm:
    """A form not bound to the request's data (the page shows several; only one was sent)."""
    return form_class(formdata=None)


def case_page(case: DataRequest, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    """The case page of ``case`` for the signed-in member of staff, with ``forms`` as submitted
    (their errors shown) and the others blank; also what the evidence pages answer with."""
    today = _today()
    subject = db.session.get(Employee, case.subject_id)
    assert subject is not None  # noqa: S101 - the foreign key cascades
    events = rights.timeline(case, for_requester=False)
    approvals = rights.approvals_of(case)
    may_work = rights.may_work(current_user, case)
    may_approve, approve_why = rights.may_approve(current_user, case)
    state = case.state
    assign_form = forms.get("assign") or _blank(AssignForm)
    assign_form.assignee.choices = _assignee_choices(case)
    reject_form = forms.get("reject") or _blank(RejectForm)
    reject_form.set_grounds(rights.refusal_grounds(case))
    approve_form = forms.get("approve") or _blank(ApproveForm)
    approve_form.set_erasure_grounds(rights.erasure_grounds(case))
    regime = regime_for(case.jurisdiction)
    due = case.effective_due
    names = _names([case.assignee_id, case.decided_by_id, case.extended_by_id, *(e.actor_id for e in events),
                    *(a.approver_id for a in approvals)])
    names[subject.id] = subject.display_name
    queue_row = db.session.get(Queue, case.queue_id) if case.queue_id else None
    categories = {c.key: c.name for c in db.session.scalars(select(DataCategory))}
    repeats = list(db.session.scalars(select(DataRequest.id).where(DataRequest.duplicate_of_id == case.id)))
    restriction = restrictions.of_request(case.id)
    can = {
        "claim": may_work and case.assignee_id is None and state in OPEN_STATES,
        "assign": (may_work or Role.ADMIN in current_user.role_names) and state not in CLOSED_STATES
        and len(assign_form.assignee.choices) > 1,
        "review": may_work and state == S.OPEN,
        "ask": may_work and state == S.IN_REVIEW,
        "message": may_work and state not in CLOSED_STATES,
        "note": may_work,
        "reject": may_work and (state, S.REJECTED) in rights.TRANSITIONS,
        "extend": may_work and case.is_open and case.due_on is not None,
        "retry": may_work and state == S.FAILED,
        "approve_shown": state == S.IN_REVIEW,
        "lift": may_work and restriction is not None and restriction.lifted_at is None,
    }
    return render_template(
        "rights/staff/case.html", case=case, subject=subject, details=case.details or {}, scope=case.scope or {},
        identities=list(db.session.scalars(select(SsoIdentity).where(SsoIdentity.employee_id == subject.id)
                                           .order_by(SsoIdentity.created_at))),
        holds=rights.active_holds(case.subject_id), approvals=approvals, events=events, names=names,
        queue=queue_row, categories=categories, can=can, may_work=may_work, may_approve=may_approve,
        approve_why=approve_why, extension=_extension(case, today), today=today, due=due,
        days_left=deadlines.days_left(due, today) if due else None, repeats=repeats, reference_of=reference_of,
        zone=zone_of(current_user.timezone), button=ButtonForm(formdata=None), assign_form=assign_form,
        ask_form=forms.get("ask") or _blank(AskForm), message_form=forms.get("message") or _blank(MessageForm),
        note_form=forms.get("note") or _blank(NoteForm), approve_form=approve_form,
        erasure_ground=regime.erasure_ground(case.erasure_ground),
        reject_form=reject_form, regime=regime, rule=regime.rule(case.type), timers=_timers(case, events),
        extend_form=forms.get("extend") or _blank(ExtendForm), restriction=restriction,
        objection_labels=rights.STAFF_OBJECTION_LABELS, recipient_rows=recipients.rows_of_request(case.id),
    ), status


@bp.get("/requests/<request_id>")
@requires(Permission.REQUESTS_REVIEW)
def case(request_id: str) -> tuple[str, int]:
    return case_page(_case_or_404(request_id))


def _act(case: DataRequest, form: FlaskForm, form_key: str, step: Callable[[], str]) -> Response | tuple[str, int]:
    """Validate ``form``, run the one service call ``step`` (which returns what to tell the user),
    commit and go back to the case; or roll back and show the case again with the reason."""
    if not form.validate_on_submit():
        db.session.rollback()
        flash(_("Nothing was changed: %(errors)s", errors=_form_errors(form)), "error")
        return case_page(case, 400, **{form_key: form})
    try:
        message = step()
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        conflict = isinstance(error, rights.AlreadyClaimed | rights.IllegalTransition)
        return case_page(case, 409 if conflict else 400, **{form_key: form})
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("dpo.case", request_id=case.id))


@bp.post("/requests/<request_id>/claim")
@requires(Permission.REQUESTS_REVIEW)
def claim(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)

    def step() -> str:
        rights.claim(case, current_user)
        return _("You have taken this case.")

    return _act(case, ButtonForm(), "button", step)


@bp.post("/requests/<request_id>/assign")
@requires(Permission.REQUESTS_REVIEW)
def assign(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = AssignForm()
    form.assignee.choices = _assignee_choices(case)

    def step() -> str:
        assignee = db.session.get(Employee, form.assignee.data)
        if assignee is None:
            raise rights.RequestError(_("A case can only be given to a DPO of its queue."))
        rights.assign(case, current_user, assignee)
        return _("The case is now assigned to %(name)s.", name=assignee.display_name)

    return _act(case, form, "assign", step)


@bp.post("/requests/<request_id>/review")
@requires(Permission.REQUESTS_REVIEW)
def review(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)

    def step() -> str:
        rights.start_review(case, current_user)
        return _("The case is in review.")

    return _act(case, ButtonForm(), "button", step)


@bp.post("/requests/<request_id>/ask")
@requires(Permission.REQUESTS_REVIEW)
def ask(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = AskForm()

    def step() -> str:
        rights.ask_requester(case, current_user, form.message.data or "")
        return _("Your question was sent; the case waits for the requester's answer.")

    return _act(case, form, "ask", step)


@bp.post("/requests/<request_id>/message")
@requires(Permission.REQUESTS_REVIEW)
def message(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = MessageForm()

    def step() -> str:
        rights.message_requester(case, current_user, form.message.data or "")
        return _("Your message was sent to the requester.")

    return _act(case, form, "message", step)


@bp.post("/requests/<request_id>/note")
@requires(Permission.REQUESTS_REVIEW)
def note(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = NoteForm()

    def step() -> str:
        rights.add_note(case, current_user, form.note.data or "")
        return _("Your internal note was added.")

    return _act(case, form, "note", step)


@bp.post("/requests/<request_id>/approve")
@requires(Permission.REQUESTS_APPROVE)
@fresh_sign_in_required(back="dpo.case")
def approve(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = ApproveForm()
    form.set_erasure_grounds(rights.erasure_grounds(case))

    def step() -> str:
        if rights.approve(case, current_user, form.note.data or "", form.erasure_ground.data or None):
            return _("The request is approved and is being carried out.")
        return _("Your approval is recorded. A second approval, by another person, is needed before the erasure "
                 "starts.")

    return _act(case, form, "approve", step)


@bp.post("/requests/<request_id>/reject")
@requires(Permission.REQUESTS_REVIEW)
def reject(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = RejectForm()
    form.set_grounds(rights.refusal_grounds(case))

    def step() -> str:
        rights.reject(case, current_user, form.legal_basis.data or "", form.reasons.data or "")
        return _("The request is refused; the requester has been told why.")

    return _act(case, form, "reject", step)


@bp.post("/requests/<request_id>/extend")
@requires(Permission.REQUESTS_REVIEW)
def extend(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    form = ExtendForm()

    def step() -> str:
        new_due = rights.extend(case, current_user, form.reason.data or "")
        return _("The deadline is extended to %(date)s; the requester has been told why.", date=new_due.isoformat())

    return _act(case, form, "extend", step)


@bp.post("/requests/<request_id>/retry")
@requires(Permission.REQUESTS_REVIEW)
def retry(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)

    def step() -> str:
        rights.retry(case, current_user)
        return _("Fulfilment is being tried again.")

    return _act(case, ButtonForm(), "button", step)


@bp.post("/requests/<request_id>/lift-restriction")
@requires(Permission.REQUESTS_REVIEW)
def lift_restriction(request_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)

    def step() -> str:
        restriction = restrictions.of_request(case.id)
        if restriction is None:
            raise rights.IllegalTransition(_("This request put no restriction in place."))
        restrictions.lift(restriction, current_user)
        return _("The employee is told, and the restriction is lifted.")

    return _act(case, ButtonForm(), "button", step)


@bp.post("/requests/<request_id>/recipient-tasks/<task_id>/redeliver")
@requires(Permission.REQUESTS_REVIEW)
def redeliver_task(request_id: str, task_id: str) -> Response | tuple[str, int]:
    case = _case_or_404(request_id)
    task = db.session.get(recipients.RecipientTask, task_id)
    if task is None or task.request_id != case.id:
        refuse_access("recipient_tasks", task_id)

    def step() -> str:
        try:
            recipients.redeliver(task, current_user, actor=Actor("employee", current_user.id))
        except recipients.RecipientError as error:
            raise rights.RequestError(str(error)) from None
        return _("The task is being sent again.")

    return _act(case, ButtonForm(), "button", step)


# -- the subject's data, aggregated -----------------------------------------------------------------

@bp.get("/requests/<request_id>/data")
@requires(Permission.REQUESTS_REVIEW)
def data(request_id: str) -> tuple[str, int]:
    """The summary, if this person opened it for this case within the last half hour; else the
    button that opens it (and records the access). A GET never writes."""
    case = _case_or_404(request_id)
    return _data_page(case, DataPurposeForm(formdata=None))


def _data_page(case: DataRequest, form: DataPurposeForm, status: int = 200) -> tuple[str, int]:
    opened = subject_data.recent_access(case.subject_id, current_user.id, case.reference)
    subject = db.session.get(Employee, case.subject_id)
    restricted = restrictions.in_force(case.subject_id)
    categories = {c.key: c.name for c in db.session.scalars(select(DataCategory))}
    return render_template("rights/staff/data.html", case=case, subject=subject, opened=opened,
                           summary=subject_data.subject_summary(case.subject_id) if opened else None,
                           window=int(subject_data.ACCESS_WINDOW.total_seconds() // 60), form=form,
                           restricted=restricted, categories=categories,
                           zone=zone_of(current_user.timezone)), status


@bp.post("/requests/<request_id>/data")
@requires(Permission.REQUESTS_REVIEW)
def open_data(request_id: str) -> Response | tuple[str, int]:
    """Record the access, for handling the case or for legal claims; while a restriction of
    processing is in force only the legal-claims purpose opens the data (GDPR Art. 18(2)), and a
    refusal is audited."""
    case = _case_or_404(request_id)
    form = DataPurposeForm()
    if not form.validate_on_submit():
        flash(_("Nothing was recorded: %(errors)s", errors=_form_errors(form)), "error")
        return _data_page(case, form, 400)
    legal_claims = form.purpose.data == restrictions.LEGAL_CLAIMS
    restricted = restrictions.in_force(case.subject_id)
    if restricted and not legal_claims:
        record("monitoring:data:access-refused", actor=Actor("employee", current_user.id), subject_id=case.subject_id,
               targets={"request": case.id, "restriction": restricted[0].id},
               details={"reason": "restricted", "purpose": form.purpose.data, "case_ref": case.reference})
        db.session.commit()
        flash(_("The processing of this person's data is restricted: it can be opened only for the establishment, "
                "exercise or defence of legal claims. Nothing was opened; the refusal is recorded."), "error")
        return _data_page(case, form, 403)
    if legal_claims and not form.matter.data:
        flash(_("Nothing was recorded: name the legal claim (a matter or case reference)."), "error")
        return _data_page(case, form, 400)
    purpose = (statement(access_log.LEGAL_CLAIMS, matter=form.matter.data, ref=case.reference) if legal_claims
               else statement(access_log.HANDLING_REQUEST, ref=case.reference))
    access_log.record_access(case.subject_id, accessor_id=current_user.id, accessor_role=_role(), action="viewed",
                             purpose=purpose, case_ref=case.reference)
    db.session.commit()
    flash(_("Your access is recorded: the employee sees its date, purpose and case reference."), "info")
    return redirect(url_for("dpo.data", request_id=case.id))


# -- legal holds ------------------------------------------------------------------------------------

def _hold_form(*, bound: bool = True) -> HoldForm:
    form = HoldForm() if bound else HoldForm(formdata=None)
    form.categories.choices = [SelectChoice(c.key, c.name) for c in db.session.scalars(
        select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key))]
    return form


def _holds_page(form: HoldForm, status: int = 200, *, lift_error: tuple[str, str] | None = None) -> tuple[str, int]:
    holds = list(db.session.scalars(select(LegalHold).order_by(LegalHold.placed_at.desc(), LegalHold.id)))
    active = [h for h in holds if h.active]
    lifted = sorted((h for h in holds if not h.active), key=lambda h: (h.lifted_at, h.placed_at), reverse=True)
    return render_template(
        "rights/staff/holds.html", form=form, active=active, lifted=lifted, lift_form=LiftHoldForm(formdata=None),
        lift_error=lift_error, categories={c.value: c.label for c in form.categories.choices or []},
        names=_names([*(h.subject_id for h in holds), *(h.placed_by_id for h in holds),
                      *(h.lifted_by_id for h in holds)]),
        zone=zone_of(current_user.timezone),
    ), status


@bp.get("/holds")
@requires(Permission.HOLDS_MANAGE)
def holds() -> tuple[str, int]:
    return _holds_page(_hold_form(bound=False))


@bp.post("/holds")
@requires(Permission.HOLDS_MANAGE)
def place_hold() -> Response | tuple[str, int]:
    form = _hold_form()
    if not form.validate_on_submit():
        db.session.rollback()
        flash(_("No hold was placed: %(errors)s", errors=_form_errors(form)), "error")
        return _holds_page(form, 400)
    subject = find_by_email(form.email.data or "")
    if subject is None:
        message = _("No employee has that e-mail address; no hold was placed.")
        form.email.errors = [message]
        flash(message, "error")
        return _holds_page(form, 400)
    try:
        rights.place_hold(subject, current_user, categories=form.categories.data or [],
                            matter_reference=form.matter_reference.data or "", reason=form.reason.data or "")
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _holds_page(form, 400)
    db.session.commit()
    flash(_("The legal hold is placed: %(name)s's data in it is kept, and blocked from erasure.",
            name=subject.display_name), "success")
    return redirect(url_for("dpo.holds"))


@bp.post("/holds/<hold_id>/lift")
@requires(Permission.HOLDS_MANAGE)
def lift_hold(hold_id: str) -> Response | tuple[str, int]:
    hold = db.session.get(LegalHold, hold_id)
    if hold is None:
        refuse_access("legal_holds", hold_id)
    form = LiftHoldForm()
    if not form.validate_on_submit():
        db.session.rollback()
        message = _form_errors(form)
        flash(_("The hold was not lifted: %(errors)s", errors=message), "error")
        return _holds_page(_hold_form(bound=False), 400, lift_error=(hold.id, message))
    try:
        rights.lift_hold(hold, current_user)
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _holds_page(_hold_form(bound=False), 400)
    db.session.commit()
    flash(_("The legal hold for matter %(matter)s is lifted.", matter=hold.matter_reference), "success")
    return redirect(url_for("dpo.holds"))
