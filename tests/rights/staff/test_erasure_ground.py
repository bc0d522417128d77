"""The ground an erasure rests on: the DPO chooses it at the first approval from the request's own
regime's list; the certificate and the evidence pack name it."""

from __future__ import annotations

import io

from pypdf import PdfReader

from portal.evidence.pack import _decisions
from portal.extensions import db
from portal.jurisdictions import BY_KEY
from portal.people.models import Employee
from portal.rights import certificate
from portal.rights import services as requests
from portal.rights.models import RequestEvent, RequestState
from tests.conftest import both_databases
from tests.helpers import audit_entries
from tests.rights.staff.conftest import Cast
from tests.rights.staff.test_cases import case_url, html


def test_every_regime_lists_its_own_erasure_grounds() -> None:
    """GDPR Art. 17(1): erasure is owed on (a) no longer necessary, (b) consent withdrawn, (c) an
    objection that prevails, (d) unlawful processing, (e) a legal obligation to erase; (f), a child's
    data collected for an information society service, cannot arise from an employer's monitoring.
    The CCPA needs no reason: a verified request to delete suffices (Cal. Civ. Code §1798.105(a),
    (c)). Colombia: suppression when the titular has no legal or contractual duty to remain
    (Decreto 1377 Art. 9) or when the processing breaches the law (Ley 1581 Art. 8(e)). Brazil:
    unnecessary, excessive or unlawful data (LGPD Art. 18(IV)), data processed with consent
    (Art. 18(VI)), and the end of the processing (Art. 15 and 16). No regime lists another's law."""
    assert [g.citation for g in BY_KEY["ES"].erasure_grounds] == [f"GDPR Art. 17(1)({x})" for x in "abcde"]
    assert BY_KEY["EU"].erasure_grounds == BY_KEY["ES"].erasure_grounds
    assert [g.code for g in BY_KEY["US-CA"].erasure_grounds] == ["ccpa-1798-105-a"]
    assert all("Ley 1581" in g.citation for g in BY_KEY["CO"].erasure_grounds)
    assert all(g.citation.startswith("LGPD") for g in BY_KEY["BR"].erasure_grounds)
    assert all(not g.citation for g in BY_KEY["default"].erasure_grounds)
    for regime in BY_KEY.values():
        assert regime.erasure_grounds and all(len(g.code) <= 24 for g in regime.erasure_grounds)


@both_databases
def test_the_first_approval_gives_the_ground_and_the_certificate_and_pack_name_it(cast: Cast) -> None:
    """The controller must know, and be able to show, why it erased (Art. 5(2)): the DPO picks the
    Art. 17(1) letter at the first approval, only from alice's regime (Spain: GDPR); an approval
    without one, or with California's §1798.105 ground, is refused and changes nothing; the second
    approval confirms it and cannot change it. The deletion certificate and the evidence pack's
    approval decision then name GDPR Art. 17(1)(b)."""
    request_id = cast.file("erasure", description="Please erase everything about me.")
    assert cast.post("dana", case_url(request_id, "claim")).status_code == 302
    assert cast.post("dana", case_url(request_id, "review")).status_code == 302
    page = html(cast.get("dana", case_url(request_id)))
    assert 'value="gdpr-17-1-b"' in page and "GDPR Art. 17(1)(b): consent was withdrawn" in page
    assert "ccpa-1798-105-a" not in page and "co-1581-8-e" not in page

    missing = cast.post("dana", case_url(request_id, "approve"), {"note": "ok"}, referer=case_url(request_id))
    assert missing.status_code == 400 and "Choose the ground the erasure rests on." in html(missing)
    foreign = cast.post("dana", case_url(request_id, "approve"), {"erasure_ground": "ccpa-1798-105-a"},
                        referer=case_url(request_id))
    assert foreign.status_code == 400
    assert not audit_entries(cast.app, "requests:request:approve-erasure")

    first = cast.post("dana", case_url(request_id, "approve"), {"erasure_ground": "gdpr-17-1-b"},
                      referer=case_url(request_id))
    assert first.status_code == 302
    assert "Ground for the erasure, given by the first approval: GDPR Art. 17(1)(b)" in html(
        cast.get("admin", case_url(request_id)))
    changed = cast.post("admin", case_url(request_id, "approve"), {"erasure_ground": "gdpr-17-1-a"},
                        referer=case_url(request_id))
    assert changed.status_code == 400 and "cannot change it" in html(changed)
    assert cast.post("admin", case_url(request_id, "approve"), referer=case_url(request_id)).status_code == 302
    assert [e.details["ground"] for e in audit_entries(cast.app, "requests:request:approve-erasure")] == [
        "gdpr-17-1-b", "gdpr-17-1-b"]

    with cast.app.app_context():
        case = cast.case(request_id)
        case = db.session.merge(case)
        assert case.erasure_ground == "gdpr-17-1-b"
        if case.state != RequestState.COMPLETED:
            requests.complete(case, result={"categories": {"input_events": {"deleted": 3, "blocked": 0}},
                                            "key_destroyed": True}, outcome="Erased.")
        facts = certificate.certificate_facts(case)
        assert (facts["erasure_ground"], facts["erasure_ground_citation"]) == ("gdpr-17-1-b", "GDPR Art. 17(1)(b)")
        out = io.BytesIO()
        who = db.session.get(Employee, case.subject_id)
        assert who is not None
        certificate.write_certificate(case, who, out)
        text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.getvalue())).pages).split())
        assert "Ground for the erasure GDPR Art. 17(1)(b): consent was withdrawn and no other legal ground" in text
        events = list(db.session.scalars(db.select(RequestEvent).where(RequestEvent.request_id == request_id)
                                         .order_by(RequestEvent.id)))
        approved = [d for d in _decisions(case, events) if d["decision"] == "approved"]
        assert approved and approved[0]["erasure_ground"] == "gdpr-17-1-b"
        assert "GDPR Art. 17(1)(b): consent was withdrawn" in approved[0]["legal_basis_label"]
        db.session.rollback()
