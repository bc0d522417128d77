"""Statements stored once and read in each reader's language (portal.i18n.statements): request
outcomes, the portal's own messages on a timeline and the purposes of staff accesses. Alice (ES)
reads them in Spanish and Bruno (BR) in Portuguese, on their pages, in their e-mails, their
deletion certificate and their export; a row from before keys shows its text as stored."""

from __future__ import annotations

import email
import email.policy
import html
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from portal.extensions import db
from portal.i18n.statements import statement
from portal.monitoring import access as access_log
from portal.rights import services
from portal.rights import statements as st
from portal.rights.certificate import write_certificate
from portal.rights.models import DataRequest, RequestEvent, RequestState
from tests.conftest import set_idp_user
from tests.helpers import sign_in
from tests.i18n.test_languages import app, client, employee_by_email  # noqa: F401  (fixtures)

STAFF_ID = "f" * 32  # the staff member who opened the data: never shown to the employee


def unescaped(page: str) -> str:
    return html.unescape(page)


def mails_to(app: Flask, address: str, subject_start: str) -> list[email.message.EmailMessage]:  # noqa: F811
    folder = app.config["PORTAL_SETTINGS"].outbox_dir
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = []
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if message["To"] == address and str(message["Subject"]).startswith(subject_start):
                found.append(message)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {address} starting {subject_start!r} in {folder}")


def body_of(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return " ".join(part.get_content().split())


def statements_for(app: Flask, address: str) -> dict[str, str]:  # noqa: F811
    """An erasure completed with part of the data under a hold, then carried on once the hold
    lifted; an open access request told of the erasure, and its repeat; a completed objection;
    a staff access for the erasure's case. Returns the requests' ids and the erasure's reference."""
    with app.app_context():
        person = employee_by_email(address)
        erasure = services.file_request(person, "erasure").request
        access = services.file_request(person, "access").request
        repeat = services.file_request(person, "access").request
        objection = services.file_request(person, "objection", purpose="analytics", grounds="My reasons.").request
        for request in (erasure, objection):
            request.state = RequestState.FULFILLING
        result: dict[str, Any] = {"categories": {"input_events": {"deleted": 12, "blocked": 0},
                                                 "screenshots": {"deleted": 0, "blocked": 3}},
                                  "key_destroyed": False, "hold_basis": st.hold_basis(person.jurisdiction)}
        services.complete(erasure, result=result, outcome=statement(
            st.ERASED, key_destroyed=False, removal_required=True, held={"screenshots": 3},
            jurisdiction=person.jurisdiction))
        services.tell_of_erasure(erasure)
        services.tell_requester(erasure, statement(
            st.ERASURE_RESUMED, ref=erasure.reference, categories=["screenshots"], erased={"screenshots": 3},
            marked=0, key_destroyed=True, still_held={}, jurisdiction=person.jurisdiction),
            template="request_erasure_resumed")
        services.complete(objection, result={"suppressed": "analytics"},
                          outcome=statement(st.OBJECTION_UPHELD, purpose="analytics"))
        access_log.record_access(person.id, accessor_id=STAFF_ID, accessor_role="dpo", action="viewed",
                                 purpose=statement(access_log.HANDLING_REQUEST, ref=erasure.reference),
                                 case_ref=erasure.reference)
        db.session.commit()
        return {"erasure": erasure.id, "access": access.id, "repeat": repeat.id, "objection": objection.id,
                "ref": erasure.reference}


def certificate_text(app: Flask, address: str, request_id: str) -> str:  # noqa: F811
    with app.app_context():
        request = db.session.get(DataRequest, request_id)
        person = employee_by_email(address)
        assert request is not None
        out = io.BytesIO()
        write_certificate(request, person, out)
    return " ".join(" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(out.getvalue())).pages).split())


def test_alice_reads_outcomes_messages_and_access_purposes_in_spanish(app: Flask, client: FlaskClient,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    sign_in(client, "alice@example.com")
    made = statements_for(app, "alice@example.com")
    ref = made["ref"]

    listing = unescaped(client.get("/me/requests").get_data(as_text=True))
    assert "Sus datos se suprimieron." in listing
    assert "Se estima su oposición: sus datos ya no se usan para analítica de productividad" in listing
    assert "Your data was erased" not in listing and "Your objection is upheld" not in listing

    page = unescaped(client.get(f"/me/requests/{made['erasure']}").get_data(as_text=True))
    assert ("Los registros de qué conjuntos de entrenamiento y modelos de IA usaron sus datos se conservan"
            in page)
    assert "Parte de sus datos está bajo una retención legal y no se suprimió: Screenshots (3)." in page
    assert "se conservan bloqueados, como exige el art. 32 de la LOPDGDD" in page
    assert "Si no está de acuerdo, puede reclamar ante la Agencia Española de Protección de Datos (AEPD)" in page
    assert (f"Se ha levantado la retención legal sobre parte de sus datos, y su supresión {ref} se ha llevado a "
            "cabo ahora para lo que conservaba: Screenshots (3 suprimidos).") in page
    assert "legal hold" not in page

    told = unescaped(client.get(f"/me/requests/{made['access']}").get_data(as_text=True))
    assert f"Su supresión {ref} se ha llevado a cabo: sus datos de monitorización se han suprimido." in told
    repeat = unescaped(client.get(f"/me/requests/{made['repeat']}").get_data(as_text=True))
    assert "Esta solicitud repite la solicitud abierta R-" in repeat

    log = unescaped(client.get("/me/access-log").get_data(as_text=True))
    assert f"Tramitación de la solicitud {ref}" in log and "Handling request" not in log

    # The e-mails, written by the mail job in her language.
    (done,) = [m for m in mails_to(app, "alice@example.com", "Su solicitud")
               if "completada" in str(m["Subject"]) and made["ref"] in str(m["Subject"])]
    assert "Sus datos se suprimieron." in body_of(done)
    (resumed,) = mails_to(app, "alice@example.com", f"Su supresión {ref} se ha llevado a cabo")
    assert "Se ha levantado una retención legal que impedía suprimir parte de sus datos" in body_of(resumed)

    # The deletion certificate gives the hold's legal basis in Spanish (its signed facts, printed
    # at the end as JSON, keep the stored English).
    text = certificate_text(app, "alice@example.com", made["erasure"])
    assert "se conservan bloqueados, como exige el art. 32 de la LOPDGDD" in text

    # Her export: the access purpose in index.html and report.pdf.
    out = tmp_path / "copy.zip"
    result = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com",
                                                "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        index = unescaped(archive.read("index.html").decode("utf-8"))
        report = " ".join(" ".join(p.extract_text() or "" for p in
                                   PdfReader(io.BytesIO(archive.read("report.pdf"))).pages).split())
    assert f"Tramitación de la solicitud {ref}" in index
    assert "Tramitación de la solicitud" in report and "Handling request" not in report


def test_bruno_reads_them_in_portuguese(app: Flask, client: FlaskClient, idp_url: str) -> None:  # noqa: F811
    set_idp_user(idp_url, "bruno@example.com", {"email": "bruno@example.com", "name": "Bruno Souza",
                                                 "country": "BR"})
    sign_in(client, "bruno@example.com")
    made = statements_for(app, "bruno@example.com")
    page = unescaped(client.get(f"/me/requests/{made['erasure']}").get_data(as_text=True))
    assert "Os seus dados foram eliminados." in page
    assert "Parte dos seus dados está sob uma retenção legal e não foi eliminada: Screenshots (3)." in page
    assert "LGPD art. 16, I: os dados podem ser mantidos" in page
    assert "esta solicitação foi a solicitação prévia ao controlador" in page
    listing = unescaped(client.get("/me/requests").get_data(as_text=True))
    assert "A sua oposição foi acolhida" in listing
    log = unescaped(client.get("/me/access-log").get_data(as_text=True))
    assert f"Tratamento da solicitação {made['ref']}" in log
    text = certificate_text(app, "bruno@example.com", made["erasure"])
    assert "aqui a sua preservação para processos judiciais" in text


def test_the_dpo_reads_the_same_statements_in_their_own_language(app: Flask, client: FlaskClient) -> None:  # noqa: F811
    """Stored once: staff whose browser asks for English read on the case page in English what
    Alice reads in Spanish."""
    sign_in(app.test_client(), "alice@example.com")
    made = statements_for(app, "alice@example.com")
    sign_in(client, "admin@example.com")
    response = client.get(f"/dpo/requests/{made['erasure']}", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert response.status_code == 200
    page = unescaped(response.get_data(as_text=True))
    assert "Your data was erased." in page and "Some of your data is under a legal hold and was not erased" in page
    assert "Sus datos" not in page


def test_a_row_from_before_keys_shows_its_text_as_stored(app: Flask, client: FlaskClient) -> None:  # noqa: F811
    sign_in(client, "alice@example.com")
    made = statements_for(app, "alice@example.com")
    with app.app_context():
        db.session.execute(sa.update(DataRequest).where(DataRequest.id == made["objection"])
                           .values(outcome_statement=None, outcome_legacy="Upheld, in the words of an older portal."))
        db.session.commit()
        said = list(db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == made["repeat"],
                                                                     RequestEvent.body_statement.is_not(None))))
        assert said and all(e.body_sealed is None for e in said)  # the portal's own words, not sealed
    page = unescaped(client.get(f"/me/requests/{made['objection']}").get_data(as_text=True))
    assert "Upheld, in the words of an older portal." in page


def test_every_statement_key_has_a_renderer_and_renders_in_each_language(app: Flask) -> None:  # noqa: F811
    from flask_babel import force_locale

    from portal.i18n.statements import known, render

    assert {st.ERASED, st.ERASURE_RESUMED, st.ERASED_NOTICE, st.DUPLICATE, st.OBJECTION_UPHELD, st.RESTRICTED,
            st.RECTIFIED, st.COPY_MADE, st.COPY_READY, access_log.HANDLING_REQUEST, access_log.LEGAL_CLAIMS,
            access_log.SHELL_COPY} <= known()
    with app.test_request_context():
        for language, expected in (("en", "within 7 days"), ("es", "en un plazo de 7 días"),
                                   ("pt_BR", "em até 7 dias")):
            with force_locale(language):
                assert expected in (render(statement(st.COPY_READY, days=7)) or "")
        with force_locale("es"):
            assert render(statement(access_log.LEGAL_CLAIMS, matter="LIT-9", ref="R-1234ABCD")) == \
                "Reclamaciones legales (LIT-9), solicitud R-1234ABCD"
        assert render({"key": "no-such-key", "params": {}}, "as stored") == "as stored"
        assert render(None, None) is None


def test_the_dpo_forms_refusals_are_in_the_readers_language(app: Flask) -> None:  # noqa: F811
    """The DPO's forms' "required" messages are marked where they are written, so they are
    extracted and translated (they were passed to a helper as plain strings, and stayed English)."""
    from flask_babel import force_locale
    from werkzeug.datastructures import MultiDict

    from portal.rights.views.staff_forms import HoldForm, NoteForm

    with app.test_request_context(), force_locale("es"):
        note = NoteForm(formdata=MultiDict(), meta={"csrf": False})
        assert not note.validate() and note.errors["note"] == ["Escriba la nota."]
        hold = HoldForm(formdata=MultiDict(), meta={"csrf": False})
        hold.categories.choices = []
        assert not hold.validate() and "Indique el motivo de la retención." in hold.errors["reason"]


def test_the_evidence_packs_request_pdf_gives_the_outcome_in_the_regimes_language(app: Flask,  # noqa: F811
                                                                                  client: FlaskClient) -> None:  # noqa: F811
    """request.json keeps the statement; request.pdf, for the authority, words it in the language
    of the request's regime (Spanish for Alice's), as the rest of the PDF."""
    import json

    from portal.audit.services import Actor
    from portal.evidence.pack import write_pack

    sign_in(client, "alice@example.com")
    made = statements_for(app, "alice@example.com")
    with app.app_context():
        request = db.session.get(DataRequest, made["erasure"])
        assert request is not None
        out = io.BytesIO()
        write_pack(request, out, actor=Actor.system())
        db.session.commit()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        facts = json.loads(archive.read("request.json"))
        text = " ".join(" ".join(p.extract_text() or "" for p in
                                 PdfReader(io.BytesIO(archive.read("request.pdf"))).pages).split())
    assert facts["outcome"]["key"] == "request.erased" and facts["outcome"]["params"]["held"] == {"screenshots": 3}
    assert "Sus datos se suprimieron." in text and "Your data was erased" not in text
