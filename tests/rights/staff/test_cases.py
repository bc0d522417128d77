"""The DPO's case page, worked through the HTTP routes: claim, review, ask, approve (four eyes for
erasure), reject, extend; refusals that change nothing; another queue's DPO finds nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.test import TestResponse

from portal.auth.models import AuthSession
from portal.db import utcnow
from portal.extensions import db
from portal.people.models import Employee
from portal.rights import deadlines
from portal.rights import services as requests
from portal.rights.models import ErasureApproval, RequestEvent, RequestState, RequestType
from tests.conftest import both_databases
from tests.helpers import audit_entries, existing, snapshot, step_up
from tests.rights.staff.conftest import Cast, count

REFUSED = "access:object:refused"


def html(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def case_url(request_id: str, action: str = "") -> str:
    return f"/dpo/requests/{request_id}" + (f"/{action}" if action else "")


def flashes(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r'<p class="flash[^"]*" role="status">(.*?)</p>',
                                                                 page, re.S)]


@both_databases
def test_an_approval_needs_a_step_up_of_its_own_and_comes_back_to_the_case(cast: Cast) -> None:
    request_id = cast.file("erasure", description="Please erase everything about me.")
    assert cast.post("dana", case_url(request_id, "claim")).status_code == 302
    assert cast.post("dana", case_url(request_id, "review")).status_code == 302
    with cast.app.app_context():
        db.session.execute(sa.update(AuthSession).values(stepped_up_at=None))  # signed in, never stepped up
        db.session.commit()
    before = snapshot(cast.app)

    refused = cast.post("dana", case_url(request_id, "approve"), {"note": "Looks fine.", "erasure_ground": "gdpr-17-1-b"})  # no Referer
    assert refused.status_code == 302
    login = urlsplit(refused.headers["Location"])
    assert login.path == "/auth/login" and parse_qs(login.query) == {"reauth": ["1"], "next": [case_url(request_id)]}
    assert snapshot(cast.app) == before, "no approval without the step-up"

    back = step_up(cast.client("dana"), "dana@example.com", next_path=case_url(request_id))
    assert back.headers["Location"] == case_url(request_id), "back on the case page, nothing replayed"
    assert count(cast.app, ErasureApproval, ErasureApproval.request_id == request_id) == 0
    cast.tokens.pop("dana")  # a new session, a new CSRF token
    assert cast.post("dana", case_url(request_id, "approve"), {"note": "Looks fine.", "erasure_ground": "gdpr-17-1-b"}).status_code == 302
    assert count(cast.app, ErasureApproval, ErasureApproval.request_id == request_id) == 1


def test_a_dpo_works_an_erasure_from_claim_to_the_second_approval(cast: Cast) -> None:
    request_id = cast.file("erasure", description="Please erase everything about me.")
    reference = f"R-{request_id[:8].upper()}"

    queue = cast.get("dana", "/dpo/queue")
    assert queue.status_code == 200 and reference in html(queue)
    page = cast.get("dana", case_url(request_id))
    assert page.status_code == 200
    body = html(page)
    for fact in ("Alice Martín", "alice@example.com", "E1001", "Please erase everything about me.", "Spain",
                 "unassigned", "LOPDGDD/GDPR", cast.app.config["PORTAL_SETTINGS"].oidc_issuer):
        assert fact in body, fact
    assert f'action="/dpo/requests/{request_id}/claim"' in body

    claimed = cast.post("dana", case_url(request_id, "claim"))
    assert claimed.status_code == 302 and claimed.headers["Location"] == case_url(request_id)
    case = cast.case(request_id)
    assert (case.state, case.assignee_id) == (RequestState.OPEN, cast.ids["dana"])
    assert "You have taken this case." in flashes(html(cast.get("dana", case_url(request_id))))

    assert cast.post("dana", case_url(request_id, "review")).status_code == 302
    assert cast.case(request_id).state == RequestState.IN_REVIEW

    asked = cast.post("dana", case_url(request_id, "ask"), {"message": "Which dates exactly?"})
    assert asked.status_code == 302
    assert cast.case(request_id).state == RequestState.AWAITING_REQUESTER
    with cast.app.app_context():
        case = existing(requests.DataRequest, request_id)
        requests.answer(case, existing(Employee, cast.ids["alice"]), "All of them, please.")
        db.session.commit()
    assert cast.case(request_id).state == RequestState.IN_REVIEW

    assert cast.post("dana", case_url(request_id, "note"), {"note": "Checked identity by SSO."}).status_code == 302
    assert cast.post("dana", case_url(request_id, "message"), {"message": "We are on it."}).status_code == 302

    first = cast.post("dana", case_url(request_id, "approve"), {"note": "Looks fine.", "erasure_ground": "gdpr-17-1-b"}, referer=case_url(request_id))
    assert first.status_code == 302, html(first)[:500]
    assert cast.case(request_id).state == RequestState.IN_REVIEW, "one approval does not approve an erasure"
    body = html(cast.get("dana", case_url(request_id)))
    assert "Second approval needed by another person" in body
    assert "You have already approved this erasure" in body, "the form is replaced by the reason"
    # The admin's page says what the admin can do there: assign it, and give the second approval.
    admin_page = html(cast.get("admin", case_url(request_id)))
    assert "Claiming, reviewing and answering this case is for the DPOs of its queue." in admin_page
    assert "You can give its second approval below." in admin_page
    assert f'action="/dpo/requests/{request_id}/approve"' in admin_page
    assert f'action="/dpo/requests/{request_id}/approve"' not in body
    again = cast.post("dana", case_url(request_id, "approve"), referer=case_url(request_id))
    assert again.status_code == 400 and "already approved" in html(again)

    # The timeline shows everything to staff, internal entries marked, with names.
    timeline = html(cast.get("pat", case_url(request_id)))
    for text in ("Which dates exactly?", "All of them, please.", "Checked identity by SSO.", "We are on it.",
                 "Dana Okafor", "Internal note", "internal"):
        assert text in timeline, text

    second = cast.post("admin", case_url(request_id, "approve"), referer=case_url(request_id))
    assert second.status_code == 302
    case = cast.case(request_id)
    assert case.state == RequestState.FULFILLING and case.decided_by_id == cast.ids["admin"]
    assert case.job_id is not None
    assert count(cast.app, ErasureApproval, ErasureApproval.request_id == request_id) == 2
    tags = [e.tag for e in audit_entries(cast.app, "requests:request:approve-erasure")]
    assert len(tags) == 2
    assert [e.actor_id for e in audit_entries(cast.app, "requests:request:claim")] == [cast.ids["dana"]]


@both_databases
def test_a_second_claim_is_a_conflict_and_changes_nothing(cast: Cast) -> None:
    request_id = cast.file("access")
    assert cast.post("dana", case_url(request_id, "claim")).status_code == 302
    before = snapshot(cast.app)
    late = cast.post("pat", case_url(request_id, "claim"))
    assert late.status_code == 409
    assert "Someone else has already taken this case." in flashes(html(late))
    assert snapshot(cast.app) == before
    assert cast.case(request_id).assignee_id == cast.ids["dana"]


def test_assign_to_a_dpo_of_the_queue_only(cast: Cast) -> None:
    request_id = cast.file("access")
    body = html(cast.get("dana", case_url(request_id)))
    assert "Pat Second" in body and "Olga" not in body

    before = snapshot(cast.app)
    outsider = cast.post("dana", case_url(request_id, "assign"), {"assignee": cast.ids["olga"]})
    assert outsider.status_code == 400 and snapshot(cast.app) == before

    given = cast.post("dana", case_url(request_id, "assign"), {"assignee": cast.ids["pat"]})
    assert given.status_code == 302
    case = cast.case(request_id)
    assert case.assignee_id == cast.ids["pat"] and case.state == RequestState.OPEN
    assert "you" in html(cast.get("pat", "/dpo/queue"))


def test_the_admin_sees_every_case_but_does_not_work_it(cast: Cast) -> None:
    request_id = cast.file("access")
    body = html(cast.get("admin", case_url(request_id)))
    assert "Claiming, reviewing and answering this case is for the DPOs of its queue." in body
    assert "second approval below" not in body, "an access request has no approval for the admin to give"
    assert f'action="/dpo/requests/{request_id}/claim"' not in body
    before = snapshot(cast.app)
    refused = cast.post("admin", case_url(request_id, "claim"))
    assert refused.status_code == 400 and "Only a DPO of this request" in html(refused)
    assert snapshot(cast.app) == before


ACTIONS = {
    "claim": {}, "assign": {"assignee": "-"}, "review": {}, "ask": {"message": "?"}, "message": {"message": "hi"},
    "note": {"note": "n"}, "approve": {}, "reject": {"legal_basis": "other", "reasons": "r"},
    "extend": {"reason": "busy"}, "retry": {}, "data": {},
}


@both_databases
def test_a_dpo_of_another_queue_finds_nothing_and_is_audited(cast: Cast) -> None:
    request_id = cast.file("erasure")
    before = snapshot(cast.app)
    refused_before = len(audit_entries(cast.app, REFUSED))
    missing = "0" * 32
    theirs = cast.get("olga", case_url(request_id))
    nothing = cast.get("olga", case_url(missing))
    assert theirs.status_code == nothing.status_code == 404
    assert "Alice" not in html(theirs)
    assert cast.get("olga", case_url(request_id, "data")).status_code == 404
    for action, data in ACTIONS.items():
        if action == "assign":
            data = {"assignee": cast.ids["olga"]}
        response = cast.post("olga", case_url(request_id, action), data, referer="/dpo/queue")
        assert response.status_code == 404, action
    assert snapshot(cast.app) == before
    refused = audit_entries(cast.app, REFUSED)[refused_before:]
    assert [(e.actor_id, e.targets["id"]) for e in refused] == (
        [(cast.ids["olga"], request_id), (cast.ids["olga"], missing), (cast.ids["olga"], request_id)]
        + [(cast.ids["olga"], request_id)] * len(ACTIONS))
    assert all(e.subject_id == cast.ids["alice"] for e in refused if e.targets["id"] == request_id)
    assert request_id not in html(cast.get("olga", "/dpo/queue"))


@pytest.mark.parametrize("who", ["alice"])
def test_staff_pages_are_not_found_for_an_employee(cast: Cast, who: str) -> None:
    request_id = cast.file("access")
    for path in ("/dpo/queue", case_url(request_id), case_url(request_id, "data"), "/dpo/holds", "/admin/queues"):
        assert cast.get(who, path).status_code == 404, path
    assert cast.post(who, case_url(request_id, "claim")).status_code == 404


@pytest.mark.parametrize("data", [
    {},
    {"legal_basis": "other"},
    {"reasons": "You asked for something we do not hold."},
    {"legal_basis": "no-such-basis", "reasons": "Because."},
    {"legal_basis": "other", "reasons": "   "},
])
def test_a_rejection_needs_a_legal_basis_and_reasons(cast: Cast, data: dict[str, str]) -> None:
    request_id = cast.file("erasure")
    cast.post("dana", case_url(request_id, "claim"))
    before = snapshot(cast.app)
    response = cast.post("dana", case_url(request_id, "reject"), data)
    assert response.status_code == 400
    assert "Nothing was changed" in html(response)
    assert snapshot(cast.app) == before
    assert cast.case(request_id).state == RequestState.OPEN


def test_a_rejection_with_its_basis_and_reasons(cast: Cast) -> None:
    request_id = cast.file("erasure")
    cast.post("dana", case_url(request_id, "claim"))
    response = cast.post("dana", case_url(request_id, "reject"),
                         {"legal_basis": "gdpr-17-3-b", "reasons": "Payroll law requires us to keep it."})
    assert response.status_code == 302
    case = cast.case(request_id)
    assert (case.state, case.legal_basis) == (RequestState.REJECTED, "gdpr-17-3-b")
    body = html(cast.get("dana", case_url(request_id)))
    assert "Payroll law requires us to keep it." in body and "compliance with a legal obligation" in body
    again = cast.post("dana", case_url(request_id, "reject"), {"legal_basis": "other", "reasons": "x"})
    assert again.status_code == 409


def test_review_of_an_unclaimed_received_case_is_a_conflict(cast: Cast) -> None:
    request_id = cast.file("access")
    before = snapshot(cast.app)
    response = cast.post("dana", case_url(request_id, "review"))
    assert response.status_code == 409
    assert snapshot(cast.app) == before


def test_the_deadline_is_extended_once_and_not_after_it_passed(cast: Cast) -> None:
    request_id = cast.file("access")
    case = cast.case(request_id)
    expected = deadlines.extended_due(case.jurisdiction, RequestType.ACCESS, case.received_at.date())
    page = html(cast.get("dana", case_url(request_id)))
    assert f"the deadline would become {expected.day} {expected:%B %Y}" in page

    before = snapshot(cast.app)
    assert cast.post("dana", case_url(request_id, "extend"), {"reason": ""}).status_code == 400
    assert snapshot(cast.app) == before

    extended = cast.post("dana", case_url(request_id, "extend"), {"reason": "Many screenshots to redact."})
    assert extended.status_code == 302
    case = cast.case(request_id)
    assert case.extended_due_on == expected and case.extended_by_id == cast.ids["dana"]
    page = html(cast.get("dana", case_url(request_id)))
    assert "already been extended once" in page and "Many screenshots to redact." in page

    before = snapshot(cast.app)
    twice = cast.post("dana", case_url(request_id, "extend"), {"reason": "Still busy."})
    assert twice.status_code == 400 and "already been extended" in html(twice)
    assert snapshot(cast.app) == before

    old = cast.file("portability", received_at=utcnow() - timedelta(days=45))  # not a repeat: its own deadline
    assert "has passed" in html(cast.get("dana", case_url(old)))
    before = snapshot(cast.app)
    late = cast.post("dana", case_url(old, "extend"), {"reason": "Too late now."})
    assert late.status_code == 400 and "has passed" in html(late)
    assert snapshot(cast.app) == before
    assert cast.case(old).extended_due_on is None


def test_retry_is_offered_only_for_a_failed_request(cast: Cast) -> None:
    request_id = cast.file("access")
    before = snapshot(cast.app)
    assert cast.post("dana", case_url(request_id, "retry")).status_code == 409
    assert snapshot(cast.app) == before
    with cast.app.app_context():
        case = existing(requests.DataRequest, request_id)
        case.state = RequestState.FULFILLING
        requests.fail(case, "the export job gave up")
        db.session.commit()
    body = html(cast.get("dana", case_url(request_id)))
    assert f'action="/dpo/requests/{request_id}/retry"' in body and "the export job gave up" in body
    assert cast.post("dana", case_url(request_id, "retry")).status_code == 302
    assert cast.case(request_id).state == RequestState.FULFILLING


def test_internal_notes_stay_internal(cast: Cast) -> None:
    request_id = cast.file("access")
    cast.post("dana", case_url(request_id, "note"), {"note": "Internal only."})
    with cast.app.app_context():
        notes = list(db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == request_id,
                                                                      RequestEvent.kind == "note")))
        assert [(n.body, n.visible_to_requester) for n in notes] == [("Internal only.", False)]


def test_staff_pages_carry_no_inline_script_or_style_and_unique_ids(cast: Cast) -> None:
    request_id = cast.file("erasure")
    cast.post("dana", case_url(request_id, "claim"))
    cast.post("dana", case_url(request_id, "data"))
    for who, path in (("dana", "/dpo/queue"), ("dana", case_url(request_id)), ("dana", case_url(request_id, "data")),
                      ("dana", "/dpo/holds"), ("admin", "/admin/queues"), ("admin", case_url(request_id))):
        page = html(cast.get(who, path))
        assert re.search(r"<script(?![^>]*\bsrc=)", page) is None, path
        assert "<style" not in page and " style=" not in page and re.search(r"\son[a-z]+=", page) is None, path
        ids = re.findall(r'\sid="([^"]+)"', page)
        assert len(ids) == len(set(ids)), (path, sorted({i for i in ids if ids.count(i) > 1}))


def test_a_colombian_claim_shows_its_own_grounds_and_ley_1581_art_15_timers(cast: Cast) -> None:
    """A reclamo (an erasure by an employee in Colombia): the case shows the further time limits of
    Ley 1581 Art. 15 and offers only Colombia's grounds for refusing an erasure."""
    from tests.helpers import make_employee

    cast.ids["carla"] = make_employee(cast.app, "carla@example.com", name="Carla Example", jurisdiction="CO")
    received = utcnow()
    request_id = cast.file("erasure", subject="carla", received_at=received)
    page = html(cast.get("olga", case_url(request_id)))
    found = deadlines.deadline_for("CO", RequestType.ERASURE, received.date())
    assert f"{found.due.day} {found.due:%B %Y} (reclamo: Ley 1581 Art. 15)" in " ".join(re.sub(r"<[^>]+>", " ", page).split())
    for timer in deadlines.timers("CO", RequestType.ERASURE, received.date()):
        assert timer.label.replace('"', "&#34;") in page and f"{timer.on.day} {timer.on:%B %Y}" in page
    assert "desistimiento" not in page  # counted only once the claimant is asked to complete the claim
    options = re.findall(r'<option value="([^"]*)"', page.split('id="reject-basis"')[1].split("</select>")[0])
    assert options == ["", "co-1377-9", "identity", "no-data", "other"]
    assert "Decreto 1377 de 2013 Art. 9 (DUR 1074 de 2015 art. 2.2.2.25.2.8)" in page
    refused = cast.post("olga", case_url(request_id, "reject"), {"legal_basis": "gdpr-17-3-e", "reasons": "No."})
    assert refused.status_code == 400 and cast.case(request_id).legal_basis is None


def test_the_case_names_the_purpose_objected_to_in_staff_words(cast: Cast) -> None:
    request_id = cast.file("objection", grounds="I object.", purpose="security_monitoring")
    page = cast.get("dana", f"/dpo/requests/{request_id}").get_data(as_text=True)
    assert re.search(r'id="objection-purpose">Security monitoring<', page)
