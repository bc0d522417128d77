"""Languages: complete catalogues, and each person reading the portal, their e-mails and their PDFs
in their language: the switcher (remembered, audited), else the IdP's locale claim, else
Accept-Language, else the regime's language. Signed in through the real IdP on loopback."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.extensions import db
from portal.i18n import catalogues
from portal.people.models import Employee
from portal.rights import services as requests_services
from tests.conftest import _stop_job_runner, app_config, set_idp_user
from tests.helpers import audit_entries, csrf_token, make_employee, sign_in

ROOT = Path(__file__).resolve().parents[2]
ALL_LANGUAGES = ("en", "es", "pt_BR")


@pytest.fixture
def app(tmp_path: Path, idp_url: str, sqlite_template: Path) -> Iterator[Flask]:
    """The portal as deployed: every language offered (the other tests read English only)."""
    target = tmp_path / "portal.db"
    target.write_bytes(sqlite_template.read_bytes())
    application = create_app(app_config(tmp_path, idp_url, f"sqlite:///{target}", languages=ALL_LANGUAGES))
    application.config["TESTING"] = True
    yield application
    _stop_job_runner(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match, page[:200]
    return match.group(1)


def employee_by_email(address: str) -> Employee:
    from portal.people.services import find_by_email

    found = find_by_email(address)
    assert found is not None
    return found


# -- the catalogues ------------------------------------------------------------------------------------

def test_every_message_of_the_sources_is_translated_in_both_catalogues(tmp_path: Path) -> None:
    """Extract afresh: a string added without `make messages` and its translations fails here."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})  # babel.cfg names portal.i18n.extract
    sources = [m for m in catalogues.load(pot) if m.id]
    assert len(sources) > 1000
    for language in catalogues.LANGUAGES:
        catalog = catalogues.load(catalogues.po_path(language), language)
        missing = [m.id for m in sources if m.id not in catalog]
        assert missing == [], f"{language}: not in the catalogue (make messages): {missing[:5]}"
        assert catalogues.problems(catalog) == [], f"{language}: untranslated, fuzzy or wrong placeholders"
        assert not any(m.fuzzy for m in catalog if m.id)


def test_placeholders_are_checked_and_pybabel_compiles_without_errors(tmp_path: Path) -> None:
    assert catalogues.placeholder_mismatch(["Version %(n)s"], ["Versión %(n)s"]) is None
    assert catalogues.placeholder_mismatch(["Version %(n)s"], ["Versión %(num)s"]) is not None
    assert catalogues.placeholder_mismatch(["Hello %(name)s,"], ["Hola:"]) is not None
    # a singular may leave its count out ("un día"), nothing else
    assert catalogues.placeholder_mismatch(["%(num)s day", "%(num)s days"], ["un día", "%(num)s días"]) is None
    assert catalogues.placeholder_mismatch(["%(num)s day", "%(num)s days"], ["un día", "muchos días"]) is not None
    for language in catalogues.LANGUAGES:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "pybabel"), "compile", "--statistics", "-i",
             str(catalogues.po_path(language)), "-o", str(tmp_path / f"{language}.mo"), "-l", language],
            cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "error" not in result.stderr.lower(), result.stderr
        assert "(100%) translated" in result.stderr, result.stderr


# -- who reads what ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("sub", "lang", "overview"), [
    ("alice@example.com", "es", "Resumen"),  # the demo IdP says es-ES
    ("carla@example.com", "es", "Resumen"),  # es-CO
    ("bob@example.com", "en", "Overview"),  # US-CA, no locale claim, no Accept-Language
])
def test_the_demo_people_read_their_language_by_default(client: FlaskClient, sub: str, lang: str,
                                                        overview: str) -> None:
    sign_in(client, sub)
    page = client.get("/").get_data(as_text=True)
    assert html_lang(page) == lang
    assert f">{overview}</a>" in page


def test_the_law_and_the_complaint_route_are_worded_in_the_readers_language(client: FlaskClient,
                                                                             idp_url: str) -> None:
    sign_in(client, "alice@example.com")
    page = client.get("/").get_data(as_text=True)
    assert "Según el RGPD y la LOPDGDD española (Ley Orgánica 3/2018), tiene derecho" in page
    assert ("puede reclamar ante la Agencia Española de Protección de Datos (AEPD), "
            "https://sedeagpd.gob.es/sede-electronica-web/. No necesita dirigirse antes a nosotros.") in page
    assert "Interés legítimo (art. 6.1.f del RGPD) en el control de la actividad laboral" in page
    set_idp_user(idp_url, "bruno@example.com", {"email": "bruno@example.com", "name": "Bruno Souza",
                                                 "country": "BR"})
    other = client.application.test_client()
    sign_in(other, "bruno@example.com")
    page = other.get("/").get_data(as_text=True)
    assert "Segundo a LGPD (Lei 13.709/2018), você tem o direito" in page
    assert "pode peticionar perante a Autoridade Nacional de Proteção de Dados (ANPD)" in page
    assert "Legítimo interesse (LGPD art. 7º, IX, nos limites do art. 10)" in page


def test_a_refusal_ground_reads_in_the_readers_language(app: Flask) -> None:
    from flask_babel import force_locale

    from portal.i18n import ground_wording

    with app.test_request_context():
        for language, expected in (("es", "manifiestamente infundada o excesiva"),
                                   ("pt_BR", "manifestamente infundada ou excessiva"),
                                   ("en", "manifestly unfounded or excessive")):
            with force_locale(language):
                assert ground_wording("ES", "gdpr-12-5") == f"GDPR Art. 12(5)(b): {expected}", language
                assert ground_wording("ES", None) == "" and ground_wording("ES", "no-such-ground") == "no-such-ground"


def test_a_brazilian_employee_reads_portuguese_from_the_regime(app: Flask, client: FlaskClient,
                                                               idp_url: str) -> None:
    set_idp_user(idp_url, "bruno@example.com", {"email": "bruno@example.com", "name": "Bruno Souza",
                                                 "country": "BR", "zoneinfo": "America/Sao_Paulo"})
    sign_in(client, "bruno@example.com")
    page = client.get("/").get_data(as_text=True)
    assert html_lang(page) == "pt-BR"
    assert ">Visão geral</a>" in page and ">Sair</button>" in page
    with app.app_context():
        bruno = employee_by_email("bruno@example.com")
        assert (bruno.jurisdiction, bruno.language, bruno.idp_locale) == ("BR", None, None)
    # A browser that asks for English is heard before the regime (no choice, no IdP claim).
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"}).get_data(as_text=True)
    assert html_lang(english) == "en" and ">Overview</a>" in english


def test_the_idp_locale_claim_comes_before_the_browser(app: Flask, client: FlaskClient) -> None:
    sign_in(client, "alice@example.com")
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert html_lang(page) == "es"
    with app.app_context():
        assert employee_by_email("alice@example.com").idp_locale == "es"


def test_signed_out_pages_follow_accept_language(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert html_lang(page) == "pt-BR" and "Entrar com a sua conta da empresa" in page
    page = client.get("/", headers={"Accept-Language": "de-DE,fr;q=0.9"}).get_data(as_text=True)
    assert html_lang(page) == "en"
    error = client.get("/no-such-page", headers={"Accept-Language": "es-CO"})
    assert error.status_code == 404 and html_lang(error.get_data(as_text=True)) == "es"


# -- the switcher -------------------------------------------------------------------------------------

def test_the_switcher_changes_the_language_is_audited_and_is_remembered_at_the_next_sign_in(
        app: Flask, client: FlaskClient) -> None:
    sign_in(client, "alice@example.com")
    page = client.get("/me/requests").get_data(as_text=True)
    assert html_lang(page) == "es"
    response = client.post("/language", data={"csrf_token": csrf_token(page), "language": "pt_BR",
                                               "next": "/me/requests"})
    assert response.status_code == 302 and response.headers["Location"] == "/me/requests"
    page = client.get("/me/requests").get_data(as_text=True)
    assert html_lang(page) == "pt-BR" and "As suas solicitações" in page
    (entry,) = audit_entries(app, "people:language:choose")
    with app.app_context():
        alice = employee_by_email("alice@example.com")
        assert (alice.language, alice.idp_locale) == ("pt_BR", "es")
        assert (entry.actor_type, entry.actor_id, entry.subject_id) == ("employee", alice.id, alice.id)
        assert entry.details == {"language": "pt_BR", "previous": None}

    client.post("/auth/logout", data={"csrf_token": csrf_token(page)})
    fresh = app.test_client()
    sign_in(fresh, "alice@example.com")  # the IdP still says es-ES: the choice wins
    assert html_lang(fresh.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)) == "pt-BR"


def test_the_switcher_refuses_a_post_without_csrf_and_a_language_not_offered(
        app: Flask, client: FlaskClient) -> None:
    sign_in(client, "alice@example.com")
    assert client.post("/language", data={"language": "en", "next": "/"}).status_code == 400
    page = client.get("/").get_data(as_text=True)
    token = csrf_token(page)
    response = client.post("/language", data={"csrf_token": token, "language": "fr", "next": "//evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"  # never off-site
    assert client.get("/language").status_code == 405  # no state change on GET
    with app.app_context():
        assert employee_by_email("alice@example.com").language is None
    assert audit_entries(app, "people:language:choose") == []


def test_someone_signed_out_can_switch_for_their_session(client: FlaskClient) -> None:
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'name="language"' in page
    client.post("/language", data={"csrf_token": csrf_token(page), "language": "es", "next": "/"})
    assert html_lang(client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)) == "es"


# -- e-mails and PDFs --------------------------------------------------------------------------------

def wait_for_outbox(app: Flask, count: int) -> list[email.message.EmailMessage]:
    folder = app.config["PORTAL_SETTINGS"].outbox_dir
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        if len(files) >= count:
            return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
                    for f in files]
        time.sleep(0.1)
    raise AssertionError(f"expected {count} e-mails in {folder}")


def test_an_email_to_alice_is_in_spanish_and_one_to_an_english_reader_in_english(app: Flask) -> None:
    alice_id = make_employee(app, "alice@example.com", name="Alice Martín", jurisdiction="ES")
    with app.app_context():
        alice = db.session.get(Employee, alice_id)
        assert alice is not None
        filed = requests_services.file_request(alice, "access")
        db.session.commit()
        reference = filed.request.reference
    (message,) = wait_for_outbox(app, 1)
    assert message["Subject"] == f"Hemos recibido su solicitud {reference}"
    assert message["Content-Language"] == "es"
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hola, Alice Martín:" in body and "Solicitud:  Acceso (una copia de mis datos)" in body
    assert re.search(r"Recibida:   \d{1,2} de [a-z]+ de 20\d\d", body), body
    assert "(Mensaje automático: las respuestas no se leen.)" in body
    with app.app_context():
        (entry,) = [e for e in audit_entries(app, "mail:message:send") if e.subject_id == alice_id]
        assert entry.details["language"] == "es"

    bob_id = make_employee(app, "bob@example.com", name="Bob Chen", jurisdiction="US-CA")
    with app.app_context():
        bob = db.session.get(Employee, bob_id)
        assert bob is not None
        requests_services.file_request(bob, "access")
        db.session.commit()
    messages = wait_for_outbox(app, 2)
    english = [m for m in messages if m["Subject"].startswith("We have received your request")]
    assert len(english) == 1 and english[0]["Content-Language"] == "en"


def test_a_persons_chosen_language_is_used_for_their_mail(app: Flask) -> None:
    erin_id = make_employee(app, "erin@example.com", jurisdiction="ES")
    with app.app_context():
        erin = db.session.get(Employee, erin_id)
        assert erin is not None
        from portal.audit.services import Actor
        from portal.people.services import choose_language

        choose_language(erin, "pt_BR", actor=Actor("employee", erin_id))
        requests_services.file_request(erin, "erasure")
        db.session.commit()
    (message,) = wait_for_outbox(app, 1)
    assert message["Subject"].startswith("Recebemos a sua solicitação")
    assert message["Content-Language"] == "pt-BR"


def test_html_lang_is_right_on_the_error_and_sign_in_pages(client: FlaskClient) -> None:
    for path in ("/", "/auth/signed-out", "/no-such-page"):
        page = client.get(path, headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
        assert html_lang(page) == "pt-BR", path


def test_employees_without_a_choice_have_no_language_column_set(app: Flask) -> None:
    make_employee(app, "erin@example.com", jurisdiction="CO")
    with app.app_context():
        assert db.session.scalar(sa.select(Employee.language)) is None


def test_the_export_of_a_spanish_employee_is_in_spanish_with_its_language_declared(
        app: Flask, tmp_path: Path) -> None:
    """The whole package, made as from the shell: report.pdf's text and /Lang, index.html's lang."""
    import io
    import zipfile

    from pypdf import PdfReader

    make_employee(app, "carla@example.com", name="Carla Rodríguez", jurisdiction="CO")
    out = tmp_path / "copy.zip"
    result = app.test_cli_runner().invoke(args=["export", "run", "--employee", "carla@example.com",
                                                "--out", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        index = archive.read("index.html").decode("utf-8")
        pdf = PdfReader(io.BytesIO(archive.read("report.pdf")))
    assert html_lang(index) == "es" and "Qué se recoge sobre usted" in index and "Sus derechos" in index
    assert pdf.root_object["/Lang"] == "es"
    assert pdf.metadata is not None and pdf.metadata.title == "Sus datos de monitorización: una copia para Carla Rodríguez"
    text = " ".join(" ".join(page.extract_text() or "" for page in pdf.pages).split())
    assert "Sus derechos" in text and "página 1 de" in text


# -- the order, and Babel's formats ------------------------------------------------------------------

def test_person_language_follows_choice_then_idp_then_regime(app: Flask) -> None:
    from portal.i18n import person_language, regime_language

    with app.app_context():
        assert [regime_language(code) for code in ("ES", "ES-CN", "CO", "BR", "US-CA", "FR", "", None)] == \
            ["es", "es", "es", "pt_BR", "en", "en", "en", "en"]
        employee = Employee(jurisdiction="BR", language=None, idp_locale=None)
        assert person_language(employee) == "pt_BR"
        employee.idp_locale = "es"
        assert person_language(employee) == "es"
        employee.language = "en"
        assert person_language(employee) == "en"
        assert person_language(None) == "en"
        # a deployment that offers English only speaks English whatever the person's language
        app.config["PORTAL_SETTINGS"].languages = ("en",)
        assert person_language(employee) == "en" and regime_language("BR") == "en"


def test_dates_and_numbers_are_written_by_babel_in_the_language_and_zone(app: Flask) -> None:
    from datetime import UTC, date, datetime

    from flask_babel import force_locale

    from portal.i18n import format_date, format_datetime, format_number

    moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("es"):
            assert format_date(date(2026, 12, 4)) == "4 de diciembre de 2026"
            assert format_date(moment, zone="America/Bogota") == "31 de diciembre de 2026"
            assert format_date(moment, zone="Europe/Madrid") == "1 de enero de 2027"  # the reader's day
            assert format_number(1234567.5) == "1.234.567,5"
            assert "0:30" in format_datetime(moment, zone="Europe/Madrid")
        with force_locale("pt_BR"):
            assert format_date(date(2026, 12, 4)) == "4 de dezembro de 2026"
            assert format_number(1234567.5) == "1.234.567,5"
        with force_locale("en"):
            assert format_date(date(2026, 12, 4)) == "4 December 2026"
            assert format_number(1234567.5) == "1,234,567.5"


def visible_text(page: str) -> str:
    """What a reader sees: the text between tags (attributes such as ``<time datetime>`` stay ISO)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def test_every_page_writes_its_dates_in_one_style_in_the_readers_language(client: FlaskClient) -> None:
    sign_in(client, "alice@example.com")
    with client.application.app_context():
        from tests.helpers import grant_all_consents

        grant_all_consents(employee_by_email("alice@example.com").id)
        db.session.commit()
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flask_babel import force_locale

    from portal.i18n import format_date
    with client.application.app_context():
        zone = employee_by_email("alice@example.com").timezone
    with client.application.test_request_context(), force_locale("es"):
        today = format_date(datetime.now(ZoneInfo(zone)).date())  # today where Alice is
    for path in ("/me/consent", "/me/consent/history", "/me/access", "/policy", "/me/exports", "/"):
        response = client.get(path)
        if response.status_code == 404:
            continue
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        text = visible_text(page)
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text), (path, re.findall(r".{40}\d{4}-\d{2}-\d{2}.{20}", text))
        if path == "/me/consent":
            assert today in text, path  # today's consents, "4 de diciembre de 2026, 15:08"
    with client.application.test_request_context(), force_locale("en"):
        from datetime import UTC, datetime

        from portal.i18n import format_datetime
        assert format_datetime(datetime(2026, 12, 4, 14, 5, tzinfo=UTC), zone="Europe/Madrid") == "4 December 2026, 15:05"
