"""The monitoring policy for employees: the current version, earlier ones, the difference
between any two, and acknowledgements. Also the banner shown on every page while the current
version is unacknowledged."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, has_request_context, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from portal.audit.services import Actor
from portal.extensions import db
from portal.forms import ButtonForm
from portal.monitoring.aggregates import zone_of
from portal.policy import services as policy
from portal.policy.models import PolicyAcknowledgement, PolicyVersion
from portal.security import owned_or_404, signed_in

bp = Blueprint("policy", __name__)
log = logging.getLogger(__name__)


@bp.app_context_processor
def banner() -> dict[str, Any]:
    """``policy_banner``: the current version while the signed-in employee has not acknowledged it."""
    if not has_request_context() or not current_user.is_authenticated:
        return {"policy_banner": None}
    try:
        return {"policy_banner": policy.needs_acknowledgement(current_user.id)}
    except SQLAlchemyError:  # an error page after a database failure must still render
        log.warning("policy banner skipped: the database did not answer")
        return {"policy_banner": None}


def _version_or_404(number: int) -> PolicyVersion:
    found = policy.get_version(number)
    if found is None:
        abort(404)
    return found


def _render_version(version: PolicyVersion | None, *, is_current: bool) -> str:
    ack = policy.acknowledgement(current_user.id, version) if version is not None else None
    return render_template("policy/version.html", version=version, is_current=is_current, ack=ack,
                           body=policy.render(version.body_markdown) if version is not None else None,
                           current_number=policy.current_version_number(), form=ButtonForm(),
                           zone=zone_of(current_user.timezone), **policy.legal_facts(current_user.jurisdiction))


@bp.get("/policy")
@signed_in
def index() -> str:
    return _render_version(policy.current(), is_current=True)


@bp.get("/policy/versions")
@signed_in
def versions() -> str:
    return render_template("policy/versions.html", versions=policy.published(),
                           acks=policy.acknowledgements_of(current_user.id), zone=zone_of(current_user.timezone))


@bp.get("/policy/<int:version>")
@signed_in
def version(version: int) -> str:
    found = _version_or_404(version)
    return _render_version(found, is_current=found.version == policy.current_version_number())


@bp.post("/policy/<int:version>/acknowledge")
@signed_in
def acknowledge(version: int) -> Response:
    found = _version_or_404(version)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        policy.acknowledge(current_user.id, version, Actor("employee", current_user.id))
    except policy.PolicyError:
        db.session.rollback()
        flash(_("You had already acknowledged version %(n)s; nothing changed.", n=version), "error")
    else:
        db.session.commit()
        flash(_("Thank you: your acknowledgement of version %(n)s is recorded.", n=version), "success")
    is_current = found.version == policy.current_version_number()
    return redirect(url_for("policy.index") if is_current else url_for("policy.version", version=version))


@bp.get("/policy/acknowledgements/<int:ack_id>")
@signed_in
def acknowledgement(ack_id: int) -> str:
    ack = owned_or_404(PolicyAcknowledgement, ack_id)
    found = db.session.get(PolicyVersion, ack.policy_version_id)
    return render_template("policy/acknowledgement.html", ack=ack, version=found, zone=zone_of(current_user.timezone))


class DiffRequestError(ValueError):
    pass


def _chosen(name: str, unchosen: str) -> PolicyVersion:
    raw = request.args.get(name, "").strip()
    if not raw.isdecimal() or len(raw) > 9:
        raise DiffRequestError(unchosen)
    found = policy.get_version(int(raw))
    if found is None:
        raise DiffRequestError(_("There is no published version %(n)s.", n=int(raw)))
    return found


@bp.get("/policy/diff")
@signed_in
def diff() -> tuple[str, int] | str:
    versions = policy.published()
    context: dict[str, Any] = {"versions": versions, "result": None, "error": None,
                               "zone": zone_of(current_user.timezone)}
    if "from" not in request.args and "to" not in request.args:
        # Nothing chosen yet: the previous version against the current one, when there are two.
        if len(versions) >= 2:
            context["result"] = policy.diff(versions[1], versions[0])
        return render_template("policy/diff.html", **context)
    try:
        old = _chosen("from", _("Choose the older version from the list."))
        new = _chosen("to", _("Choose the newer version from the list."))
    except DiffRequestError as error:
        context["error"] = str(error)
        return render_template("policy/diff.html", **context), 400
    context["result"] = policy.diff(old, new)
    return render_template("policy/diff.html", **context)
