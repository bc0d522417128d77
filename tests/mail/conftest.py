"""A real SMTP server on loopback (aiosmtpd), portals configured to use it, and a job runner that
only records dispatches so that each test runs the jobs itself, attempt by attempt."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from portal import create_app
from portal.extensions import db
from portal.jobs.runners import EXTENSION
from tests.conftest import _free_port, _stop_job_runner, _truncate, app_config


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = email.message_from_bytes(self.raw, policy=email.policy.default)
        return parsed


@dataclass
class Collector:
    """The aiosmtpd handler: keeps every message it accepts, and every DATA it was offered.
    ``rcpt_reply`` / ``data_replies`` make it refuse (e.g. "451 ..." once, or "550 ..." for good)."""

    received: list[Received] = field(default_factory=list)
    offered: list[bytes] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_reply: str | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.offered.append(envelope.content)
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"portal", b"s3cr:t"):
            self.logins.append((mechanism, auth_data.login.decode()))
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    controller: Controller
    handler: Collector
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def start_smtp(**kwargs: Any) -> SmtpServer:
    handler = Collector()
    port = _free_port()
    if kwargs.pop("auth", False):
        kwargs["authenticator"] = handler.authenticate
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(controller, handler, port)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.controller.stop()


@dataclass
class SelfSigned:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What the portal would use if this certificate's issuer were installed as trusted."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture
def certificate(tmp_path: Path) -> SelfSigned:
    """A self-signed certificate for 127.0.0.1, made on the spot."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return SelfSigned(cert_path, key_path)


@dataclass
class RecordingRunner:
    """Stands in for the transport only: records dispatches; the test runs the jobs itself."""

    dispatched: list[tuple[str, float]] = field(default_factory=list)

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        self.dispatched.append((job_id, delay))


@pytest.fixture
def make_portal(request: pytest.FixtureRequest, tmp_path: Path, idp_url: str,
                sqlite_template: Path) -> Iterator[Callable[..., Flask]]:
    """``make_portal(smtp_url=..., ...)``: a portal with these settings on SQLite (parametrize
    indirectly with "postgres" for PostgreSQL). ``manual_jobs=True`` (the default) swaps the job
    runner for a :class:`RecordingRunner` (at ``app.extensions[EXTENSION]``)."""
    backend = getattr(request, "param", "sqlite")
    made: list[Flask] = []

    def make(*, manual_jobs: bool = True, **settings: Any) -> Flask:
        base = tmp_path / f"portal-{len(made)}"
        base.mkdir()
        if backend == "postgres":
            database_url = request.getfixturevalue("postgres_migrated")
        else:
            database = base / "portal.db"
            database.write_bytes(sqlite_template.read_bytes())
            database_url = f"sqlite:///{database}"
        app = create_app(app_config(base, idp_url, database_url, **settings))
        app.config["TESTING"] = True
        made.append(app)
        if manual_jobs:
            _stop_job_runner(app)
            app.extensions[EXTENSION] = RecordingRunner()
        return app

    yield make
    for app in made:
        _stop_job_runner(app)
        if backend == "postgres":
            _truncate(app)
        else:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


both_databases = pytest.mark.parametrize(
    "make_portal", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
