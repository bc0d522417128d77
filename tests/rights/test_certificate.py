"""The deletion certificate on its own: its facts and their digest, what the PDF says (counts,
holds, the key, AI training, the DPO's contact), text that must print literally, and the requests
it refuses to certify."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader

from portal.audit.services import Actor
from portal.extensions import db
from portal.people import services as people
from portal.people.models import Employee
from portal.rights import certificate, services
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.helpers import audit_entries, grant_all_consents

RESULT = {"categories": {"screenshots": {"deleted": 17, "blocked": 5}, "input_events": {"deleted": 1234, "blocked": 0},
                         "app_activity": {"deleted": 0, "blocked": 0}},
          "key_destroyed": False}


def subject(name: str = "Łukasz <b>Nowak</b> & Co", number: str | None = "E-77") -> Employee:
    employee = people.create_employee(email=f"{abs(hash(name))}@example.com", display_name=name,
                                      jurisdiction="ES", employee_number=number, actor=Actor.system())
    db.session.flush()
    return employee


def completed_erasure(who: Employee, result: dict[str, Any] | None = None, **fields: Any) -> DataRequest:
    req = services.file_request(who, RequestType.ERASURE, **fields).request
    req.state = RequestState.FULFILLING
    services.complete(req, result=RESULT if result is None else result, outcome="Erased.")
    db.session.flush()
    return req


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def write(req: DataRequest, who: Employee) -> tuple[str, str]:
    out = io.BytesIO()
    digest = certificate.write_certificate(req, who, out)
    data = out.getvalue()
    assert data.startswith(b"%PDF-")
    return digest, text_of(data)


def test_facts_and_their_digest(app: Flask, ctx: None) -> None:
    who = subject()
    req = completed_erasure(who, categories=["screenshots"], date_from=None, date_to=None)
    facts = certificate.certificate_facts(req)
    assert facts["reference"] == req.reference and facts["subject_id"] == who.id
    assert facts["categories"]["input_events"] == {"deleted": 1234, "blocked": 0}
    assert facts["scope"] == {"categories": ["screenshots"], "date_from": None, "date_to": None}
    assert facts["key_destroyed"] is False and facts["ai_training_suppressed"] is False
    assert facts["completed_at"].endswith("Z") and facts["received_at"].endswith("Z")
    assert "Nowak" not in json.dumps(facts) and "E-77" not in json.dumps(facts)  # no name in the digest's input
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert certificate.facts_digest(facts) == hashlib.sha256(canonical.encode()).hexdigest()
    assert certificate.facts_digest(dict(reversed(list(facts.items())))) == certificate.facts_digest(facts)
    services.suppress(who.id, "erasure")
    assert certificate.facts_digest(certificate.certificate_facts(req)) != certificate.facts_digest(facts)


def test_the_pdf_states_the_facts(app: Flask, ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app.config["PORTAL_SETTINGS"], "dpo_contact", "dpo@acme.example")
    who = subject()
    req = completed_erasure(who)
    services.suppress(who.id, "erasure")
    digest, text = write(req, who)
    assert digest == certificate.facts_digest(certificate.certificate_facts(req))
    flat = text.replace("\n", "")
    assert digest in flat and req.reference in text
    assert "<b>Nowak</b> & Co" in text and "E-77" in text  # printed literally, never parsed as markup
    assert "Łukasz" in text or "Lukasz" in text
    for number in ("1,234", "17", "5", "1,251"):
        assert number in text
    assert "Destroyed: no" in text and "Suppressed: yes" in text
    assert "dpo@acme.example" in text
    assert "legal hold" in text


def test_a_destroyed_key_is_explained(app: Flask, ctx: None) -> None:
    who = subject("Ana", None)
    req = completed_erasure(who, {"categories": {"screenshots": {"deleted": 2, "blocked": 0}}, "key_destroyed": True})
    _digest, text = write(req, who)
    assert "Destroyed: yes" in text and "crypto-shredding" in text
    assert "Employee number" in text and "Ana" in text


def test_only_the_requesters_completed_erasure_is_certified(app: Flask, ctx: None) -> None:
    who, other = subject("Ana", "E-1"), subject("Bea", "E-2")
    open_erasure = services.file_request(who, RequestType.ERASURE).request
    objection = services.file_request(who, RequestType.OBJECTION, grounds="no").request
    objection.state = RequestState.FULFILLING
    services.complete(objection, result={"suppressed": "ai_training"}, outcome="Upheld.")
    done = completed_erasure(who)
    assert not certificate.is_certifiable(open_erasure) and not certificate.is_certifiable(objection)
    assert certificate.is_certifiable(done)
    for req, person in ((open_erasure, who), (objection, who), (done, other)):
        with pytest.raises(ValueError):
            certificate.write_certificate(req, person, io.BytesIO())
    assert certificate.file_name(done) == f"deletion-certificate-{done.reference}.pdf"


def test_issuing_records_the_digest(app: Flask, ctx: None) -> None:
    who = subject("Ana")
    req = completed_erasure(who)
    pdf = certificate.issue_certificate(req, who, actor=Actor("employee", who.id))
    db.session.commit()
    digest = certificate.facts_digest(certificate.certificate_facts(req))
    assert digest in text_of(pdf).replace("\n", "")
    entries = audit_entries(app, "requests:certificate:download")
    assert [(e.actor_id, e.subject_id, e.targets, e.details) for e in entries] == [
        (who.id, who.id, {"request": req.id}, {"facts_sha256": digest})]


@pytest.mark.parametrize(("jurisdiction", "cites", "hold"), [
    ("ES", "the GDPR and Spain's LOPDGDD (Ley Orgánica 3/2018) requires (GDPR Art. 17; LOPDGDD Art. 15)",
     "GDPR Art. 17(3)(e); LOPDGDD Art. 32"),
    ("US-CA", "the CCPA as amended by the CPRA requires (Cal. Civ. Code §1798.105)",
     "Cal. Civ. Code §1798.145(a)(1)(E)"),
    ("CO", "Colombia's Ley 1581 de 2012 requires (Ley 1581 Art. 8(e) and 15)", None),
    ("BR", "Brazil's LGPD (Lei 13.709/2018) requires (LGPD Art. 18(IV) and (VI))", "LGPD Art. 7(VI)"),
    ("JP", None, None),
])
def test_the_preamble_cites_only_the_persons_own_law(app: Flask, ctx: None, jurisdiction: str, cites: str | None,
                                                     hold: str | None) -> None:
    who = people.create_employee(email=f"cert-{jurisdiction.lower()}@example.com", display_name="Someone",
                                 jurisdiction=jurisdiction, employee_number=None, actor=Actor.system())
    db.session.flush()
    blocked = {**RESULT, "categories": {"input_events": {"deleted": 3, "blocked": 2}}}
    _, text = write(completed_erasure(who, blocked), who)
    flat = " ".join(text.split())
    laws = {"GDPR", "1798", "Ley 1581", "LGPD"}
    if cites is None:
        assert "erased at the request of the person named." in flat
        assert not any(law in flat.split("What was erased")[0] for law in laws)
    else:
        assert cites in flat
        own = {"ES": "GDPR", "US-CA": "1798", "CO": "Ley 1581", "BR": "LGPD"}[jurisdiction]
        preamble = flat.split("Name")[0]
        assert not any(law in preamble for law in laws - {own}), preamble
    if hold:
        assert f"Blocked items are under a legal hold ({hold})" in flat
    else:
        assert "Blocked items are under a legal hold: they are kept" in flat


def test_records_of_ai_training_use_are_certified_as_kept_and_removal_required(app: Flask, ctx: None) -> None:
    """The erasure keeps the records of which training sets and models used the data (they are
    evidence) and marks them; the certificate says so, and says the portal did not remove anything
    from a trained model. Earlier results without the mark keep their facts (and digest)."""
    who = subject("Ana", None)
    result = {"categories": {"screenshots": {"deleted": 2, "blocked": 1},
                             "ai_training_use": {"deleted": 0, "blocked": 0, "removal_required": 3}},
              "key_destroyed": False, "hold_basis": "Cal. Civ. Code §1798.145(a)(1)(E): legal claims"}
    req = completed_erasure(who, result)
    facts = certificate.certificate_facts(req)
    assert facts["categories"]["ai_training_use"] == {"deleted": 0, "blocked": 0, "removal_required": 3}
    assert facts["categories"]["screenshots"] == {"deleted": 2, "blocked": 1}  # no mark, no key
    assert facts["hold_basis"] == "Cal. Civ. Code §1798.145(a)(1)(E): legal claims"
    _digest, text = write(req, who)
    flat = " ".join(text.split())
    assert "3 records of AI training sets (and the models trained on them) that used your data are kept" in flat
    assert "marked “removal required”" in flat
    assert "The portal does not itself remove data from training sets or from models already trained on them" in flat
    assert "under a legal hold (Cal. Civ. Code §1798.145(a)(1)(E): legal claims)" in flat

    plain = completed_erasure(subject("Bea", None))
    assert "hold_basis" not in certificate.certificate_facts(plain)
    assert "removal required" not in " ".join(write(plain, get_employee(plain))[1].split())


def get_employee(req: DataRequest) -> Employee:
    found = db.session.get(Employee, req.subject_id)
    assert found is not None
    return found


def test_the_training_set_ledger_for_the_person_is_certified_with_its_audit_entries(app: Flask, ctx: None) -> None:
    """The certificate states the ledger's state for the person: each snapshot that held them, its
    removal and the pipeline's answer, each model's outcome, and the ids of the audit entries
    that recorded them (the facts digest covers it all)."""
    from datetime import date

    from portal.training import services as ledger
    from portal.training.models import ModelAction, RemovalAnswer, RemovalCause

    who = subject("Ana", None)
    grant_all_consents(who.id)
    ledger.record_use(who.id, dataset_name="activity", snapshot_name="s1", record_count=5, used_on=date(2026, 10, 1),
                      model_name="FocusPredict", model_version="2.2")
    ledger.record_use(who.id, dataset_name="activity", snapshot_name="s2", record_count=7, used_on=date(2026, 11, 1),
                      model_name="FocusPredict", model_version="2.3")
    req = completed_erasure(who, {"categories": {"ai_training_use": {"deleted": 0, "blocked": 0,
                                                                     "removal_required": 2}}, "key_destroyed": False})
    ledger.mark_removals(who.id, RemovalCause.ERASURE, request_id=req.id)
    pipeline = Actor("api-token", "t")
    ledger.answer_removals("activity", "s1", RemovalAnswer.DELETED, actor=pipeline)
    ledger.record_model_outcome("FocusPredict", "2.2", "activity", "s1", ModelAction.UNLEARNED, actor=pipeline)
    db.session.flush()
    facts = certificate.certificate_facts(req)
    items = {i["snapshot"]: i for i in facts["training_ledger"]}
    assert items["s1"]["removal"]["answer"] == "deleted" and items["s2"]["removal"]["answer"] is None
    assert items["s1"]["models"][0]["action"] == "unlearned"
    from portal.audit.models import AuditEntry

    tags = {e.entry_id: e.tag for e in db.session.scalars(db.select(AuditEntry))}
    assert {tags[i] for i in items["s1"]["audit_entry_ids"]} == {"training:removal:mark", "training:removal:answer",
                                                                  "training:model:outcome"}
    assert {tags[i] for i in items["s2"]["audit_entry_ids"]} == {"training:removal:mark"}
    _digest, text = write(req, who)
    flat = " ".join(text.split())
    assert "Training-set ledger" in flat
    assert "the AI-training team reports that the snapshot was deleted" in flat
    assert "FocusPredict 2.2: the AI-training team reports that unlearning was applied" in flat
    assert "Waiting for the AI-training team's answer." in flat and "FocusPredict 2.3: no answer yet" in flat
