"""The employee's exports: ask for one, watch it being made, download it (signed in afresh)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.audit.services import Actor
from portal.auth.stepup import fresh_sign_in_required
from portal.extensions import db
from portal.forms import ButtonForm
from portal.monitoring.aggregates import zone_of
from portal.rights.models import DataRequest
from portal.security import open_to_former, owned_or_404, signed_in

from . import services as exports
from .forms import ExportForm
from .models import Export

bp = Blueprint("exports", __name__)


def _form() -> ExportForm:
    form = ExportForm()
    form.categories.choices = [(c.key, c.name) for c in exports.categories_available()]
    if not form.is_submitted():
        form.categories.data = [key for key, _label in form.categories.choices]
    return form


def _index(form: ExportForm, status: int = 200) -> tuple[str, int]:
    items = exports.exports_of(current_user.id)
    return render_template(
        "exports/index.html", form=form, exports=items, statuses={e.id: exports.status(e) for e in items},
        downloads=exports.downloads_of([e.id for e in items]), button=ButtonForm(),
        zone=zone_of(current_user.timezone), export_days=exports.settings().export_days,
    ), status


@bp.get("/me/exports")
@open_to_former
@signed_in
def index() -> tuple[str, int]:
    return _index(_form())


@bp.post("/me/exports")
@signed_in
def create() -> Response | tuple[str, int]:
    form = _form()
    if not form.validate_on_submit():
        return _index(form, 400)
    try:
        export = exports.request_export(current_user, categories=form.categories.data, date_from=form.date_from.data,
                                        date_to=form.date_to.data, actor=Actor("employee", current_user.id))
    except exports.ExportError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _index(form, 400)
    db.session.commit()
    flash(_("Your export is being prepared. You can leave this page and come back: it carries on without you."),
          "success")
    return redirect(url_for("exports.detail", export_id=export.id))


@bp.get("/me/exports/<export_id>")
@open_to_former
@signed_in
def detail(export_id: str) -> str:
    export = owned_or_404(Export, export_id)
    erased_by = db.session.get(DataRequest, export.erased_by_request_id) if export.erased_by_request_id else None
    return render_template("exports/detail.html", export=export, status=exports.status(export), erased_by=erased_by,
                           downloads=exports.downloads_of([export.id])[export.id], button=ButtonForm(),
                           zone=zone_of(current_user.timezone), downloadable=exports.is_downloadable(export),
                           names={c.key: c.name for c in exports.categories_available()})


@bp.get("/me/exports/<export_id>/progress")
@open_to_former
@signed_in
def progress(export_id: str) -> Response:
    export = owned_or_404(Export, export_id)
    s = exports.status(export)
    return jsonify(state=s.state, percent=s.percent, done=s.done, total=s.total, error=s.error)


@bp.post("/me/exports/<export_id>/download")
@open_to_former
@signed_in
@fresh_sign_in_required(back="exports.detail")
def download(export_id: str) -> Response:
    export = owned_or_404(Export, export_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not exports.is_downloadable(export):
        flash(_("This export can no longer be downloaded: it was deleted by an erasure. Make a new one.")
              if export.erased_by_request_id else
              _("This export can no longer be downloaded: it has expired and was deleted. Make a new one."), "error")
        return redirect(url_for("exports.detail", export_id=export.id))
    try:
        chunks = exports.open_download(export)
    except FileNotFoundError:
        abort(404)
    exports.record_download(export, actor=Actor("employee", current_user.id))
    db.session.commit()
    response = Response(stream_with_context(chunks), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
    if export.artifact_bytes is not None:
        response.headers["Content-Length"] = str(export.artifact_bytes)
    response.headers["Cache-Control"] = "no-store"
    return response
