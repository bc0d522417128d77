"""The portal's settings: one declarative table, read from ``PORTAL_*`` environment variables.

Each field of :class:`Settings` is declared with :func:`setting`: its environment variable, its
kind (text, whole number, folder, ...), its default, a description and whether it is a secret.
From that one table come

* the parsing (:meth:`Settings.from_env`), where every value is normalised once, and the
  overrides of the app factory and the tests, refused when they name no setting;
* the checks (:meth:`Settings.validate`), whose messages name the variable and say what is wrong,
  and which change nothing;
* the repr, which never shows a secret;
* the table of settings in README.md: ``python -m portal.config readme --write`` writes it, and
  a test fails while the README's table differs from the one this module makes.

Outside the demo a missing secret is a start-up error, never a fallback. The demo
(``PORTAL_DEMO=1``) generates its keys once and keeps them under ``instance/``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import current_app, has_app_context

from portal.files import write_file
from portal.jurisdictions.controllers import Controller, ControllerFileError, controller_for
from portal.jurisdictions.controllers import load as load_controllers

if TYPE_CHECKING:
    from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"
SETTINGS_KEY = "PORTAL_SETTINGS"  # where create_app keeps the Settings in app.config; read them with current_settings()

LEGACY_KEY_SUBDIR = "keys"  # where subject keys were kept before the key store had a place of its own
SHIPPED_LANGUAGES = ("en", "es", "pt_BR")  # the catalogues under portal/translations (and English)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ConfigError(RuntimeError):
    """The settings cannot start the portal; the message says which one and why."""


class Invalid(ValueError):
    """What is wrong with one value, worded to follow the variable's name ("must be ...")."""


# -- keys ------------------------------------------------------------------------------------------

def key_bytes(value: str) -> bytes:
    """A 32-byte URL-safe base64 key's bytes; :class:`Invalid` (never repeating the key) if it is not one."""
    value = value.strip()
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid(f"is not URL-safe base64: {exc}") from None
    if len(raw) != 32:
        raise Invalid(f"must decode to 32 bytes, not {len(raw)}")
    return raw


def decode_key(name: str, value: str) -> bytes:
    """Decode the 32-byte URL-safe base64 key of the variable ``name``, or explain what is wrong with it."""
    try:
        return key_bytes(value)
    except Invalid as exc:
        raise ConfigError(f"{name} {exc}") from None


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def default_key_dir(instance_dir: Path) -> Path:
    """Where subject keys live unless ``PORTAL_KEY_DIR`` says: beside the instance folder, never in
    it, so that a backup of the instance (the database, the artifacts) does not take them along."""
    instance_dir = Path(instance_dir)
    return instance_dir.parent / f"{instance_dir.name}-keys"


def demo_keys(instance_dir: Path) -> dict[str, str]:
    """The demo's secrets, from ``<instance>/demo-keys.env``, created once with new keys."""
    path = Path(instance_dir) / "demo-keys.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        content = f"PORTAL_SECRET_KEY={new_key()}\nPORTAL_MASTER_KEY={new_key()}\n"
        write_file(path, content.encode(), exclusive=True)  # a second process's file wins, whole
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# -- the kinds of value ----------------------------------------------------------------------------
# A kind parses an environment variable's text, normalises a value (parsed or given by the app
# factory's caller), says what is wrong with a value, and shows a default in the README.

class Kind:
    label = "text"

    def describe(self) -> str:
        """The kind, as the README's table states it."""
        return self.label

    def parse(self, raw: str) -> Any:
        return raw.strip()

    def clean(self, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, str) else f"must be text, not {type(value).__name__}"

    def show(self, value: Any) -> str:
        return f"`{value}`" if value != "" else "empty"


class Text(Kind):
    pass


class File(Text):
    label = "file"

    def clean(self, value: Any) -> Any:
        return super().clean(os.fspath(value) if isinstance(value, os.PathLike) else value)


class Secret(Kind):
    """Text kept as given (a password may begin or end with a space); never shown."""

    label = "text"

    def parse(self, raw: str) -> Any:
        return raw

    def clean(self, value: Any) -> Any:
        return value


class Key(Kind):
    label = "key (32 random bytes, URL-safe base64)"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be text, not {type(value).__name__}"
        return _refusal_of(key_bytes)(value) if value else None


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Flag(Kind):
    """On or off. ``inverted``: the variable says the opposite of the setting (PORTAL_INSECURE_COOKIES
    turns secure_cookies off)."""

    inverted: bool = False
    label = "on/off"

    def parse(self, raw: str) -> Any:
        word = raw.strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            raise Invalid(f"takes {', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS)}, not {raw.strip()!r}")
        return (word in TRUE_WORDS) != self.inverted

    def clean(self, value: Any) -> Any:
        return value

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"

    def show(self, value: Any) -> str:
        return "on" if bool(value) != self.inverted else "off"


@dataclass(frozen=True)
class Whole(Kind):
    minimum: int = 0
    maximum: int | None = None

    def describe(self) -> str:
        if self.maximum is None:
            return f"whole number, at least {self.minimum}"
        return f"whole number, {self.minimum} to {self.maximum}"

    def parse(self, raw: str) -> Any:
        try:
            return int(raw.strip())
        except ValueError:
            raise Invalid(f"takes a whole number, not {raw.strip()!r}") from None

    def clean(self, value: Any) -> Any:
        return value

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"must be a whole number, not {value!r}"
        if self.maximum is not None and not self.minimum <= value <= self.maximum:
            return f"must be from {self.minimum} to {self.maximum}, not {value}"
        if value < self.minimum:
            return f"must be at least {self.minimum}, not {value}"
        return None

    def show(self, value: Any) -> str:
        return f"`{value}`"


class Folder(Kind):
    label = "folder"

    def parse(self, raw: str) -> Any:
        return Path(raw.strip())

    def clean(self, value: Any) -> Any:
        return Path(value) if isinstance(value, (str, os.PathLike)) else value

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, Path) else f"must be a path, not {type(value).__name__}"

    def show(self, value: Any) -> str:
        path = Path(value)
        return f"`{path.relative_to(PROJECT_ROOT)}/`" if path.is_relative_to(PROJECT_ROOT) else f"`{path}`"


class Words(Kind):
    """A comma-separated list; blanks and repeats dropped, the first place kept."""

    label = "comma-separated list"

    def parse(self, raw: str) -> Any:
        return self.clean(raw)

    def clean(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return tuple(dict.fromkeys(item.strip() for item in value if item.strip()))
        return value

    def problem(self, value: Any) -> str | None:
        if isinstance(value, tuple) and all(isinstance(item, str) for item in value):
            return None
        return f"must be a list of names, not {type(value).__name__}"

    def show(self, value: Any) -> str:
        return f"`{','.join(value)}`"


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words, matched without regard to case; empty too where ``optional``."""

    choices: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(f"`{choice}`" for choice in self.choices)

    def parse(self, raw: str) -> Any:
        return raw.strip().lower()

    def clean(self, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def problem(self, value: Any) -> str | None:
        if value in self.choices or (self.optional and value == ""):
            return None
        return f"must be one of {', '.join(self.choices)}, not {value!r}"


# -- the table -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Derived:
    """A default that follows from settings declared before it (``values``: those, by name)."""

    make: Callable[[Mapping[str, Any]], Any]
    shown: str  # how the README states it


@dataclass(frozen=True)
class Setting:
    """One row of the table: a field of :class:`Settings` and the environment variable it comes from."""

    env: str
    kind: Kind
    default: Any  # a value, or Derived
    doc: str
    secret: bool = False
    required: bool = False  # outside the demo, which has a value of its own for each
    demo: Any = None  # the demo's default (a value or Derived); None: the same as anywhere
    normalise: Callable[[Any], Any] | None = None  # after the kind's own, on every value
    check: Callable[[Any], str | None] | None = None  # after the kind's own, on a non-empty value
    name: str = ""  # the field's name, filled in from the class

    def parse(self, raw: str) -> Any:
        """The variable's text as a value; a :class:`ConfigError` naming the variable if it is not one."""
        try:
            return self.clean(self.kind.parse(raw))
        except Invalid as exc:
            if self.secret:
                raise ConfigError(f"{self.env} is malformed") from None
            raise ConfigError(f"{self.env} {exc}") from None

    def clean(self, value: Any) -> Any:
        value = self.kind.clean(value)
        return self.normalise(value) if self.normalise is not None else value

    def default_for(self, values: Mapping[str, Any]) -> Any:
        default = self.demo if values.get("demo") and self.demo is not None else self.default
        return default.make(values) if isinstance(default, Derived) else default

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (to follow the variable's name), or None."""
        wrong = self.kind.problem(value)
        if wrong is None and self.check is not None and value != "":
            wrong = self.check(value)
        return wrong

    def shown_default(self) -> str:
        def show(default: Any) -> str:
            return default.shown if isinstance(default, Derived) else self.kind.show(default)

        shown = "none" if self.required and self.default == "" else show(self.default)
        if self.demo is not None:
            shown += f"; the demo: {show(self.demo)}"
        return shown


def setting(env: str, kind: Kind, default: Any, doc: str, **options: Any) -> Any:
    """A field of :class:`Settings` declared as a row of the settings table (see :class:`Setting`)."""
    spec = Setting(env, kind, default, doc, **options)
    return field(metadata={"setting": spec})


def _derived_folder(sub: str) -> Derived:
    return Derived(lambda values: Path(values["instance_dir"]) / sub, f"`<PORTAL_INSTANCE_DIR>/{sub}`")


def _demo_key(variable: str) -> Derived:
    return Derived(lambda values: demo_keys(values["instance_dir"])[variable],
                   "made once in `<PORTAL_INSTANCE_DIR>/demo-keys.env`")


def _https_issuer(value: str) -> str | None:
    try:
        issuer = urlsplit(value)
    except ValueError:
        issuer = urlsplit("")
    if issuer.hostname and (issuer.scheme == "https" or (issuer.scheme == "http" and issuer.hostname in LOOPBACK_HOSTS)):
        return None
    return "must be an https URL (plain http only on loopback)"


def _shipped_languages(value: tuple[str, ...]) -> str | None:
    unknown = [code for code in value if code not in SHIPPED_LANGUAGES]
    if unknown or "en" not in value:
        return (f"lists the languages offered among {', '.join(SHIPPED_LANGUAGES)}, English always included; "
                f"{', '.join(unknown) or 'en is missing'}")
    return None


def _refusal_of(parse: Callable[[str], object]) -> Callable[[str], str | None]:
    """A check from a parser that raises :class:`Invalid`: what it says is wrong, or None."""
    def problem(value: str) -> str | None:
        try:
            parse(value)
        except Invalid as exc:
            return str(exc)
        return None

    return problem


def _default_mail_from(values: Mapping[str, Any]) -> str:
    """``privacy-portal@`` the host of the base URL; empty if it has none (validate() says so)."""
    try:
        return default_mail_from(values["base_url"])
    except ConfigError:
        return ""


DEMO_CONTROLLERS = PROJECT_ROOT / "portal" / "demo" / "controllers.json"
WITNESS_SECTION = "[the witness file](#the-witness-file-the-audit-log-outside-the-database)"


@dataclass(kw_only=True, repr=False)
class Settings:
    """The portal's settings; build them with :meth:`from_env`, read them with :func:`current_settings`.

    Each field below is a row of the settings table, in the README's order (a derived default may
    use only the settings above it)."""

    # -- the instance and the demo ---------------------------------------------------------------
    demo: bool = setting(
        "PORTAL_DEMO", Flag(), False,
        "the demo (`make run`): its keys are made once and kept in the instance folder, its IdP, controllers "
        "and DPO are the demo's, and cookies go over plain http. Never in production")
    instance_dir: Path = setting(
        "PORTAL_INSTANCE_DIR", Folder(), DEFAULT_INSTANCE,
        "the instance folder: the SQLite database unless `PORTAL_DATABASE_URL` says otherwise, the outbox, "
        "the demo's keys")
    database_url: str = setting(
        "PORTAL_DATABASE_URL", Text(),
        Derived(lambda values: f"sqlite:///{Path(values['instance_dir']) / 'portal.db'}",
                "SQLite `<PORTAL_INSTANCE_DIR>/portal.db` (WAL)"),
        "e.g. `postgresql+psycopg://portal@db.internal/portal` (secret: it may hold a password)", secret=True)

    # -- keys ----------------------------------------------------------------------------------------
    secret_key: str = setting(
        "PORTAL_SECRET_KEY", Key(), "", "signs sessions and CSRF tokens",
        secret=True, required=True, demo=_demo_key("PORTAL_SECRET_KEY"))
    master_key: str = setting(
        "PORTAL_MASTER_KEY", Key(), "", "wraps every employee's data key (HKDF-derived sub-keys)",
        secret=True, required=True, demo=_demo_key("PORTAL_MASTER_KEY"))
    key_dir: Path = setting(
        "PORTAL_KEY_DIR", Folder(),
        Derived(lambda values: default_key_dir(values["instance_dir"]), "`<PORTAL_INSTANCE_DIR>-keys`, beside it"),
        "the key store: where wrapped per-employee keys and the audit signing key live. It must be outside the "
        "instance, artifact and session folders and the SQLite database's folder, and hold none of them: the "
        "portal refuses to start otherwise. Back it up apart from the data (see below)")
    key_store: str = setting(
        "PORTAL_KEY_STORE", Choice(("file", "pkcs11")), "file",
        "`file`: the key folder above; `pkcs11`: the employees' wrapped keys are kept on a PKCS#11 token (an "
        "HSM) as private data objects and destroyed there (the audit signing key stays in `PORTAL_KEY_DIR`). "
        "The tests run this against Debian's SoftHSM2")
    pkcs11_module: str = setting(
        "PORTAL_PKCS11_MODULE", File(), "", "with `PORTAL_KEY_STORE=pkcs11`: the path of the token's PKCS#11 library")
    pkcs11_token: str = setting(
        "PORTAL_PKCS11_TOKEN", Text(), "", "with `PORTAL_KEY_STORE=pkcs11`: the token's label")
    pkcs11_pin: str = setting(
        "PORTAL_PKCS11_PIN", Secret(), "", "with `PORTAL_KEY_STORE=pkcs11`: the token's user PIN", secret=True)
    audit_signing_key: str = setting(
        "PORTAL_AUDIT_SIGNING_KEY", Key(), "",
        "the Ed25519 seed that signs the audit log's tree heads; empty: one is made once and kept sealed by "
        "the master key in `PORTAL_KEY_DIR`", secret=True)

    # -- the data's folders --------------------------------------------------------------------------
    artifact_dir: Path = setting(
        "PORTAL_ARTIFACT_DIR", Folder(), _derived_folder("artifacts"),
        "encrypted files: sealed screenshots and exports")
    session_dir: Path = setting(
        "PORTAL_SESSION_DIR", Folder(), _derived_folder("sessions"), "file sessions, when sessions are kept in files")
    audit_witness_dir: Path = setting(
        "PORTAL_AUDIT_WITNESS_DIR", Folder(), _derived_folder("witness"),
        f"where every signed tree head is appended as a C2SP checkpoint; ship it elsewhere (see {WITNESS_SECTION})")

    # -- services --------------------------------------------------------------------------------------
    redis_url: str = setting(
        "PORTAL_REDIS_URL", Text(), "",
        "e.g. `redis://cache.internal:6379/0`: server-side sessions, the Celery broker and the rate-limit "
        "counters (secret: it may hold a password)", secret=True)
    redis_prefix: str = setting("PORTAL_REDIS_PREFIX", Text(), "portal:", "the prefix of the portal's Redis keys")
    session_store: str = setting(
        "PORTAL_SESSION_STORE", Choice(("redis", "files", "database"), optional=True), "",
        "where sign-in sessions are kept. Empty: Redis when `PORTAL_REDIS_URL` is set, else files. `database`: "
        "the `web_sessions` table, each row under a digest of the session id and sealed with a key derived from "
        "`PORTAL_SECRET_KEY`, expired rows purged hourly; then a Redis outage only delays jobs")
    session_hours: int = setting("PORTAL_SESSION_HOURS", Whole(1), 12, "the lifetime of a sign-in session, in hours")
    step_up_seconds: int = setting(
        "PORTAL_STEP_UP_SECONDS", Whole(1), 300,
        "how long a step-up (signing in again when a sensitive action asks for it) counts, in seconds")
    secure_cookies: bool = setting(
        "PORTAL_INSECURE_COOKIES", Flag(inverted=True), True,
        "cookies without `Secure` (and CSRF checks without the strict referrer check), for plain http; "
        "never in production", demo=False)
    proxy_hops: int = setting(
        "PORTAL_PROXY_HOPS", Whole(0, 5), 0,
        "how many reverse proxies / load balancers stand in front of the portal; their `X-Forwarded-For`, "
        "`-Proto` and `-Host` are then trusted, so rate limits count clients, not the proxy")
    api_rate_limit: str = setting(
        "PORTAL_API_RATE_LIMIT", Text(), "",
        "the limit of each service token on the integrations API, e.g. `600 per minute; 20000 per hour` "
        "(empty: `1200 per minute; 36000 per hour`)")

    # -- jobs ------------------------------------------------------------------------------------------
    job_runner: str = setting(
        "PORTAL_JOB_RUNNER", Choice(("thread", "celery")), "thread",
        "`thread`: a pool in each web process; `celery`: Celery workers (needs `PORTAL_REDIS_URL`; start "
        "workers, see below)")
    job_workers: int = setting("PORTAL_JOB_WORKERS", Whole(1), 2, "the size of each web process's thread pool")
    job_lease_seconds: int = setting(
        "PORTAL_JOB_LEASE_SECONDS", Whole(2), 60,
        "how long a worker holds a job without a heartbeat before another may take it over")
    job_sweep_seconds: int = setting(
        "PORTAL_JOB_SWEEP_SECONDS", Whole(1), 30, "how often due jobs are swept up and clean-ups run")
    celery_queue: str = setting("PORTAL_CELERY_QUEUE", Text(), "portal-jobs", "the Celery queue of the portal's jobs")
    db_retry_seconds: int = setting(
        "PORTAL_DB_RETRY_SECONDS", Whole(0), 120,
        "how long a job or `export run` waits for a database that went away (a restart, a failover) before "
        "it gives up")
    webhook_attempts: int = setting(
        "PORTAL_WEBHOOK_ATTEMPTS", Whole(1), 8,
        "deliveries of a recipient task by webhook before it is dead and shown to the DPO")
    webhook_backoff_seconds: int = setting(
        "PORTAL_WEBHOOK_BACKOFF_SECONDS", Whole(0), 30,
        "the first pause between webhook attempts; it doubles, up to an hour")
    webhook_timeout_seconds: int = setting(
        "PORTAL_WEBHOOK_TIMEOUT_SECONDS", Whole(1), 5,
        "how long a webhook delivery waits to connect, and then for the answer")
    export_days: int = setting(
        "PORTAL_EXPORT_DAYS", Whole(1), 7, "how long an export can be downloaded before it is deleted")
    export_pause_ms: int = setting(
        "PORTAL_EXPORT_PAUSE_MS", Whole(0), 0,
        "a pause between an export's batches of 2,000 rows, to spare a busy database")

    # -- the identity provider -----------------------------------------------------------------------
    oidc_issuer: str = setting(
        "PORTAL_OIDC_ISSUER", Text(), "", "your IdP's issuer URL: https (plain http only on loopback)",
        required=True, demo="http://127.0.0.1:9400", normalise=lambda value: value.rstrip("/"), check=_https_issuer)
    oidc_client_id: str = setting(
        "PORTAL_OIDC_CLIENT_ID", Text(), "", "the portal's client id at the IdP", required=True, demo="portal-demo")
    oidc_client_secret: str = setting(
        "PORTAL_OIDC_CLIENT_SECRET", Secret(), "", "the portal's client secret at the IdP",
        secret=True, required=True, demo="portal-demo-secret")
    oidc_scopes: str = setting("PORTAL_OIDC_SCOPES", Text(), "openid email profile", "the scopes the portal asks for")
    base_url: str = setting(
        "PORTAL_BASE_URL", Text(), "http://127.0.0.1:5000",
        "the portal's public URL; register `{PORTAL_BASE_URL}/auth/callback` as the redirect URI, "
        "`{PORTAL_BASE_URL}/auth/signed-out` as the post-logout redirect URI and "
        "`{PORTAL_BASE_URL}/auth/backchannel-logout` as the back-channel logout URI",
        normalise=lambda value: value.rstrip("/"))
    dpo_groups: tuple[str, ...] = setting(
        "PORTAL_DPO_GROUPS", Words(), ("dpo",), "the groups (in the `groups` claim) of the Data Protection Officers")
    admin_groups: tuple[str, ...] = setting(
        "PORTAL_ADMIN_GROUPS", Words(), ("privacy-admin",), "the groups of the portal's administrators")
    auditor_groups: tuple[str, ...] = setting(
        "PORTAL_AUDITOR_GROUPS", Words(), ("auditor",), "the groups of the auditors")
    jurisdiction_claim: str = setting(
        "PORTAL_JURISDICTION_CLAIM", Text(), "country",
        "the claim with a person's ISO country (and subdivision, e.g. `US-CA`)")
    default_jurisdiction: str = setting(
        "PORTAL_DEFAULT_JURISDICTION", Text(), "", "the jurisdiction of people whose claim names none",
        normalise=lambda value: value.upper())
    employee_number_claim: str = setting(
        "PORTAL_EMPLOYEE_NUMBER_CLAIM", Text(), "employee_number",
        "the claim with the HR employee number; used once to link a first sign-in to an existing employee "
        "record. Nobody is ever matched by e-mail alone")

    # -- what the pages say ----------------------------------------------------------------------------
    controllers_file: str = setting(
        "PORTAL_CONTROLLERS", File(), "",
        "a JSON file naming the controller entity per jurisdiction (`{\"ES\": {\"name\", \"address\", "
        "\"representative\", \"dpo\"}, \"US-CA\": {...}, \"*\": {...}}`; looked up by full code, then country, "
        "then `*`; in Spain also `device_criteria_date`, `device_criteria_body`, `disconnection_policy`, "
        "`disconnection_date`, `collective_agreement` for the policy page's LOPDGDD Art. 87, 88 and 91 facts), "
        "shown on the dashboard and in the export; without it, pages say the controller is not recorded in the "
        "settings", demo=Derived(lambda values: str(DEMO_CONTROLLERS), "`portal/demo/controllers.json`"))
    dpo_contact: str = setting(
        "PORTAL_DPO_CONTACT", Text(), "",
        "the Data Protection Officer's address, shown wherever a page sends people to the DPO",
        demo="privacy@example.com")
    languages: tuple[str, ...] = setting(
        "PORTAL_LANGUAGES", Words(), SHIPPED_LANGUAGES,
        "the languages offered, English always among them (see [Languages](#languages))", check=_shipped_languages)

    # -- e-mail ------------------------------------------------------------------------------------------
    smtp_url: str = setting(
        "PORTAL_SMTP_URL", Text(), "",
        "where mail goes: `smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...` (certificates are "
        "verified). Empty: messages are written as `.eml` files to `<PORTAL_INSTANCE_DIR>/outbox/` (the demo), "
        "readable by the portal's user only (secret: it may hold a password)",
        secret=True, check=_refusal_of(lambda value: _smtp_target(value)))  # defined below, with the e-mail settings
    mail_from: str = setting(
        "PORTAL_MAIL_FROM", Text(),
        Derived(_default_mail_from, "`privacy-portal@` and the host of `PORTAL_BASE_URL`"),
        "the sender of the portal's mail: `privacy@example.com` or `Privacy Office <privacy@example.com>`",
        check=_refusal_of(lambda value: _address_of(value)))
    outbox_days: int = setting(
        "PORTAL_OUTBOX_DAYS", Whole(1), 14, "how long the outbox's `.eml` files are kept (without `PORTAL_SMTP_URL`)")

    # -- read from the settings above, not settings themselves -----------------------------------------
    controllers: Mapping[str, Any] = field(default_factory=dict)  # PORTAL_CONTROLLERS's file, read
    controllers_problem: str = field(default="", compare=False)  # why that file could not be read
    given: frozenset[str] = field(default=frozenset(), compare=False)  # the settings given, not defaulted

    # -- building them ---------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
        """The settings from ``env`` (by default the process's environment), with ``overrides``
        (values by setting name, as the app factory takes them) applied.

        Every value is normalised here, once; a default that follows from other settings (the
        folders in the instance folder, the demo's keys and defaults) is made from their final
        values. An empty variable counts as unset. A variable that cannot be parsed, or an
        override that names no setting, is a :class:`ConfigError`; the rest is for :meth:`validate`."""
        env = os.environ if env is None else env
        given = {spec.name: spec.parse(env[spec.env]) for spec in SETTINGS if env.get(spec.env, "").strip()}
        given.update(checked_overrides(overrides or {}))
        return cls._made(given)

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        """Apply ``overrides`` as :meth:`from_env` does (what was derived follows them)."""
        given = {name: getattr(self, name) for name in self.given}
        given.update(checked_overrides(overrides))
        made = self._made(given)
        for item in fields(self):
            setattr(self, item.name, getattr(made, item.name))

    @classmethod
    def _made(cls, given: Mapping[str, Any]) -> Settings:
        values: dict[str, Any] = {}
        for spec in SETTINGS:
            values[spec.name] = spec.clean(given[spec.name] if spec.name in given else spec.default_for(values))
        controllers: Mapping[str, Any] = {}
        unreadable = ""
        if values["controllers_file"]:
            try:
                controllers = load_controllers(values["controllers_file"])
            except ControllerFileError as exc:
                unreadable = str(exc)  # for validate() to report
        settings = cls(**values, controllers=controllers, controllers_problem=unreadable, given=frozenset(given))
        if settings.demo:
            settings._move_the_demos_legacy_keys()
        return settings

    def _move_the_demos_legacy_keys(self) -> None:
        """The demo moves its own subject keys out of the instance folder, once, where they may go."""
        legacy = Path(self.instance_dir) / LEGACY_KEY_SUBDIR
        if self._key_dir_problem() or Path(self.key_dir).exists() or not legacy.is_dir() or not any(legacy.glob("*.key")):
            return  # validate() says what is wrong, if anything
        try:
            legacy.rename(self.key_dir)
        except OSError as exc:
            raise ConfigError(f"The demo's keys in {legacy} could not be moved to {self.key_dir} ({exc.strerror}): "
                              "move them by hand.") from None

    def __repr__(self) -> str:
        """Every setting but the secrets' values: a secret shows only whether it is set."""
        shown = (f"{spec.name}={'<secret>' if spec.secret and getattr(self, spec.name) else repr(getattr(self, spec.name))}"
                 for spec in SETTINGS)
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    # -- checking them ---------------------------------------------------------------------------------

    def validate(self) -> None:
        """Refuse settings that cannot start the portal, with a message that names the variable and
        says what is wrong. Changes nothing: the settings, and the files, are as they were."""
        missing = [spec.env for spec in SETTINGS if spec.required and getattr(self, spec.name) in ("", None)]
        if missing:
            raise ConfigError(
                "Missing required settings: "
                + ", ".join(missing)
                + ". Set them in the environment (keys: 32 random bytes, URL-safe base64, "
                "e.g. `python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`), "
                "or run the demo with PORTAL_DEMO=1."
            )
        for spec in SETTINGS:
            problem = spec.problem(getattr(self, spec.name))
            if problem:
                raise ConfigError(f"{spec.env} {problem}")
        if self.controllers_problem:
            raise ConfigError(f"{ENV['controllers_file']}: {self.controllers_problem}")
        for needing, value in (("session_store", "redis"), ("job_runner", "celery")):
            if getattr(self, needing) == value and not self.redis_url:
                raise ConfigError(f"{ENV[needing]}={value} needs {ENV['redis_url']}"
                                  + (" for its broker" if needing == "job_runner" else ""))
        problem = self._key_dir_problem()
        if problem:
            raise ConfigError(problem)
        if self.key_store == "pkcs11":
            missing = [ENV[name] for name in ("pkcs11_module", "pkcs11_token", "pkcs11_pin") if not getattr(self, name)]
            if missing:
                raise ConfigError(f"{ENV['key_store']}=pkcs11 needs " + ", ".join(missing))
            if not Path(self.pkcs11_module).is_file():
                raise ConfigError(f"{ENV['pkcs11_module']} ({self.pkcs11_module}) is not a file: give the path "
                                  "of the token's PKCS#11 library")
        legacy = Path(self.instance_dir) / LEGACY_KEY_SUBDIR
        if legacy.is_dir() and any(legacy.glob("*.key")):
            raise ConfigError(
                f"Subject keys were found in {legacy}, inside the instance folder, where a backup of the "
                f"data takes them along. Move that folder's files to {ENV['key_dir']} "
                f"({Path(self.key_dir).expanduser().resolve()}) and remove it before starting the portal.")
        if not self.mail_from:
            raise ConfigError(f"{ENV['mail_from']} is not set and {ENV['base_url']} has no host to derive it from")

    def _key_dir_problem(self) -> str | None:
        """Subject keys where a backup of the data would take them along (docs/architecture.md, "Keys
        and backups"): destroying a key must make every copy of that person's data unreadable, and a
        copy that holds the key too can still be read."""
        keys = Path(self.key_dir).expanduser().resolve()
        for name, folder in self.data_folders():
            folder = folder.expanduser().resolve()
            if keys == folder or keys.is_relative_to(folder) or folder.is_relative_to(keys):
                return (f"{ENV['key_dir']} ({keys}) must be outside {name} ({folder}), and not hold it: a backup "
                        "of the data would otherwise take the subject keys with it, and an erased person's data "
                        "could be read again from that backup. Choose a folder of its own, backed up apart.")
        return None

    # -- reading them ----------------------------------------------------------------------------------

    @property
    def sessions_in(self) -> str:
        """Where sign-in sessions are kept: ``PORTAL_SESSION_STORE``, by default Redis when it is
        configured and files otherwise."""
        return self.session_store or ("redis" if self.redis_url else "files")

    def pkcs11(self) -> dict[str, str] | None:
        """The PKCS#11 token that keeps the subject keys, or None for the key folder."""
        if self.key_store != "pkcs11":
            return None
        return {"module": self.pkcs11_module, "token": self.pkcs11_token, "pin": self.pkcs11_pin}

    def data_folders(self) -> list[tuple[str, Path]]:
        """The folders a backup of the data takes: the key store must be in none of them."""
        folders = [(f"the instance folder ({ENV['instance_dir']})", Path(self.instance_dir)),
                   (f"the artifact folder ({ENV['artifact_dir']})", Path(self.artifact_dir)),
                   (f"the session folder ({ENV['session_dir']})", Path(self.session_dir))]
        database = sqlite_path(self.database_url)
        if database is not None:
            folders.append(("the database's folder", database.parent))
        return folders

    def controller(self, jurisdiction: str | None) -> Controller:
        """The controller entity for ``jurisdiction``, from ``PORTAL_CONTROLLERS``'s file."""
        return controller_for(self.controllers or {}, jurisdiction)

    def smtp_target(self) -> SmtpTarget | None:
        """Where e-mail goes: the parsed ``PORTAL_SMTP_URL``, or None for the outbox folder."""
        return parse_smtp_url(self.smtp_url)

    @property
    def outbox_dir(self) -> Path:
        """Without ``PORTAL_SMTP_URL`` messages are written here as .eml files instead of sent."""
        return Path(self.instance_dir) / "outbox"

    @property
    def master_key_bytes(self) -> bytes:
        return decode_key(ENV["master_key"], self.master_key)


SETTINGS: tuple[Setting, ...] = tuple(
    replace(item.metadata["setting"], name=item.name) for item in fields(Settings) if "setting" in item.metadata)
BY_NAME: dict[str, Setting] = {spec.name: spec for spec in SETTINGS}
ENV: dict[str, str] = {spec.name: spec.env for spec in SETTINGS}  # the variable of each setting


def checked_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The settings among ``overrides`` (by name; a text value is parsed as the variable's would be).
    Upper-case names are Flask's config, not settings, and are left out; any other name that is
    not a setting is a :class:`ConfigError`. An empty text counts as unset, as in the environment."""
    found: dict[str, Any] = {}
    for name, value in overrides.items():
        if name.isupper():
            continue
        spec = BY_NAME.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, BY_NAME, n=1)
            raise ConfigError(f"Unknown setting {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                              + ": the settings are the fields of portal.config.Settings, listed in README.md; "
                              "Flask's own config keys are upper case")
        if isinstance(value, str):
            if not value.strip():
                continue
            value = spec.parse(value)
        found[name] = value
    return found


class NoSettings(RuntimeError):
    """No portal settings here: outside an app context, or in an app not made by create_app."""


def current_settings(app: Flask | None = None) -> Settings:
    """The running portal's settings: those of ``app``, or of the current app. The one way code
    reads them (create_app keeps them in ``app.config[SETTINGS_KEY]``)."""
    if app is None:
        if not has_app_context():
            raise NoSettings("the portal's settings are read inside an app context")
        app = current_app
    settings = app.config.get(SETTINGS_KEY)
    if not isinstance(settings, Settings):
        raise NoSettings("this app has no portal settings: it was not made by portal.create_app")
    return settings


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` database URL; None for another database or an in-memory one."""
    if not database_url.startswith("sqlite:///"):
        return None
    raw = database_url[len("sqlite:///"):].split("?", 1)[0]
    return Path(unquote(raw)) if raw and raw != ":memory:" else None


# -- e-mail settings (PORTAL_SMTP_URL, PORTAL_MAIL_FROM) ----------------------------------------------

SMTP_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SMTP_URL_FORM = "smtp://[user:password@]host[:port][?starttls=1] or smtps://[user:password@]host[:port]"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$",
                       re.IGNORECASE)
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_NAMED_ADDRESS = re.compile(r"^(?P<name>[^<>\"(),;:@\[\]\\]*?)\s*<(?P<address>[^<>\s]+)>$")


@dataclass(frozen=True)
class SmtpTarget:
    """A parsed ``PORTAL_SMTP_URL``."""

    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp://...?starttls=1: upgrade the plain connection before anything else
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(value: str) -> SmtpTarget | None:
    """Parse ``PORTAL_SMTP_URL``; empty means "no SMTP server" (None). Errors never repeat the
    URL, which may hold a password."""
    try:
        return _smtp_target(value)
    except Invalid as exc:
        raise ConfigError(f"{ENV['smtp_url']} {exc}") from None


def _smtp_target(value: str) -> SmtpTarget | None:
    value = value.strip()
    if not value:
        return None
    bad = f"must look like {SMTP_URL_FORM}"
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        raise Invalid(f"{bad}: it contains spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise Invalid(f"{bad}: the port is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in SMTP_DEFAULT_PORTS:
        raise Invalid(f"{bad}: the scheme {scheme or '(none)'!r} is neither smtp nor smtps")
    host = parts.hostname or ""
    if not host or not (_HOSTNAME.match(host) or _is_ip(host)):
        raise Invalid(f"{bad}: it names no valid host")
    if port == 0:
        raise Invalid(f"{bad}: the port is not a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.fragment:
        raise Invalid(f"{bad}: it takes no path or #fragment")
    starttls = False
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise Invalid(f"{bad}: unknown option {key!r} (the only one is starttls)")
        if raw not in ("0", "1"):
            raise Invalid(f"{bad}: starttls takes 1 or 0")
        starttls = raw == "1"
    if starttls and scheme == "smtps":
        raise Invalid(f"{bad}: smtps:// is TLS from the start; ?starttls=1 is for smtp://")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if bool(username) != bool(password):
        raise Invalid(f"{bad}: give both a user and a password, or neither")
    if username and scheme == "smtp" and not starttls and host.lower() not in LOOPBACK_HOSTS:
        raise Invalid("would send its password unencrypted: use smtps:// or add ?starttls=1 "
                      "(plain smtp:// with a password only on loopback)")
    return SmtpTarget(host=host, port=port or SMTP_DEFAULT_PORTS[scheme], implicit_tls=scheme == "smtps",
                      starttls=starttls, username=username, password=password)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _domain_ok(domain: str) -> bool:
    if domain.startswith("[") and domain.endswith("]"):
        literal = domain[1:-1]
        if literal[:5].lower() == "ipv6:":
            return ":" in literal[5:] and _is_ip(literal[5:])
        return "." in literal and _is_ip(literal)
    return bool(_HOSTNAME.match(domain))


def mail_from_address(value: str) -> str:
    """The bare address of ``PORTAL_MAIL_FROM`` (``addr@example.com`` or ``Name <addr@example.com>``),
    or a ConfigError saying what is wrong with it."""
    try:
        return _address_of(value)
    except Invalid as exc:
        raise ConfigError(f"{ENV['mail_from']} {exc}") from None


def _address_of(value: str) -> str:
    bad = f"must be an e-mail address (privacy@example.com or Privacy Office <privacy@example.com>), not {value!r}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid(bad)
    named = _NAMED_ADDRESS.match(value.strip())
    address = named.group("address") if named else value.strip()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or not _LOCAL_PART.match(local) or not _domain_ok(domain):
        raise Invalid(bad)
    return address


def default_mail_from(base_url: str) -> str:
    """``privacy-portal@`` the host of ``PORTAL_BASE_URL`` (an IP address as a domain literal)."""
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        host = ""
    if not host:
        raise ConfigError(f"{ENV['mail_from']} is not set and {ENV['base_url']} has no host to derive it from")
    if _is_ip(host):
        host = f"[IPv6:{host}]" if ":" in host else f"[{host}]"
    return f"privacy-portal@{host}"


# -- the README's table of settings -------------------------------------------------------------------

README = PROJECT_ROOT / "README.md"
TABLE_START = "<!-- settings table: made by `python -m portal.config readme --write`; edit portal/config.py, not this -->"
TABLE_END = "<!-- end of the settings table -->"


def settings_table() -> str:
    """The README's table of settings, one row per variable, from the table in :class:`Settings`."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = ["| variable | kind | default | secret | meaning |", "|---|---|---|---|---|"]
    for spec in SETTINGS:
        rows.append(f"| `{spec.env}` | {cell(spec.kind.describe())}{'; required' if spec.required else ''} "
                    f"| {cell(spec.shown_default())} | {'yes' if spec.secret else ''} | {cell(spec.doc)} |")
    return "\n".join(rows) + "\n"


def readme_table(text: str) -> str:
    """The settings table as it stands in the README's ``text`` (between its markers)."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no settings table between {TABLE_START!r} and {TABLE_END!r}")
    return text[start + len(TABLE_START):end].strip("\n") + "\n"


def with_readme_table(text: str) -> str:
    """The README's ``text`` with its settings table made anew."""
    readme_table(text)  # it has one
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return f"{text[:start]}\n{settings_table()}{text[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.config",
                                     description="The portal's settings table (portal/config.py).")
    commands = parser.add_subparsers(dest="command", required=True)
    readme = commands.add_parser("readme", help="print the README's settings table, or write it in README.md")
    readme.add_argument("--write", action="store_true", help="write the table in README.md, between its markers")
    readme.add_argument("--check", action="store_true", help="exit 1 if README.md's table is not the one made here")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    if args.write:
        README.write_text(with_readme_table(text), encoding="utf-8")
    elif args.check:
        if readme_table(text) != settings_table():
            sys.stderr.write("README.md's settings table differs from portal/config.py's: "
                             "run `python -m portal.config readme --write`\n")
            return 1
    else:
        sys.stdout.write(settings_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
