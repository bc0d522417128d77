"""Admins edit the DPO queues, their members and the routing rules.

The rules live in :mod:`portal.rights.routing`; these views only read the forms, call one of
its functions, commit and go back to the page. A refusal rolls back, says why and shows the page
again with 400.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from portal.audit.services import Actor
from portal.extensions import db
from portal.forms import ButtonForm
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights.models import Queue, RoutingRule
from portal.rights.views.staff_forms import ConfirmForm, MemberForm, QueueForm, RuleForm
from portal.security import Permission, refuse_access, requires

bp = Blueprint("queues_admin", __name__, url_prefix="/admin/queues")


def _actor() -> Actor:
    return Actor("employee", current_user.id)


def _errors(form: FlaskForm) -> str:
    return " ".join(str(m) for messages in form.errors.values() for m in messages)


def _rule_form(*, bound: bool = True) -> RuleForm:
    form = RuleForm() if bound else RuleForm(formdata=None)
    form.queue.choices = [SelectChoice("", _("Choose…"))] + [SelectChoice(q.id, q.name) for q in routing.queues()]
    return form


def _page(status: int = 200, *, queue_form: QueueForm | None = None, rule_form: RuleForm | None = None,
          member_error: tuple[str, MemberForm] | None = None, rule_error: tuple[int, str] | None = None,
          ) -> tuple[str, int]:
    queues = routing.queues()
    return render_template(
        "admin/queues.html", queues=queues, members={q.id: routing.members_of(q.id) for q in queues},
        rules=routing.rules(), queue_names={q.id: q.name for q in queues},
        queue_form=queue_form or QueueForm(formdata=None), rule_form=rule_form or _rule_form(bound=False),
        member_form=MemberForm(formdata=None), member_error=member_error, rule_error=rule_error,
        button=ButtonForm(formdata=None), confirm_form=ConfirmForm(formdata=None),
    ), status


def _refused(message: str, status: int = 400, **page: Any) -> tuple[str, int]:
    db.session.rollback()
    flash(message, "error")
    return _page(status, **page)


def _queue_or_404(queue_id: str) -> Queue:
    queue = db.session.get(Queue, queue_id)
    if queue is None:
        refuse_access("request_queues", queue_id)
    return queue


@bp.get("")
@requires(Permission.QUEUES_MANAGE)
def index() -> tuple[str, int]:
    return _page()


@bp.post("")
@requires(Permission.QUEUES_MANAGE)
def create_queue() -> Response | tuple[str, int]:
    form = QueueForm()
    if not form.validate_on_submit():
        return _refused(_("No queue was created: %(errors)s", errors=_errors(form)), queue_form=form)
    try:
        queue = routing.create_queue(form.name.data or "", form.description.data or "", actor=_actor())
    except routing.RoutingError as error:
        form.name.errors = [str(error)]
        return _refused(str(error), queue_form=form)
    db.session.commit()
    flash(_("The queue “%(name)s” is created. Add its DPOs, then route requests to it.", name=queue.name), "success")
    return redirect(url_for("queues_admin.index"))


@bp.post("/<queue_id>/members")
@requires(Permission.QUEUES_MANAGE)
def add_member(queue_id: str) -> Response | tuple[str, int]:
    queue = _queue_or_404(queue_id)
    form = MemberForm()
    if not form.validate_on_submit():
        return _refused(_("Nobody was added: %(errors)s", errors=_errors(form)), member_error=(queue.id, form))
    employee = find_by_email(form.email.data or "")
    if employee is None:
        message = _("No employee has that e-mail address; nobody was added.")
        form.email.errors = [message]
        return _refused(message, member_error=(queue.id, form))
    try:
        routing.add_member(queue, employee, actor=_actor())
    except routing.RoutingError as error:
        form.email.errors = [str(error)]
        return _refused(str(error), member_error=(queue.id, form))
    db.session.commit()
    flash(_("%(name)s is now a member of “%(queue)s”.", name=employee.display_name, queue=queue.name), "success")
    return redirect(url_for("queues_admin.index", _anchor=f"queue-{queue.id}"))


@bp.post("/<queue_id>/members/<employee_id>/remove")
@requires(Permission.QUEUES_MANAGE)
def remove_member(queue_id: str, employee_id: str) -> Response | tuple[str, int]:
    queue = _queue_or_404(queue_id)
    employee = db.session.get(Employee, employee_id)
    if employee is None:
        refuse_access("employees", employee_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        routing.remove_member(queue, employee, actor=_actor())
    except routing.RoutingError as error:
        return _refused(str(error))
    db.session.commit()
    flash(_("%(name)s is no longer a member of “%(queue)s”. Cases assigned to them stay theirs until reassigned.",
            name=employee.display_name, queue=queue.name), "success")
    return redirect(url_for("queues_admin.index", _anchor=f"queue-{queue.id}"))


@bp.post("/rules")
@requires(Permission.QUEUES_MANAGE)
def set_rule() -> Response | tuple[str, int]:
    form = _rule_form()
    if not form.validate_on_submit():
        return _refused(_("No rule was saved: %(errors)s", errors=_errors(form)), rule_form=form)
    queue = db.session.get(Queue, form.queue.data)
    if queue is None:  # the choices came from the table a moment ago; it was deleted since
        return _refused(_("That queue no longer exists."), rule_form=form)
    try:
        rule = routing.set_rule(form.jurisdiction.data or "", form.request_type.data or "", queue, actor=_actor())
    except routing.RoutingError as error:
        return _refused(str(error), rule_form=form)
    db.session.commit()
    flash(_("New %(type)s requests from %(where)s now go to “%(queue)s”.", type=rule.request_type,
            where=rule.jurisdiction, queue=queue.name), "success")
    return redirect(url_for("queues_admin.index", _anchor="rules"))


@bp.post("/rules/<int:rule_id>/delete")
@requires(Permission.QUEUES_MANAGE)
def delete_rule(rule_id: int) -> Response | tuple[str, int]:
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        refuse_access("request_routing_rules", str(rule_id))
    form = ConfirmForm()
    if not form.validate_on_submit():
        message = _errors(form)
        return _refused(_("The rule was not deleted: %(errors)s", errors=message), rule_error=(rule.id, message))
    routing.delete_rule(rule, actor=_actor())
    db.session.commit()
    flash(_("The rule is deleted; those requests now follow the next most specific rule."), "success")
    return redirect(url_for("queues_admin.index", _anchor="rules"))
