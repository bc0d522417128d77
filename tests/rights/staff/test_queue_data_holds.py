"""The queue (filters, counts, pages), the subject-data summary (a GET never writes; the POST records
exactly one access, which the employee then sees without a staff name), legal holds, and the
admin's queues and routing rules, with their refusals."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from portal.audit.services import Actor
from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import AccessRecord
from portal.people.models import Employee
from portal.rights import services as requests
from portal.rights.models import DataRequest, LegalHold, Queue, QueueMember, RoutingRule
from portal.rights.views.staff import PAGE_SIZE, page_numbers
from portal.training.services import record_use
from tests.conftest import both_databases
from tests.helpers import audit_entries, event, existing, make_employee, mark_removal, snapshot
from tests.rights.staff.conftest import Cast, count

ROW = re.compile(r'<th scope="row"[^>]*><a href="/dpo/requests/([0-9a-f]{32})">')


def html(response: Any) -> str:
    return response.get_data(as_text=True)


def listed(cast: Cast, who: str, query: str = "") -> list[str]:
    response = cast.get(who, "/dpo/queue" + query)
    assert response.status_code == 200, query
    return ROW.findall(html(response))


# -- the queue ---------------------------------------------------------------------------------------

@both_databases
def test_queue_filters_return_the_right_rows(cast: Cast) -> None:
    now = utcnow()
    overdue = cast.file("access", received_at=now - timedelta(days=40))
    soon = cast.file("erasure", received_at=now - timedelta(days=26))
    fresh = cast.file("objection", grounds="I object to AI training.")
    mine = cast.file("restriction")
    colombian = make_employee(cast.app, "camila@example.com", name="Camila", jurisdiction="CO")
    cast.ids["camila"] = colombian
    elsewhere = cast.file("access", subject="camila")
    with cast.app.app_context():
        requests.claim(existing(DataRequest, mine), existing(Employee, cast.ids["dana"]))
        requests.claim(existing(DataRequest, fresh), existing(Employee, cast.ids["pat"]))
        requests.start_review(existing(DataRequest, fresh), existing(Employee, cast.ids["pat"]))
        db.session.commit()

    assert listed(cast, "dana") == [overdue, soon, fresh, mine], "the nearest deadline first; not Colombia's"
    assert listed(cast, "dana", "?overdue=1") == [overdue]
    assert listed(cast, "dana", "?due_soon=1") == [soon]
    assert listed(cast, "dana", "?mine=1") == [mine]
    assert listed(cast, "pat", "?mine=1") == [fresh]
    assert listed(cast, "dana", "?state=in_review") == [fresh]
    assert listed(cast, "dana", "?state=received") == [overdue, soon]
    assert listed(cast, "dana", "?type=erasure") == [soon]
    assert listed(cast, "dana", "?jurisdiction=co") == []
    assert listed(cast, "olga") == [elsewhere]
    assert set(listed(cast, "admin")) == {overdue, soon, fresh, mine, elsewhere}
    assert listed(cast, "admin", f"?queue={cast.colombia}") == [elsewhere]

    page = html(cast.get("dana", "/dpo/queue"))
    assert "Overdue by" in page, "overdue is said in words"
    assert "legal hold" not in page
    counts = re.search(r'id="queue-counts">(.*?)</nav>', page, re.S)
    assert counts is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", counts.group(1)))
    for expected in ("All open cases (4)", "Overdue (1)", "Due within 7 days (1)", "Assigned to me (1)", "In review (1)",
                     "Received (2)", "Open (1)"):
        assert expected in text, expected

    with cast.app.app_context():
        requests.reject(existing(DataRequest, mine), existing(Employee, cast.ids["dana"]),
                        "other", "Not needed.")
        db.session.commit()
    assert mine not in listed(cast, "dana")
    assert listed(cast, "dana", "?state=rejected") == [mine]
    assert mine in listed(cast, "dana", "?state=all")


def test_search_by_reference_or_requester_and_sort_by_any_column(cast: Cast) -> None:
    now = utcnow()
    old = cast.file("access", received_at=now - timedelta(days=20))
    new = cast.file("erasure", received_at=now - timedelta(days=2))
    cast.ids["eve"] = make_employee(cast.app, "eve@example.com", name="Eve Example", jurisdiction="ES")
    eves = cast.file("rectification", subject="eve", received_at=now - timedelta(days=10),
                     wrong="My team is listed as Sales.", correct="My team is Research.")
    everything = set(listed(cast, "dana"))
    assert everything == {old, new, eves}

    # A reference, whole or its start, with or without "R-", in any case.
    reference = f"R-{new[:8].upper()}"
    assert listed(cast, "dana", f"?q={reference}") == [new]
    assert listed(cast, "dana", f"?q={new[:6]}") == [new]
    assert listed(cast, "dana", "?q=R-" + ("0" * 8 if not new.startswith("0" * 8) else "1" * 8)) == []
    body = html(cast.get("dana", f"/dpo/queue?q={reference}"))
    assert f'value="{reference}"' in body and "No case matches these filters" not in body

    # A requester's whole address: their cases only; the look-up is audited without the address.
    assert listed(cast, "dana", "?q=Eve%40Example.com") == [eves]
    assert listed(cast, "dana", "?q=nobody%40example.com") == []
    looked = audit_entries(cast.app, "dpo:queue:search-requester")
    assert [e.details["found"] for e in looked] == [True, False]
    assert looked[0].subject_id == cast.ids["eve"] and "eve@" not in str(looked[0].details).lower()

    # Neither a reference nor an address: ignored, said so.
    vague = html(cast.get("dana", "/dpo/queue?q=smith"))
    assert "Search by a reference" in vague and set(ROW.findall(vague)) == everything

    # Sorted by a column, both ways; the sort stays in the pages' links; a bad column is said so.
    by_received = listed(cast, "dana", "?sort=received")
    assert by_received.index(old) < by_received.index(new)
    backwards = listed(cast, "dana", "?sort=received&dir=desc")
    assert backwards == list(reversed(by_received))
    sorted_page = html(cast.get("dana", "/dpo/queue?sort=received&dir=desc"))
    assert 'href="/dpo/queue?sort=received"' in sorted_page, "the header flips the order"
    assert "(sorted, descending)" in sorted_page
    odd = html(cast.get("dana", "/dpo/queue?sort=salary"))
    assert "cannot be sorted by “salary”" in odd and set(ROW.findall(odd)) == everything


def test_unknown_filter_values_are_ignored_with_a_notice(cast: Cast) -> None:
    request_id = cast.file("access")
    before = snapshot(cast.app)
    response = cast.get("dana", "/dpo/queue?state=bogus&type=nope&jurisdiction=%3Cx%3E&overdue=maybe&page=x"
                                "&queue=not-a-queue")
    assert response.status_code == 200
    body = html(response)
    assert ROW.findall(body) == [request_id]
    for notice in ("There is no state “bogus”", "There is no request type “nope”", "is not a jurisdiction",
                   "takes yes or no", "is not a page number", "That queue is not one of yours"):
        assert notice in body, notice
    assert "<x>" not in body
    assert snapshot(cast.app) == before
    olga_queue = html(cast.get("dana", f"/dpo/queue?queue={cast.colombia}"))
    assert "That queue is not one of yours" in olga_queue


@both_databases
def test_the_queue_is_paginated(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("portal.mail.services.notify", lambda *args, **kwargs: None)
    total = 2 * PAGE_SIZE + 3
    start = utcnow() - timedelta(days=20)
    with cast.app.app_context():
        alice = existing(Employee, cast.ids["alice"])
        ids = [requests.file_request(alice, "access", received_at=start + timedelta(hours=n)).request.id
               for n in range(total)]
        db.session.commit()
    first = listed(cast, "dana")
    second = listed(cast, "dana", "?page=2")
    third = listed(cast, "dana", "?page=3")
    assert (len(first), len(second), len(third)) == (PAGE_SIZE, PAGE_SIZE, 3)
    assert first + second + third == ids, "in deadline order, each case once"
    body = html(cast.get("dana", "/dpo/queue?page=2"))
    assert 'href="/dpo/queue?page=1"' in body and 'href="/dpo/queue?page=3"' in body
    assert f"{total} cases" in body and "page 2 of 3" in body
    beyond = html(cast.get("dana", "/dpo/queue?page=9"))
    assert "There is no page 9" in beyond and ROW.findall(beyond) == third
    filtered = html(cast.get("dana", "/dpo/queue?type=access&page=2"))
    assert "type=access" in filtered and "page=3" in filtered


def test_page_numbers_leave_gaps() -> None:
    assert page_numbers(1, 1) == [1]
    assert page_numbers(1, 3) == [1, 2, 3]
    assert page_numbers(6, 12) == [1, None, 4, 5, 6, 7, 8, None, 12]


def test_an_empty_queue_says_so(cast: Cast) -> None:
    body = html(cast.get("dana", "/dpo/queue"))
    assert "No open cases" in body
    assert "No case matches these filters" in html(cast.get("dana", "/dpo/queue?overdue=1"))


def test_a_repeat_is_marked(cast: Cast) -> None:
    first = cast.file("access")
    second = cast.file("access")
    body = html(cast.get("dana", "/dpo/queue"))
    assert f'repeats <a href="/dpo/requests/{first}">R-{first[:8].upper()}</a>' in body
    assert f"R-{second[:8].upper()}" in html(cast.get("dana", f"/dpo/requests/{first}"))


# -- the subject-data summary ------------------------------------------------------------------------

@both_databases
def test_the_data_summary_is_recorded_once_and_the_employee_sees_it_without_a_name(cast: Cast) -> None:
    with cast.app.app_context():
        ingest_batch(cast.ids["alice"], events=[event(n) for n in range(5)])
        db.session.commit()
    request_id = cast.file("access")
    reference = f"R-{request_id[:8].upper()}"
    data_url = f"/dpo/requests/{request_id}/data"

    before = snapshot(cast.app, skip=frozenset())
    closed = cast.get("dana", data_url)
    assert closed.status_code == 200
    assert 'id="data-closed"' in html(closed) and 'id="data-totals"' not in html(closed)
    assert snapshot(cast.app, skip=frozenset()) == before, "a GET writes nothing, not even an audit entry"

    opened = cast.post("dana", data_url)
    assert opened.status_code == 302 and opened.headers["Location"] == data_url
    with cast.app.app_context():
        records = list(db.session.scalars(sa.select(AccessRecord)))
        assert [(r.subject_id, r.accessor_id, r.accessor_role, r.action, r.purpose, r.case_ref) for r in records] == [
            (cast.ids["alice"], cast.ids["dana"], "dpo", "viewed", f"Handling request {reference}", reference)]

    before = snapshot(cast.app, skip=frozenset())
    page = html(cast.get("dana", data_url))
    assert snapshot(cast.app, skip=frozenset()) == before
    assert 'id="data-totals"' in page and 'id="data-closed"' not in page
    totals = re.search(r'id="data-totals">(.*?)</table>', page, re.S)
    assert totals is not None and ">5<" in totals.group(1)
    assert "1 access to this person's data" in page

    assert 'id="data-closed"' in html(cast.get("admin", data_url)), "another person must record their own access"
    assert count(cast.app, AccessRecord) == 1

    mine = html(cast.get("alice", "/me/access-log"))
    assert f"Handling request {reference}" in mine and reference in mine
    assert "Dana" not in mine and "Okafor" not in mine
    assert [e.actor_id for e in audit_entries(cast.app, "monitoring:data:access")] == [cast.ids["dana"]]


def test_the_data_summary_reopens_after_the_window(cast: Cast) -> None:
    request_id = cast.file("access")
    cast.post("dana", f"/dpo/requests/{request_id}/data")
    with cast.app.app_context():
        record = db.session.scalars(sa.select(AccessRecord)).one()
        record.accessed_at = utcnow() - timedelta(minutes=31)
        db.session.commit()
    assert 'id="data-closed"' in html(cast.get("dana", f"/dpo/requests/{request_id}/data"))


# -- legal holds -------------------------------------------------------------------------------------

HOLD = {"email": "alice@example.com", "categories": ["screenshots"], "matter_reference": "LIT-2026-7",
        "reason": "Pending employment tribunal claim."}


@pytest.mark.parametrize("change", [
    {"email": "nobody@example.com"},
    {"email": "not an address"},
    {"matter_reference": ""},
    {"reason": ""},
    {"categories": ["no-such-category"]},
])
def test_a_hold_with_bad_input_is_refused(cast: Cast, change: dict[str, Any]) -> None:
    before = snapshot(cast.app)
    response = cast.post("dana", "/dpo/holds", HOLD | change)
    assert response.status_code == 400
    if change.get("email") == "nobody@example.com":
        assert "No employee has that e-mail address" in html(response)
    assert snapshot(cast.app) == before


@both_databases
def test_a_hold_is_placed_shown_on_the_case_and_lifted(cast: Cast) -> None:
    request_id = cast.file("erasure")
    assert "No legal hold is in force" in html(cast.get("dana", "/dpo/holds"))

    placed = cast.post("dana", "/dpo/holds", HOLD)
    assert placed.status_code == 302
    with cast.app.app_context():
        hold = db.session.scalars(sa.select(LegalHold)).one()
        hold_id = hold.id
        assert (hold.subject_id, hold.categories, hold.matter_reference, hold.placed_by_id) == (
            cast.ids["alice"], ["screenshots"], "LIT-2026-7", cast.ids["dana"])
    holds_page = html(cast.get("dana", "/dpo/holds"))
    assert "Alice Martín" in holds_page and "Pending employment tribunal claim." in holds_page

    case_page = html(cast.get("pat", f"/dpo/requests/{request_id}"))
    assert 'id="case-holds"' in case_page and "LIT-2026-7" in case_page and "blocked, not erased" in case_page
    assert "legal hold" in html(cast.get("dana", "/dpo/queue"))

    before = snapshot(cast.app)
    unconfirmed = cast.post("dana", f"/dpo/holds/{hold_id}/lift")
    assert unconfirmed.status_code == 400 and "Tick the box" in html(unconfirmed)
    assert snapshot(cast.app) == before

    lifted = cast.post("admin", f"/dpo/holds/{hold_id}/lift", {"confirm": "y"})
    assert lifted.status_code == 302
    with cast.app.app_context():
        row = db.session.get(LegalHold, hold_id)
        assert row is not None and row.lifted_at is not None and row.lifted_by_id == cast.ids["admin"]
    before = snapshot(cast.app)
    twice = cast.post("dana", f"/dpo/holds/{hold_id}/lift", {"confirm": "y"})
    assert twice.status_code == 400 and "already been lifted" in html(twice)
    assert snapshot(cast.app) == before
    assert 'id="case-holds"' not in html(cast.get("dana", f"/dpo/requests/{request_id}"))
    assert "holds-lifted" in html(cast.get("dana", "/dpo/holds"))
    assert [e.tag for e in audit_entries(cast.app, "requests:hold:place")] == ["requests:hold:place"]
    assert len(audit_entries(cast.app, "requests:hold:lift")) == 1


def test_lifting_a_hold_that_does_not_exist_is_not_found(cast: Cast) -> None:
    refused = len(audit_entries(cast.app, "access:object:refused"))
    assert cast.post("dana", f"/dpo/holds/{'0' * 32}/lift", {"confirm": "y"}).status_code == 404
    assert len(audit_entries(cast.app, "access:object:refused")) == refused + 1


def test_a_hold_on_every_category(cast: Cast) -> None:
    data = {k: v for k, v in HOLD.items() if k != "categories"}
    assert cast.post("dana", "/dpo/holds", data).status_code == 302
    with cast.app.app_context():
        assert db.session.scalars(sa.select(LegalHold.categories)).one() == []
    assert "every category" in html(cast.get("dana", "/dpo/holds"))


# -- queues and routing (admin) -------------------------------------------------------------------

def test_admin_creates_a_queue_adds_and_removes_a_member(cast: Cast) -> None:
    page = cast.get("admin", "/admin/queues")
    assert page.status_code == 200
    assert "Spain" in html(page) and "Dana Okafor" in html(page) and "Olga Otherqueue" in html(page)
    assert cast.get("dana", "/admin/queues").status_code == 404

    assert cast.post("admin", "/admin/queues", {"name": "  Portugal  ", "description": "PT"}).status_code == 302
    with cast.app.app_context():
        queue = db.session.scalars(sa.select(Queue).where(Queue.name == "Portugal")).one()
        queue_id = queue.id
    added = cast.post("admin", f"/admin/queues/{queue_id}/members", {"email": "dana@example.com"})
    assert added.status_code == 302
    assert count(cast.app, QueueMember, QueueMember.queue_id == queue_id) == 1
    removed = cast.post("admin", f"/admin/queues/{queue_id}/members/{cast.ids['dana']}/remove")
    assert removed.status_code == 302
    assert count(cast.app, QueueMember, QueueMember.queue_id == queue_id) == 0
    assert [len(audit_entries(cast.app, tag)) for tag in ("requests:queue:create", "requests:queue-member:add",
                                                          "requests:queue-member:remove")] == [3, 4, 1]


@pytest.mark.parametrize(("path", "data", "message"), [
    ("/admin/queues", {"name": "spain"}, "already exists"),
    ("/admin/queues", {"name": ""}, "Give the queue a name"),
    ("/admin/queues", {"name": "x" * 81}, "At most 80 characters"),
    ("/admin/queues/{spain}/members", {"email": "alice@example.com"}, "does not have the DPO role"),
    ("/admin/queues/{spain}/members", {"email": "nobody@example.com"}, "No employee has that e-mail address"),
    ("/admin/queues/{spain}/members", {"email": "dana@example.com"}, "already a member"),
    ("/admin/queues/{spain}/members/{alice}/remove", {}, "not a member"),
    ("/admin/queues/rules", {"jurisdiction": "ES", "request_type": "teleport", "queue": "{spain}"},
     "Not a valid choice"),
    ("/admin/queues/rules", {"jurisdiction": "Spain!", "request_type": "*", "queue": "{spain}"},
     "must be * or a country code"),
    ("/admin/queues/rules", {"jurisdiction": "ES", "request_type": "*", "queue": "no-such-queue"},
     "Not a valid choice"),
    ("/admin/queues/rules", {"jurisdiction": "ES", "request_type": "*", "queue": "{spain}"},
     "already sends these requests"),
    ("/admin/queues/rules/{rule}/delete", {}, "Tick the box"),
])
def test_admin_bad_input_is_refused_and_changes_nothing(cast: Cast, path: str, data: dict[str, str],
                                                        message: str) -> None:
    with cast.app.app_context():
        rule = db.session.scalars(sa.select(RoutingRule.id).where(RoutingRule.jurisdiction == "ES")).one()
    values = {"spain": cast.spain, "alice": cast.ids["alice"], "rule": rule}
    data = {k: v.format(**values) for k, v in data.items()}
    before = snapshot(cast.app)
    response = cast.post("admin", path.format(**values), data)
    assert response.status_code == 400
    assert message in html(response)
    assert snapshot(cast.app) == before


@both_databases
def test_admin_sets_replaces_and_deletes_a_rule(cast: Cast) -> None:
    set_ = cast.post("admin", "/admin/queues/rules", {"jurisdiction": "us-ca", "request_type": "erasure",
                                                      "queue": cast.colombia})
    assert set_.status_code == 302
    bob = make_employee(cast.app, "bobby@example.com", name="Bobby", jurisdiction="US-CA")
    cast.ids["bobby"] = bob
    routed = cast.file("erasure", subject="bobby")
    assert cast.case(routed).queue_id == cast.colombia

    replaced = cast.post("admin", "/admin/queues/rules", {"jurisdiction": "US-CA", "request_type": "erasure",
                                                          "queue": cast.spain})
    assert replaced.status_code == 302
    with cast.app.app_context():
        rules = list(db.session.scalars(sa.select(RoutingRule).where(RoutingRule.jurisdiction == "US-CA")))
        assert [(r.request_type, r.queue_id) for r in rules] == [("erasure", cast.spain)]
        rule_id = rules[0].id
    assert cast.case(routed).queue_id == cast.colombia, "a filed request stays where it is"
    assert cast.case(cast.file("erasure", subject="bobby")).queue_id == cast.spain

    deleted = cast.post("admin", f"/admin/queues/rules/{rule_id}/delete", {"confirm": "y"})
    assert deleted.status_code == 302
    assert count(cast.app, RoutingRule, RoutingRule.jurisdiction == "US-CA") == 0
    entries = audit_entries(cast.app, "requests:routing-rule:set")
    assert entries[-1].details == {"jurisdiction": "US-CA", "request_type": "erasure",
                                   "previous_queue": cast.colombia}
    assert len(audit_entries(cast.app, "requests:routing-rule:delete")) == 1
    assert cast.post("admin", f"/admin/queues/rules/{rule_id}/delete", {"confirm": "y"}).status_code == 404


def test_routing_functions_refuse_directly(cast: Cast) -> None:
    from portal.rights import routing

    with cast.app.app_context():
        queue = existing(Queue, cast.spain)
        with pytest.raises(routing.RoutingError, match="request type"):
            routing.set_rule("ES", "teleport", queue, actor=Actor.system())
        with pytest.raises(routing.RoutingError, match="already exists"):
            routing.create_queue("SPAIN", "", actor=Actor.system())
        db.session.rollback()


def test_the_data_summary_shows_uses_an_erasure_marked_removal_required(cast: Cast) -> None:
    with cast.app.app_context():
        record_use(cast.ids["alice"], dataset_name="assist", snapshot_name="s-1", record_count=4,
                   used_on=date(2026, 10, 1), model_name="assist-7b")
        record_use(cast.ids["alice"], dataset_name="assist", snapshot_name="s-2", record_count=2,
                   used_on=date(2026, 10, 2), model_name="assist-7b")
        mark_removal(cast.ids["alice"], "s-1", at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
        db.session.commit()
    request_id = cast.file("access")
    data_url = f"/dpo/requests/{request_id}/data"
    assert cast.post("dana", data_url).status_code == 302
    page = html(cast.get("dana", data_url))
    table = re.search(r'id="data-training">(.*?)</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr><th scope=\"row\">assist</th><td>(s-\d)</td>(.*?)</tr>", table.group(1), re.S)
    status = {snapshot: " ".join(re.sub(r"<[^>]+>", " ", cells).split()) for snapshot, cells in rows}
    assert status["s-1"].endswith("Removal required since 20 November 2026, after an erasure. "
                                  "Waiting for the AI-training team's answer.")
    assert status["s-2"].endswith("Used") and "assist-7b" in status["s-2"]
    assert 'id="data-training-removal"' in page
    assert "The portal does not remove data from training sets or trained models itself" in page
