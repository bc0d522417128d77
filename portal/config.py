"""One settings object, read from ``PORTAL_*`` environment variables and validated at start-up.

Outside the demo a missing secret is a start-up error, never a fallback.  The demo
(``PORTAL_DEMO=1``) generates its keys once and keeps them under ``instance/``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from portal.files import write_file
from portal.jurisdictions.controllers import ControllerFileError
from portal.jurisdictions.controllers import load as load_controllers

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"

JOB_RUNNERS = ("thread", "celery")
SESSION_STORES = ("", "redis", "files", "database")


class ConfigError(RuntimeError):
    """The settings cannot start the portal; the message says which one and why."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def decode_key(name: str, value: str) -> bytes:
    """Decode a 32-byte URL-safe base64 key, or explain what is wrong with it."""
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{name} is not URL-safe base64: {exc}") from None
    if len(raw) != 32:
        raise ConfigError(f"{name} must decode to 32 bytes, not {len(raw)}")
    return raw


def default_key_dir(instance_dir: Path) -> Path:
    """Where subject keys live unless ``PORTAL_KEY_DIR`` says: beside the instance folder, never in
    it, so that a backup of the instance (the database, the artifacts) does not take them along."""
    instance_dir = Path(instance_dir)
    return instance_dir.parent / f"{instance_dir.name}-keys"


LEGACY_KEY_SUBDIR = "keys"  # where subject keys were kept before the key store had a place of its own


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


SHIPPED_LANGUAGES = ("en", "es", "pt_BR")  # the catalogues under portal/translations (and English)


@dataclass
class Settings:
    demo: bool = False
    instance_dir: Path = DEFAULT_INSTANCE
    database_url: str = ""
    secret_key: str = ""
    master_key: str = ""
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    base_url: str = "http://127.0.0.1:5000"
    job_runner: str = "thread"
    redis_url: str = ""
    smtp_url: str = ""
    artifact_dir: Path = DEFAULT_INSTANCE / "artifacts"
    key_dir: Path = field(default_factory=lambda: default_key_dir(DEFAULT_INSTANCE))
    session_dir: Path = DEFAULT_INSTANCE / "sessions"
    session_store: str = ""  # "redis", "files" or "database"; empty: Redis when configured, else files
    key_store: str = "file"  # or "pkcs11": subject keys on a PKCS#11 token (an HSM)
    pkcs11_module: str = ""
    pkcs11_token: str = ""
    pkcs11_pin: str = field(default="", repr=False)
    dpo_groups: tuple[str, ...] = ("dpo",)
    admin_groups: tuple[str, ...] = ("privacy-admin",)
    auditor_groups: tuple[str, ...] = ("auditor",)
    jurisdiction_claim: str = "country"
    employee_number_claim: str = "employee_number"
    default_jurisdiction: str = ""
    session_hours: int = 12
    step_up_seconds: int = 300
    secure_cookies: bool = True
    dpo_contact: str = ""
    languages: tuple[str, ...] = ("en", "es", "pt_BR")  # offered to readers; English always
    controllers_file: str = ""  # JSON: the controller entity per country (portal.jurisdictions.controllers)
    controllers: Mapping[str, Any] = field(default_factory=dict, repr=False)
    job_workers: int = 2
    job_lease_seconds: int = 60
    job_sweep_seconds: int = 30
    db_retry_seconds: int = 120  # how long jobs and commands wait for a database that went away
    webhook_attempts: int = 8  # deliveries of a recipient task before it is dead (shown to the DPO)
    webhook_backoff_seconds: int = 30  # the first pause between webhook attempts; it doubles, to an hour
    webhook_timeout_seconds: int = 5  # to connect, and then to wait for the answer
    celery_queue: str = "portal-jobs"
    redis_prefix: str = "portal:"
    export_days: int = 7
    outbox_days: int = 14  # how long .eml files stay in the outbox folder (no PORTAL_SMTP_URL)
    export_pause_ms: int = 0
    mail_from: str = ""
    api_rate_limit: str = ""  # per service token, e.g. "1200 per minute; 36000 per hour" (empty: that default)
    proxy_hops: int = 0  # trusted reverse proxies in front of the portal (X-Forwarded-For/-Proto/-Host)
    audit_signing_key: str = field(default="", repr=False)  # Ed25519 seed; empty: generated, kept wrapped
    audit_witness_dir: Path = DEFAULT_INSTANCE / "witness"  # signed tree heads, outside the database too
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        demo = _truthy(env.get("PORTAL_DEMO"))
        instance = Path(env.get("PORTAL_INSTANCE_DIR") or DEFAULT_INSTANCE)

        def groups(name: str, default: str) -> tuple[str, ...]:
            raw = env.get(name, default)
            return tuple(g.strip() for g in raw.split(",") if g.strip())

        try:
            session_hours = int(env.get("PORTAL_SESSION_HOURS", "12"))
            step_up_seconds = int(env.get("PORTAL_STEP_UP_SECONDS", "300"))
            numbers = {name: int(env.get(f"PORTAL_{name.upper()}", str(default)))
                       for name, default in (("job_workers", 2), ("job_lease_seconds", 60),
                                             ("job_sweep_seconds", 30), ("export_days", 7), ("outbox_days", 14),
                                             ("export_pause_ms", 0), ("proxy_hops", 0),
                                             ("db_retry_seconds", 120), ("webhook_attempts", 8),
                                             ("webhook_backoff_seconds", 30), ("webhook_timeout_seconds", 5))}
        except ValueError as exc:
            raise ConfigError(f"PORTAL_SESSION_HOURS, PORTAL_STEP_UP_SECONDS, PORTAL_JOB_WORKERS, "
                              f"PORTAL_JOB_LEASE_SECONDS, PORTAL_JOB_SWEEP_SECONDS, PORTAL_EXPORT_DAYS, "
                              f"PORTAL_EXPORT_PAUSE_MS, PORTAL_OUTBOX_DAYS, PORTAL_PROXY_HOPS and "
                              f"PORTAL_DB_RETRY_SECONDS, PORTAL_WEBHOOK_ATTEMPTS, PORTAL_WEBHOOK_BACKOFF_SECONDS, "
                              f"PORTAL_WEBHOOK_TIMEOUT_SECONDS "
                              f"take whole numbers: {exc}") from None

        settings = cls(
            demo=demo,
            instance_dir=instance,
            database_url=env.get("PORTAL_DATABASE_URL", ""),
            secret_key=env.get("PORTAL_SECRET_KEY", ""),
            master_key=env.get("PORTAL_MASTER_KEY", ""),
            oidc_issuer=env.get("PORTAL_OIDC_ISSUER", "").rstrip("/"),
            oidc_client_id=env.get("PORTAL_OIDC_CLIENT_ID", ""),
            oidc_client_secret=env.get("PORTAL_OIDC_CLIENT_SECRET", ""),
            oidc_scopes=env.get("PORTAL_OIDC_SCOPES", "openid email profile"),
            base_url=env.get("PORTAL_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            job_runner=env.get("PORTAL_JOB_RUNNER", "thread"),
            redis_url=env.get("PORTAL_REDIS_URL", ""),
            smtp_url=env.get("PORTAL_SMTP_URL", ""),
            artifact_dir=Path(env.get("PORTAL_ARTIFACT_DIR") or instance / "artifacts"),
            key_dir=Path(env.get("PORTAL_KEY_DIR") or default_key_dir(instance)),
            session_dir=Path(env.get("PORTAL_SESSION_DIR") or instance / "sessions"),
            session_store=env.get("PORTAL_SESSION_STORE", "").strip().lower(),
            key_store=env.get("PORTAL_KEY_STORE", "file").strip().lower() or "file",
            pkcs11_module=env.get("PORTAL_PKCS11_MODULE", "").strip(),
            pkcs11_token=env.get("PORTAL_PKCS11_TOKEN", "").strip(),
            pkcs11_pin=env.get("PORTAL_PKCS11_PIN", ""),
            dpo_groups=groups("PORTAL_DPO_GROUPS", "dpo"),
            admin_groups=groups("PORTAL_ADMIN_GROUPS", "privacy-admin"),
            auditor_groups=groups("PORTAL_AUDITOR_GROUPS", "auditor"),
            jurisdiction_claim=env.get("PORTAL_JURISDICTION_CLAIM", "country"),
            employee_number_claim=env.get("PORTAL_EMPLOYEE_NUMBER_CLAIM", "employee_number"),
            default_jurisdiction=env.get("PORTAL_DEFAULT_JURISDICTION", "").upper(),
            session_hours=session_hours,
            step_up_seconds=step_up_seconds,
            secure_cookies=not demo and not _truthy(env.get("PORTAL_INSECURE_COOKIES")),
            dpo_contact=env.get("PORTAL_DPO_CONTACT", "").strip(),
            languages=groups("PORTAL_LANGUAGES", "en,es,pt_BR"),
            controllers_file=env.get("PORTAL_CONTROLLERS", "").strip(),
            celery_queue=env.get("PORTAL_CELERY_QUEUE", "portal-jobs"),
            redis_prefix=env.get("PORTAL_REDIS_PREFIX", "portal:"),
            job_workers=numbers["job_workers"],
            job_lease_seconds=numbers["job_lease_seconds"],
            job_sweep_seconds=numbers["job_sweep_seconds"],
            export_days=numbers["export_days"],
            outbox_days=numbers["outbox_days"],
            export_pause_ms=numbers["export_pause_ms"],
            proxy_hops=numbers["proxy_hops"],
            db_retry_seconds=numbers["db_retry_seconds"],
            webhook_attempts=numbers["webhook_attempts"],
            webhook_backoff_seconds=numbers["webhook_backoff_seconds"],
            webhook_timeout_seconds=numbers["webhook_timeout_seconds"],
            mail_from=env.get("PORTAL_MAIL_FROM", "").strip(),
            api_rate_limit=env.get("PORTAL_API_RATE_LIMIT", "").strip(),
            audit_signing_key=env.get("PORTAL_AUDIT_SIGNING_KEY", "").strip(),
            audit_witness_dir=Path(env.get("PORTAL_AUDIT_WITNESS_DIR") or instance / "witness"),
        )
        return settings

    @property
    def sessions_in(self) -> str:
        """Where sign-in sessions are kept: ``PORTAL_SESSION_STORE``, by default Redis when it is
        configured and files otherwise."""
        return self.session_store or ("redis" if self.redis_url else "files")

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        if "instance_dir" in overrides:
            # Directories derived from the instance directory follow it unless they are set too.
            for name, sub in (("artifact_dir", "artifacts"), ("session_dir", "sessions"),
                              ("audit_witness_dir", "witness")):
                if name not in overrides and getattr(self, name) == Path(self.instance_dir) / sub:
                    setattr(self, name, Path(overrides["instance_dir"]) / sub)
            if "key_dir" not in overrides and self.key_dir == default_key_dir(self.instance_dir):
                self.key_dir = default_key_dir(overrides["instance_dir"])
        for key, value in overrides.items():
            if key in names:
                setattr(self, key, value)
            else:
                self.extra[key] = value

    def prepare_demo(self) -> None:
        """Demo only: fill the secrets from ``instance/demo-keys.env``, creating it once."""
        path = self.instance_dir / "demo-keys.env"
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            content = f"PORTAL_SECRET_KEY={new_key()}\nPORTAL_MASTER_KEY={new_key()}\n"
            write_file(path, content.encode(), exclusive=True)  # a second process's file wins, whole
        stored = dict(
            line.split("=", 1) for line in path.read_text().splitlines() if "=" in line
        )
        self.secret_key = self.secret_key or stored["PORTAL_SECRET_KEY"]
        self.master_key = self.master_key or stored["PORTAL_MASTER_KEY"]
        self.oidc_issuer = self.oidc_issuer or "http://127.0.0.1:9400"
        self.oidc_client_id = self.oidc_client_id or "portal-demo"
        self.oidc_client_secret = self.oidc_client_secret or "portal-demo-secret"

    def validate(self) -> None:
        if self.demo:
            self.prepare_demo()
            self.secure_cookies = False  # the demo runs on plain http://127.0.0.1
            self.dpo_contact = self.dpo_contact or "privacy@example.com"
            self.controllers_file = self.controllers_file or str(PROJECT_ROOT / "portal" / "demo" / "controllers.json")
        if self.controllers_file:
            try:
                self.controllers = load_controllers(self.controllers_file)
            except ControllerFileError as exc:
                raise ConfigError(f"PORTAL_CONTROLLERS: {exc}") from None
        missing = [
            name
            for name, value in (
                ("PORTAL_SECRET_KEY", self.secret_key),
                ("PORTAL_MASTER_KEY", self.master_key),
                ("PORTAL_OIDC_ISSUER", self.oidc_issuer),
                ("PORTAL_OIDC_CLIENT_ID", self.oidc_client_id),
                ("PORTAL_OIDC_CLIENT_SECRET", self.oidc_client_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                "Missing required settings: "
                + ", ".join(missing)
                + ". Set them in the environment (keys: 32 random bytes, URL-safe base64, "
                "e.g. `python -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())'`), "
                "or run the demo with PORTAL_DEMO=1."
            )
        decode_key("PORTAL_SECRET_KEY", self.secret_key)
        decode_key("PORTAL_MASTER_KEY", self.master_key)
        if self.audit_signing_key:
            decode_key("PORTAL_AUDIT_SIGNING_KEY", self.audit_signing_key)
        unknown = [code for code in self.languages if code not in SHIPPED_LANGUAGES]
        if unknown or "en" not in self.languages:
            raise ConfigError(f"PORTAL_LANGUAGES lists the languages offered among {', '.join(SHIPPED_LANGUAGES)}, "
                              f"English always included; {', '.join(unknown) or 'en is missing'}")
        self.languages = tuple(dict.fromkeys(self.languages))
        if self.job_runner not in JOB_RUNNERS:
            raise ConfigError(f"PORTAL_JOB_RUNNER must be one of {', '.join(JOB_RUNNERS)}, not {self.job_runner!r}")
        for name, low in (("job_workers", 1), ("job_lease_seconds", 2), ("job_sweep_seconds", 1), ("export_days", 1), ("outbox_days", 1),
                          ("export_pause_ms", 0), ("proxy_hops", 0), ("db_retry_seconds", 0), ("webhook_attempts", 1),
                          ("webhook_backoff_seconds", 0), ("webhook_timeout_seconds", 1)):
            if getattr(self, name) < low:
                raise ConfigError(f"PORTAL_{name.upper()} must be at least {low}")
        if self.proxy_hops > 5:
            raise ConfigError("PORTAL_PROXY_HOPS is the number of reverse proxies in front of the portal: 0 to 5")
        if self.session_store not in SESSION_STORES:
            raise ConfigError(f"PORTAL_SESSION_STORE must be one of {', '.join(s for s in SESSION_STORES if s)}, "
                              f"not {self.session_store!r}")
        if self.session_store == "redis" and not self.redis_url:
            raise ConfigError("PORTAL_SESSION_STORE=redis needs PORTAL_REDIS_URL")
        if self.job_runner == "celery" and not self.redis_url:
            raise ConfigError("PORTAL_JOB_RUNNER=celery needs PORTAL_REDIS_URL for its broker")
        try:
            issuer = urlsplit(self.oidc_issuer)
        except ValueError:
            issuer = urlsplit("")
        if not issuer.hostname or not (issuer.scheme == "https" or (
                issuer.scheme == "http" and issuer.hostname in ("127.0.0.1", "localhost", "::1"))):
            raise ConfigError("PORTAL_OIDC_ISSUER must be an https URL (plain http only on loopback)")
        if not self.database_url:
            self.database_url = f"sqlite:///{self.instance_dir / 'portal.db'}"
        self._validate_key_dir()
        self._validate_mail()

    # -- the key store -----------------------------------------------------------------------------

    def pkcs11(self) -> dict[str, str] | None:
        """The PKCS#11 token that keeps the subject keys, or None for the key folder."""
        if self.key_store != "pkcs11":
            return None
        return {"module": self.pkcs11_module, "token": self.pkcs11_token, "pin": self.pkcs11_pin}

    def data_folders(self) -> list[tuple[str, Path]]:
        """The folders a backup of the data takes: the key store must be in none of them."""
        folders = [("the instance folder (PORTAL_INSTANCE_DIR)", Path(self.instance_dir)),
                   ("the artifact folder (PORTAL_ARTIFACT_DIR)", Path(self.artifact_dir)),
                   ("the session folder (PORTAL_SESSION_DIR)", Path(self.session_dir))]
        database = sqlite_path(self.database_url)
        if database is not None:
            folders.append(("the database's folder", database.parent))
        return folders

    def _validate_key_dir(self) -> None:
        """Refuse to start with subject keys where a backup of the data would take them along
        (docs/architecture.md, "Keys and backups"): destroying a key must make every copy of that
        person's data unreadable, and a copy that holds the key too can still be read."""
        keys = Path(self.key_dir).expanduser().resolve()
        for name, folder in self.data_folders():
            folder = folder.expanduser().resolve()
            if keys == folder or keys.is_relative_to(folder) or folder.is_relative_to(keys):
                raise ConfigError(
                    f"PORTAL_KEY_DIR ({keys}) must be outside {name} ({folder}), and not hold it: a backup "
                    "of the data would otherwise take the subject keys with it, and an erased person's data "
                    "could be read again from that backup. Choose a folder of its own, backed up apart.")
        if self.key_store not in ("file", "pkcs11"):
            raise ConfigError(f"PORTAL_KEY_STORE must be file or pkcs11, not {self.key_store!r}")
        if self.key_store == "pkcs11":
            missing = [name for name, value in (("PORTAL_PKCS11_MODULE", self.pkcs11_module),
                                                ("PORTAL_PKCS11_TOKEN", self.pkcs11_token),
                                                ("PORTAL_PKCS11_PIN", self.pkcs11_pin)) if not value]
            if missing:
                raise ConfigError("PORTAL_KEY_STORE=pkcs11 needs " + ", ".join(missing))
            if not Path(self.pkcs11_module).is_file():
                raise ConfigError(f"PORTAL_PKCS11_MODULE ({self.pkcs11_module}) is not a file: give the path "
                                  "of the token's PKCS#11 library")
        legacy = Path(self.instance_dir) / LEGACY_KEY_SUBDIR
        if legacy.is_dir() and any(legacy.glob("*.key")):
            if self.demo and not Path(self.key_dir).exists():
                try:
                    legacy.rename(self.key_dir)  # the demo moves its own keys, once
                except OSError as exc:
                    raise ConfigError(f"The demo's keys in {legacy} could not be moved to {keys} ({exc.strerror}): "
                                      "move them by hand.") from None
            else:
                raise ConfigError(
                    f"Subject keys were found in {legacy}, inside the instance folder, where a backup of the "
                    f"data takes them along. Move that folder's files to PORTAL_KEY_DIR ({keys}) and remove it "
                    "before starting the portal.")

    # -- e-mail ------------------------------------------------------------------------------------

    def _validate_mail(self) -> None:
        self.smtp_target()  # refuses a malformed PORTAL_SMTP_URL
        if not self.mail_from:
            self.mail_from = default_mail_from(self.base_url)
        mail_from_address(self.mail_from)  # refuses a malformed PORTAL_MAIL_FROM

    def smtp_target(self) -> SmtpTarget | None:
        """Where e-mail goes: the parsed ``PORTAL_SMTP_URL``, or None for the outbox folder."""
        return parse_smtp_url(self.smtp_url)

    @property
    def outbox_dir(self) -> Path:
        """Without ``PORTAL_SMTP_URL`` messages are written here as .eml files instead of sent."""
        return Path(self.instance_dir) / "outbox"

    @property
    def master_key_bytes(self) -> bytes:
        return decode_key("PORTAL_MASTER_KEY", self.master_key)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` database URL; None for another database or an in-memory one."""
    if not database_url.startswith("sqlite:///"):
        return None
    raw = database_url[len("sqlite:///"):].split("?", 1)[0]
    return Path(unquote(raw)) if raw and raw != ":memory:" else None


# -- e-mail settings (PORTAL_SMTP_URL, PORTAL_MAIL_FROM) ----------------------------------------------

SMTP_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SMTP_URL_FORM = "smtp://[user:password@]host[:port][?starttls=1] or smtps://[user:password@]host[:port]"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
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
    value = value.strip()
    if not value:
        return None
    bad = f"PORTAL_SMTP_URL must look like {SMTP_URL_FORM}"
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in value):
        raise ConfigError(f"{bad}: it contains spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{bad}: the port is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in SMTP_DEFAULT_PORTS:
        raise ConfigError(f"{bad}: the scheme {scheme or '(none)'!r} is neither smtp nor smtps")
    host = parts.hostname or ""
    if not host or not (_HOSTNAME.match(host) or _is_ip(host)):
        raise ConfigError(f"{bad}: it names no valid host")
    if port == 0:
        raise ConfigError(f"{bad}: the port is not a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError(f"{bad}: it takes no path or #fragment")
    starttls = False
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise ConfigError(f"{bad}: unknown option {key!r} (the only one is starttls)")
        if raw not in ("0", "1"):
            raise ConfigError(f"{bad}: starttls takes 1 or 0")
        starttls = raw == "1"
    if starttls and scheme == "smtps":
        raise ConfigError(f"{bad}: smtps:// is TLS from the start; ?starttls=1 is for smtp://")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if bool(username) != bool(password):
        raise ConfigError(f"{bad}: give both a user and a password, or neither")
    if username and scheme == "smtp" and not starttls and host.lower() not in LOOPBACK_HOSTS:
        raise ConfigError("PORTAL_SMTP_URL would send its password unencrypted: use smtps:// or add ?starttls=1 "
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
    bad = f"PORTAL_MAIL_FROM must be an e-mail address (privacy@example.com or Privacy Office <privacy@example.com>), not {value!r}"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ConfigError(bad)
    named = _NAMED_ADDRESS.match(value.strip())
    address = named.group("address") if named else value.strip()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or not _LOCAL_PART.match(local) or not _domain_ok(domain):
        raise ConfigError(bad)
    return address


def default_mail_from(base_url: str) -> str:
    """``privacy-portal@`` the host of ``PORTAL_BASE_URL`` (an IP address as a domain literal)."""
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        host = ""
    if not host:
        raise ConfigError("PORTAL_MAIL_FROM is not set and PORTAL_BASE_URL has no host to derive it from")
    if _is_ip(host):
        host = f"[IPv6:{host}]" if ":" in host else f"[{host}]"
    return f"privacy-portal@{host}"
