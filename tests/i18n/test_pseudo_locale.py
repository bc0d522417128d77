"""A pseudo-locale run: every message of the catalogue translated as ⟦message⟧, then every page of
each role read through the real IdP sign-in. Visible text outside ⟦…⟧ that is not data (names,
numbers, dates, references, codes) did not pass through gettext, and would stay English for a
Spanish or Portuguese reader.

Two sources of wording are shown as written and are told apart here, by their text: the
data-category register (database rows an administrator keeps, in one language) and the parts of
the jurisdiction registry that are names and citations (authorities, articles). Anything else
that leaks fails the test."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import get_babel

from portal import create_app
from portal.extensions import db
from portal.i18n import catalogues
from tests.conftest import _stop_job_runner, app_config
from tests.helpers import sign_in

PSEUDO = "eo"  # any locale Babel knows and the portal does not ship
OPEN, CLOSE = "⟦", "⟧"
VISIBLE_ATTRIBUTES = ("alt", "title", "aria-label", "placeholder")
USER_TEXT = "Everything, please."  # what the requester wrote: shown as written
SKIP_ELEMENTS = {"script", "style", "code", "pre", "time", "option", "textarea"}

# What is data, not wording: the person's and staff's names and addresses, references, dates,
# times, numbers, codes, file names, and the names of things the law or the register names.
DATA = re.compile(
    r"""^(
        [\s\W\d_]*                                   # punctuation, digits, separators
      | .*@example\.(com|net).*                      # addresses
      | (Alice\ Martín|Bob\ Chen|Carla\ Rodríguez|Dana\ Okafor|Adrián\ Admin)
      | [A-Z]{2}(-[A-Z0-9]{1,3})?                    # jurisdiction codes
      | R-[\w-]+ | [0-9a-f]{6,}                      # references, ids, digests
      | English | Español | Português\ \(Brasil\)    # the switcher names each language in itself
      | UTC | [A-Z][a-z]+/[A-Za-z_]+                 # zones
      | [a-z]                                        # the letter of a point: Art. 6(1)(a)
      | E\d+                                         # employee numbers
      | [a-z]+\.[a-z_.]+                             # a job's kind, for staff (mail.send)
    )$""", re.VERBOSE)


def _strings(value: object, seen: set[int]) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif id(value) in seen or value is None or isinstance(value, int | float | bool):
        return
    elif isinstance(value, dict) or (hasattr(value, "items") and hasattr(value, "values")):
        seen.add(id(value))
        for item in value.values():
            yield from _strings(item, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        seen.add(id(value))
        for item in value:
            yield from _strings(item, seen)
    elif dataclasses.is_dataclass(value):
        seen.add(id(value))
        for f in dataclasses.fields(value):
            yield from _strings(getattr(value, f.name), seen)


def untranslated_sources(app: Flask) -> list[str]:
    """The register's rows, the registry's wording, and what people typed or named: the sessions'
    device names, queues' names and descriptions, a request's description."""
    from portal.auth.models import AuthSession
    from portal.jurisdictions import REGIMES
    from portal.monitoring.models import DataCategory
    from portal.rights.models import Queue

    with app.app_context():
        rows: list[object] = [[c.name, c.description, c.purposes, c.legal_basis, c.recipients, c.source_system,
                               c.automated_logic, c.automated_significance]
                              for c in db.session.scalars(sa.select(DataCategory))]
        rows += list(db.session.scalars(sa.select(AuthSession.device)))
        rows += [[q.name, q.description] for q in db.session.scalars(sa.select(Queue))]
        rows.append(USER_TEXT)
    sentences = [r.complain_text % {"authority": r.complaint_to()} for r in REGIMES]
    return list(_strings([rows, REGIMES, sentences], set()))


class VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_ELEMENTS:
            self.skip += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value:
                self.texts.append(value)
            if tag == "input" and name == "value" and dict(attrs).get("type") == "submit" and value:
                self.texts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_ELEMENTS and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip and data.strip():
            self.texts.append(data)


def leaks(page: str) -> list[str]:
    """Visible pieces of ``page`` that are neither inside ⟦…⟧ nor data."""
    parser = VisibleText()
    parser.feed(page)
    text = "\n".join(parser.texts)
    previous = None
    while previous != text:  # translated strings may hold translated strings: innermost first
        previous = text
        text = re.sub(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", "\n", text)
    pieces = [p.strip() for p in re.split(r"\n|·|—|–|:|\(|\)", text)]
    return sorted({p for p in pieces if p and not DATA.match(p)})


@pytest.fixture(scope="module")
def pseudo_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    template = catalogues.load(catalogues.TEMPLATE)
    pseudo = Catalog(locale=PSEUDO)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, str):
            pseudo.add(message.id, f"{OPEN}{message.id}{CLOSE}", flags=message.flags)
        else:
            pseudo.add(message.id, tuple(f"{OPEN}{form}{CLOSE}" for form in message.id), flags=message.flags)
    folder = tmp_path_factory.mktemp("pseudo") / PSEUDO / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as f:
        write_mo(f, pseudo)
    return folder.parents[1]


@pytest.fixture
def app(tmp_path: Path, idp_url: str, sqlite_template: Path, pseudo_catalogue: Path) -> Iterator[Flask]:
    target = tmp_path / "portal.db"
    target.write_bytes(sqlite_template.read_bytes())
    application = create_app(app_config(tmp_path, idp_url, f"sqlite:///{target}",
                                        BABEL_TRANSLATION_DIRECTORIES=str(pseudo_catalogue)))
    application.config["TESTING"] = True
    get_babel(application).locale_selector = lambda: PSEUDO
    yield application
    _stop_job_runner(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


EMPLOYEE_PAGES = ("/", "/me/activity", "/me/screenshots", "/me/consent", "/policy", "/me/access-log",
                  "/me/exports", "/me/requests", "/account/sessions")
STAFF_PAGES = ("/dpo/queue", "/dpo/holds", "/dpo/reports", "/admin/jobs", "/admin/policy", "/admin/queues")


def read_all(app: Flask, client: FlaskClient, paths: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        page_leaks = leaks(response.get_data(as_text=True))
        sources = untranslated_sources(app)
        page_leaks = [p for p in page_leaks if not any(p in source for source in sources)]
        if page_leaks:
            found[path] = page_leaks
    return found


def test_the_pseudo_locale_reaches_every_string_of_the_signed_out_pages(app: Flask, client: FlaskClient) -> None:
    found = read_all(app, client, ("/", "/auth/signed-out"))
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    found.update({"404": leaks(missing.get_data(as_text=True))} if leaks(missing.get_data(as_text=True)) else {})
    assert found == {}


def file_erasure_of_alice(app: Flask) -> str:
    from portal.people.services import find_by_email
    from portal.rights.services import file_request

    with app.app_context():
        alice = find_by_email("alice@example.com")
        assert alice is not None
        filed = file_request(alice, "erasure", description=USER_TEXT)
        db.session.commit()
        return str(filed.request.id)


def test_the_pseudo_locale_reaches_every_string_of_an_employees_pages(app: Flask, client: FlaskClient) -> None:
    sign_in(client, "alice@example.com")
    request_id = file_erasure_of_alice(app)
    assert read_all(app, client, (*EMPLOYEE_PAGES, f"/me/requests/{request_id}")) == {}


def test_the_pseudo_locale_reaches_every_string_of_the_staff_pages(app: Flask, client: FlaskClient) -> None:
    sign_in(app.test_client(), "alice@example.com")
    request_id = file_erasure_of_alice(app)
    sign_in(client, "admin@example.com")
    assert read_all(app, client, (*STAFF_PAGES, f"/dpo/requests/{request_id}")) == {}


def test_the_pseudo_locale_run_sees_a_string_that_skips_gettext(app: Flask) -> None:
    """The check itself: raw wording is caught, translated wording and data are not."""
    page = (f"<p>{OPEN}Hello %(name)s{CLOSE}</p><p>Alice Martín · 2026-12-04 · R-2026-0001</p>"
            f"<p title='Untranslated title'>{OPEN}A {OPEN}nested{CLOSE} one{CLOSE}</p><p>Left in English</p>")
    assert leaks(page) == ["Left in English", "Untranslated title"]
