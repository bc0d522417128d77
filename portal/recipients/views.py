"""The confirmation page a manual recipient's e-mail links to (``/recipient-tasks/<link>``): the
task, and a form for its answer. The link is signed, expires and takes one answer: once the task is
confirmed the page says so and a second answer changes nothing. An unknown, forged or expired link
is a 404 that says what to do."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.audit.services import Actor
from portal.extensions import db
from portal.security import public

from . import services
from .delivery import task_of_link
from .models import Recipient, RecipientTask
from .payload import item

bp = Blueprint("recipient_links", __name__)

OUTCOME_LABELS = {"done": _l("Done: we did what the task asks"),
                  "not_applicable": _l("Not applicable: we hold none of this data"),
                  "refused": _l("Refused: we will not do it (give the reason)")}


class ConfirmForm(FlaskForm):
    outcome = RadioField(_l("What did you do?"), choices=list(OUTCOME_LABELS.items()),
                         validators=[DataRequired(message=_l("Choose an answer."))])
    reason = TextAreaField(_l("Reason (required for a refusal)"),
                           validators=[Optional(), Length(max=services.REASON_MAX)])
    rows_deleted = IntegerField(_l("Rows or records deleted or changed (if you counted them)"),
                                validators=[Optional(), NumberRange(min=0)])
    snapshot_id = StringField(_l("New data-set snapshot id (if you made one)"),
                              validators=[Optional(), Length(max=services.SNAPSHOT_MAX)])


def _render(task: RecipientTask | None, form: ConfirmForm, error: str | None = None, status: int = 200
            ) -> tuple[str, int]:
    if task is None:
        return render_template("recipients/confirm.html", task=None, form=form), 404
    recipient = db.session.get(Recipient, task.recipient_id)
    assert recipient is not None  # noqa: S101 - the foreign key cascades
    return render_template("recipients/confirm.html", task=task, view=item(task, recipient), recipient=recipient,
                           form=form, error=error, outcome_labels=OUTCOME_LABELS), status


@bp.get("/recipient-tasks/<token>")
@public
def confirm_page(token: str) -> tuple[str, int]:
    return _render(task_of_link(token), ConfirmForm(formdata=None))


@bp.post("/recipient-tasks/<token>")
@public
def confirm_task(token: str) -> tuple[str, int]:
    task = task_of_link(token)
    form = ConfirmForm()
    if task is None:
        return _render(None, form)
    if task.outcome is not None:
        return _render(task, form)  # answered before: the page says so, nothing changes
    if not form.validate_on_submit():
        return _render(task, form, status=400)
    try:
        services.confirm(task, form.outcome.data or "", reason=form.reason.data, rows_deleted=form.rows_deleted.data,
                         snapshot_id=form.snapshot_id.data, via="link",
                         actor=Actor("recipient", task.recipient_id))
    except services.RecipientError as exc:
        db.session.rollback()
        return _render(task, form, error=_("Nothing was recorded: %(why)s", why=str(exc)), status=400)
    db.session.commit()
    return _render(task, ConfirmForm(formdata=None))
