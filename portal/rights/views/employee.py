"""The employee's requests: file one, follow it, answer, withdraw, get the deletion certificate.

Every request is loaded with :func:`owned_or_404`: another employee's request (or one that does not
exist) is answered 404 and the attempt audited. Erasure and objection need a fresh sign-in (the
form itself already asks for it). Each POST validates its form, calls one service function,
commits, flashes and redirects; a refusal rolls back and shows the page again with the reason:
400 for bad input, 409 when the request's state no longer allows the step.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.audit.services import Actor
from portal.auth.stepup import fresh_code_if_former, fresh_sign_in_required
from portal.db import utcnow
from portal.exports.models import Export
from portal.exports.services import categories_available
from portal.extensions import db
from portal.i18n import ground_wording
from portal.jurisdictions import KINDS, regime_for
from portal.monitoring.aggregates import zone_of
from portal.recipients import services as recipients
from portal.rights import certificate, deadlines
from portal.rights import services as rights
from portal.rights.models import Channel, DataRequest, RequestState, RequestType
from portal.rights.notifications import long_date, supervisory_authority
from portal.security import open_to_former, owned_or_404, signed_in

from .employee_forms import (
    AnswerForm,
    DescriptionForm,
    ErasureForm,
    ObjectionForm,
    RectificationForm,
    RequestForm,
    RestrictionForm,
    WithdrawForm,
)

bp = Blueprint("my_requests", __name__, url_prefix="/me/requests")

S = RequestState
T = RequestType

# The rights, in the order they are offered, each in one sentence (the registry's kinds).
RIGHTS: list[tuple[RequestType, LazyString]] = [(k.type, k.explanation) for k in KINDS]
_FORM_CLASSES: dict[str, type[RequestForm]] = {
    "description": DescriptionForm, "erasure": ErasureForm, "rectification": RectificationForm,
    "restriction": RestrictionForm, "objection": ObjectionForm,
}
FORMS: dict[RequestType, type[RequestForm]] = {k.type: _FORM_CLASSES[k.form] for k in KINDS}
FRESH_SIGN_IN = frozenset(k.type for k in KINDS if k.step_up)

# What the requester can expect next, for each state.
NEXT_STEPS: dict[str, LazyString] = {
    S.RECEIVED: _l("Your request is received and waits for the Data Protection Officer to take it up."),
    S.OPEN: _l("A Data Protection Officer has taken up your request and will review it."),
    S.IN_REVIEW: _l("The Data Protection Officer is checking your request: who you are, which data it covers and "
                    "whether any exception applies. If they need anything from you, they will ask here."),
    S.AWAITING_REQUESTER: _l("The Data Protection Officer needs more information from you: please answer below. "
                             "Your request goes on as soon as you do."),
    S.APPROVED: _l("Your request is approved and will be carried out shortly."),
    S.FULFILLING: _l("Your request is being carried out. You will be told by e-mail when it is done."),
    S.AWAITING_RECIPIENTS: _l("The portal has done its part. The teams and systems that received your data have "
                              "each been asked to do the same, and your request is complete once each has "
                              "confirmed or its deadline has passed. What each has confirmed is below."),
    S.COMPLETED: _l("Your request is done. The outcome is below."),
    S.REJECTED: _l("Your request was refused. The legal basis and the reasons are below; you can complain to the "
                   "supervisory authority if you disagree."),
    S.WITHDRAWN: _l("You withdrew this request. Nothing more will be done on it."),
    S.FAILED: _l("Carrying out your request failed for a technical reason. The Data Protection Officer has been "
                 "told and will try again; nothing is lost."),
}
# Who did something, as the requester may see it: a role, never a member of staff's name.
ROLES: dict[str, LazyString] = {
    "requester": _l("You"), "dpo": _l("Data Protection Officer"), "admin": _l("Privacy administrator"),
    "system": _l("The portal"),
}
# What a timeline entry means, by kind (and for a change of state, by the state it led to).
EVENT_TEXT: dict[str, LazyString] = {
    "filed": _l("Request made"), "message": _l("Message"), "extension": _l("Deadline extended"),
    "duplicate": _l("Linked to an earlier request"),
    "restriction_lifted": _l("Restriction of processing lifted"),
}
TRANSITION_TEXT: dict[str, LazyString] = {
    S.OPEN: _l("Taken up"), S.IN_REVIEW: _l("In review"), S.AWAITING_REQUESTER: _l("Asked you for information"),
    S.APPROVED: _l("Approved"), S.FULFILLING: _l("Being carried out"),
    S.AWAITING_RECIPIENTS: _l("Done here; the recipients were asked to act"), S.COMPLETED: _l("Completed"),
    S.REJECTED: _l("Refused"), S.WITHDRAWN: _l("Withdrawn"), S.FAILED: _l("Failed; to be retried"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"state_labels": {s.value: label for s, label in rights.STATE_LABELS.items()},
            "type_labels": {t.value: label for t, label in rights.TYPE_LABELS.items()},
            "role_labels": ROLES, "event_text": EVENT_TEXT, "transition_text": TRANSITION_TEXT,
            "long_date": long_date}


def _today() -> date:
    return utcnow().date()


def _category_names() -> dict[str, str]:
    return {c.key: c.name for c in categories_available()}


def _form(kind: RequestType) -> RequestForm:
    form = FORMS[kind]()
    form.set_categories((c.key, c.name) for c in categories_available())
    return form


def _request_or_404(request_id: str) -> DataRequest:
    return owned_or_404(DataRequest, request_id)


def _export_id(req: DataRequest) -> str | None:
    """The export that fulfilled a completed access or portability request, if it is still known."""
    if req.type not in (T.ACCESS, T.PORTABILITY) or req.state != S.COMPLETED:
        return None
    linked = (req.result or {}).get("export")
    if isinstance(linked, str):
        return linked
    return db.session.scalar(select(Export.id).where(Export.request_id == req.id,
                                                     Export.subject_id == req.subject_id).limit(1))


# -- the list ---------------------------------------------------------------------------------------

@bp.get("")
@open_to_former
@signed_in
def index() -> str:
    items = rights.requests_of(current_user.id)
    return render_template("rights/employee/index.html", items=items, rights=RIGHTS, zone=zone_of(current_user.timezone),
                           fresh=FRESH_SIGN_IN, self_service=Channel.SELF_SERVICE.value)


# -- filing -----------------------------------------------------------------------------------------

def _form_page(kind: RequestType, form: RequestForm, status: int = 200, *, confirm: bool = False) -> tuple[str, int]:
    template = "rights/employee/confirm_erasure.html" if confirm else "rights/employee/new.html"
    return render_template(template, kind=kind.value, form=form, explanation=dict(RIGHTS)[kind],
                           names=_category_names(), fresh=kind in FRESH_SIGN_IN), status


def _file(kind: RequestType) -> Response | tuple[str, int]:
    form = _form(kind)
    if request.method == "GET":
        return _form_page(kind, form)
    erasure = form if isinstance(form, ErasureForm) else None
    if not form.validate_on_submit():
        db.session.rollback()
        only_unconfirmed = erasure is not None and erasure.confirming and set(form.errors) == {"confirm"}
        return _form_page(kind, form, 400, confirm=only_unconfirmed)
    if erasure is not None and (erasure.back.data or not erasure.confirming):
        # The choices again, or the confirmation step (never ticked in advance): nothing is filed yet.
        erasure.confirm.data = False
        return _form_page(kind, form, confirm=not erasure.back.data)
    try:
        # A former employee's session was opened by a code to their personal e-mail: the case says so.
        channel = Channel.VERIFIED if g.auth_session.is_limited else Channel.PORTAL
        filed = rights.file_request(current_user, kind, channel=channel, **form.filing())
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _form_page(kind, form, 400)
    db.session.commit()
    made = filed.request
    flash(_("Your request %(ref)s was received. The answer is due by %(due)s at the latest.", ref=made.reference,
            due=long_date(made.effective_due)), "success")
    if filed.duplicate_of is not None:
        flash(_("It repeats a request of yours that is still open, so it was linked to the open request %(ref)s: "
                "both are handled together.", ref=filed.duplicate_of.reference), "info")
    return redirect(url_for("my_requests.detail", request_id=made.id))


@bp.route("/new/<request_type>", methods=["GET", "POST"])
@open_to_former
@signed_in
def new(request_type: str) -> Response | tuple[str, int]:
    try:
        kind = RequestType(request_type)
    except ValueError:
        abort(404)
    if kind in FRESH_SIGN_IN:  # those have their own views, below, that ask for a fresh sign-in
        abort(404)
    return _file(kind)


@bp.route("/new/erasure", methods=["GET", "POST"])
@open_to_former
@signed_in
@fresh_sign_in_required
def new_erasure() -> Response | tuple[str, int]:
    return _file(T.ERASURE)


@bp.route("/new/objection", methods=["GET", "POST"])
@open_to_former
@signed_in
@fresh_sign_in_required
def new_objection() -> Response | tuple[str, int]:
    return _file(T.OBJECTION)


# -- one request ------------------------------------------------------------------------------------

def _detail_page(req: DataRequest, status: int = 200, *, answer_form: AnswerForm | None = None,
                 withdraw_form: WithdrawForm | None = None) -> tuple[str, int]:
    due = req.effective_due
    basis = ground_wording(req.jurisdiction, req.legal_basis) or None
    duplicate = db.session.get(DataRequest, req.duplicate_of_id) if req.duplicate_of_id else None
    return render_template(
        "rights/employee/detail.html", req=req, details=req.details or {}, scope=req.scope or {},
        timeline=rights.timeline(req, for_requester=True), names=_category_names(),
        zone=zone_of(current_user.timezone), next_step=NEXT_STEPS.get(req.state, ""),
        days_left=deadlines.days_left(due, _today()) if due is not None and req.is_open else None,
        basis=basis, authority=supervisory_authority(req.jurisdiction), regime=regime_for(req.jurisdiction),
        objection_labels=rights.OBJECTION_LABELS,
        duplicate=duplicate if duplicate is not None and duplicate.subject_id == req.subject_id else None,
        export_id=_export_id(req), certifiable=certificate.is_certifiable(req),
        answer_form=answer_form or AnswerForm(formdata=None), withdraw_form=withdraw_form or WithdrawForm(formdata=None),
        self_service=req.channel == Channel.SELF_SERVICE, recipient_rows=recipients.rows_of_request(req.id),
    ), status


@bp.get("/<request_id>")
@open_to_former
@signed_in
def detail(request_id: str) -> tuple[str, int]:
    return _detail_page(_request_or_404(request_id))


@bp.post("/<request_id>/answer")
@open_to_former
@signed_in
def answer(request_id: str) -> Response | tuple[str, int]:
    req = _request_or_404(request_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return _detail_page(req, 400, answer_form=form)
    try:
        rights.answer(req, current_user, form.message.data or "")
    except rights.IllegalTransition:
        db.session.rollback()
        flash(_("Nothing has been asked of you on this request, so there is nothing to answer; nothing was "
                "changed."), "error")
        return _detail_page(req, 409, answer_form=form)
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _detail_page(req, 400, answer_form=form)
    db.session.commit()
    flash(_("Thank you: your answer was sent to the Data Protection Officer, and your request is back in review."),
          "success")
    return redirect(url_for("my_requests.detail", request_id=req.id))


@bp.post("/<request_id>/withdraw")
@open_to_former
@signed_in
def withdraw(request_id: str) -> Response | tuple[str, int]:
    req = _request_or_404(request_id)
    form = WithdrawForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return _detail_page(req, 400, withdraw_form=form)
    try:
        rights.withdraw(req, current_user)
    except rights.RequestError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _detail_page(req, 409 if isinstance(error, rights.IllegalTransition) else 400, withdraw_form=form)
    db.session.commit()
    flash(_("Your request %(ref)s is withdrawn. You can make a new one at any time.", ref=req.reference), "success")
    return redirect(url_for("my_requests.detail", request_id=req.id))


@bp.get("/<request_id>/certificate")
@open_to_former
@signed_in
@fresh_code_if_former
def certificate_download(request_id: str) -> Response:
    req = _request_or_404(request_id)
    if not certificate.is_certifiable(req):
        abort(404)
    pdf = certificate.issue_certificate(req, current_user, actor=Actor("employee", current_user.id))
    db.session.commit()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{certificate.file_name(req)}"'
    response.headers["Cache-Control"] = "no-store"
    return response
