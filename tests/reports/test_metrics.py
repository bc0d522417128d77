"""The request metrics (CPRA 11 CCR §7102, GDPR timeliness): a block of 13 requests built by hand
whose every figure is worked out below by hand, the same block 100 times over (1,300 requests,
every count exactly 100 times, medians and means unchanged), the edges of the period, the CSV and
the PDF, the reports page and the command.

The block (``BLOCK``): each request is received ``day`` days (and ``at`` hours) after the copy's
first day, answered ``answer`` days/hours later, due ``due`` days after the day of receipt (and
``ext`` after it when extended). The copy's first day is 1 January 2025 for the hand-checked block,
and 1 January + 2k days for copy k of the 100. Open requests are judged on AS_OF, 15 January 2026.

    #   type           state       where  days to respond          timeliness
    1   access         completed   ES     3 (Jan 1 00:00 -> Jan 4)  on time (due +31)
    2   portability    completed   US-CA  1 (23:30 -> 00:30 next)   on time (due +45)
    3   erasure        completed   ES     10, 5 items blocked       on time  -> complied in PART
    4   erasure        completed   CO     45                        late (due +22, extended +36)
    5   rectification  completed   ES     51                        extended (due +31, extended +90)
    6   restriction    rejected    BR     2, gdpr-12-5              on time (due +15)
    7   objection      rejected    ES     52, gdpr-21-1             late (due +31, no extension)
    8   access         rejected    US-CA  11, identity              on time (due +45)
    9   erasure        withdrawn   ES     -                         - (no response owed)
    10  access         in_review   ES     -                         open, overdue (due +31)
    11  rectification  received    CO     -                         open, within (due AS_OF + 10)
    12  portability    failed      ES     -                         open, overdue (extended +92)
    13  access         completed   ES     0 (self-service export)   on time (no deadline recorded)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from portal.audit.models import AuditEntry
from portal.db import new_id
from portal.extensions import db
from portal.jurisdictions import Cpra
from portal.people.services import find_by_email
from portal.reports import metrics
from portal.rights.models import DataRequest, ErasureCount
from tests.conftest import both_databases, set_idp_user
from tests.helpers import audit_entries, make_employee, signed_in_as, snapshot

AS_OF = date(2026, 1, 15)
YEAR = 2025
COPIES = 100


@dataclass(frozen=True)
class Spec:
    type: str
    state: str
    jurisdiction: str
    day: int  # days after the copy's first day
    at: float = 10  # hour of the day received (UTC)
    answer: timedelta | None = None  # from receipt to the response (completion or refusal)
    due: int | None = 31  # days after the day of receipt; None: no deadline (self-service)
    ext: int | None = None
    basis: str | None = None
    blocked: int = 0  # erasure: items kept under a legal hold
    channel: str = "portal"
    due_fixed: date | None = None  # a deadline that does not move with the copy


BLOCK: tuple[Spec, ...] = (
    Spec("access", "completed", "ES", 0, at=0, answer=timedelta(days=3, hours=10)),
    Spec("portability", "completed", "US-CA", 1, at=23.5, answer=timedelta(hours=1), due=45),
    Spec("erasure", "completed", "ES", 2, answer=timedelta(days=10), blocked=5),
    Spec("erasure", "completed", "CO", 4, answer=timedelta(days=45), due=22, ext=36),
    Spec("rectification", "completed", "ES", 5, answer=timedelta(days=51), due=31, ext=90),
    Spec("restriction", "rejected", "BR", 6, answer=timedelta(days=2), due=15, basis="gdpr-12-5"),
    Spec("objection", "rejected", "ES", 7, answer=timedelta(days=52), basis="gdpr-21-1"),
    Spec("access", "rejected", "US-CA", 8, answer=timedelta(days=11), due=45, basis="identity"),
    Spec("erasure", "withdrawn", "ES", 9),
    Spec("access", "in_review", "ES", 10),
    Spec("rectification", "received", "CO", 11, due_fixed=AS_OF + timedelta(days=10)),
    Spec("portability", "failed", "ES", 12, ext=92),
    Spec("access", "completed", "ES", 13, answer=timedelta(0), due=None, channel="self_service"),
)

# Every figure of the block, by hand (see the table in the module docstring).
#   type: received, whole, part, denied, withdrawn, open, failed, responded, median, mean,
#         on time, extended, late, open overdue, open within
EXPECTED: dict[str, tuple[float, ...]] = {
    # access #1 (3 d), #8 (11 d), #13 (0 d), #10 open: days [0, 3, 11] -> median 3, mean 14/3 = 4.67
    "access": (4, 2, 0, 1, 0, 1, 0, 3, 3, 14 / 3, 3, 0, 0, 1, 0),
    # portability #2 (1 d; 23:30 -> 00:30 is the next calendar day), #12 failed and overdue
    "portability": (2, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 0),
    # erasure #3 (10 d, in part), #4 (45 d, late), #9 withdrawn: days [10, 45] -> median (10+45)/2 = 27.5, mean 27.5
    "erasure": (3, 1, 1, 0, 1, 0, 0, 2, 27.5, 27.5, 1, 0, 1, 0, 0),
    # rectification #5 (51 d, within the extension), #11 open within its deadline
    "rectification": (2, 1, 0, 0, 0, 1, 0, 1, 51, 51, 0, 1, 0, 0, 1),
    # restriction #6 refused in 2 days
    "restriction": (1, 0, 0, 1, 0, 0, 0, 1, 2, 2, 1, 0, 0, 0, 0),
    # objection #7 refused in 52 days, after its deadline
    "objection": (1, 0, 0, 1, 0, 0, 0, 1, 52, 52, 0, 0, 1, 0, 0),
    # all: 5 + 1 + 3 + 1 + 2 + 1 = 13 received; days [0, 1, 2, 3, 10, 11, 45, 51, 52] -> median 10 (the 5th of 9),
    # mean 175 / 9 = 19.44; timeliness 6 + 1 + 2 + 2 + 1 = 12 = 13 received - 1 withdrawn
    "total": (13, 5, 1, 3, 1, 2, 1, 9, 10, 175 / 9, 6, 1, 2, 2, 1),
}
FIELDS = ("received", "complied_in_whole", "complied_in_part", "denied", "withdrawn", "open", "failed", "responded",
          "median_days", "mean_days", "on_time", "extended", "late", "open_overdue", "open_within_deadline")
DENIED = {"identity": 1, "gdpr-12-5": 1, "gdpr-21-1": 1}  # one each: #8, #6, #7
# US-CA only: #2 (portability, 1 d) and #8 (access, refused, 11 d): days [1, 11] -> median 6, mean 6.
CALIFORNIA_TOTAL = (2, 1, 0, 1, 0, 0, 0, 2, 6, 6, 2, 0, 0, 0, 0)


# -- the factory: rows as the services would leave them, at exact times, inserted in bulk ---------------

def block_rows(subject_id: str, first_day: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The block's requests received from ``first_day`` on, and the erasure counts of its erasures."""
    requests: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for spec in BLOCK:
        received = first_day + timedelta(days=spec.day, hours=spec.at)
        responded = received + spec.answer if spec.answer is not None else None
        day = received.date()
        row: dict[str, Any] = {
            "id": new_id(), "subject_id": subject_id, "type": spec.type, "state": spec.state, "channel": spec.channel,
            "jurisdiction": spec.jurisdiction, "received_at": received,
            "completed_at": responded if spec.state == "completed" else None,
            "decided_at": responded if spec.state == "rejected" else None,
            "legal_basis": spec.basis, "decision_sealed": b"sealed reasons" if spec.basis else None,
            "due_on": spec.due_fixed or (day + timedelta(days=spec.due) if spec.due is not None else None),
            "extended_due_on": day + timedelta(days=spec.ext) if spec.ext else None,
            "extension_reason_sealed": b"sealed reason" if spec.ext else None,
        }
        requests.append(row)
        if spec.type == "erasure" and spec.state == "completed":
            counts.append({"request_id": row["id"], "category": "input_events", "deleted": 10, "blocked": 0})
            counts.append({"request_id": row["id"], "category": "screenshots", "deleted": 2, "blocked": spec.blocked})
    return requests, counts


def insert(requests: list[dict[str, Any]], counts: list[dict[str, Any]]) -> None:
    db.session.execute(sa.insert(DataRequest), requests)
    if counts:
        db.session.execute(sa.insert(ErasureCount), counts)
    db.session.commit()


def edge_rows(subject_id: str) -> list[dict[str, Any]]:
    """Completed access requests just outside 2025: the last second of 2024, the first of 2026."""
    rows, _ = block_rows(subject_id, datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC))
    first = dict(rows[0], id=new_id(), received_at=datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC))
    last = dict(rows[0], id=new_id(), received_at=datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
                completed_at=datetime(2026, 1, 2, tzinfo=UTC))
    return [first, last]


def figures(row: metrics.TypeMetrics) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in FIELDS)


def expected(kind: str, times: int = 1) -> tuple[Any, ...]:
    values = EXPECTED[kind]
    return tuple(v if i in (8, 9) else v * times for i, v in enumerate(values))  # medians and means stay


def assert_block(report: metrics.MetricsReport, times: int = 1) -> None:
    for row in report.all_rows():
        got = figures(row)
        want = expected(row.type, times)
        assert got[:8] == want[:8] and got[10:] == want[10:], (row.type, got, want)
        assert got[8] == pytest.approx(want[8]) and got[9] == pytest.approx(want[9]), (row.type, got[8:10], want[8:10])
    assert {k: v for k, v in report.total.denied_by_basis.items() if v} == {k: v * times for k, v in DENIED.items()}
    assert report.rows[0].denied_by_basis["identity"] == times  # the access refused: identity not verified
    assert metrics.format_days(report.total.mean_days) == "19.44"
    assert metrics.format_days(report.rows[0].mean_days) == "4.67"
    assert metrics.format_days(report.rows[2].median_days) == "27.5"
    assert metrics.format_days(report.total.median_days) == "10"


@pytest.fixture
def subject(app: Flask) -> str:
    return make_employee(app, "erin@example.com", consents=False)


# -- the hand-checked block ----------------------------------------------------------------------------

@both_databases
def test_the_hand_checked_block(app: Flask, subject: str) -> None:
    with app.app_context():
        requests, counts = block_rows(subject, datetime(YEAR, 1, 1, tzinfo=UTC))
        insert(requests + edge_rows(subject), counts)
        report = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), None, as_of=AS_OF)
        assert [r.type for r in report.rows] == ["access", "portability", "erasure", "rectification", "restriction",
                                                 "objection"]
        assert_block(report)
        # The rows by type count every jurisdiction and are no CPRA figures; the CPRA rows count the two
        # Californian requests (#2 portability, #8 access) together as requests to know.
        assert report.total.cpra_name == "" and report.rows[2].cpra_name == ""
        assert [(r.cpra_name, r.received, r.complied_in_whole, r.denied) for r in report.cpra_rows] == [
            ("request to know", 2, 1, 1), ("request to delete", 0, 0, 0), ("request to correct", 0, 0, 0),
            ("request to opt-out of sale/sharing", 0, 0, 0), ("request to limit", 0, 0, 0)]

        california = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), "us-ca", as_of=AS_OF)
        assert california.jurisdiction == "US-CA"
        assert figures(california.total) == CALIFORNIA_TOTAL
        assert figures(california.rows[1])[:3] == (1, 1, 0)  # the portability request, complied with

        # The edges: the last second of 2024 is in 2024's report, the first second of 2026 in 2026's.
        before = metrics.compute(date(2024, 1, 1), date(2024, 12, 31), None, as_of=AS_OF)
        after = metrics.compute(date(2026, 1, 1), date(2026, 12, 31), None, as_of=AS_OF)
        assert (before.total.received, after.total.received) == (1, 1)
        # One day: 1 January 2025 holds request #1 (received at 00:00:00) only.
        first_day = metrics.compute(date(YEAR, 1, 1), date(YEAR, 1, 1), None, as_of=AS_OF)
        assert first_day.total.received == 1 and first_day.rows[0].received == 1


@both_databases
def test_a_thousand_requests_are_the_block_a_hundred_times(app: Flask) -> None:
    subjects = [make_employee(app, f"person{n}@example.com", consents=False) for n in range(5)]
    with app.app_context():
        requests: list[dict[str, Any]] = []
        counts: list[dict[str, Any]] = []
        for copy in range(COPIES):
            # Copy k starts 2k days into the year (the last on 18 July): every deadline in the
            # block moves with it, the open ones stay overdue or within their deadline on AS_OF.
            rows, erased = block_rows(subjects[copy % len(subjects)],
                                      datetime(YEAR, 1, 1, tzinfo=UTC) + timedelta(days=2 * copy))
            requests += rows
            counts += erased
        requests += edge_rows(subjects[0])
        insert(requests, counts)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == COPIES * len(BLOCK) + 2
        report = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), None, as_of=AS_OF)
        assert_block(report, COPIES)
        california = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), "US-CA", as_of=AS_OF)
        assert figures(california.total) == tuple(v * COPIES if i not in (8, 9) else v
                                                  for i, v in enumerate(CALIFORNIA_TOTAL))
        # The CSV of 1,300 requests says the same.
        lines = {r["type"]: r for r in csv.DictReader(io.StringIO(metrics.to_csv(report)))}
        assert lines["total"]["received"] == "1300" and lines["total"]["mean_days"] == "19.44"
        assert lines["erasure"]["complied_in_part"] == "100" and lines["total"]["denied_identity"] == "100"


# -- the CSV and the PDF -------------------------------------------------------------------------------

def test_the_csv_says_what_the_report_says(app: Flask, subject: str) -> None:
    with app.app_context():
        requests, counts = block_rows(subject, datetime(YEAR, 1, 1, tzinfo=UTC))
        insert(requests, counts)
        report = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), None, as_of=AS_OF)
        text = metrics.to_csv(report)
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == metrics.CSV_COLUMNS
    lines = list(reader)
    assert [r["type"] for r in lines] == [*(r.type for r in report.rows), "total", *["cpra"] * 5]
    assert [r["cpra_name"] for r in lines[-5:]] == [r.cpra_name for r in report.cpra_rows]
    assert (lines[-5]["received"], lines[-5]["median_days"], lines[-5]["mean_days"]) == ("2", "6", "6")
    rows = lines[:-5]
    by_type = {r.type: r for r in report.all_rows()}
    for line in rows:
        row = by_type[line["type"]]
        assert (line["period_start"], line["period_end"], line["jurisdiction"], line["as_of"]) == (
            "2025-01-01", "2025-12-31", "all", "2026-01-15")
        assert line["cpra_name"] == row.cpra_name
        for name in FIELDS:
            value = getattr(row, name)
            if name in ("median_days", "mean_days"):
                assert float(line[name]) == pytest.approx(round(value, 2)), (line["type"], name)
            else:
                assert int(line[name]) == value, (line["type"], name)
        for basis, n in row.denied_by_basis.items():
            assert int(line[f"denied_{basis}"]) == n
    total = rows[-1]
    # The hand figures, literally.
    assert (total["received"], total["complied_in_whole"], total["complied_in_part"], total["denied"],
            total["withdrawn"], total["open"], total["failed"]) == ("13", "5", "1", "3", "1", "2", "1")
    assert (total["median_days"], total["mean_days"]) == ("10", "19.44")
    assert (total["on_time"], total["extended"], total["late"], total["open_overdue"],
            total["open_within_deadline"]) == ("6", "1", "2", "2", "1")
    assert rows[2]["median_days"] == "27.5" and rows[0]["mean_days"] == "4.67"
    # Nothing to measure is an empty cell, not 0.
    assert {r["type"]: r["median_days"] for r in rows}["restriction"] == "2"
    assert not any(line.startswith(("#", "Period")) for line in text.splitlines())


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF")
    return re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages))


def test_the_pdf_holds_the_figures(app: Flask, subject: str) -> None:
    with app.app_context():
        requests, counts = block_rows(subject, datetime(YEAR, 1, 1, tzinfo=UTC))
        insert(requests, counts)
        report = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), None, as_of=AS_OF)
        text = pdf_text(metrics.to_pdf(report))
    for phrase in ("Privacy request metrics", "2025-01-01 to 2025-12-31", "all jurisdictions", "the employer",
                   "CPRA requests of California consumers (11 CCR §7102(a))", "Requests by type",
                   "Denials by legal basis", "Days to respond", "Timeliness", "Definitions",
                   "Requests to know (access and portability) 2 1 0 1 6 6",
                   "Requests to opt out of sale/sharing (none: nothing is sold or shared) 0 0 0 0 — —",
                   "GDPR Art. 11(2) and 12(6)", "GDPR Art. 12(5)", "Open requests judged on",
                   "2026-01-15", "page 1 of"):
        assert phrase in text, phrase
    # The total row of the §7102 table: received 13, whole 5, part 1, denied 3, withdrawn 1, open 2, failed 1.
    assert "Total 13 5 1 3 1 2 1" in text
    # Days to respond (total): 9 responded, median 10, mean 19.44; erasure 27.5 / 27.5; access 3 / 4.67.
    assert "Total 9 10 19.44" in text and "Erasure 2 27.5 27.5" in text and "Access 3 3 4.67" in text
    # Timeliness (total): 6 on time, 1 extended, 2 late, 2 open overdue, 1 open within.
    assert "Total 6 1 2 2 1" in text


def test_cpra_rows_count_only_what_really_is_each_cpra_request(app: Flask, subject: str) -> None:
    """11 CCR §7102(a)(1) counts requests to know, delete, correct, opt out of sale/sharing and limit,
    of California consumers. Access and portability are both requests to know (Cal. Civ. Code
    §1798.110; §1798.130(a)(3)(B)(iii) only sets the portable format of the copy), so they make one
    row. A Californian's restriction or objection to AI training stops a use of screenshots, which
    can reveal message contents (sensitive personal information, §1798.140(ae)(1)(E)): the registry
    maps both to a request to limit (§1798.121). The same request from Spain is a GDPR Art. 18 or 21
    request, no CPRA request, and is not counted. Nothing is sold or shared, so no request is one to
    opt out of sale/sharing: that row stays 0 whatever was received."""
    with app.app_context():
        rows, _ = block_rows(subject, datetime(YEAR, 3, 1, tzinfo=UTC))
        template = rows[5]  # a refused restriction
        made = []
        for kind_, where in (("restriction", "US-CA"), ("objection", "US-CA"), ("restriction", "ES"),
                             ("objection", "BR"), ("access", "US-CA"), ("portability", "US-CA")):
            made.append(dict(template, id=new_id(), type=kind_, jurisdiction=where, state="received",
                             decided_at=None, legal_basis=None, decision_sealed=None))
        # A request that recorded its regime when filed is counted under that regime.
        made.append(dict(made[2], id=new_id(), jurisdiction="US-CA", regime="LOPDGDD/GDPR"))
        insert(made, [])
        report = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), None, as_of=AS_OF)
        by_name = {r.cpra_name: r.received for r in report.cpra_rows}
        assert by_name == {"request to know": 2, "request to delete": 0, "request to correct": 0,
                           "request to opt-out of sale/sharing": 0, "request to limit": 2}
        assert report.rows[4].received == 3 and report.rows[5].received == 2  # every regime, by type
        spain = metrics.compute(date(YEAR, 1, 1), date(YEAR, 12, 31), "ES", as_of=AS_OF)
        assert sum(r.received for r in spain.cpra_rows) == 0


# -- the period ----------------------------------------------------------------------------------------

def test_periods_are_checked() -> None:
    assert metrics.resolve_period(2026, None, None) == (date(2026, 1, 1), date(2026, 12, 31))
    assert metrics.resolve_period(None, date(2021, 1, 1), date(2025, 12, 31)) == (date(2021, 1, 1), date(2025, 12, 31))
    assert metrics.resolve_period(None, date(2024, 2, 29), date(2029, 2, 28))[1] == date(2029, 2, 28)
    refusals = {
        (None, date(2025, 2, 1), date(2025, 1, 31)): "after the last day",
        (None, date(2021, 1, 1), date(2026, 1, 1)): "at most 5 years",
        (None, date(2024, 2, 29), date(2029, 3, 1)): "at most 5 years",
        (2025, date(2025, 1, 1), None): "not both",
        (None, date(2025, 1, 1), None): "both a first and a last day",
        (None, None, None): "Give a year",
        (1999, None, None): "between 2000 and 2100",
        (None, date(1999, 12, 31), date(2000, 1, 1)): "between 2000 and 2100",
    }
    for (year, start, end), message in refusals.items():
        with pytest.raises(metrics.MetricsError, match=re.escape(message)):
            metrics.resolve_period(year, start, end)
    assert metrics.clean_jurisdiction(" us-ca ") == "US-CA"
    assert metrics.clean_jurisdiction("") is None and metrics.clean_jurisdiction("all") is None
    with pytest.raises(metrics.MetricsError):
        metrics.clean_jurisdiction("Spain!")


# -- the page ------------------------------------------------------------------------------------------

@dataclass
class People:
    app: Flask
    clients: dict[str, FlaskClient]
    ids: dict[str, str]


@pytest.fixture
def people(app: Flask, idp_url: str) -> Iterator[People]:
    set_idp_user(idp_url, "audrey@example.com", {"email": "audrey@example.com", "email_verified": True,
                                                  "name": "Audrey Auditor", "country": "ES", "groups": ["auditor"]})
    clients = {}
    for who in ("alice", "dana", "admin", "audrey"):
        clients[who] = app.test_client()
        signed_in_as(clients[who], f"{who}@example.com")
    with app.app_context():
        ids = {who: getattr(find_by_email(f"{who}@example.com"), "id", "") for who in clients}
        requests, counts = block_rows(ids["alice"], datetime(YEAR, 1, 1, tzinfo=UTC))
        insert(requests, counts)
    yield People(app, clients, ids)


def downloads(app: Flask) -> list[AuditEntry]:
    return audit_entries(app, "evidence:metrics:download")


def test_employees_find_nothing_and_every_staff_role_reads_the_reports(people: People) -> None:
    before = len(audit_entries(people.app, "access:object:refused"))
    for path in ("/dpo/reports", "/dpo/reports?year=2025&format=csv", "/dpo/reports/record-of-processing.csv"):
        response = people.clients["alice"].get(path)
        assert response.status_code == 404, path
        assert "Request metrics" not in response.get_data(as_text=True)
    refusals = audit_entries(people.app, "access:object:refused")[before:]
    assert [(e.actor_id, e.targets["id"]) for e in refusals] == [
        (people.ids["alice"], "reports.index"), (people.ids["alice"], "reports.index"),
        (people.ids["alice"], "reports.record_csv")]
    assert downloads(people.app) == []
    assert "/dpo/reports" not in people.clients["alice"].get("/").get_data(as_text=True)
    for who in ("dana", "admin", "audrey"):
        assert 'href="/dpo/reports"' in people.clients[who].get("/").get_data(as_text=True), who
        page = people.clients[who].get("/dpo/reports")
        assert page.status_code == 200 and "Request metrics" in page.get_data(as_text=True), who


def test_the_page_shows_the_figures(people: People) -> None:
    before = snapshot(people.app, skip=frozenset())
    first = people.clients["dana"].get("/dpo/reports")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    this_year = datetime.now(UTC).year
    assert 'name="year"' in html and f'value="{this_year}"' in html
    assert '<option value="US-CA">US-CA</option>' in html and '<option value="BR">BR</option>' in html
    # This year's figures at once, without a click; like View, reading them writes nothing.
    assert 'id="metrics-table"' in html and f"Requests received from 1 January {this_year} to 31 December" in html
    assert snapshot(people.app, skip=frozenset()) == before, "the first visit writes nothing, not even an audit entry"

    page = people.clients["audrey"].get("/dpo/reports?year=2025&format=view")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    total = re.search(r'<tr id="metrics-total">(.*?)</tr>', html, re.S)
    assert total is not None
    assert re.findall(r"<td>([^<]*)</td>", total.group(1)) == ["13", "5", "1", "3", "1", "2", "1"]
    timely = re.search(r'<tr id="timeliness-erasure">(.*?)</tr>', html, re.S)
    assert timely is not None
    assert re.findall(r"<td>([^<]*)</td>", timely.group(1)) == ["2", "27.5", "27.5", "1", "0", "1", "0", "0"]
    assert "GDPR Art. 11(2) and 12(6); Decreto 1377 de 2013 Art. 20" in html  # one column, every citation
    assert page.headers["Cache-Control"] == "no-store"
    assert downloads(people.app) == [], "viewing is not a download"

    # One jurisdiction: only the Californian requests.
    page = people.clients["dana"].get("/dpo/reports?from=2025-01-01&to=2025-12-31&jurisdiction=US-CA&format=view")
    total = re.search(r'<tr id="metrics-total">(.*?)</tr>', page.get_data(as_text=True), re.S)
    assert total is not None and re.findall(r"<td>([^<]*)</td>", total.group(1))[:4] == ["2", "1", "0", "1"]
    know = re.search(r'<tr id="cpra-1">(.*?)</tr>', page.get_data(as_text=True), re.S)
    assert know is not None and "Requests to know (access and portability)" in know.group(1)
    assert re.findall(r"<td>([^<]*)</td>", know.group(1)) == ["2", "1", "0", "1", "6", "6"]


BAD = {
    "from=2025-02-01&to=2025-01-01&format=csv": "The first day is after the last day.",
    "from=2019-01-01&to=2025-01-01&format=pdf": "A report covers at most 5 years",
    "from=2025-01-01&format=csv": "Give a year, or both a first and a last day.",
    "year=2025&from=2025-01-01&to=2025-03-01&format=csv": "Give either a year or a first and last day, not both.",
    "year=twenty&format=csv": "Not a valid integer value.",
    "year=1999&format=pdf": "Choose a year between 2000 and 2100.",
    "from=2025-02-30&to=2025-03-01&format=csv": "Not a valid date value.",
    "year=2025&jurisdiction=FR&format=csv": "Not a valid choice.",
    "year=2025&format=xlsx": "Choose View, CSV or PDF.",
    "format=view": "Give a year, or both a first and a last day.",
}


def test_bad_input_shows_the_form_with_the_reason(people: People) -> None:
    before = snapshot(people.app, skip=frozenset())
    for query, message in BAD.items():
        response = people.clients["dana"].get(f"/dpo/reports?{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "text/html" and "Content-Disposition" not in response.headers, query
        html = response.get_data(as_text=True)
        assert message in html.replace("&#39;", "'"), (query, html[:3000])
        assert 'id="metrics-errors"' in html and 'id="metrics-table"' not in html, query
    assert snapshot(people.app, skip=frozenset()) == before, "nothing written, not even an audit entry"


def test_every_download_is_audited(people: People) -> None:
    csv_response = people.clients["dana"].get("/dpo/reports?year=2025&jurisdiction=US-CA&format=csv")
    assert csv_response.status_code == 200
    assert csv_response.mimetype == "text/csv"
    assert csv_response.headers["Content-Disposition"] == (
        'attachment; filename="request-metrics-2025-01-01-2025-12-31-US-CA.csv"')
    assert csv_response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True))))
    assert rows[-6]["type"] == "total" and rows[-6]["received"] == "2" and rows[-6]["jurisdiction"] == "US-CA"

    pdf_response = people.clients["audrey"].get("/dpo/reports?from=2025-01-01&to=2025-06-30&format=pdf")
    assert pdf_response.status_code == 200 and pdf_response.mimetype == "application/pdf"
    assert pdf_response.headers["Content-Disposition"] == (
        'attachment; filename="request-metrics-2025-01-01-2025-06-30-all.pdf"')
    assert "Total 13 5 1 3 1 2 1" in pdf_text(pdf_response.get_data())

    entries = downloads(people.app)
    assert [(e.actor_type, e.actor_id, e.subject_id, e.details) for e in entries] == [
        ("employee", people.ids["dana"], None, {"period_start": "2025-01-01", "period_end": "2025-12-31",
                                                 "jurisdiction": "US-CA", "format": "csv", "via": "web",
                                                 "received": 2}),
        ("employee", people.ids["audrey"], None, {"period_start": "2025-01-01", "period_end": "2025-06-30",
                                                   "jurisdiction": "all", "format": "pdf", "via": "web",
                                                   "received": 13}),
    ]


def test_the_notes_labels_and_refusals_are_in_the_readers_language(app: Flask) -> None:
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("es"):
        assert str(metrics.NOTES[0]).startswith("Se cuentan")
        assert metrics.denial_labels()["other"] == "Otros motivos"
        assert str(metrics.TYPE_NAMES["total"]) == "Total"
        assert str(metrics.CPRA_LABELS[Cpra.DELETE]) == "Solicitudes de eliminar (supresión)"
        with pytest.raises(metrics.MetricsError, match="no ambos"):
            metrics.resolve_period(2025, date(2025, 1, 1), None)
        text = pdf_text(metrics.to_pdf(metrics.compute(date(2025, 1, 1), date(2025, 12, 31), None)))
        assert "Se cuentan" in text and "Counted:" not in text


# -- the command ---------------------------------------------------------------------------------------

def test_the_metrics_command(app: Flask, subject: str, tmp_path: Path) -> None:
    with app.app_context():
        requests, counts = block_rows(subject, datetime(YEAR, 1, 1, tzinfo=UTC))
        insert(requests, counts)
    runner = app.test_cli_runner()
    out = tmp_path / "metrics.csv"
    result = runner.invoke(args=["evidence", "metrics", "--year", "2025", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "13 requests received 2025-01-01 to 2025-12-31, all" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows[-6]["received"] == "13" and rows[-6]["median_days"] == "10"
    assert len(downloads(app)) == 1 and downloads(app)[0].actor_type == "system"
    assert downloads(app)[0].details["via"] == "shell"

    # Not over an existing file without --force; then with it.
    again = runner.invoke(args=["evidence", "metrics", "--year", "2025", "--jurisdiction", "US-CA", "--format", "pdf",
                                "--out", str(out)])
    assert again.exit_code != 0 and "exists already" in again.output
    assert out.read_text(encoding="utf-8").startswith("period_start,")
    forced = runner.invoke(args=["evidence", "metrics", "--from", "2025-01-01", "--to", "2025-12-31",
                                 "--jurisdiction", "US-CA", "--format", "pdf", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes().startswith(b"%PDF") and "2 requests received" in forced.output
    assert len(downloads(app)) == 2

    # Bad input: a clear message, nothing written, nothing audited.
    for args, message in (
        (["--from", "2025-02-01", "--to", "2025-01-01"], "The first day is after the last day."),
        (["--from", "2019-01-01", "--to", "2025-01-01"], "at most 5 years"),
        (["--year", "2025", "--from", "2025-01-01"], "not both"),
        ([], "Give a year, or both a first and a last day."),
        (["--year", "2025", "--jurisdiction", "Spain!"], "A jurisdiction is a country code"),
        (["--year", "2025", "--format", "xlsx"], "Invalid value for '--format'"),
    ):
        target = tmp_path / "bad.csv"
        fmt = [] if "--format" in args else ["--format", "csv"]
        result = runner.invoke(args=["evidence", "metrics", *args, *fmt, "--out", str(target)])
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert not target.exists() and not list(tmp_path.glob(".*.part"))
    assert len(downloads(app)) == 2
