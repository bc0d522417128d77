"""``/former``: a former employee signs in with a code sent to their personal e-mail, and asks for
a fresh one before a download or a sensitive request (step-up by code)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from portal.auth import former
from portal.auth.models import CodePurpose
from portal.config import current_settings
from portal.extensions import db
from portal.ratelimit import FORMER_ADDRESS, FORMER_CLIENT, FORMER_VERIFY, limiter
from portal.security import open_to_former, public, safe_next, signed_in

bp = Blueprint("former", __name__, url_prefix="/former")

PENDING = "former_code"  # the server-side session keeps the id of the code asked for, never the code
NEXT = "former_next"


class AddressForm(FlaskForm):
    email = EmailField(_l("Your personal e-mail address"), validators=[
        DataRequired(_l("Please enter the personal e-mail address you gave when you left.")), Length(max=254)],
        description=_l("The private address the company has on record for you, not your old work address."))


class CodeForm(FlaskForm):
    code = StringField(_l("The 6-digit code"), validators=[
        DataRequired(_l("Please enter the code from the e-mail.")),
        Regexp(r"^\s*\d{6}\s*$", message=_l("The code is 6 digits, such as 042817."))],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "8"})


class StepUpForm(FlaskForm):
    next = HiddenField()


def _limited() -> bool:
    return bool(current_user.is_authenticated and getattr(g.get("auth_session"), "is_limited", False))


def address_rate_key() -> str:
    """Rate limits per address: the keyed index of the address typed (or, for a step-up, of the one
    on record), so the limiter's store never holds an address."""
    prefix = current_settings().redis_prefix
    if _limited():
        index = current_user.personal_email_index or current_user.id
    else:
        index = former.address_key(request.form.get("email", ""))
    return f"{prefix}former-address:{index}"


@bp.get("")
@public
def start() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("me.home"))
    return render_template("former/start.html", form=AddressForm(formdata=None))


@bp.post("")
@limiter.limit(FORMER_CLIENT)
@limiter.limit(FORMER_ADDRESS, key_func=address_rate_key)
@public
def ask() -> Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("me.home"))
    form = AddressForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_template("former/start.html", form=form), 400
    try:
        row, mail_job = former.request_code(form.email.data or "")
    except former.CodeRequestRefused as refused:
        db.session.rollback()
        form.email.errors = [str(refused)]
        return render_template("former/start.html", form=form), 400
    db.session.commit()
    former.send_later(mail_job)
    session[PENDING] = row.id
    session.pop(NEXT, None)
    return redirect(url_for("former.code"))


@bp.get("/code")
@public
def code() -> Response | str:
    if current_user.is_authenticated and not _limited():
        return redirect(url_for("me.home"))
    if not session.get(PENDING):
        return redirect(url_for("former.step_up" if _limited() else "former.start"))
    return render_template("former/code.html", form=CodeForm(formdata=None), step_up=_limited(),
                           minutes=int(former.CODE_LIFETIME.total_seconds() // 60), tries=former.MAX_TRIES)


REFUSALS: dict[str, Any] = {
    "locked": _l("Too many wrong codes: this code no longer works. Please ask for a new one."),
    "expired": _l("This code has expired (a code works for 10 minutes). Please ask for a new one."),
    "used": _l("This code has already been used. Please ask for a new one."),
    "unknown": _l("This code can no longer be used. Please ask for a new one."),
}


@bp.post("/code")
@limiter.limit(FORMER_VERIFY)
@public
def verify() -> Response | tuple[str, int]:
    if current_user.is_authenticated and not _limited():
        return redirect(url_for("me.home"))
    step_up = _limited()
    again = url_for("former.step_up" if step_up else "former.start")
    pending = session.get(PENDING)
    form = CodeForm()
    if not pending:
        flash(_("Please ask for a code first."), "error")
        return redirect(again)
    page = {"step_up": step_up, "minutes": int(former.CODE_LIFETIME.total_seconds() // 60), "tries": former.MAX_TRIES}
    if not form.validate_on_submit():
        db.session.rollback()
        return render_template("former/code.html", form=form, **page), 400
    purpose = CodePurpose.STEP_UP if step_up else CodePurpose.SIGN_IN
    try:
        employee = former.verify_code(str(pending), form.code.data or "", purpose=purpose,
                                      auth_session=g.auth_session if step_up else None)
    except former.CodeRefused as refused:
        db.session.commit()  # the try counts, and its audit entry stays
        if refused.reason == "wrong":
            form.code.errors = [_("That code is not right. You have %(n)d more tries with this code.",
                                  n=refused.tries_left)]
            return render_template("former/code.html", form=form, **page), 400
        session.pop(PENDING, None)
        flash(str(REFUSALS[refused.reason]), "error")
        return redirect(again)
    session.pop(PENDING, None)
    if step_up:
        former.refresh(g.auth_session)
        db.session.commit()
        flash(_("Thank you. You can go on for the next few minutes."), "success")
        return redirect(safe_next(session.pop(NEXT, None), url_for("me.home")))
    auth_session = former.start_session(employee, user_agent=request.user_agent.string)
    db.session.commit()
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    session.clear()
    employee.bind_auth_session(auth_session.id)
    login_user(employee)
    flash(_("You are signed in."), "success")
    return redirect(url_for("me.home"))


@bp.get("/step-up")
@public
def step_up() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("former.start"))
    if not _limited():
        return redirect(url_for("me.home"))  # staff sign in again at their IdP instead
    form = StepUpForm(formdata=None, next=safe_next(request.args.get("next"), url_for("me.home")))
    return render_template("former/step_up.html", form=form)


@bp.post("/step-up")
@open_to_former
@limiter.limit(FORMER_CLIENT)
@limiter.limit(FORMER_ADDRESS, key_func=address_rate_key)
@signed_in
def send_step_up() -> Response | tuple[str, int]:
    if not _limited():
        abort(404)
    form = StepUpForm()
    if not form.validate_on_submit():
        db.session.rollback()
        return render_template("former/step_up.html", form=form), 400
    address = current_user.personal_email
    if not address:
        abort(404)  # a code session exists only for someone with an address on record
    row, mail_job = former.request_code(address, purpose=CodePurpose.STEP_UP, auth_session=g.auth_session)
    db.session.commit()
    former.send_later(mail_job)
    session[PENDING] = row.id
    session[NEXT] = safe_next(form.next.data, url_for("me.home"))
    return redirect(url_for("former.code"))
