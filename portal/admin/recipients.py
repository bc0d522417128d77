"""Admin pages for recipient systems (``/admin/recipients``): record one (its webhook signing secret
and its API token are shown once, on the answer, never again), edit its record, rotate a webhook's
secret (the old one keeps signing for a day), make a new API token bound to it, deactivate it
(after a confirmation). Only staff whose roles grant ``recipients:manage``; every change is
audited by the services."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from portal.admin.views import bp
from portal.api import tokens
from portal.api.models import ApiToken
from portal.audit.services import Actor
from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.models import DataCategory
from portal.recipients import services
from portal.recipients.models import Delivery, Recipient, RecipientRole
from portal.security import Permission, Scope, refuse_access, requires

ROLE_LABELS = {RecipientRole.PROCESSOR: _l("Processor (acts on the company's instructions)"),
               RecipientRole.THIRD_PARTY: _l("Third party (a controller of its own)"),
               RecipientRole.INTERNAL: _l("Internal team")}
DELIVERY_LABELS = {Delivery.WEBHOOK: _l("Webhook: a signed POST per task; it confirms through the API"),
                   Delivery.PULL: _l("Pull: it lists its tasks at the API and confirms them there"),
                   Delivery.MANUAL: _l("Manual: an e-mail to the contact with a link to a confirmation page")}
USE_LABELS = {"ai_training": _l("AI training"), "analytics": _l("Productivity analytics and profiling"),
              "security_monitoring": _l("Security monitoring")}
TOKEN_DAYS = tokens.MAX_DAYS


class RecipientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the recipient a name.")),
                                               Length(max=services.NAME_MAX)])
    contact = StringField(_l("Contact e-mail"), validators=[DataRequired(message=_l("Give a contact address.")),
                                                            Length(max=320),
                                                            Regexp(r"^[^@\s]+@[^@\s]+$",
                                                                   message=_l("Give a valid e-mail address."))],
                          description=_l("Who answers for the recipient; manual tasks are e-mailed here."))
    categories = SelectMultipleField(_l("Categories it receives"), option_widget=CheckboxInput(),
                                     widget=ListWidget(prefix_label=False),
                                     validators=[DataRequired(message=_l("Choose at least one category."))])
    uses = SelectMultipleField(_l("What it uses the data for"), option_widget=CheckboxInput(),
                               widget=ListWidget(prefix_label=False), choices=list(USE_LABELS.items()),
                               description=_l("An objection to, or a withdrawn consent for, one of these purposes "
                                              "gives it a task too."))
    purpose = TextAreaField(_l("Purpose, in a sentence or two"),
                            validators=[DataRequired(message=_l("Say what the recipient does with the data.")),
                                        Length(max=services.PURPOSE_MAX)])
    role = RadioField(_l("Role"), choices=list(ROLE_LABELS.items()), default=RecipientRole.PROCESSOR.value)
    needs_name = BooleanField(_l("It needs the person's name to find the data (internal teams only)"),
                              description=_l("Otherwise tasks name the person by their pseudonymous training id "
                                             "only."))
    delivery = RadioField(_l("How tasks reach it"), choices=list(DELIVERY_LABELS.items()),
                          default=Delivery.PULL.value)
    webhook_url = StringField(_l("Webhook address (for a webhook)"), validators=[Optional(), Length(max=2048)])

    def set_categories(self) -> None:
        self.categories.choices = [(c.key, c.name) for c in db.session.scalars(
            select(DataCategory).order_by(DataCategory.sort_order, DataCategory.key))]


class ActionForm(FlaskForm):
    pass


class DeactivateForm(FlaskForm):
    confirm = BooleanField(_l("Yes: no new tasks go to this recipient. Its open tasks stay open."),
                           validators=[DataRequired(message=_l("Tick the box to confirm."))])


@dataclass
class Shown:
    """What is shown once: a signing secret, a token, or both, for one recipient."""

    recipient: Recipient
    secret: str | None = None
    token: str | None = None


def _actor() -> Actor:
    return Actor("employee", current_user.id)


def _page(form: RecipientForm, shown: Shown | None = None) -> str:
    return render_template("admin/recipients.html", form=form, action_form=ActionForm(),
                           deactivate_form=DeactivateForm(), recipients=services.all_recipients(), shown=shown,
                           role_labels=ROLE_LABELS, delivery_labels=DELIVERY_LABELS, use_labels=USE_LABELS,
                           category_names={c.key: c.name for c in db.session.scalars(select(DataCategory))})


def _bound_token(recipient: Recipient) -> str:
    _, secret = tokens.create_token(f"recipient {recipient.name}"[:tokens.NAME_MAX], [Scope.RECIPIENT.value],
                                    TOKEN_DAYS, actor=_actor(), created_by_id=current_user.id,
                                    recipient_id=recipient.id)
    return secret


def _recipient_or_404(recipient_id: str) -> Recipient:
    recipient = db.session.get(Recipient, recipient_id)
    if recipient is None:
        refuse_access("recipients", recipient_id)
    return recipient


def _editable_or_404(recipient_id: str) -> Recipient:
    """An active recipient, or 404 (audited). A deactivated one is not edited: it receives nothing
    more and cannot be made active again, so an edit could change nothing it does; its record
    stays as it was when it stopped receiving tasks, the record its tasks were given under."""
    recipient = _recipient_or_404(recipient_id)
    if not recipient.active:
        refuse_access("recipients", recipient_id)
    return recipient


def _edit_page(recipient: Recipient, form: RecipientForm) -> str:
    return render_template("admin/recipient_edit.html", recipient=recipient, form=form)


def _has_live_token(recipient: Recipient) -> bool:
    return db.session.scalar(select(ApiToken.id).where(
        ApiToken.recipient_id == recipient.id, ApiToken.revoked_at.is_(None),
        ApiToken.expires_at > utcnow()).limit(1)) is not None


def _refused(form: RecipientForm, exc: services.RecipientError) -> None:
    """The service's reason, under the field it concerns (the error summary links to it)."""
    field = form[exc.field] if exc.field and exc.field in form else None
    if field is not None:
        field.errors = [*field.errors, str(exc)]
    else:
        form.form_errors.append(str(exc))


@bp.get("/admin/recipients")
@requires(Permission.RECIPIENTS_MANAGE)
def recipients() -> str:
    form = RecipientForm(formdata=None)
    form.set_categories()
    return _page(form)


@bp.post("/admin/recipients")
@requires(Permission.RECIPIENTS_MANAGE)
def create_recipient() -> str | tuple[str, int]:
    form = RecipientForm()
    form.set_categories()
    if not form.validate_on_submit():
        return _page(form), 400
    try:
        recipient, secret = services.create_recipient(
            name=form.name.data or "", contact=form.contact.data or "", categories=form.categories.data or [],
            uses=form.uses.data or [], purpose=form.purpose.data or "", role=form.role.data or "",
            delivery=form.delivery.data or "", webhook_url=form.webhook_url.data, actor=_actor(),
            needs_name=bool(form.needs_name.data))
        token = _bound_token(recipient) if recipient.delivery != Delivery.MANUAL else None
    except services.RecipientError as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _page(form), 400
    db.session.commit()
    fresh = RecipientForm(formdata=None)
    fresh.set_categories()
    return _page(fresh, Shown(recipient, secret, token))


@bp.get("/admin/recipients/<recipient_id>/edit")
@requires(Permission.RECIPIENTS_MANAGE)
def edit_recipient(recipient_id: str) -> str:
    """The record in the creation form's fields, the contact opened; changes nothing."""
    recipient = _editable_or_404(recipient_id)
    form = RecipientForm(formdata=None, data={
        "name": recipient.name, "contact": recipient.contact, "categories": list(recipient.categories),
        "uses": list(recipient.uses or []), "purpose": recipient.purpose, "role": recipient.role.value,
        "needs_name": recipient.needs_name, "delivery": recipient.delivery.value,
        "webhook_url": recipient.webhook_url or ""})
    form.set_categories()
    return _edit_page(recipient, form)


@bp.post("/admin/recipients/<recipient_id>/edit")
@requires(Permission.RECIPIENTS_MANAGE)
def save_recipient(recipient_id: str) -> Response | str | tuple[str, int]:
    """Save an edit (``services.update_recipient``). A recipient that comes to take webhooks is shown
    its new signing secret once, and one that leaves manual delivery an API token (unless a token
    bound to it is still in force), as on creation."""
    recipient = _editable_or_404(recipient_id)
    form = RecipientForm()
    form.set_categories()
    if not form.validate_on_submit():
        return _edit_page(recipient, form), 400
    was_manual = recipient.delivery == Delivery.MANUAL
    try:
        edit = services.update_recipient(
            recipient, name=form.name.data or "", contact=form.contact.data or "",
            categories=form.categories.data or [], uses=form.uses.data or [], purpose=form.purpose.data or "",
            role=form.role.data or "", delivery=form.delivery.data or "", webhook_url=form.webhook_url.data,
            needs_name=bool(form.needs_name.data), actor=_actor())
        token = (_bound_token(recipient) if was_manual and recipient.delivery != Delivery.MANUAL
                 and not _has_live_token(recipient) else None)
    except services.RecipientError as exc:
        db.session.rollback()
        _refused(form, exc)
        return _edit_page(recipient, form), 400
    db.session.commit()
    if not edit.changed:
        flash(_("Nothing changed: the record of %(name)s already said so.", name=recipient.name), "success")
        return redirect(url_for("admin.recipients"))
    flash(_("The record of %(name)s is saved.", name=recipient.name), "success")
    if edit.rerouted:
        flash(ngettext("%(num)d task not yet delivered goes the new way.",
                       "%(num)d tasks not yet delivered go the new way.", edit.rerouted), "success")
    if edit.secret is None and token is None:
        return redirect(url_for("admin.recipients"))
    fresh = RecipientForm(formdata=None)
    fresh.set_categories()
    return _page(fresh, Shown(recipient, edit.secret, token))


@bp.post("/admin/recipients/<recipient_id>/rotate")
@requires(Permission.RECIPIENTS_MANAGE)
def rotate_recipient_secret(recipient_id: str) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.recipients"))
    try:
        secret = services.rotate_secret(recipient, actor=_actor())
    except services.RecipientError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.recipients"))
    db.session.commit()
    form = RecipientForm(formdata=None)
    form.set_categories()
    return _page(form, Shown(recipient, secret=secret))


@bp.post("/admin/recipients/<recipient_id>/token")
@requires(Permission.RECIPIENTS_MANAGE)
def recipient_token(recipient_id: str) -> Response | str:
    recipient = _recipient_or_404(recipient_id)
    if not ActionForm().validate_on_submit() or not recipient.active:
        return redirect(url_for("admin.recipients"))
    token = _bound_token(recipient)
    db.session.commit()
    form = RecipientForm(formdata=None)
    form.set_categories()
    return _page(form, Shown(recipient, token=token))


@bp.post("/admin/recipients/<recipient_id>/deactivate")
@requires(Permission.RECIPIENTS_MANAGE)
def deactivate_recipient(recipient_id: str) -> Response:
    recipient = _recipient_or_404(recipient_id)
    if not DeactivateForm().validate_on_submit():
        flash(_("Nothing changed: tick the box to confirm that %(name)s receives no new tasks.",
                name=recipient.name), "error")
        return redirect(url_for("admin.recipients"))
    try:
        services.deactivate(recipient, actor=_actor())
    except services.RecipientError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.recipients"))
    db.session.commit()
    flash(_("%(name)s receives no new tasks. Its open tasks stay open.", name=recipient.name), "success")
    return redirect(url_for("admin.recipients"))
