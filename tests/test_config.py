"""Start-up settings: no fallback secrets outside the demo, clear refusals of bad values, and demo
keys generated once per instance directory."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal import config as config_module
from portal import create_app
from portal.config import (
    PROJECT_ROOT,
    SETTINGS,
    TABLE_END,
    TABLE_START,
    ConfigError,
    NoSettings,
    Setting,
    Settings,
    Whole,
    current_settings,
    new_key,
    readme_table,
    settings_table,
    with_readme_table,
)
from tests.conftest import app_config

REQUIRED = ["PORTAL_SECRET_KEY", "PORTAL_MASTER_KEY", "PORTAL_OIDC_ISSUER", "PORTAL_OIDC_CLIENT_ID",
            "PORTAL_OIDC_CLIENT_SECRET"]


@pytest.fixture(autouse=True)
def no_portal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings.from_env reads os.environ: nothing of the shell's may leak into these tests."""
    for name in list(os.environ):
        if name.startswith("PORTAL_") and not name.startswith("PORTAL_TEST_"):
            monkeypatch.delenv(name)


def config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    """A complete, valid configuration (as the tests' app uses) with ``changes`` applied."""
    return app_config(tmp_path, "http://127.0.0.1:9400", f"sqlite:///{tmp_path / 'portal.db'}", **changes)


def test_a_valid_configuration_starts(tmp_path: Path) -> None:
    app = create_app(config(tmp_path))
    assert app.config["PORTAL_SETTINGS"].oidc_issuer == "http://127.0.0.1:9400"


def test_no_secrets_outside_the_demo_is_a_start_up_error() -> None:
    with pytest.raises(ConfigError) as raised:
        create_app({})
    message = str(raised.value)
    for name in REQUIRED:
        assert name in message
    assert "PORTAL_DEMO=1" in message, "the message says how to run without secrets"


def test_secrets_from_the_environment_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_key()
    values = {"PORTAL_SECRET_KEY": secret, "PORTAL_MASTER_KEY": new_key(), "PORTAL_OIDC_ISSUER": "https://idp.example/",
              "PORTAL_OIDC_CLIENT_ID": "portal", "PORTAL_OIDC_CLIENT_SECRET": "s3cret",
              "PORTAL_INSTANCE_DIR": str(tmp_path / "instance")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    app = create_app({})
    settings = app.config["PORTAL_SETTINGS"]
    assert settings.oidc_issuer == "https://idp.example"
    assert settings.key_dir == tmp_path / "instance-keys"  # beside the instance, never in it
    assert settings.secure_cookies is True and app.config["SESSION_COOKIE_SECURE"] is True


def test_the_witness_folder_follows_the_instance_unless_set(tmp_path: Path) -> None:
    env = {"PORTAL_INSTANCE_DIR": str(tmp_path / "inst")}
    assert Settings.from_env(env).audit_witness_dir == tmp_path / "inst" / "witness"
    assert Settings.from_env(env | {"PORTAL_AUDIT_WITNESS_DIR": "/srv/witness"}).audit_witness_dir == Path("/srv/witness")
    assert create_app(config(tmp_path)).config["PORTAL_SETTINGS"].audit_witness_dir == tmp_path / "instance" / "witness"
    shipped = create_app(config(tmp_path, audit_witness_dir=tmp_path / "shipped"))
    assert shipped.config["PORTAL_SETTINGS"].audit_witness_dir == tmp_path / "shipped"


@pytest.mark.parametrize("missing", REQUIRED)
def test_each_missing_secret_is_named(missing: str) -> None:
    values = {"PORTAL_SECRET_KEY": new_key(), "PORTAL_MASTER_KEY": new_key(),
              "PORTAL_OIDC_ISSUER": "https://idp.example", "PORTAL_OIDC_CLIENT_ID": "portal",
              "PORTAL_OIDC_CLIENT_SECRET": "s3cret"}
    del values[missing]
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(values).validate()
    assert str(raised.value).startswith(f"Missing required settings: {missing}.")


KEY = new_key()
MALFORMED_KEYS = {
    "not-base64": ("this is not a key!", "is not URL-safe base64"),
    "not-base64-symbols": ("*" * 43, "is not URL-safe base64"),
    "stray-characters": (KEY[:10] + "!!!!" + KEY[10:], "is not URL-safe base64"),
    "non-ascii": ("é" * 43, "is not URL-safe base64"),
    "too-short": (KEY[:20], "must decode to 32 bytes, not 15"),
    "too-long": (new_key() + new_key(), "must decode to 32 bytes, not 64"),
}


@pytest.mark.parametrize("setting", ["secret_key", "master_key"])
@pytest.mark.parametrize("case", MALFORMED_KEYS)
def test_malformed_keys_are_refused_clearly(tmp_path: Path, setting: str, case: str) -> None:
    value, reason = MALFORMED_KEYS[case]
    with pytest.raises(ConfigError) as raised:
        create_app(config(tmp_path, **{setting: value}))
    assert str(raised.value).startswith(f"PORTAL_{setting.upper()} {reason}")
    assert value not in str(raised.value), "the message never repeats the secret"


@pytest.mark.parametrize("value", [KEY, KEY + "=", f"  {KEY}\n"], ids=["bare", "padded", "spaced"])
def test_well_formed_keys_are_accepted(tmp_path: Path, value: str) -> None:
    create_app(config(tmp_path, master_key=value))


def test_celery_needs_redis(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PORTAL_JOB_RUNNER=celery needs PORTAL_REDIS_URL"):
        create_app(config(tmp_path, job_runner="celery"))


def test_unknown_job_runner_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PORTAL_JOB_RUNNER must be one of thread, celery"):
        create_app(config(tmp_path, job_runner="cron"))


@pytest.mark.parametrize("issuer", [
    "http://idp.example.com",
    "http://127.0.0.1.evil.example",
    "http://localhost.evil.example",
    "http://localhost@evil.example",
    "ftp://idp.example.com",
    "https://",
    "idp.example.com",
])
def test_a_non_https_non_loopback_issuer_is_refused(tmp_path: Path, issuer: str) -> None:
    with pytest.raises(ConfigError, match="PORTAL_OIDC_ISSUER must be an https URL"):
        create_app(config(tmp_path, oidc_issuer=issuer))


@pytest.mark.parametrize("issuer", ["https://idp.example.com/realms/acme", "http://127.0.0.1:9400",
                                    "http://localhost:8080"])
def test_https_or_loopback_issuers_are_accepted(tmp_path: Path, issuer: str) -> None:
    create_app(config(tmp_path, oidc_issuer=issuer))


# --- the demo --------------------------------------------------------------------------------------

def demo_settings(instance: Path) -> Settings:
    settings: Settings = create_app({"demo": True, "instance_dir": instance}).config["PORTAL_SETTINGS"]
    return settings


def test_demo_generates_its_keys_once_and_reuses_them(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    first = demo_settings(instance)
    keys_file = instance / "demo-keys.env"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    stored = dict(line.split("=", 1) for line in keys_file.read_text().splitlines())
    assert stored == {"PORTAL_SECRET_KEY": first.secret_key, "PORTAL_MASTER_KEY": first.master_key}
    assert first.secret_key != first.master_key

    second = demo_settings(instance)
    assert (second.secret_key, second.master_key) == (first.secret_key, first.master_key)
    assert keys_file.read_text().count("PORTAL_SECRET_KEY") == 1
    # Everything the demo keeps lives inside its instance directory, but the subject keys: beside it.
    for directory in (first.artifact_dir, first.session_dir, Path(first.database_url[10:])):
        assert directory.is_relative_to(instance), directory
    assert first.key_dir == tmp_path / "instance-keys"


def test_demo_keys_differ_between_instance_directories(tmp_path: Path) -> None:
    one = demo_settings(tmp_path / "one")
    two = demo_settings(tmp_path / "two")
    assert {one.secret_key, one.master_key}.isdisjoint({two.secret_key, two.master_key})


def test_demo_keeps_explicit_secrets(tmp_path: Path) -> None:
    secret = new_key()
    settings: Settings = create_app({"demo": True, "instance_dir": tmp_path, "secret_key": secret}) \
        .config["PORTAL_SETTINGS"]
    assert settings.secret_key == secret


# --- e-mail: PORTAL_SMTP_URL and PORTAL_MAIL_FROM ---------------------------------------------------

@pytest.mark.parametrize(("url", "reason"), [
    ("http://mail.example.com", "the scheme 'http' is neither smtp nor smtps"),
    ("mail.example.com:25", "the scheme 'mail.example.com' is neither smtp nor smtps"),
    ("smtp://", "it names no valid host"),
    ("smtp://:25", "it names no valid host"),
    ("smtp://mail_server.example.com", "it names no valid host"),
    ("smtp://mail.example.com:smtp", "the port is not a number from 1 to 65535"),
    ("smtp://mail.example.com:70000", "the port is not a number from 1 to 65535"),
    ("smtp://mail.example.com:0", "the port is not a number from 1 to 65535"),
    ("smtp://mail.example.com/relay", "it takes no path or #fragment"),
    ("smtp://mail.example.com#x", "it takes no path or #fragment"),
    ("smtp://mail.example.com?tls=1", "unknown option 'tls' (the only one is starttls)"),
    ("smtp://mail.example.com?starttls=yes", "starttls takes 1 or 0"),
    ("smtp://mail.example.com?starttls", "starttls takes 1 or 0"),
    ("smtps://mail.example.com?starttls=1", "smtps:// is TLS from the start; ?starttls=1 is for smtp://"),
    ("smtp://mail example.com", "it contains spaces or control characters"),
    ("smtp://mail.example.com\t:25", "it contains spaces or control characters"),
    ("smtp://user@mail.example.com?starttls=1", "give both a user and a password, or neither"),
])
def test_a_malformed_smtp_url_is_refused_clearly(tmp_path: Path, url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(config(tmp_path, smtp_url=url))
    assert str(raised.value) == ("PORTAL_SMTP_URL must look like smtp://[user:password@]host[:port][?starttls=1] "
                                 f"or smtps://[user:password@]host[:port]: {reason}")


def test_an_smtp_password_is_not_sent_in_the_clear_nor_repeated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="would send its password unencrypted: use smtps:// or add") as raised:
        create_app(config(tmp_path, smtp_url="smtp://portal:hunter2-secret@mail.example.com:25"))
    assert "hunter2-secret" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        create_app(config(tmp_path, smtp_url="smtp://portal:hunter2-secret@mail.example.com:99999"))
    assert "hunter2-secret" not in str(raised.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.com", ("mail.example.com", 25, False, False, None, None)),
    ("smtp://mail.example.com:2525?starttls=0", ("mail.example.com", 2525, False, False, None, None)),
    ("smtp://u%40x:p%3Aw@mail.example.com:587?starttls=1", ("mail.example.com", 587, False, True, "u@x", "p:w")),
    ("smtps://u:p@mail.example.com", ("mail.example.com", 465, True, False, "u", "p")),
    ("smtp://u:p@127.0.0.1:1025", ("127.0.0.1", 1025, False, False, "u", "p")),  # plain, but on loopback
    ("smtp://[::1]:1025", ("::1", 1025, False, False, None, None)),
])
def test_well_formed_smtp_urls_are_parsed(tmp_path: Path, url: str, expected: tuple[Any, ...]) -> None:
    app = create_app(config(tmp_path, smtp_url=url))
    target = app.config["PORTAL_SETTINGS"].smtp_target()
    assert (target.host, target.port, target.implicit_tls, target.starttls, target.username, target.password) == expected
    assert "p:w" not in repr(target) or expected[5] is None
    assert (app.config["MAIL_SERVER"], app.config["MAIL_PORT"], app.config["MAIL_USE_SSL"],
            app.config["MAIL_USE_TLS"]) == expected[:4]


def test_the_smtp_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtps://relay.example.com:4465")
    monkeypatch.setenv("PORTAL_MAIL_FROM", "Privacy Office <privacy@example.com>")
    settings = Settings.from_env()
    target = settings.smtp_target()
    assert target is not None and target.port == 4465
    assert settings.mail_from == "Privacy Office <privacy@example.com>"


@pytest.mark.parametrize(("base_url", "expected"), [
    ("http://localhost", "privacy-portal@localhost"),
    ("https://portal.example.com:8443/privacy", "privacy-portal@portal.example.com"),
    ("http://127.0.0.1:5000", "privacy-portal@[127.0.0.1]"),
    ("http://[::1]:5000", "privacy-portal@[IPv6:::1]"),
])
def test_mail_from_defaults_to_an_address_at_the_portals_host(tmp_path: Path, base_url: str, expected: str) -> None:
    app = create_app(config(tmp_path, base_url=base_url))
    assert app.config["PORTAL_SETTINGS"].mail_from == expected == app.config["MAIL_DEFAULT_SENDER"]


def test_mail_from_needs_a_host_to_default_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PORTAL_MAIL_FROM is not set and PORTAL_BASE_URL has no host"):
        create_app(config(tmp_path, base_url="portal"))


@pytest.mark.parametrize("value", ["privacy", "privacy@", "@example.com", "privacy@@example.com", "privacy@exa mple.com",
                                   "privacy@example.com\r\nBcc: x@example.net", "Privacy <privacy@example.com",
                                   "Privacy, Office <privacy@example.com>", "pri..vacy@example.com",
                                   "privacy@-example.com", "privacy@[300.1.1.1]"])
def test_a_malformed_mail_from_is_refused_clearly(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app(config(tmp_path, mail_from=value))
    assert str(raised.value).startswith("PORTAL_MAIL_FROM must be an e-mail address (privacy@example.com or "
                                        "Privacy Office <privacy@example.com>), not ")


@pytest.mark.parametrize("value", ["privacy@example.com", "Privacy Office <privacy@example.com>",
                                   "privacy+portal@mail.example.co.uk", "<privacy@example.com>", "dpo@[192.0.2.1]"])
def test_well_formed_mail_from_values_are_accepted(tmp_path: Path, value: str) -> None:
    assert create_app(config(tmp_path, mail_from=value)).config["PORTAL_SETTINGS"].mail_from == value


# --- the key store: never where a backup of the data would take it --------------------------------

@pytest.mark.parametrize(("where", "named"), [
    (lambda tmp: tmp / "instance" / "keys", "the instance folder"),
    (lambda tmp: tmp / "artifacts" / "keys", "the artifact folder"),
    (lambda tmp: tmp / "data" / "keys", "the database's folder"),
    (lambda tmp: tmp / "instance", "the instance folder"),
    (lambda tmp: tmp, "the instance folder"),  # a key store that holds the data is no better
])
def test_the_portal_refuses_to_start_with_keys_beside_the_data(tmp_path: Path, where: Any, named: str) -> None:
    database = f"sqlite:///{tmp_path / 'data' / 'portal.db'}"
    overrides = {"artifact_dir": tmp_path / "artifacts", "session_dir": tmp_path / "sessions",
                 "key_dir": where(tmp_path)}
    with pytest.raises(ConfigError, match=f"PORTAL_KEY_DIR .* must be outside {named}"):
        create_app(app_config(tmp_path, "http://127.0.0.1:9400", database, **overrides))
    overrides["database_url"] = database
    with pytest.raises(ConfigError, match="must be outside"):  # the demo too
        create_app({"demo": True, "instance_dir": tmp_path / "instance", **overrides})


def test_keys_left_inside_the_instance_stop_the_portal_and_the_demo_moves_its_own(tmp_path: Path) -> None:
    legacy = tmp_path / "instance" / "keys"
    legacy.mkdir(parents=True)
    (legacy / f"{'a' * 32}.key").write_bytes(b"wrapped")
    with pytest.raises(ConfigError, match="Move that folder's files to PORTAL_KEY_DIR"):
        create_app(config(tmp_path))
    assert (legacy / f"{'a' * 32}.key").exists()  # nothing was touched
    settings = demo_settings(tmp_path / "instance")
    assert settings.key_dir == tmp_path / "instance-keys"
    assert (settings.key_dir / f"{'a' * 32}.key").read_bytes() == b"wrapped" and not legacy.exists()


def test_the_sqlite_file_is_the_portals_alone_and_sessions_follow_the_redis_prefix(tmp_path: Path) -> None:
    database = tmp_path / "data" / "portal.db"
    database.parent.mkdir()
    settings = app_config(tmp_path, "http://127.0.0.1:9400", f"sqlite:///{database}", redis_prefix="acme:")
    settings.pop("SESSION_KEY_PREFIX")  # the tests' own prefix; the portal's default follows PORTAL_REDIS_PREFIX
    app = create_app(settings)
    assert stat.S_IMODE(database.stat().st_mode) == 0o600  # created so, before SQLite made it 0644
    database.chmod(0o644)
    create_app(app_config(tmp_path, "http://127.0.0.1:9400", f"sqlite:///{database}"))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600  # and tightened when it was looser
    assert app.config["SESSION_KEY_PREFIX"] == "acme:session:"


# --- the one table of settings: README, overrides, validate, secrets -------------------------------

def test_the_readmes_settings_table_is_the_one_the_settings_make() -> None:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_table(text) == settings_table(), (
        "README.md's settings table differs from portal/config.py's: run `python -m portal.config readme --write`")
    assert with_readme_table(text) == text
    for spec in SETTINGS:
        assert f"| `{spec.env}` |" in text


def test_the_readme_command_writes_and_checks_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Portal\n\n{TABLE_START}\n| stale | table |\n{TABLE_END}\n\nmore\n", encoding="utf-8")
    monkeypatch.setattr(config_module, "README", readme)
    assert config_module.main(["readme", "--check"]) == 1
    assert "python -m portal.config readme --write" in capsys.readouterr().err
    assert config_module.main(["readme", "--write"]) == 0
    assert config_module.main(["readme", "--check"]) == 0
    text = readme.read_text(encoding="utf-8")
    assert readme_table(text) == settings_table() and text.startswith("# Portal\n") and text.endswith("\n\nmore\n")
    assert config_module.main(["readme"]) == 0
    assert capsys.readouterr().out == settings_table()


def test_each_setting_has_a_variable_of_its_own_and_a_description() -> None:
    variables = [spec.env for spec in SETTINGS]
    assert len(set(variables)) == len(variables)
    assert all(name.startswith("PORTAL_") and not name.startswith("PORTAL_TEST_") for name in variables)
    assert all(spec.doc and spec.name for spec in SETTINGS)
    assert {spec.name for spec in SETTINGS if spec.secret} >= {
        "secret_key", "master_key", "oidc_client_secret", "pkcs11_pin", "audit_signing_key", "smtp_url"}


@pytest.mark.parametrize("name", ["job_worker", "secret", "Job_workers", "controllers", "extra"])
def test_an_override_that_names_no_setting_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"^Unknown setting '{name}'"):
        create_app(config(tmp_path, **{name: 3}))
    with pytest.raises(ConfigError, match=f"^Unknown setting '{name}'"):
        Settings.from_env({}, overrides={name: 3})


def test_an_unknown_override_is_named_with_the_setting_it_may_mean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Unknown setting 'job_worker' \(did you mean 'job_workers'\?\)"):
        create_app(config(tmp_path, job_worker=3))


def test_upper_case_overrides_are_flasks_config(tmp_path: Path) -> None:
    app = create_app(config(tmp_path, TESTING=True, MAX_CONTENT_LENGTH=1024))
    assert app.config["TESTING"] is True and app.config["MAX_CONTENT_LENGTH"] == 1024


def test_overrides_are_parsed_and_normalised_as_the_environment_is(tmp_path: Path) -> None:
    settings = Settings.from_env({}, overrides={"job_workers": "3", "languages": "en, es, en", "demo": "off",
                                                "oidc_issuer": "https://idp.example/", "instance_dir": str(tmp_path)})
    assert settings.job_workers == 3 and settings.languages == ("en", "es") and settings.demo is False
    assert settings.oidc_issuer == "https://idp.example" and settings.instance_dir == tmp_path
    assert settings.artifact_dir == tmp_path / "artifacts"  # derived from the instance folder given


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PORTAL_JOB_WORKERS", "two", "PORTAL_JOB_WORKERS takes a whole number, not 'two'"),
    ("PORTAL_DEMO", "maybe", "PORTAL_DEMO takes 1, true, yes, on or 0, false, no, off, not 'maybe'"),
])
def test_a_variable_that_cannot_be_parsed_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: value})
    assert str(raised.value) == message


@pytest.mark.parametrize("spec", [spec for spec in SETTINGS if isinstance(spec.kind, Whole)], ids=lambda spec: spec.env)
def test_each_number_below_its_minimum_is_refused_by_name(tmp_path: Path, spec: Setting) -> None:
    assert isinstance(spec.kind, Whole)
    with pytest.raises(ConfigError) as raised:
        create_app(config(tmp_path, **{spec.name: spec.kind.minimum - 1}))
    assert str(raised.value) == f"{spec.env} must be " + (
        f"at least {spec.kind.minimum}" if spec.kind.maximum is None else f"from {spec.kind.minimum} to {spec.kind.maximum}"
    ) + f", not {spec.kind.minimum - 1}"


def test_settings_are_normalised_when_parsed_not_when_checked(tmp_path: Path) -> None:
    env = {"PORTAL_LANGUAGES": "en,es,en, pt_BR", "PORTAL_OIDC_ISSUER": "https://idp.example/",
           "PORTAL_BASE_URL": "https://portal.example.com/", "PORTAL_KEY_STORE": " FILE ",
           "PORTAL_DEFAULT_JURISDICTION": "es", "PORTAL_INSTANCE_DIR": str(tmp_path / "instance")}
    settings = Settings.from_env(env)
    assert settings.languages == ("en", "es", "pt_BR")
    assert (settings.oidc_issuer, settings.base_url) == ("https://idp.example", "https://portal.example.com")
    assert (settings.key_store, settings.default_jurisdiction) == ("file", "ES")
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'portal.db'}"
    assert settings.mail_from == "privacy-portal@portal.example.com"


def snapshot(settings: Settings, *folders: Path) -> tuple[Settings, dict[str, Any], list[Path]]:
    return (replace(settings), {item.name: getattr(settings, item.name) for item in fields(settings)},
            sorted(path for folder in folders for path in folder.rglob("*")))


@pytest.mark.parametrize("demo", [False, True], ids=["production", "demo"])
def test_validate_changes_nothing(tmp_path: Path, demo: bool) -> None:
    overrides = config(tmp_path, controllers_file=str(PROJECT_ROOT / "portal" / "demo" / "controllers.json"))
    if demo:
        overrides = {"demo": True, "instance_dir": tmp_path / "instance", "key_dir": tmp_path / "keys"}
    settings = Settings.from_env({}, overrides=overrides)
    before = snapshot(settings, tmp_path)
    settings.validate()
    settings.validate()
    assert snapshot(settings, tmp_path) == before
    assert settings.controllers and settings.mail_from and settings.database_url.startswith("sqlite:///")
    if demo:
        assert settings.secure_cookies is False and settings.dpo_contact == "privacy@example.com"


def test_validate_refusing_changes_nothing_either(tmp_path: Path) -> None:
    legacy = tmp_path / "instance" / "keys"
    legacy.mkdir(parents=True)
    (legacy / f"{'a' * 32}.key").write_bytes(b"wrapped")
    settings = Settings.from_env({}, overrides={"demo": True, "instance_dir": tmp_path / "instance",
                                                "key_dir": tmp_path / "keys", "languages": ("en", "fr")})
    assert not legacy.exists()  # the demo moved its keys when its settings were read, not in validate()
    (legacy).mkdir()
    (legacy / f"{'b' * 32}.key").write_bytes(b"wrapped")
    before = snapshot(settings, tmp_path)
    with pytest.raises(ConfigError, match="^PORTAL_LANGUAGES lists the languages offered"):
        settings.validate()
    settings.languages = ("en",)
    with pytest.raises(ConfigError, match="Move that folder's files to PORTAL_KEY_DIR"):
        settings.validate()
    settings.languages = before[0].languages
    assert snapshot(settings, tmp_path) == before


def test_no_secret_is_shown_by_the_settings_repr_or_in_a_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    values = {"secret_key": new_key(), "master_key": new_key(), "audit_signing_key": new_key(),
              "oidc_client_secret": "client-s3cret-value", "pkcs11_pin": "pin-4711-value",
              "smtp_url": "smtps://portal:smtp-s3cret-value@mail.example.com",
              "redis_url": "redis://:redis-s3cret-value@cache.example.com:6379/0",
              "database_url": "postgresql+psycopg://portal:db-s3cret-value@db.example.com/portal"}
    assert set(values) == {spec.name for spec in SETTINGS if spec.secret}
    settings = Settings.from_env({}, overrides=config(tmp_path) | values)
    caplog.set_level(logging.INFO)
    logging.getLogger("portal.test").info("settings: %s %r", settings, settings)
    for shown in (repr(settings), str(settings), f"{settings}", caplog.text):
        assert "secret_key=<secret>" in shown and "job_workers=2" in shown
        for name, value in values.items():
            assert value not in shown, name
        assert "s3cret-value" not in shown and "pin-4711" not in shown
    assert "pkcs11_pin=''" in repr(Settings.from_env({}))  # an unset secret says so


def test_current_settings_is_the_apps_and_refuses_elsewhere(tmp_path: Path) -> None:
    app = create_app(config(tmp_path))
    with app.app_context():
        assert current_settings() is app.config["PORTAL_SETTINGS"] is current_settings(app)
    with pytest.raises(NoSettings):
        current_settings()
    bare = Flask("bare")
    with bare.app_context(), pytest.raises(NoSettings, match="not made by portal.create_app"):
        current_settings()
