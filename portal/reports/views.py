"""The reports page: request metrics for a period (CPRA §7102, GDPR timeliness) and the record of
processing (GDPR Art. 30), on the page or as CSV and PDF.

Who may read them: ``Permission.REPORTS_READ``: DPOs, privacy admins and auditors. The figures are
aggregates (no person is named or identifiable in them), and they are what a regulator or an
auditor asks for; the admin keeps the register the record of processing is made from.

Everything here is GET: choosing a period, viewing and downloading change nothing. The first visit
shows this year's figures, as View does. Each download (CSV or PDF) writes one audit entry
(``evidence:metrics:download``, ``evidence:ropa:download``) with the period, the jurisdiction and
the format; viewing on the page (the first visit included) is not a download, writes nothing and is
not audited. Bad input (a period upside down or over five years, a date that is not one, an unknown
jurisdiction or format) shows the form again with the reasons, 400, and no file.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.extensions import db
from portal.security import Permission, requires

from . import metrics, ropa

bp = Blueprint("reports", __name__, url_prefix="/dpo/reports")

FORMATS = ("view", "csv", "pdf")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


class MetricsForm(FlaskForm):
    """A GET form, read from the query string: no CSRF token (it changes nothing)."""

    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(
        metrics.MIN_YEAR, metrics.MAX_YEAR,
        message=_l("Choose a year between %(min)s and %(max)s.", min=metrics.MIN_YEAR, max=metrics.MAX_YEAR))],
        description=_l("1 January to 31 December. Or leave it empty and give the first and last day below."))
    date_from = DateField(_l("First day (UTC)"), name="from", validators=[Optional()])
    date_to = DateField(_l("Last day (UTC)"), name="to", validators=[Optional()],
                        description=_l("Both days are included; at most five years."))
    jurisdiction = SelectField(_l("Jurisdiction"), default="", validate_choice=True)

    def __init__(self, *args: Any, jurisdictions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jurisdiction.choices = [SelectChoice("", _l("All jurisdictions")),
                                     *(SelectChoice(j, j) for j in jurisdictions)]
        self.period: tuple[date, date] | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        try:
            self.period = metrics.resolve_period(self.year.data, self.date_from.data, self.date_to.data)
        except metrics.MetricsError as error:
            dated = self.date_from.data is not None or self.date_to.data is not None
            (self.date_to if dated and self.year.data is None else self.year).errors.append(str(error))
            return False
        return True


def _download(body: bytes, file_name: str, fmt: str) -> Response:
    response = Response(body, mimetype=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(form: MetricsForm, status: int, report: metrics.MetricsReport | None = None,
          notices: list[str] | None = None) -> tuple[str, int]:
    return render_template(
        "evidence/reports.html", form=form, report=report, notices=notices or [],
        type_names=metrics.TYPE_NAMES, cpra_labels=metrics.CPRA_LABELS, format_days=metrics.format_days,
        notes=metrics.NOTES,
        denials=[(label, basis) for basis, label in metrics.denial_labels().items()],
    ), status


@bp.get("")
@requires(Permission.REPORTS_READ)
def index() -> Response | tuple[str, int]:
    form = MetricsForm(request.args, jurisdictions=metrics.jurisdictions_in_use())
    fmt = request.args.get("format")
    if fmt is None:  # the first visit: this year's figures, with the form to choose another period
        form = MetricsForm(formdata=None, jurisdictions=metrics.jurisdictions_in_use(), year=utcnow().year)
        if not form.validate() or form.period is None:  # this year is always a period a report can cover
            return _page(form, 400)
        return _page(form, 200, metrics.compute(*form.period, None))
    if fmt not in FORMATS:
        return _page(form, 400, notices=[_("Choose View, CSV or PDF.")])
    if not form.validate() or form.period is None:
        return _page(form, 400)
    try:
        report = metrics.compute(*form.period, form.jurisdiction.data or None)
    except metrics.MetricsError as error:  # a jurisdiction stored in a form no report can name
        return _page(form, 400, notices=[str(error)])
    if fmt == "view":
        return _page(form, 200, report)
    body = metrics.to_csv(report).encode("utf-8") if fmt == "csv" else metrics.to_pdf(report)
    record("evidence:metrics:download", actor=Actor("employee", current_user.id),
           details=metrics.audit_details(report, fmt, via="web"))
    db.session.commit()
    return _download(body, metrics.file_name(report, fmt), fmt)


def _record_of_processing(fmt: str) -> Response:
    processing = ropa.build_record()
    body = ropa.to_csv(processing).encode("utf-8") if fmt == "csv" else ropa.to_pdf(processing)
    record("evidence:ropa:download", actor=Actor("employee", current_user.id),
           details={"format": fmt, "via": "web", "activities": len(processing.activities)})
    db.session.commit()
    return _download(body, ropa.file_name(processing, fmt), fmt)


@bp.get("/record-of-processing.csv")
@requires(Permission.REPORTS_READ)
def record_csv() -> Response:
    return _record_of_processing("csv")


@bp.get("/record-of-processing.pdf")
@requires(Permission.REPORTS_READ)
def record_pdf() -> Response:
    return _record_of_processing("pdf")
