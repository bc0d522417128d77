"""Evidence packs on the DPO's case page, and the pages a regulator opens from a shared link.

Staff pages need ``evidence:read`` and a case this member of staff may see by the very rule of the
case page (:func:`portal.rights.cases.case_or_404`); anything else is 404, audited. A refused form
shows the case page again with 400 and the reason next to the form.

The regulator's pages are public: the link's token is the key. An unknown, expired or revoked link
gets the same plain 404; the miss is audited without the token. These pages are never cached
and send no referrer, so the token does not travel on to another site.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import AnyOf, DataRequired, InputRequired, NumberRange

from portal.audit.heads import HeadError
from portal.audit.services import Actor
from portal.config import current_settings
from portal.crypto.keys import SealError
from portal.db import utcnow
from portal.extensions import db
from portal.forms import ButtonForm
from portal.monitoring.aggregates import zone_of
from portal.ratelimit import SHARED_LINK, limiter
from portal.rights.cases import case_or_404
from portal.rights.models import DataRequest
from portal.rights.services import may_view
from portal.rights.views import staff as staff_views
from portal.security import Permission, permissions_of, public, refuse_access, requires

from . import sharing
from .models import AUTHORITY_LABELS, EvidencePack, EvidenceShare

log = logging.getLogger(__name__)

bp = Blueprint("evidence", __name__)
# The case page, shown again after a refused form, needs the DPO pages' labels.
bp.context_processor(staff_views.case_labels)

VERIFIER = Path(__file__).with_name("verify.py")
# Servers log each request's path; a link's token in a log line would be a working link there.
SHARED_PATH = re.compile(r"(/evidence/shared/)[A-Za-z0-9_-]+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


class TokenRedactor(logging.Filter):
    """Cuts the token out of ``/evidence/shared/<token>`` in the web servers' access log lines."""

    @staticmethod
    def _clean(value: object) -> object:
        return SHARED_PATH.sub(r"\1[token]", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True


@bp.record_once
def _redact_access_logs(state: BlueprintSetupState) -> None:
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) for f in logger.filters):
            logger.addFilter(TokenRedactor())


# -- forms ------------------------------------------------------------------------------------------

class ShareForm(FlaskForm):
    authority = SelectField(
        _l("Supervisory authority"), validate_choice=False,
        choices=[("", _l("Choose…"))] + list(AUTHORITY_LABELS.items()),
        validators=[DataRequired(message=_l("Choose the supervisory authority the link is for.")),
                    AnyOf(list(AUTHORITY_LABELS), message=_l("Choose a supervisory authority from the list."))],
        description=_l("Whom the link is for: an authority, never a person's name."))
    days = IntegerField(_l("Days the link works"), default=sharing.DEFAULT_DAYS,
                        validators=[InputRequired(message=_l("Say for how many days the link works.")),
                                    NumberRange(min=sharing.MIN_DAYS, max=sharing.MAX_DAYS,
                                                message=_l("A link works for %(min)s to %(max)s days."))])


class RevokeForm(FlaskForm):
    confirm = BooleanField(_l("I confirm: the link stops working now"),
                           validators=[DataRequired(message=_l("Tick the box to confirm revoking the link."))])


def _errors(form: FlaskForm) -> str:
    return " ".join(str(m) for messages in form.errors.values() for m in messages)


# -- loaders ----------------------------------------------------------------------------------------

def _actor() -> Actor:
    return Actor("employee", current_user.id)


def _pack_or_404(pack_id: str) -> tuple[EvidencePack, DataRequest]:
    pack = db.session.get(EvidencePack, pack_id) if pack_id else None
    case = db.session.get(DataRequest, pack.request_id) if pack is not None else None
    if pack is None or case is None or not may_view(current_user, case):
        refuse_access("evidence_packs", pack_id, owner_id=case.subject_id if case is not None else None)
    return pack, case


def _staff_share_or_404(share_id: str) -> tuple[EvidenceShare, DataRequest]:
    link = db.session.get(EvidenceShare, share_id) if share_id else None
    pack = db.session.get(EvidencePack, link.pack_id) if link is not None else None
    case = db.session.get(DataRequest, pack.request_id) if pack is not None else None
    if link is None or case is None or not may_view(current_user, case):
        refuse_access("evidence_shares", share_id, owner_id=case.subject_id if case is not None else None)
    return link, case


# -- the case page's section ------------------------------------------------------------------------

@dataclass
class CaseEvidence:
    """What templates/evidence/case_section.html shows for one case."""

    packs: list[EvidencePack]
    shares: dict[str, list[EvidenceShare]]
    share_forms: dict[str, ShareForm]
    revoke_form: RevokeForm
    revoke_error: tuple[str, str] | None
    now: datetime
    authority_labels: dict[str, Any] = field(default_factory=dict)


def case_evidence(case: DataRequest) -> CaseEvidence | None:
    """The case's packs and links, for staff who may read evidence (None for the others)."""
    if not current_user.is_authenticated or Permission.EVIDENCE_READ not in permissions_of(current_user.role_names):
        return None
    packs = sharing.packs_of(case.id)
    bound: tuple[str, ShareForm] | None = g.get("evidence_share_form")
    forms = {p.id: bound[1] if bound and bound[0] == p.id else ShareForm(formdata=None) for p in packs}
    return CaseEvidence(packs=packs, shares=sharing.shares_of([p.id for p in packs]), share_forms=forms,
                        revoke_form=RevokeForm(formdata=None), revoke_error=g.get("evidence_revoke_error"),
                        now=utcnow(), authority_labels=AUTHORITY_LABELS)


@bp.app_context_processor
def _case_section_helper() -> dict[str, Any]:
    return {"evidence_of_case": case_evidence}


def _case_again(case: DataRequest, status: int) -> tuple[str, int]:
    return staff_views.case_page(case, status)


# -- staff ------------------------------------------------------------------------------------------

@bp.post("/dpo/requests/<request_id>/evidence")
@requires(Permission.EVIDENCE_READ)
def make_pack(request_id: str) -> Response | tuple[str, int]:
    case = case_or_404(current_user, request_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        pack = sharing.make_pack(case, _actor())
    except HeadError:
        db.session.rollback()
        flash(_("No pack was made: the audit log does not verify, so no tree head can be signed. Run "
                "“flask audit verify” and tell the administrator."), "error")
        return _case_again(case, 409)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        sharing.discard_file(pack)
        raise
    flash(_("The evidence pack is made (SHA-256 %(sha)s…). Download it or share it with an authority below.",
            sha=pack.sha256[:16]), "success")
    return redirect(url_for("dpo.case", request_id=case.id) + "#case-evidence")


def _send_pack(pack: EvidencePack) -> Response:
    try:
        data = sharing.pack_bytes(pack)
    except (FileNotFoundError, SealError):
        log.error("evidence pack %s cannot be read from the artifact directory", pack.id)
        abort(404)
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f"attachment; filename={pack.filename}"  # [a-zA-Z0-9-.] only
    response.headers["Cache-Control"] = "no-store"
    response.headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(pack.sha256)).decode()}:"
    return response


@bp.get("/dpo/evidence/<pack_id>/download")
@requires(Permission.EVIDENCE_READ)
def download(pack_id: str) -> Response:
    pack, _case = _pack_or_404(pack_id)
    response = _send_pack(pack)  # 404 before anything is recorded if the file is gone
    sharing.record_download(pack, _actor())
    db.session.commit()
    return response


@bp.post("/dpo/evidence/<pack_id>/shares")
@requires(Permission.EVIDENCE_READ)
def create_share(pack_id: str) -> tuple[str, int]:
    pack, case = _pack_or_404(pack_id)
    form = ShareForm()
    if not form.validate_on_submit():
        db.session.rollback()
        flash(_("No link was made: %(errors)s", errors=_errors(form)), "error")
        g.evidence_share_form = (pack.id, form)
        return _case_again(case, 400)
    try:
        link, token = sharing.share(pack, form.authority.data or "", form.days.data or 0, actor=_actor())
    except sharing.SharingError as error:
        db.session.rollback()
        flash(str(error), "error")
        g.evidence_share_form = (pack.id, form)
        return _case_again(case, 400)
    db.session.commit()
    base_url = current_settings().base_url
    page = render_template(
        "evidence/share_created.html", case=case, pack=pack, share=link,
        url=base_url + url_for("evidence.shared", token=token), authority=AUTHORITY_LABELS.get(link.authority, link.authority),
        zone=zone_of(current_user.timezone))
    return page, 200


@bp.post("/dpo/evidence/shares/<share_id>/revoke")
@requires(Permission.EVIDENCE_READ)
def revoke_share(share_id: str) -> Response | tuple[str, int]:
    link, case = _staff_share_or_404(share_id)
    form = RevokeForm()
    if not form.validate_on_submit():
        db.session.rollback()
        message = _errors(form)
        flash(_("The link was not revoked: %(errors)s", errors=message), "error")
        g.evidence_revoke_error = (link.id, message)
        return _case_again(case, 400)
    try:
        sharing.revoke(link, _actor())
    except sharing.AlreadyRevoked as error:
        db.session.rollback()
        flash(str(error), "error")
        return _case_again(case, 409)
    db.session.commit()
    flash(_("The link is revoked: it no longer opens."), "success")
    return redirect(url_for("dpo.case", request_id=case.id) + "#case-evidence")


# -- the regulator's pages --------------------------------------------------------------------------

def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


class _DeadLink(Exception):
    """A shared link that does not work: answered with a page for the regulator, not the
    employees' error page (which points to a sign-in they cannot use)."""

    def __init__(self, lookup: sharing.Lookup) -> None:
        super().__init__(lookup.miss)
        self.lookup = lookup


@bp.app_errorhandler(_DeadLink)
def _dead_link(error: _DeadLink) -> tuple[str, int]:
    found = error.lookup
    expired_on = found.share.expires_at if found.share is not None and found.miss == "expired" else None
    page = render_template("evidence/shared_gone.html", miss=found.miss, expired_on=expired_on,
                           zone=zone_of("UTC"))
    return page, 404 if found.miss == "unknown" else 410


def _open_or_404(token: str) -> tuple[EvidenceShare, EvidencePack, DataRequest]:
    found = sharing.find_share(token, endpoint=request.endpoint or "")
    link = found.share_if_working
    if link is None:
        db.session.commit()  # the audited miss
        raise _DeadLink(found)
    pack = db.session.get(EvidencePack, link.pack_id)
    assert pack is not None  # noqa: S101 - the foreign key cascades
    return link, pack, sharing.request_of(pack)


@bp.get("/evidence/shared/<token>")
@limiter.limit(SHARED_LINK)
@public
def shared(token: str) -> Response:
    link, pack, case = _open_or_404(token)
    sharing.record_access(link, "view")
    db.session.commit()
    base_url = current_settings().base_url
    page = render_template(
        "evidence/shared.html", share=link, pack=pack, case=case, zone=zone_of("UTC"),
        key_url=base_url + url_for("audit.audit_log_key"), verifier_url=base_url + url_for("evidence.verifier"),
        authority=AUTHORITY_LABELS.get(link.authority, link.authority))
    return _private(make_response(page))


@bp.get("/evidence/shared/<token>/download")
@limiter.limit(SHARED_LINK)
@public
def shared_download(token: str) -> Response:
    link, pack, _case = _open_or_404(token)
    response = _send_pack(pack)
    sharing.record_access(link, "download")
    db.session.commit()
    return _private(response)


@bp.get("/evidence/verifier.py")
@public
def verifier() -> Response:
    """The offline verifier's source, so that a regulator needs nothing from us but this file
    (and ``pip install cryptography``)."""
    if not VERIFIER.is_file():
        abort(404)
    response = make_response(VERIFIER.read_bytes())
    response.headers["Content-Type"] = "text/x-python; charset=utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="verifier.py"'
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
