"""The controller per country: read from the deployment's file, checked at start-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal.config import PROJECT_ROOT, ConfigError, Settings
from portal.jurisdictions.controllers import NOT_RECORDED, ControllerFileError, controller_for, load

DEMO = PROJECT_ROOT / "portal" / "demo" / "controllers.json"


@pytest.mark.parametrize(("code", "name"), [
    ("ES", "Example Iberia S.L."), ("es-cn", "Example Iberia S.L."), ("US-CA", "Example Inc."),
    ("CO", "Example Colombia S.A.S."), ("BR-SP", "Example Brasil Ltda."), ("US-NY", "Example Corp."),
    ("DE", "Example Corp."),
])
def test_full_code_then_country_then_the_catch_all(code: str, name: str) -> None:
    assert controller_for(load(DEMO), code).name == name


def test_without_an_entry_nothing_is_named() -> None:
    assert controller_for({}, "ES") is NOT_RECORDED and not NOT_RECORDED.recorded


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"), ("[]", "one object"), ('{"ES": {"name": ""}}', "non-empty"),
    ('{"ES": {"name": "X", "phone": "1"}}', "unknown fields: phone"), ('{"ES": {"name": "X", "dpo": 3}}', "text only"),
])
def test_a_bad_file_is_refused_with_the_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "controllers.json"
    path.write_text(content)
    with pytest.raises(ControllerFileError, match=message):
        load(path)


def test_settings_check_the_file_at_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"ES": {}}))
    settings = Settings.from_env({"PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": str(tmp_path / "i"),
                                  "PORTAL_CONTROLLERS": str(bad)})
    with pytest.raises(ConfigError, match="PORTAL_CONTROLLERS"):
        settings.validate()
    demo = Settings.from_env({"PORTAL_DEMO": "1", "PORTAL_INSTANCE_DIR": str(tmp_path / "j")})
    demo.validate()
    assert controller_for(demo.controllers, "BR").name == "Example Brasil Ltda."
