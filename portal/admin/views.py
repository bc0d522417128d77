"""Admin pages for the monitoring policy: write the draft, preview it exactly as employees will
see it, publish it after an explicit confirmation. Only staff whose roles grant
``policy:publish``; everyone else gets 404 (and the attempt is audited)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.audit.services import Actor
from portal.extensions import db
from portal.monitoring.aggregates import zone_of
from portal.policy import services as policy
from portal.policy.models import PolicyVersion
from portal.security import Permission, requires

bp = Blueprint("admin", __name__)


class DraftForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Give the policy a title.")),
                                                 Length(max=policy.TITLE_MAX)])
    change_summary = TextAreaField(_l("What changed, in a sentence or two"),
                                   validators=[Optional(), Length(max=policy.SUMMARY_MAX)],
                                   description=_l("Employees see this in the list of versions and above the text."))
    body = TextAreaField(_l("The policy, in Markdown"), validators=[Optional(), Length(max=policy.BODY_MAX)],
                         description=_l("Headings (#), lists, tables, emphasis and links (https, mailto or a page of "
                                        "this portal). Images, HTML styling and scripts are removed."))


class PublishForm(FlaskForm):
    draft_id = HiddenField()
    digest = HiddenField()
    confirm = BooleanField(_l("I confirm that this text is final. Once published it cannot be changed, and every "
                              "employee will be asked to read it."),
                           validators=[DataRequired(message=_l("Tick the box to confirm that you want to publish."))])


def _actor() -> Actor:
    return Actor("employee", current_user.id)


def _preview(draft: PolicyVersion | None, form: PublishForm, error: str | None = None) -> str:
    if draft is not None:
        form.draft_id.data = str(draft.id)
        form.digest.data = policy.draft_digest(draft)
    return render_template("admin/preview.html", draft=draft, form=form, error=error,
                           body=policy.render(draft.body_markdown) if draft is not None else None,
                           current=policy.current(), zone=zone_of(current_user.timezone))


@bp.get("/admin/policy")
@requires(Permission.POLICY_PUBLISH)
def policy_index() -> str:
    return render_template("admin/policy.html", versions=policy.published(), draft=policy.draft(),
                           zone=zone_of(current_user.timezone))


@bp.get("/admin/policy/draft")
@requires(Permission.POLICY_PUBLISH)
def draft_form() -> str:
    draft = policy.draft()
    start: Any = draft or policy.current()
    form = DraftForm()
    if start is not None:
        form.title.data = start.title
        form.body.data = start.body_markdown
        form.change_summary.data = start.change_summary if draft is not None else ""
    return render_template("admin/draft.html", form=form, draft=draft, based_on=None if draft else start)


@bp.post("/admin/policy/draft")
@requires(Permission.POLICY_PUBLISH)
def save_draft() -> Response | tuple[str, int]:
    form = DraftForm()
    if not form.validate_on_submit():
        return render_template("admin/draft.html", form=form, draft=policy.draft(), based_on=None), 400
    try:
        policy.save_draft(form.title.data or "", form.body.data or "", form.change_summary.data or "", _actor())
    except policy.PolicyError as error:
        db.session.rollback()
        form.form_errors.append(_("The draft could not be saved: %(reason)s.", reason=str(error)))
        return render_template("admin/draft.html", form=form, draft=policy.draft(), based_on=None), 400
    db.session.commit()
    flash(_("Draft saved. Check the preview before publishing."), "success")
    return redirect(url_for("admin.preview"))


@bp.get("/admin/policy/draft/preview")
@requires(Permission.POLICY_PUBLISH)
def preview() -> str:
    return _preview(policy.draft(), PublishForm(formdata=None))


@bp.post("/admin/policy/draft/publish")
@requires(Permission.POLICY_PUBLISH)
def publish() -> Response | tuple[str, int]:
    form = PublishForm()
    draft = policy.draft()
    if not form.validate_on_submit():
        return _preview(draft, form), 400
    draft_id = int(form.draft_id.data) if (form.draft_id.data or "").isdecimal() else 0
    try:
        published = policy.publish(draft_id, _actor(), expected_digest=form.digest.data or "")
    except policy.PolicyError as error:
        db.session.rollback()
        messages = {
            "there is no such draft to publish": _("There is no draft to publish (it may have been published "
                                                   "already). Nothing was published."),
            "an empty policy cannot be published": _("The draft has no text. Nothing was published."),
            "the draft changed since it was previewed": _("The draft changed after this preview was shown. Check "
                                                          "the new preview; nothing was published."),
        }
        return _preview(policy.draft(), PublishForm(formdata=None), messages.get(str(error), str(error))), 400
    db.session.commit()
    flash(_("Version %(n)s is published. Employees will be asked to read it.", n=published.version), "success")
    return redirect(url_for("admin.policy_index"))
