"""Restriction of processing (GDPR Art. 18) while it is in force and when it is lifted.

* 18(2): restricted data is only stored; staff may open it for the establishment, exercise or
  defence of legal claims, and for nothing else: opening the subject-data summary "for handling
  the request" is refused (403), writes no access record and is audited; a legal-claims opening
  names its claim, which the employee then reads in their access log.
* 18(3): the employee is told before a restriction is lifted: the lift queues the notice and
  records it first, and the database refuses a lift that has no notice before it.
* The employee sees each restriction in force (since when, which categories) on the dashboard.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose, Suppression
from portal.extensions import db
from portal.jobs.models import Job
from portal.mail.services import SEND_KIND, render
from portal.monitoring.models import AccessRecord
from portal.people.models import Employee
from portal.rights import restrictions
from portal.rights import services as requests
from portal.rights.models import DataRequest, Restriction
from tests.conftest import both_databases
from tests.helpers import audit_entries, existing, snapshot
from tests.rights.staff.conftest import Cast, count


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def restricted(cast: Cast, categories: list[str] | None = None) -> str:
    """Alice's restriction request, approved by dana: the restriction is in force."""
    request_id = cast.file("restriction", categories=categories or [], description="I contest the accuracy.")
    with cast.app.app_context():
        case = db.session.get(DataRequest, request_id)
        dana = db.session.get(Employee, cast.ids["dana"])
        assert case is not None and dana is not None
        requests.claim(case, dana)
        requests.start_review(case, dana)
        requests.approve(case, dana)
        db.session.commit()
        assert case.state == "completed"
    return request_id


def mail_jobs(cast: Cast) -> list[dict[str, Any]]:
    with cast.app.app_context():
        return [job.params for job in db.session.scalars(sa.select(Job).where(Job.kind == SEND_KIND)
                                                           .order_by(Job.created_at))]


@both_databases
def test_restricted_data_opens_only_for_legal_claims_and_a_refusal_is_audited(cast: Cast) -> None:
    request_id = restricted(cast, ["screenshots"])
    reference = f"R-{request_id[:8].upper()}"
    data_url = f"/dpo/requests/{request_id}/data"

    closed = html(cast.get("dana", data_url))
    assert 'id="data-restricted"' in closed and "Screenshots" in closed, "the DPO is told before choosing"

    before = snapshot(cast.app)
    refused = cast.post("dana", data_url, {"purpose": "case"})
    assert refused.status_code == 403
    assert "only for the establishment, exercise or defence of legal claims" in html(refused)
    assert 'id="data-totals"' not in html(refused)
    assert snapshot(cast.app) == before, "no access record, nothing else changed"
    (entry,) = audit_entries(cast.app, "monitoring:data:access-refused")
    assert entry.actor_id == cast.ids["dana"] and entry.subject_id == cast.ids["alice"]
    assert entry.details["reason"] == "restricted" and entry.details["purpose"] == "case"
    assert 'id="data-closed"' in html(cast.get("dana", data_url)), "the refusal opened nothing"

    nameless = cast.post("dana", data_url, {"purpose": "legal-claims", "matter": " "})
    assert nameless.status_code == 400 and "name the legal claim" in html(nameless)
    assert count(cast.app, AccessRecord) == 0

    opened = cast.post("dana", data_url, {"purpose": "legal-claims", "matter": "LIT-2026-7"})
    assert opened.status_code == 302
    with cast.app.app_context():
        (record,) = db.session.scalars(sa.select(AccessRecord))
        assert (record.purpose, record.case_ref) == (f"Legal claims (LIT-2026-7), request {reference}", reference)
    assert 'id="data-totals"' in html(cast.get("dana", data_url))
    assert "Legal claims (LIT-2026-7)" in html(cast.get("alice", "/me/access-log"))


def test_an_unrestricted_subject_opens_for_the_case_and_a_bad_purpose_is_refused(cast: Cast) -> None:
    request_id = cast.file("access")
    data_url = f"/dpo/requests/{request_id}/data"
    assert 'id="data-restricted"' not in html(cast.get("dana", data_url))
    before = snapshot(cast.app, skip=frozenset())
    assert cast.post("dana", data_url, {"purpose": "curiosity"}).status_code == 400
    assert cast.post("dana", data_url, {"purpose": "legal-claims", "matter": "x" * 81}).status_code == 400
    assert cast.post("dana", data_url, {"purpose": "case"}, token=False).status_code == 400
    assert snapshot(cast.app, skip=frozenset()) == before
    assert cast.post("dana", data_url, {"purpose": "case"}).status_code == 302
    assert count(cast.app, AccessRecord) == 1


@both_databases
def test_lifting_tells_the_employee_first_then_lifts(cast: Cast) -> None:
    request_id = restricted(cast, ["screenshots"])
    case_page = html(cast.get("dana", f"/dpo/requests/{request_id}"))
    assert 'id="lift-restriction"' in case_page
    dashboard = html(cast.get("alice", "/"))
    section = re.search(r'id="restricted".*?</section>', dashboard, re.S)
    assert section is not None and "Screenshots" in section.group(0)
    with cast.app.app_context():
        since = db.session.scalars(sa.select(Restriction)).one().since.astimezone(
            ZoneInfo(existing(Employee, cast.ids["alice"]).timezone))  # the day in the reader's zone
        assert restrictions.restricted_categories(cast.ids["alice"]) == {"screenshots": "restricted"}
    assert f"{since.day} {since:%B %Y}" in section.group(0)  # the long date, as every page writes it
    mails_before = len(mail_jobs(cast))

    lifted = cast.post("dana", f"/dpo/requests/{request_id}/lift-restriction")
    assert lifted.status_code == 302

    with cast.app.app_context():
        restriction = db.session.scalars(sa.select(Restriction)).one()
        assert restriction.lift_notified_at is not None and restriction.lifted_at is not None
        assert restriction.lift_notified_at <= restriction.lifted_at
        assert restriction.lifted_by_id == cast.ids["dana"]
        assert restrictions.restricted_categories(cast.ids["alice"]) == {}, "new capture is taken again"
        assert db.session.get(Suppression, (cast.ids["alice"], Purpose.AI_TRAINING.value)) is None, \
            "alice never consented: the feed reports that, not a restriction"
    notices = mail_jobs(cast)[mails_before:]
    assert [(n["template"], n["recipient_id"], n["refs"]) for n in notices] == [
        ("restriction_lifted", cast.ids["alice"], {"request": request_id})]
    notified = audit_entries(cast.app, "requests:restriction:notify")
    lift = audit_entries(cast.app, "requests:restriction:lift")
    assert len(notified) == len(lift) == 1 and notified[0].seq < lift[0].seq, "the notice is recorded first"
    with cast.app.app_context():
        mail = render("restriction_lifted", {"recipient_name": "Alice", "request": {
            "reference": f"R-{request_id[:8].upper()}", "request_url": "http://localhost/me/requests/x"}})
    assert "is being lifted" in mail.body and "tell you before" in mail.body

    assert 'id="restricted"' not in html(cast.get("alice", "/"))
    assert 'id="lift-restriction"' not in html(cast.get("dana", f"/dpo/requests/{request_id}"))
    before = snapshot(cast.app, skip=frozenset())
    assert cast.post("dana", f"/dpo/requests/{request_id}/lift-restriction").status_code == 409
    assert snapshot(cast.app, skip=frozenset()) == before


def test_a_lift_keeps_a_withdrawn_consent_in_force(cast: Cast) -> None:
    with cast.app.app_context():
        alice = cast.ids["alice"]
        consent.decide(alice, Purpose.AI_TRAINING, Decision.GRANTED, actor=Actor("employee", alice), method="test",
                       device="test", policy_version=None)
        consent.decide(alice, Purpose.AI_TRAINING, Decision.WITHDRAWN, actor=Actor("employee", alice),
                       method="test", device="test", policy_version=None)
        db.session.commit()
    request_id = restricted(cast)
    assert cast.post("dana", f"/dpo/requests/{request_id}/lift-restriction").status_code == 302
    with cast.app.app_context():
        left = db.session.get(Suppression, (cast.ids["alice"], Purpose.AI_TRAINING.value))
        assert left is not None and left.reason == "consent-withdrawn"


@pytest.mark.parametrize("who, status", [("olga", 404), ("alice", 403)])
def test_only_the_queue_lifts_and_a_refusal_changes_nothing(cast: Cast, who: str, status: int) -> None:
    request_id = restricted(cast)
    before = snapshot(cast.app, skip=frozenset({"audit_entries", "web_sessions"}))
    assert cast.post(who, f"/dpo/requests/{request_id}/lift-restriction").status_code in {status, 404}
    assert cast.post("dana", f"/dpo/requests/{request_id}/lift-restriction", token=False).status_code == 400
    assert snapshot(cast.app, skip=frozenset({"audit_entries", "web_sessions"})) == before


def test_an_access_request_puts_no_restriction_to_lift(cast: Cast) -> None:
    request_id = cast.file("access")
    assert 'id="lift-restriction"' not in html(cast.get("dana", f"/dpo/requests/{request_id}"))
    response = cast.post("dana", f"/dpo/requests/{request_id}/lift-restriction")
    assert response.status_code == 409 and "put no restriction in place" in html(response)


def test_the_database_refuses_a_lift_without_a_notice_before_it(cast: Cast) -> None:
    restricted(cast)
    with cast.app.app_context():
        restriction = db.session.scalars(sa.select(Restriction)).one()
        restriction.lifted_at = restriction.since
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()


def history_rows(page: str, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table is not None, table_id
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0).split("</thead>")[-1], re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


@both_databases
def test_the_lift_is_in_the_requests_history_for_the_employee_and_the_dpo(cast: Cast) -> None:
    """GDPR Art. 18(3): the lift is something that happened to the request: both histories show it,
    with its date, where it happened among the request's other entries."""
    request_id = restricted(cast, ["screenshots"])
    mine, case = f"/me/requests/{request_id}", f"/dpo/requests/{request_id}"
    assert not any("lifted" in row for row in history_rows(html(cast.get("alice", mine)), "timeline"))
    assert not any("lifted" in row for row in history_rows(html(cast.get("dana", case)), "case-timeline"))

    assert cast.post("dana", f"{case}/lift-restriction").status_code == 302
    with cast.app.app_context():
        lifted_at = db.session.scalars(sa.select(Restriction)).one().lifted_at
        assert lifted_at is not None
        lifted_at = lifted_at.astimezone(ZoneInfo(existing(Employee, cast.ids["alice"]).timezone))  # Dana's too
        # Something said on the case afterwards comes after the lift.
        dana = existing(Employee, cast.ids["dana"])
        requests.add_note(existing(DataRequest, request_id), dana, "Lift checked with legal.")
        db.session.commit()
    day = f"{lifted_at.day} {lifted_at:%B %Y}"

    rows = history_rows(html(cast.get("alice", mine)), "timeline")
    assert rows[-1].startswith(day) and "Data Protection Officer Restriction of processing lifted" in rows[-1], rows
    rows = history_rows(html(cast.get("dana", case)), "case-timeline")
    (lift,) = [row for row in rows if "Restriction lifted" in row]
    assert lift.startswith(day) and "Restriction lifted (after notice to the employee)" in lift and "yes" in lift
    assert rows.index(lift) == len(rows) - 2 and "Lift checked with legal." in rows[-1], rows

    with cast.app.app_context():
        events = requests.timeline(existing(DataRequest, request_id), for_requester=True)
        assert [e.kind for e in events][-1] == requests.RESTRICTION_LIFTED
        assert events[-1].created_at == lifted_at and events[-1].actor_id == cast.ids["dana"]
