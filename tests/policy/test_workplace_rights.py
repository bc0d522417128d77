"""The policy page's legal facts: the impact assessment per category for people under the GDPR
(Art. 35), and for Spanish employees only Spain's workplace digital rights (LOPDGDD Art. 87, 88,
91), with the facts from the controllers file and the citations from the registry."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.config import PROJECT_ROOT
from portal.jurisdictions.controllers import ControllerFileError, load
from tests.policy.support import publish, signed_in

DEMO = PROJECT_ROOT / "portal" / "demo" / "controllers.json"


def text(client: FlaskClient) -> str:
    response = client.get("/policy")
    assert response.status_code == 200
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


@pytest.fixture
def demo_controllers(app: Flask) -> Iterator[None]:
    settings = app.config["PORTAL_SETTINGS"]
    before = settings.controllers
    settings.controllers = load(DEMO)
    yield
    settings.controllers = before


def test_a_spanish_employee_reads_the_lopdgdd_facts_and_the_dpias(app: Flask, client: FlaskClient,
                                                                  demo_controllers: None) -> None:
    """LOPDGDD Art. 87(3): the employer sets the criteria for using digital devices with the
    participation of the workers' representatives, and must tell the workers (so: when, and with
    which body); Art. 88(3): it draws up, after hearing them, an internal policy on digital
    disconnection; Art. 91: collective agreements may add guarantees. GDPR Art. 35(1) and (4):
    systematic monitoring of employees needs an impact assessment, and the AEPD's list (Art. 35(4))
    applies in Spain. Alice (ES) reads each fact with its citation."""
    signed_in(app, client, "alice@example.com")
    publish(app, "# Monitoring\n\nThe rules.")
    page = text(client)
    assert ("The criteria for using the company's digital devices were set with the workers' representatives, the "
            "works council (comité de empresa) of Madrid, on 10 June 2025. LOPDGDD Art. 87(3); Estatuto de los "
            "Trabajadores Art. 20 bis") in page
    assert ("“Digital disconnection policy, version 2”, in force since 1 September 2025. LOPDGDD Art. 88(3)"
            in page)
    assert "“Example Iberia company agreement 2025-2027, chapter 9” sets further guarantees" in page
    assert "LOPDGDD Art. 91" in page
    assert "Screenshots: DPIA-2025-08 Screen capture, approved 15 September 2025" in page
    assert "the AEPD's list of processing that requires an impact assessment (Art. 35(4))" in page


@pytest.mark.parametrize("email", ["bob@example.com", "carla@example.com"])
def test_nobody_else_reads_them(app: Flask, client: FlaskClient, demo_controllers: None, email: str) -> None:
    """The LOPDGDD binds employers in Spain only, and Art. 35 is the GDPR's: bob (California) and
    carla (Colombia) read neither the Spanish workplace rights nor the GDPR impact assessments."""
    signed_in(app, client, email)
    publish(app, "# Monitoring\n\nThe rules.")
    page = text(client)
    assert "LOPDGDD" not in page and "digital disconnection" not in page and "workers' representatives" not in page
    assert "DPIA-2025" not in page and "Art. 35" not in page


def test_without_the_facts_the_page_says_they_are_not_recorded(app: Flask, client: FlaskClient) -> None:
    """No sentence claims what the portal does not know: without the controllers file's facts the
    Spanish employee is told they are not recorded, still with the law that requires them."""
    app.config["PORTAL_SETTINGS"].controllers = {}
    signed_in(app, client, "alice@example.com")
    publish(app, "# Monitoring\n\nThe rules.")
    page = text(client)
    assert "the criteria for using the company's digital devices were set is not recorded" in page
    assert "digital disconnection policy is not recorded in the portal's settings. LOPDGDD Art. 88(3)" in page
    assert "LOPDGDD Art. 91" not in page


def test_a_date_that_is_no_date_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "controllers.json"
    path.write_text('{"ES": {"name": "X", "device_criteria_date": "June 2025"}}', encoding="utf-8")
    with pytest.raises(ControllerFileError, match="not a date"):
        load(path)
