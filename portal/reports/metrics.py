"""Request metrics for a period: the CPRA figures (11 CCR §7102(a)) and GDPR timeliness.

One pass over the requests *received* in the period (``received_at`` from the first day 00:00 UTC
up to, not including, the day after the last day), optionally of one jurisdiction, gives per request
type and in total:

* what became of them: complied with in whole, complied with in part, denied (by legal basis),
  withdrawn, still open, failed. These six add up to the requests received;
* how long a response took (median and mean), over the requests that reached one;
* whether it came in time: on time, within the extension, late; or, for a request with no response
  yet, whether its deadline has passed on the report's date (``as_of``).

Definitions (also printed in the report's notes, :data:`NOTES`):

* **complied with in whole**: completed, and not "in part".
* **complied with in part**: a completed erasure that left data blocked under a legal hold
  (``ErasureCount.blocked > 0`` in any category). No other request records a partial outcome: a
  scope the requester narrowed (some categories, some dates) was complied with in whole.
* **denied**: rejected, with its legal basis (a failed request closed with a legal basis is
  denied too).
* **open**: received, open, in review, awaiting the requester, approved or being fulfilled.
* **failed**: fulfilment failed and is not complied with yet (a DPO may retry it).
* **days to respond**: whole calendar days (UTC) from the day received to the day of the response,
  the completion (``completed_at``) or the refusal (``decided_at``). 0 means the same day (a
  self-service export). The median is :func:`statistics.median` (the mean of the two middle values
  for an even count), the mean is rounded to 2 decimals when shown.
* **timeliness** compares the day of the response with ``due_on`` (on time), then with
  ``extended_due_on`` (extended), else late. A request with no response compares ``as_of`` with its
  effective deadline. A self-service export has no deadline recorded: it was answered on the day of
  receipt and counts as on time. Withdrawn requests have no timeliness: on time + extended + late
  + open overdue + open within deadline = received - withdrawn.

CPRA requests (:data:`CPRA_REQUESTS`, 11 CCR §7102(a)(1)): the same figures again, for the requests
of California consumers only (regimes with ``cpra_metrics`` in the registry), one row per CPRA
request, each of the portal's kinds counted as its registry kind's ``cpra``: access and portability
*together* are requests to know (portability is the format of a copy, §1798.130(a)(3)(B)(iii), not
another right); erasure a request to delete; rectification a request to correct; restriction and
an objection to AI training a request to limit (§1798.121). The request to opt out of sale/sharing
row is always there, at 0: the portal neither sells nor shares personal information, so no request
is one. A Spanish restriction is not a CPRA request to limit and is not counted there.

The CSV (:func:`to_csv`) has one row per request type, then a ``total`` row, with these columns,
in this order (:data:`CSV_COLUMNS`): ``period_start``, ``period_end`` (ISO dates, inclusive),
``jurisdiction`` (``all`` or a code such as ``US-CA``), ``as_of`` (the date open requests were
judged against their deadlines), ``type``, ``cpra_name``, ``received``, ``complied_in_whole``,
``complied_in_part``, ``denied``, ``withdrawn``, ``open``, ``failed``, ``responded``,
``median_days``, ``mean_days`` (empty when nothing was responded to), ``on_time``, ``extended``,
``late``, ``open_overdue``, ``open_within_deadline``, then ``denied_<legal basis>`` for every
refusal ground code of the registry (:func:`portal.jurisdictions.all_ground_codes`), in its order.
``cpra_name`` is empty on those rows; then follow the CPRA rows, ``type`` ``cpra`` and ``cpra_name``
the CPRA request.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.db import utcnow
from portal.extensions import db
from portal.i18n import wording
from portal.jurisdictions import KINDS, REGIMES, Cpra, RequestType, all_ground_codes, kind, regime_for, regime_named
from portal.pdf.text import document_locale, format_time
from portal.people.services import JURISDICTION
from portal.reports.pdf import ReportWriter, controller_name, dpo_contact, render
from portal.rights.models import OPEN_STATES, DataRequest, ErasureCount, RequestState

MIN_YEAR = 2000
MAX_YEAR = 2100
MAX_YEARS = 5  # the longest period a report may cover
TOTAL = "total"
ALL_JURISDICTIONS = "all"

CPRA = "cpra"
CPRA_REQUESTS: tuple[Cpra, ...] = (Cpra.KNOW, Cpra.DELETE, Cpra.CORRECT, Cpra.OPT_OUT, Cpra.LIMIT)
"""The rows of 11 CCR §7102(a)(1), in its order of mention in the report."""

NOTES: tuple[LazyString, ...] = (
    _l("Counted: requests received in the period (by the UTC day of receipt), of the jurisdiction chosen."),
    _l("Complied with in whole: completed. Complied with in part: a completed erasure that left data blocked "
    "under a legal hold (blocked items recorded for it); no other request records a partial outcome."),
    _l("Denied: rejected with a legal basis (shown by basis). Failed: fulfilment failed and is not complied with "
    "yet. Open: not yet answered. Complied + denied + withdrawn + open + failed = received."),
    _l("Days to respond: whole calendar days (UTC) from the day of receipt to the day of completion or refusal; "
    "0 is the same day (self-service exports). Median by statistics.median; mean to 2 decimals."),
    _l("On time: answered on or before the first deadline. Extended: after it, on or before the extended one. "
    "Late: after the effective deadline. Open overdue / within deadline: not answered, judged on the report "
    "date. Self-service exports have no deadline recorded and were answered on the day: on time. Withdrawn "
    "requests have no timeliness."),
    _l("CPRA requests (11 CCR §7102(a)): requests of California consumers only. Access and portability together "
    "are requests to know; erasure a request to delete; rectification a request to correct; a Californian's "
    "restriction or objection to AI training is a request to limit (it stops a use of sensitive personal "
    "information). Requests to opt out of sale/sharing: 0, as the portal neither sells nor shares personal "
    "information."),
)

_OPEN = frozenset(s.value for s in OPEN_STATES) - {RequestState.FAILED.value}
_BASES = all_ground_codes()


def _denial_label(code: str) -> str:
    if code == "other":
        return "Other grounds"
    grounds = [g for r in REGIMES for g in r.grounds if g.code == code]
    citations = list(dict.fromkeys(g.citation for g in grounds if g.citation))
    return f"{'; '.join(citations)}: {grounds[0].text}" if citations else grounds[0].text


DENIAL_LABELS: dict[str, str] = {code: _denial_label(code) for code in _BASES}
"""The refusal grounds of every regime as a report shows them: one column per code, with every
regime's citation for a code several regimes share ("Other (explained below)" speaks to the
requester, so it reads "Other grounds" here)."""


def denial_labels() -> dict[str, str]:
    """:data:`DENIAL_LABELS` in the reader's language (the page and the PDF)."""
    labels = {}
    for code in _BASES:
        if code == "other":
            labels[code] = _("Other grounds")
            continue
        grounds = [g for r in REGIMES for g in r.grounds if g.code == code]
        citations = list(dict.fromkeys(g.citation for g in grounds if g.citation))
        text = wording(grounds[0].text)
        labels[code] = f"{'; '.join(citations)}: {text}" if citations else text
    return labels


class MetricsError(ValueError):
    """A period or jurisdiction no report can be made for; the message says why."""


# -- the period -------------------------------------------------------------------------------------

def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year that has none
        return date(day.year + years, 3, 1)


def check_period(start: date, end: date) -> None:
    """Refuse a period that is upside down, outside the years a report can cover, or too long."""
    for day in (start, end):
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise MetricsError(_("Choose dates between %(min)s and %(max)s.", min=MIN_YEAR, max=MAX_YEAR))
    if start > end:
        raise MetricsError(_("The first day is after the last day."))
    if end >= _plus_years(start, MAX_YEARS):
        raise MetricsError(_("A report covers at most %(num)s years; choose a shorter period.", num=MAX_YEARS))


def year_period(year: int) -> tuple[date, date]:
    """1 January to 31 December of ``year``."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise MetricsError(_("Choose a year between %(min)s and %(max)s.", min=MIN_YEAR, max=MAX_YEAR))
    return date(year, 1, 1), date(year, 12, 31)


def resolve_period(year: int | None, date_from: date | None, date_to: date | None) -> tuple[date, date]:
    """A year, or two dates (not both, not one date alone), checked."""
    if year is not None and (date_from is not None or date_to is not None):
        raise MetricsError(_("Give either a year or a first and last day, not both."))
    if year is not None:
        return year_period(year)
    if date_from is None or date_to is None:
        raise MetricsError(_("Give a year, or both a first and a last day."))
    check_period(date_from, date_to)
    return date_from, date_to


def clean_jurisdiction(value: str | None) -> str | None:
    """``None`` (every jurisdiction) or a code such as ``ES`` or ``US-CA``."""
    code = (value or "").strip().upper()
    if not code or code == ALL_JURISDICTIONS.upper():
        return None
    if not JURISDICTION.match(code):
        raise MetricsError(_("A jurisdiction is a country code with an optional region, such as ES or US-CA."))
    return code


def jurisdictions_in_use() -> list[str]:
    """The jurisdictions that requests were received from."""
    return sorted(db.session.scalars(select(DataRequest.jurisdiction).distinct()))


# -- the report -------------------------------------------------------------------------------------

@dataclass
class TypeMetrics:
    """The figures of one request type (or of all of them: ``type == "total"``)."""

    type: str
    received: int = 0
    complied_in_whole: int = 0
    complied_in_part: int = 0
    denied: int = 0
    denied_by_basis: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_BASES, 0))
    withdrawn: int = 0
    open: int = 0
    failed: int = 0
    response_days: list[int] = field(default_factory=list)  # one per request responded to
    on_time: int = 0
    extended: int = 0
    late: int = 0
    open_overdue: int = 0
    open_within_deadline: int = 0
    cpra: str = ""  # on a CPRA row (type "cpra"): the CPRA request it counts

    @property
    def cpra_name(self) -> str:
        return self.cpra

    @property
    def responded(self) -> int:
        return len(self.response_days)

    @property
    def median_days(self) -> float | None:
        return float(statistics.median(self.response_days)) if self.response_days else None

    @property
    def mean_days(self) -> float | None:
        return statistics.fmean(self.response_days) if self.response_days else None


@dataclass
class MetricsReport:
    period_start: date
    period_end: date
    jurisdiction: str | None  # None: every jurisdiction
    as_of: date  # open requests are judged against their deadlines on this day
    generated_at: datetime
    rows: list[TypeMetrics]  # one per request type, in RequestType order
    total: TypeMetrics
    cpra_rows: list[TypeMetrics] = field(default_factory=list)  # one per CPRA request: Californians only

    @property
    def jurisdiction_label(self) -> str:
        return self.jurisdiction or ALL_JURISDICTIONS

    def all_rows(self) -> list[TypeMetrics]:
        return [*self.rows, self.total]


def _day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def _period_filter(start: date, end: date, jurisdiction: str | None) -> list[Any]:
    conditions = [DataRequest.received_at >= datetime.combine(start, time.min, tzinfo=UTC),
                  DataRequest.received_at < datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)]
    if jurisdiction:
        conditions.append(DataRequest.jurisdiction == jurisdiction)
    return conditions


def _tally(row: TypeMetrics, state: str, legal_basis: str | None, partly: bool, received: date,
           responded_on: date | None, due: date | None, extended_due: date | None, as_of: date) -> None:
    row.received += 1
    if state == RequestState.COMPLETED.value:
        if partly:
            row.complied_in_part += 1
        else:
            row.complied_in_whole += 1
    elif state == RequestState.REJECTED.value:
        row.denied += 1
        basis = legal_basis if legal_basis in row.denied_by_basis else "other"
        row.denied_by_basis[basis] += 1
    elif state == RequestState.WITHDRAWN.value:
        row.withdrawn += 1
        return  # no response is owed: no days, no timeliness
    elif state == RequestState.FAILED.value:
        row.failed += 1
    else:
        assert state in _OPEN, state  # noqa: S101 - the CHECK constraint keeps states to the enum
        row.open += 1
    first_due = due or received  # only self-service exports have none: answered on the day
    effective_due = extended_due or first_due
    if responded_on is not None:
        row.response_days.append((responded_on - received).days)
        if responded_on <= first_due:
            row.on_time += 1
        elif responded_on <= effective_due:
            row.extended += 1
        else:
            row.late += 1
    elif as_of > effective_due:
        row.open_overdue += 1
    else:
        row.open_within_deadline += 1


def compute(period_start: date, period_end: date, jurisdiction: str | None = None, *,
            as_of: date | None = None) -> MetricsReport:
    """The metrics of the requests received from ``period_start`` to ``period_end`` (inclusive,
    UTC days), of ``jurisdiction`` only unless it is None; open requests judged on ``as_of``
    (default: today, UTC)."""
    check_period(period_start, period_end)
    jurisdiction = clean_jurisdiction(jurisdiction)
    now = utcnow()
    as_of = as_of or now.date()
    where = _period_filter(period_start, period_end, jurisdiction)
    # Completed erasures that left something blocked under a legal hold: complied with in part.
    partly = set(db.session.scalars(
        select(ErasureCount.request_id).join(DataRequest, DataRequest.id == ErasureCount.request_id)
        .where(*where, DataRequest.type == RequestType.ERASURE.value,
               DataRequest.state == RequestState.COMPLETED.value)
        .group_by(ErasureCount.request_id).having(func.sum(ErasureCount.blocked) > 0)))
    rows = {t.value: TypeMetrics(t.value) for t in RequestType}
    total = TypeMetrics(TOTAL)
    cpra = {c: TypeMetrics(CPRA, cpra=str(c)) for c in CPRA_REQUESTS}
    query = select(DataRequest.id, DataRequest.type, DataRequest.state, DataRequest.legal_basis,
                   DataRequest.received_at, DataRequest.completed_at, DataRequest.decided_at, DataRequest.due_on,
                   DataRequest.extended_due_on, DataRequest.regime, DataRequest.jurisdiction).where(*where)
    for (request_id, kind_, state, basis, received_at, completed_at, decided_at, due, extended_due, regime,
         where_from) in db.session.execute(query):
        state = str(state)
        if state == RequestState.COMPLETED.value:
            responded_at = completed_at
        elif state == RequestState.REJECTED.value:
            responded_at = decided_at
        else:
            responded_at = None
        args = (state, basis, request_id in partly, _day(received_at),
                _day(responded_at) if responded_at is not None else None, due, extended_due, as_of)
        _tally(rows[str(kind_)], *args)
        _tally(total, *args)
        # The regime the request was filed under; the jurisdiction's for a request that recorded none.
        if (regime_named(regime) or regime_for(where_from)).cpra_metrics:
            _tally(cpra[kind(str(kind_)).cpra], *args)
    return MetricsReport(period_start=period_start, period_end=period_end, jurisdiction=jurisdiction, as_of=as_of,
                         generated_at=now, rows=list(rows.values()), total=total, cpra_rows=list(cpra.values()))


# -- CSV --------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "period_start", "period_end", "jurisdiction", "as_of", "type", "cpra_name", "received", "complied_in_whole",
    "complied_in_part", "denied", "withdrawn", "open", "failed", "responded", "median_days", "mean_days", "on_time",
    "extended", "late", "open_overdue", "open_within_deadline", *(f"denied_{basis}" for basis in _BASES),
)


def format_days(value: float | None) -> str:
    """``10``, ``10.5`` or ``19.33``; empty when there is nothing to measure."""
    if value is None:
        return ""
    rounded = round(value, 2)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.2f}".rstrip("0")


def csv_row(report: MetricsReport, row: TypeMetrics) -> dict[str, Any]:
    values: dict[str, Any] = {
        "period_start": report.period_start.isoformat(), "period_end": report.period_end.isoformat(),
        "jurisdiction": report.jurisdiction_label, "as_of": report.as_of.isoformat(), "type": row.type,
        "cpra_name": row.cpra_name, "received": row.received, "complied_in_whole": row.complied_in_whole,
        "complied_in_part": row.complied_in_part, "denied": row.denied, "withdrawn": row.withdrawn, "open": row.open,
        "failed": row.failed, "responded": row.responded, "median_days": format_days(row.median_days),
        "mean_days": format_days(row.mean_days), "on_time": row.on_time, "extended": row.extended, "late": row.late,
        "open_overdue": row.open_overdue, "open_within_deadline": row.open_within_deadline,
    }
    values.update({f"denied_{basis}": n for basis, n in row.denied_by_basis.items()})
    return values


def to_csv(report: MetricsReport) -> str:
    """One row per request type, a ``total`` row, then one ``cpra`` row per CPRA request, under the
    header :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in [*report.all_rows(), *report.cpra_rows]:
        writer.writerow(csv_row(report, row))
    return out.getvalue()


TYPE_NAMES: dict[str, LazyString] = {k.value: k.report_label for k in KINDS} | {TOTAL: _l("Total")}
CPRA_LABELS: dict[Cpra, LazyString] = {
    Cpra.KNOW: _l("Requests to know (access and portability)"),
    Cpra.DELETE: _l("Requests to delete (erasure)"),
    Cpra.CORRECT: _l("Requests to correct (rectification)"),
    Cpra.OPT_OUT: _l("Requests to opt out of sale/sharing (none: nothing is sold or shared)"),
    Cpra.LIMIT: _l("Requests to limit (a Californian's restriction or objection)"),
}


def _period_text(report: MetricsReport) -> str:
    return _("%(start)s to %(end)s (inclusive, UTC days)", start=report.period_start.isoformat(),
             end=report.period_end.isoformat())


def _jurisdiction_text(report: MetricsReport) -> str:
    return report.jurisdiction or _("all jurisdictions")


def to_pdf(report: MetricsReport) -> bytes:
    """The report as a PDF: the facts, the §7102(a) table, the denials by legal basis, days to
    respond and timeliness, and the definitions."""
    with document_locale():
        w = ReportWriter()
        w.title(_("Privacy request metrics"),
                _("Data-subject requests received from %(start)s to %(end)s: the figures that 11 CCR §7102(a) asks "
                  "for, with the timeliness of the responses against the GDPR and local deadlines.",
                  start=report.period_start.isoformat(), end=report.period_end.isoformat()))
        contact = dpo_contact()
        w.story.append(w.facts([
            (_("Period"), _period_text(report)),
            (_("Jurisdiction"), _jurisdiction_text(report)),
            (_("Controller"), controller_name()),
            (_("Data Protection Officer"), contact or "—"),
            (_("Generated"), format_time(report.generated_at)),
            (_("Open requests judged on"), report.as_of.isoformat()),
        ]))

        w.heading(_("CPRA requests of California consumers (11 CCR §7102(a))"))
        cpra_table: list[tuple[Any, ...]] = [
            (CPRA_LABELS[Cpra(r.cpra)], r.received, r.complied_in_whole, r.complied_in_part, r.denied,
             format_days(r.median_days) or "—", format_days(r.mean_days) or "—") for r in report.cpra_rows]
        w.story.append(w.table([_("CPRA request"), _("Received"), _("Complied in whole"), _("Complied in part"),
                                _("Denied"), _("Median days"), _("Mean days")],
                               [[f"{v:,}" if isinstance(v, int) else v for v in row] for row in cpra_table],
                               [2.2, 1, 1, 1, 1, 1, 1], right=range(1, 7)))

        w.heading(_("Requests by type, every regime"))
        rows = [(str(TYPE_NAMES[r.type]), r.received, r.complied_in_whole, r.complied_in_part, r.denied, r.withdrawn,
                 r.open, r.failed) for r in report.all_rows()]
        w.story.append(w.table([_("Type"), _("Received"), _("Complied in whole"),
                                _("Complied in part"), _("Denied"), _("Withdrawn"), _("Open"), _("Failed")],
                               [[f"{v:,}" if isinstance(v, int) else v for v in row] for row in rows],
                               [1.3, 1, 1, 1, 1, 1, 1, 1], right=range(1, 8)))

        w.heading(_("Denials by legal basis"))
        denials = [(label, report.total.denied_by_basis[basis],
                    ", ".join(f"{TYPE_NAMES[r.type]} {r.denied_by_basis[basis]:,}" for r in report.rows
                              if r.denied_by_basis[basis]) or "—")
                   for basis, label in denial_labels().items()]
        w.story.append(w.table([_("Legal basis"), _("Denied"), _("By type")],
                               [(label, f"{n:,}", by_type) for label, n, by_type in denials], [5, 1, 3],
                               right=(1,)))

        w.heading(_("Days to respond"))
        w.story.append(w.table([_("Type"), _("Responded"), _("Median days"), _("Mean days")],
                               [(str(TYPE_NAMES[r.type]), f"{r.responded:,}", format_days(r.median_days) or "—",
                                 format_days(r.mean_days) or "—") for r in report.all_rows()],
                               [2, 1, 1, 1], right=(1, 2, 3)))

        w.heading(_("Timeliness"))
        w.story.append(w.table([_("Type"), _("On time"), _("Extended"), _("Late"), _("Open, overdue"),
                                _("Open, within deadline")],
                               [(str(TYPE_NAMES[r.type]), f"{r.on_time:,}", f"{r.extended:,}", f"{r.late:,}",
                                 f"{r.open_overdue:,}", f"{r.open_within_deadline:,}") for r in report.all_rows()],
                               [1.6, 1, 1, 1, 1, 1], right=range(1, 6)))

        w.heading(_("Definitions"))
        w.bullets([str(note) for note in NOTES])
        title = _("Privacy request metrics")
        return render(w, title=title, subject=_period_text(report),
                      footer=_("Privacy request metrics, %(start)s to %(end)s, %(where)s, made %(when)s",
                               start=report.period_start.isoformat(), end=report.period_end.isoformat(),
                               where=_jurisdiction_text(report), when=format_time(report.generated_at)))


def file_name(report: MetricsReport, extension: str) -> str:
    """``request-metrics-2026-01-01-2026-12-31-all.csv``: dates and a code, safe anywhere."""
    return (f"request-metrics-{report.period_start.isoformat()}-{report.period_end.isoformat()}-"
            f"{report.jurisdiction_label}.{extension}")


def audit_details(report: MetricsReport, fmt: str, *, via: str) -> dict[str, Any]:
    """What a download's audit entry says: the period, the jurisdiction, the format and the channel."""
    return {"period_start": report.period_start.isoformat(), "period_end": report.period_end.isoformat(),
            "jurisdiction": report.jurisdiction_label, "format": fmt, "via": via,
            "received": report.total.received}


__all__ = [
    "CPRA", "CPRA_LABELS", "CPRA_REQUESTS", "CSV_COLUMNS", "DENIAL_LABELS", "NOTES", "TYPE_NAMES", "MetricsError", "MetricsReport", "TypeMetrics",
    "audit_details", "check_period", "clean_jurisdiction", "compute", "csv_row", "file_name", "format_days",
    "jurisdictions_in_use", "resolve_period", "to_csv", "to_pdf", "year_period",
]
