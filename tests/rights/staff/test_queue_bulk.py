"""The queue's requester column (shown on demand, each page view that shows it audited, with its
purpose) and bulk assignment (several cases to one DPO in one POST: CSRF, each assignment audited,
refused for a case about the assigner or the assignee, or one of a queue the assignee is not in;
a case not the assigner's is a 404 and nothing is assigned)."""

from __future__ import annotations

import html as html_lib
import re

import sqlalchemy as sa

from portal.extensions import db
from portal.rights.models import DataRequest
from tests.helpers import audit_entries, existing, make_employee, snapshot
from tests.rights.staff.conftest import Cast

ROW = re.compile(r'<th scope="row"[^>]*><a href="/dpo/requests/([0-9a-f]{32})">')


def page(cast: Cast, who: str, path: str) -> str:
    response = cast.get(who, path)
    assert response.status_code == 200, path
    return html_lib.unescape(response.get_data(as_text=True))


def assignees(cast: Cast, *request_ids: str) -> list[str | None]:
    with cast.app.app_context():
        return [existing(DataRequest, r).assignee_id for r in request_ids]


def flashes(cast: Cast, who: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page(cast, who, "/dpo/queue")))


def test_who_asked_is_shown_only_on_demand_and_each_page_that_shows_it_is_audited(cast: Cast) -> None:
    first = cast.file("access")
    second = cast.file("erasure")
    plain = page(cast, "dana", "/dpo/queue")
    assert "Alice Martín" not in plain and "Requester" not in plain
    assert 'id="show-requesters"' in plain and "recorded in the audit log" in plain
    assert audit_entries(cast.app, "dpo:queue:requesters-shown") == []

    shown = page(cast, "dana", "/dpo/queue?who=1&sort=received")
    assert "Requester" in shown and shown.count("Alice Martín") == 2
    assert 'href="/dpo/queue?sort=received"' in shown, "the link hides it again, keeping the rest"
    assert 'name="back" value="who=1&sort=received"' in shown.replace("&amp;", "&")
    (entry,) = audit_entries(cast.app, "dpo:queue:requesters-shown")
    assert entry.actor_id == cast.ids["dana"] and entry.details["purpose"] == "working the queue"
    assert sorted(entry.targets["requests"]) == sorted([first, second]) and entry.details["shown"] == 1
    assert "alice" not in str(entry.details).lower(), "no name or address in the audit entry"

    page(cast, "dana", "/dpo/queue?who=1&page=1")
    assert len(audit_entries(cast.app, "dpo:queue:requesters-shown")) == 2, "one entry per page view"
    page(cast, "dana", "/dpo/queue?who=1&q=R-ffffffff")  # nothing matches: nobody shown, nothing recorded
    assert len(audit_entries(cast.app, "dpo:queue:requesters-shown")) == 2


def test_several_cases_are_assigned_in_one_post_each_audited(cast: Cast) -> None:
    cases = [cast.file("access"), cast.file("erasure"), cast.file("restriction")]
    body = page(cast, "dana", "/dpo/queue")
    assert len(re.findall(r'<input type="checkbox" name="cases" value="[0-9a-f]{32}" form="bulk-assign"', body)) == 3
    assert '<form method="post" action="/dpo/queue/assign" id="bulk-assign"' in body
    assert f'<option value="{cast.ids["pat"]}">Pat Second</option>' in body
    assert cast.ids["olga"] not in body, "only the DPOs of one's own queues are offered"

    response = cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["pat"], "cases": cases[:2],
                                                       "back": "overdue=1&evil=x"})
    assert response.status_code == 302 and response.headers["Location"] == "/dpo/queue?overdue=1"
    assert assignees(cast, *cases) == [cast.ids["pat"], cast.ids["pat"], None]
    entries = audit_entries(cast.app, "requests:request:assign")
    assert sorted(e.targets["request"] for e in entries) == sorted(cases[:2])
    assert all(e.actor_id == cast.ids["dana"] and e.details["assignee"] == cast.ids["pat"] for e in entries)
    told = flashes(cast, "dana")
    assert "2 cases are now assigned to Pat Second" in told


def test_a_bulk_assignment_refuses_the_cases_it_may_not_make(cast: Cast) -> None:
    ordinary = cast.file("access")
    cast.ids["erin"] = make_employee(cast.app, "erin@example.com", name="Erin", jurisdiction="ES")
    # Dana's own request (she is an employee too), and one of pat's: nobody works a request about themselves.
    about_dana = cast.file("access", subject="dana")
    about_pat = cast.file("access", subject="pat")
    response = cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["pat"],
                                                       "cases": [ordinary, about_dana, about_pat]})
    assert response.status_code == 302
    assert assignees(cast, ordinary, about_dana, about_pat) == [cast.ids["pat"], None, None]
    refusals = {e.targets["request"]: e.details["reason"]
                for e in audit_entries(cast.app, "requests:request:assign-refused")}
    assert refusals == {about_dana: "about-you", about_pat: "about-assignee"}
    told = flashes(cast, "dana")
    assert "1 case is now assigned to Pat Second" in told
    assert "2 cases were not assigned" in told and "about you: nobody works a request about themselves" in told

    # To a DPO of another queue: refused for each case, and said so.
    other = cast.file("erasure")
    cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["olga"], "cases": [other]})
    assert assignees(cast, other) == [None]
    assert "Nothing was assigned" in flashes(cast, "dana"), "olga is not a choice on dana's queue page"


def test_a_case_not_the_assigners_is_not_found_and_nothing_is_assigned(cast: Cast) -> None:
    colombian = make_employee(cast.app, "camila@example.com", name="Camila", jurisdiction="CO")
    cast.ids["camila"] = colombian
    mine = cast.file("access")
    theirs = cast.file("access", subject="camila")
    before = len(audit_entries(cast.app, "access:object:refused"))
    response = cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["pat"], "cases": [mine, theirs]})
    assert response.status_code == 404
    assert assignees(cast, mine, theirs) == [None, None]
    refused = audit_entries(cast.app, "access:object:refused")[before:]
    assert [e.targets.get("id") for e in refused] == [theirs]


def test_a_bulk_assignment_needs_csrf_a_dpo_and_a_case(cast: Cast) -> None:
    case = cast.file("access")
    with cast.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
    before = snapshot(cast.app, skip=frozenset())
    no_token = cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["pat"], "cases": [case]}, token=False)
    assert no_token.status_code == 400
    assert snapshot(cast.app, skip=frozenset()) == before
    cast.post("dana", "/dpo/queue/assign", {"cases": [case]})
    assert "Nothing was assigned: Choose a DPO to give the cases to." in flashes(cast, "dana")
    cast.post("dana", "/dpo/queue/assign", {"assignee": cast.ids["pat"]})
    assert "choose at least one case with its checkbox" in flashes(cast, "dana")
    assert assignees(cast, case) == [None]
