"""Admin pages for the integrations API's service tokens (``/admin/api-tokens``): make one (the
token is shown once, on the answer to the form, never again), list them, revoke one. Only staff
whose roles grant ``api-tokens:manage``; every change is audited by the token service."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from portal.admin.views import bp
from portal.api import tokens
from portal.api.models import ApiToken
from portal.audit.services import Actor
from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.aggregates import zone_of
from portal.security import Permission, Scope, refuse_access, requires


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Say who will use the token.")),
                                               Length(max=tokens.NAME_MAX)],
                       description=_l("Who uses it, e.g. 'collector eu-west' or 'training pipeline'."))
    scopes = SelectMultipleField(_l("Scopes"), choices=[(s.value, s.value) for s in Scope],
                                 validators=[DataRequired(message=_l("Choose at least one scope."))],
                                 option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    days = IntegerField(_l("Days until it expires"), default=tokens.DEFAULT_DAYS,
                        validators=[NumberRange(min=1, max=tokens.MAX_DAYS)])


class RevokeForm(FlaskForm):
    pass


def _page(form: TokenForm, created: tuple[ApiToken, str] | None = None) -> str:
    return render_template("admin/api_tokens.html", form=form, revoke_form=RevokeForm(), tokens=tokens.all_tokens(),
                           created=created, now=utcnow(), zone=zone_of(current_user.timezone))


@bp.get("/admin/api-tokens")
@requires(Permission.API_TOKENS_MANAGE)
def api_tokens() -> str:
    return _page(TokenForm())


@bp.post("/admin/api-tokens")
@requires(Permission.API_TOKENS_MANAGE)
def create_api_token() -> str | tuple[str, int]:
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form), 400
    try:
        made = tokens.create_token(form.name.data or "", form.scopes.data or [], form.days.data or 0,
                                   actor=Actor("employee", current_user.id), created_by_id=current_user.id)
    except tokens.TokenError as exc:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(exc)]
        return _page(form), 400
    db.session.commit()
    return _page(TokenForm(formdata=None), created=made)


@bp.post("/admin/api-tokens/<token_id>/revoke")
@requires(Permission.API_TOKENS_MANAGE)
def revoke_api_token(token_id: str) -> Response:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        refuse_access("api_tokens", token_id)
    if RevokeForm().validate_on_submit():
        try:
            tokens.revoke_token(token, actor=Actor("employee", current_user.id), revoked_by_id=current_user.id)
        except tokens.TokenError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The token '%(name)s' is revoked: it no longer works.", name=token.name), "success")
    return redirect(url_for("admin.api_tokens"))
