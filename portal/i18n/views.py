"""The language switcher in the header: a small POST form (CSRF-checked like every form)."""

from __future__ import annotations

from flask import Blueprint, redirect, session
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, SelectField
from wtforms.validators import DataRequired

from portal.audit.services import Actor
from portal.extensions import db
from portal.people import services as people
from portal.security import public, safe_next

from . import LANGUAGES, SESSION_KEY, offered

bp = Blueprint("i18n", __name__)


class LanguageForm(FlaskForm):
    language = SelectField(choices=[], validators=[DataRequired()])
    next = HiddenField()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.language.choices = [(code, LANGUAGES[code]) for code in offered()]


@bp.post("/language")
@public
def choose() -> Response:
    """Remember the language chosen: on the employee (audited) when signed in, else in the
    session. A choice that is not offered changes nothing."""
    form = LanguageForm()
    target = safe_next(form.next.data, "/")
    if not form.validate_on_submit():
        return redirect(target)
    if current_user.is_authenticated:
        people.choose_language(current_user, form.language.data, actor=Actor("employee", current_user.id))
        db.session.commit()
    else:
        session[SESSION_KEY] = form.language.data
    return redirect(target)
