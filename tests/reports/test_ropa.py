"""The record of processing activities (GDPR Art. 30(1)): one activity per register category, in
register order, with the register's retention and recipients; what the register lacks is said, not
invented; the CSV, the PDF, the download (audited) and the command."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from pypdf import PdfReader

from portal.extensions import db
from portal.monitoring.models import DataCategory
from portal.people.services import find_by_email
from portal.reports import ropa
from tests.conftest import both_databases, set_idp_user
from tests.helpers import audit_entries, signed_in_as, snapshot

# The register as migration 0001 publishes it: key -> (retention in days, recipients).
REGISTER = {
    "input_events": (180, ["People Analytics team", "AI Research (model training, with consent)",
                           "Cloud hosting provider (processor)"]),
    "app_activity": (180, ["People Analytics team", "Security Operations", "AI Research (model training, with consent)",
                           "Cloud hosting provider (processor)"]),
    "screenshots": (90, ["Security Operations", "AI Research (model training, with consent)",
                         "Cloud hosting provider (processor)"]),
    "ai_training_use": (1095, ["AI Research", "Model governance board"]),
}
PORTAL = ["portal:requests", "portal:audit-log", "portal:access-log"]
# Migration 0022's transfers, as the record states them (Art. 30(1)(e)).
HOSTING = "Cloud hosting provider (processor): Ireland. Safeguard: No transfer outside the EU/EEA (GDPR Art. 44)"
AI_US = ("AI Research: United States. Safeguard: The EU-US Data Privacy Framework: the recipient is certified under "
         "it (GDPR Art. 45; Commission Implementing Decision (EU) 2023/1795)")
SOC_IN = ("Security Operations: India. Safeguard: Standard contractual clauses adopted by the European Commission "
          "(GDPR Art. 46(2)(c); Commission Implementing Decision (EU) 2021/914)")
BOARD_GB = ("Model governance board: United Kingdom. Safeguard: An adequacy decision of the European Commission for "
            "that country (GDPR Art. 45)")
TRANSFERS = {"input_events": [HOSTING, AI_US], "app_activity": [HOSTING, SOC_IN, AI_US],
             "screenshots": [HOSTING, SOC_IN, AI_US], "ai_training_use": [AI_US, BOARD_GB]}


@pytest.fixture
def added_category(app: Flask) -> Iterator[None]:
    """A category an admin added to the register, placed first: the record must follow the register.
    The register is kept between tests (it is seeded by the migrations), so it is removed after."""
    with app.app_context():
        add_category()
    yield
    with app.app_context():
        db.session.execute(sa.delete(DataCategory).where(DataCategory.key == "badge_swipes"))
        db.session.commit()


def add_category() -> None:
    db.session.add(DataCategory(key="badge_swipes", name="Badge swipes", description="Door badge reader events.",
                                purposes=["Building security"], legal_basis="Legitimate interests (Art. 6(1)(f))",
                                retention_days=45, recipients=["Facilities team", "Badge vendor (processor)"],
                                source_system="Door access system", consent_purpose=None, sort_order=1))
    db.session.commit()


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF")
    return re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages))


@both_databases
def test_the_record_follows_the_register(app: Flask, added_category: None) -> None:
    app.config["PORTAL_SETTINGS"].dpo_contact = "dpo@example.com"
    with app.app_context():
        record = ropa.build_record()
        assert [a.key for a in record.activities] == ["badge_swipes", *REGISTER, *PORTAL]
        assert record.activities[0].transfers == "None recorded in the register"
        for activity in record.activities[1:5]:
            retention, recipients = REGISTER[activity.key]
            assert (activity.retention_days, list(activity.recipients)) == (retention, recipients)
            assert activity.transfers == "; ".join(TRANSFERS[activity.key])
        assert record.controller == "the employer" and record.dpo_contact == "dpo@example.com"
        by_key = {a.key: a for a in record.activities}
        assert by_key["screenshots"].data_subjects == (ropa.EMPLOYEES, ropa.ON_SCREEN)
        assert by_key["input_events"].data_subjects == (ropa.EMPLOYEES,)
        assert by_key["screenshots"].consent_purpose == "screenshot_capture"
        text = ropa.to_csv(record)
        pdf = pdf_text(ropa.to_pdf(record))

    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == ropa.CSV_COLUMNS
    rows = list(reader)
    assert [r["activity_key"] for r in rows] == ["badge_swipes", *REGISTER, *PORTAL]
    badge = rows[0]
    assert (badge["activity"], badge["retention_days"], badge["recipients"], badge["purposes"]) == (
        "Badge swipes", "45", "Facilities team; Badge vendor (processor)", "Building security")
    assert badge["personal_data"] == "Badge swipes: Door badge reader events."
    assert badge["source_system"] == "Door access system" and badge["consent_purpose"] == ""
    for row in rows[1:5]:
        retention, recipients = REGISTER[row["activity_key"]]
        assert row["retention_days"] == str(retention) and row["recipients"] == "; ".join(recipients)
        assert row["transfers_third_countries"] == "; ".join(TRANSFERS[row["activity_key"]])
        assert row["controller"] == "the employer" and row["dpo_contact"] == "dpo@example.com"
        assert "AES-256-GCM" in row["security_measures"] and "Four-eyes erasure" in row["security_measures"]
    assert rows[3]["data_subjects"] == f"{ropa.EMPLOYEES}; {ropa.ON_SCREEN}"

    for phrase in ("Record of processing activities", "GDPR Art. 30(1)", "the employer", "dpo@example.com",
                   "Badge swipes", "45 days", "Facilities team; Badge vendor (processor)", "Input events", "180 days",
                   "Screenshots", "90 days", "Use in AI training", "1,095 days", "AI Research; Model governance board",
                   "Transfers to third countries None recorded in the register", "crypto-shredding",
                   "Handling data-protection requests", "Audit log", "Staff access log", "Kept for good",
                   "Merkle tree (RFC 9162)", "Four-eyes erasure", "screenshot_capture", "page 1 of"):
        assert phrase in pdf, phrase


def test_an_empty_register_is_said(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.delete(DataCategory))
        record = ropa.build_record()
        assert record.activities == ropa.PORTAL_ACTIVITIES
        assert "The register lists no categories of data." in pdf_text(ropa.to_pdf(record))
        assert [r["activity_key"] for r in csv.DictReader(io.StringIO(ropa.to_csv(record)))] == PORTAL
        db.session.rollback()


def test_the_download_is_audited(app: Flask, idp_url: str) -> None:
    set_idp_user(idp_url, "audrey@example.com", {"email": "audrey@example.com", "email_verified": True,
                                                  "name": "Audrey Auditor", "country": "ES", "groups": ["auditor"]})
    clients = {who: app.test_client() for who in ("dana", "audrey", "alice")}
    for who, client in clients.items():
        signed_in_as(client, f"{who}@example.com")
    with app.app_context():
        ids = {who: getattr(find_by_email(f"{who}@example.com"), "id", "") for who in clients}

    before = snapshot(app)
    page = clients["dana"].get("/dpo/reports").get_data(as_text=True)
    assert 'href="/dpo/reports/record-of-processing.csv"' in page
    assert 'href="/dpo/reports/record-of-processing.pdf"' in page
    as_csv = clients["dana"].get("/dpo/reports/record-of-processing.csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="record-of-processing-\d{4}-\d{2}-\d{2}\.csv"',
                        as_csv.headers["Content-Disposition"])
    assert as_csv.headers["Cache-Control"] == "no-store"
    assert [r["activity_key"] for r in csv.DictReader(io.StringIO(as_csv.get_data(as_text=True)))] == [
        *REGISTER, *PORTAL]
    as_pdf = clients["audrey"].get("/dpo/reports/record-of-processing.pdf")
    assert as_pdf.status_code == 200 and as_pdf.mimetype == "application/pdf"
    assert "1,095 days" in pdf_text(as_pdf.get_data())
    assert clients["dana"].get("/dpo/reports/record-of-processing.xlsx").status_code == 404
    assert clients["alice"].get("/dpo/reports/record-of-processing.pdf").status_code == 404
    assert snapshot(app) == before, "a download changes nothing but the audit log"

    entries = audit_entries(app, "evidence:ropa:download")
    assert [(e.actor_id, e.details) for e in entries] == [
        (ids["dana"], {"format": "csv", "via": "web", "activities": 7}),
        (ids["audrey"], {"format": "pdf", "via": "web", "activities": 7}),
    ]


def test_the_ropa_command(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    out = tmp_path / "record.pdf"
    result = runner.invoke(args=["evidence", "ropa", "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "7 processing activities" in result.output
    assert "Use in AI training" in pdf_text(out.read_bytes())

    refused = runner.invoke(args=["evidence", "ropa", "--format", "csv", "--out", str(out)])
    assert refused.exit_code != 0 and "exists already" in refused.output
    assert out.read_bytes().startswith(b"%PDF")
    missing = runner.invoke(args=["evidence", "ropa", "--format", "csv", "--out", str(tmp_path / "no" / "r.csv")])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    assert len(audit_entries(app, "evidence:ropa:download")) == 1

    forced = runner.invoke(args=["evidence", "ropa", "--format", "csv", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert [r["activity_key"] for r in csv.DictReader(out.open(encoding="utf-8"))] == [*REGISTER, *PORTAL]
    entries = audit_entries(app, "evidence:ropa:download")
    assert [(e.actor_type, e.details["format"], e.details["via"]) for e in entries] == [
        ("system", "pdf", "shell"), ("system", "csv", "shell")]


def test_the_controller_is_the_settings_entity_of_the_gdpr_jurisdictions(app: Flask) -> None:
    """Art. 30(1)(a): the controllers file's entities for GDPR jurisdictions (ES here), not the US,
    Colombian or Brazilian ones, nor the catch-all."""
    from portal.config import PROJECT_ROOT
    from portal.jurisdictions.controllers import load

    app.config["PORTAL_SETTINGS"].controllers = load(PROJECT_ROOT / "portal" / "demo" / "controllers.json")
    with app.app_context():
        record = ropa.build_record()
        pdf = pdf_text(ropa.to_pdf(record))
    assert record.controller == "ES: Example Iberia S.L."
    assert record.controllers and record.controllers[0][0] == "ES"
    assert "Calle de Ejemplo 1, 28001 Madrid" in record.controller_contact
    assert record.dpo_contact == "privacy@example.com"
    assert not any(n.startswith("The controller's name is not set") for n in record.notes)
    assert ("Controller in ES Example Iberia S.L.; Calle de Ejemplo 1, 28001 Madrid, Spain, represented by Its "
            "managing director, DPO privacy@example.com") in pdf
    assert "Example Inc." not in pdf and "Example Colombia" not in pdf


def test_the_portals_own_processing_is_recorded() -> None:
    """Art. 30(1) covers every processing activity under the controller's responsibility, and the
    portal itself processes personal data: the requests (Art. 12 to 22 oblige the controller to
    answer them and Art. 5(2) to show it did: a legal obligation, Art. 6(1)(c)), the audit log
    (accountability, Art. 5(2) and 24(1), and security, Art. 32) and the staff access log (who
    consulted an employee's data, when and why, which the employee may know: Art. 15(1)(c), CJEU
    C-579/21). Each needs its purposes, basis, subjects, recipients and retention (Art. 30(1)(b) to
    (f)). The portal deletes none of them, so the record says that no period is set rather than
    invent one, and that the audit log is kept for good."""
    by_key = {a.key: a for a in ropa.PORTAL_ACTIVITIES}
    assert list(by_key) == PORTAL
    for activity in by_key.values():
        assert activity.purposes and activity.data_subjects and activity.recipients
        assert "Art. 6(1)(c)" in activity.legal_basis
        assert activity.retention_days is None and activity.retention
    assert "Art. 12 to 22" in by_key["portal:requests"].legal_basis
    assert "C-579/21" in by_key["portal:access-log"].legal_basis
    assert by_key["portal:audit-log"].retention.startswith("Kept for good")
    assert by_key["portal:requests"].retention == ropa.NO_PERIOD


def test_transfers_are_the_registers_with_their_safeguards(app: Flask) -> None:
    """Art. 30(1)(e): transfers to a third country, naming it, and for the Art. 49(1) second
    subparagraph ones the safeguards; Art. 44 to 46 make every transfer outside the EU/EEA rest on
    an adequacy decision (Art. 45; the EU-US Data Privacy Framework is one, Decision (EU)
    2023/1795, for certified recipients) or appropriate safeguards such as the Commission's
    standard contractual clauses (Art. 46(2)(c), Decision (EU) 2021/914). A recipient inside the
    EU/EEA (the Irish cloud host) is no transfer. The record reads these from the register, where
    migration 0023 put the demo's: the host in Ireland, AI Research in the US under the DPF, the
    security desk in India under SCCs, the governance board in the UK under adequacy."""
    with app.app_context():
        record = ropa.build_record()
        pdf = pdf_text(ropa.to_pdf(record))
    by_key = {a.key: a for a in record.activities}
    for key, lines in TRANSFERS.items():
        assert by_key[key].transfers == "; ".join(lines)
    assert "United States. Safeguard: The EU-US Data Privacy Framework" in pdf
    # The register's impact assessment of each category (Art. 35), beside its activity.
    assert by_key["screenshots"].dpia == "DPIA-2025-08 Screen capture, approved 15 September 2025"
    assert "Impact assessment (Art. 35) DPIA-2025-08 Screen capture" in pdf
    assert "India. Safeguard: Standard contractual clauses" in pdf
