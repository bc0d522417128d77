"""One settings object, read from ``PORTAL_*`` environment variables and validated at start-up.

Outside the demo a missing secret is a start-up error, never a fallback.  The demo
(``PORTAL_DEMO=1``) generates its keys once and keeps them under ``instance/``.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"

JOB_RUNNERS = ("thread", "celery")


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


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


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
    key_dir: Path = DEFAULT_INSTANCE / "keys"
    session_dir: Path = DEFAULT_INSTANCE / "sessions"
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
    job_workers: int = 2
    job_lease_seconds: int = 60
    job_sweep_seconds: int = 30
    celery_queue: str = "portal-jobs"
    redis_prefix: str = "portal:"
    export_days: int = 7
    export_pause_ms: int = 0
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
                                             ("job_sweep_seconds", 30), ("export_days", 7),
                                             ("export_pause_ms", 0))}
        except ValueError as exc:
            raise ConfigError(f"PORTAL_SESSION_HOURS, PORTAL_STEP_UP_SECONDS, PORTAL_JOB_WORKERS, "
                              f"PORTAL_JOB_LEASE_SECONDS, PORTAL_JOB_SWEEP_SECONDS, PORTAL_EXPORT_DAYS and "
                              f"PORTAL_EXPORT_PAUSE_MS "
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
            key_dir=Path(env.get("PORTAL_KEY_DIR") or instance / "keys"),
            session_dir=Path(env.get("PORTAL_SESSION_DIR") or instance / "sessions"),
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
            celery_queue=env.get("PORTAL_CELERY_QUEUE", "portal-jobs"),
            redis_prefix=env.get("PORTAL_REDIS_PREFIX", "portal:"),
            job_workers=numbers["job_workers"],
            job_lease_seconds=numbers["job_lease_seconds"],
            job_sweep_seconds=numbers["job_sweep_seconds"],
            export_days=numbers["export_days"],
            export_pause_ms=numbers["export_pause_ms"],
        )
        return settings

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        if "instance_dir" in overrides:
            # Directories derived from the instance directory follow it unless they are set too.
            for name, sub in (("artifact_dir", "artifacts"), ("key_dir", "keys"), ("session_dir", "sessions")):
                if name not in overrides and getattr(self, name) == Path(self.instance_dir) / sub:
                    setattr(self, name, Path(overrides["instance_dir"]) / sub)
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
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
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
        if self.job_runner not in JOB_RUNNERS:
            raise ConfigError(f"PORTAL_JOB_RUNNER must be one of {', '.join(JOB_RUNNERS)}, not {self.job_runner!r}")
        for name, low in (("job_workers", 1), ("job_lease_seconds", 2), ("job_sweep_seconds", 1), ("export_days", 1),
                          ("export_pause_ms", 0)):
            if getattr(self, name) < low:
                raise ConfigError(f"PORTAL_{name.upper()} must be at least {low}")
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

    @property
    def master_key_bytes(self) -> bytes:
        return decode_key("PORTAL_MASTER_KEY", self.master_key)
