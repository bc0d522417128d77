"""E-mail notifications to employees.

* :func:`notify` queues one message as a ``mail.send`` job in the caller's transaction: it is sent
  only once that transaction commits, retried with the job system's backoff, and it survives a
  restart. The job holds ids only (template, recipient id, refs); the address is read from the
  sealed directory at send time, so no address is ever stored in the job table or the audit log.
* A domain turns its ids into template variables with a :func:`context_loader`, e.g.
  ``@context_loader("request") def load(request_id) -> dict``; a ref ``{"request": id}`` then
  gives the template a variable ``request``. A loader raises ``LookupError`` when the object is
  gone (the message is then given up, not retried).
* Templates: ``templates/mail/<name>.txt`` (plain text, not autoescaped) whose first line is
  ``Subject: ...``, then a blank line, then the body; optionally ``templates/mail/<name>.html``
  (autoescaped), sent as the HTML alternative. Variables: ``recipient_name``, ``base_url``,
  ``refs`` (the raw ids) and one per ref; the HTML template also gets ``subject``.
* The Message-ID is derived from the job id, so a retry after a crash (sent, then died before the
  commit) repeats the same Message-ID and the receiving side can recognise the duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path
from types import TracebackType
from typing import Any

import flask_mail
from flask import current_app, render_template
from jinja2 import TemplateError, TemplateNotFound

from portal.audit.services import FORBIDDEN_DETAIL_KEYS, Actor, record
from portal.config import Settings, current_settings, mail_from_address
from portal.crypto.keys import SealError
from portal.extensions import db
from portal.files import write_file
from portal.i18n import html_lang, language_of
from portal.jobs import services as jobs
from portal.jobs.models import Job
from portal.jobs.runners import periodic
from portal.people.models import Employee

log = logging.getLogger(__name__)

SEND_KIND = "mail.send"
# Backoff 5 s doubling to the 10-minute cap: ten attempts span about half an hour of outage.
MAX_ATTEMPTS = 10
SMTP_TIMEOUT_SECONDS = 30
TEMPLATE_FOLDER = "mail"
CONTEXT_NAMES = frozenset({"recipient_name", "base_url", "refs", "subject"})
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]*(?:/[a-z0-9_][a-z0-9_-]*)*$")
_REF_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUBJECT_LINE = re.compile(r"^Subject:[ \t]*(\S.*?)\s*$")

ContextLoader = Callable[[str], Mapping[str, Any]]
LOADERS: dict[str, ContextLoader] = {}


class MailError(Exception):
    """Sending failed. ``permanent``: the server refused the message for good (5xx), retrying
    cannot help. The reason never carries an address or the server's own words."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class TemplateFormatError(ValueError):
    """A mail template that does not start with its subject line and a blank line."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str | None


# -- the public API ----------------------------------------------------------------------------------

def context_loader(name: str) -> Callable[[ContextLoader], ContextLoader]:
    """Register the function that turns a ref ``{name: id}`` into the template variable ``name``
    (a mapping), at send time. It raises ``LookupError`` when the object no longer exists."""
    if not _REF_NAME.match(name) or name in CONTEXT_NAMES or name in FORBIDDEN_DETAIL_KEYS or name == "job":
        raise ValueError(f"{name!r} cannot name a mail ref (lower-case identifier, not a reserved name)")

    def register(fn: ContextLoader) -> ContextLoader:
        LOADERS[name] = fn
        return fn

    return register


def notify(template: str, *, recipient_id: str, refs: dict[str, str] | None = None,
           actor: Actor | None = None) -> None:
    """Queue the message ``templates/mail/<template>.txt`` for the employee ``recipient_id``.

    It joins the current transaction (the caller commits) and is sent only after that commit.
    ``refs`` maps a registered loader's name to an id (``{"request": request.id}``): ids only,
    never an address or other personal data. ``actor`` (default: the system) is who caused it."""
    if not _TEMPLATE_NAME.match(template):
        raise ValueError(f"mail template names are lower-case words, not {template!r}")
    if not isinstance(recipient_id, str) or not recipient_id:
        raise ValueError("a mail needs the recipient's employee id")
    clean_refs: dict[str, str] = {}
    for name, value in (refs or {}).items():
        if not _REF_NAME.match(name) or name in CONTEXT_NAMES or name in FORBIDDEN_DETAIL_KEYS or name == "job":
            raise ValueError(f"{name!r} cannot name a mail ref")
        if not isinstance(value, str) or not value or "@" in value:
            raise ValueError(f"mail ref {name!r} must be an id")
        clean_refs[name] = value
    params: dict[str, Any] = {"template": template, "recipient_id": recipient_id, "refs": clean_refs}
    if actor is not None:
        params["actor"] = {"type": actor.type, "id": actor.id}
    jobs.enqueue(SEND_KIND, params=params, max_attempts=MAX_ATTEMPTS)


def send_now(to_address: str, subject: str, body: str, *, html: str | None = None,
             message_id: str | None = None, language: str | None = None) -> str:
    """Send one message at once: over SMTP, or into the outbox folder without ``PORTAL_SMTP_URL``.

    Returns the Message-ID; raises :class:`MailError`. Low level: no template, no audit."""
    settings = current_settings()
    message = flask_mail.Message(
        subject=subject, recipients=[to_address], body=body, html=html, sender=settings.mail_from,
        date=time.time(), extra_headers={"Auto-Submitted": "auto-generated",  # RFC 3834: no auto-replies
                                         **({"Content-Language": language} if language else {})},
    )
    message.msgId = message_id or make_msgid(domain=mail_domain(settings))
    if message.has_bad_headers():
        raise MailError("the message has a line break in a header", permanent=True)
    if settings.smtp_target() is None:
        _write_outbox(settings.outbox_dir, message)
    else:
        _send_smtp(message)
    return message.msgId


def message_id_for(job_id: str, settings: Settings | None = None) -> str:
    """The Message-ID of the message sent by job ``job_id``: the same on every attempt."""
    return f"<mail.{job_id}@{mail_domain(settings or current_settings())}>"


def render(template: str, context: Mapping[str, Any]) -> Rendered:
    """Render ``mail/<template>.txt`` (and ``.html`` if there is one) into subject, body and HTML.

    Raises ``TemplateNotFound`` for a missing text template, :class:`TemplateFormatError` for a malformed one."""
    text = render_template(f"{TEMPLATE_FOLDER}/{template}.txt", **context).replace("\r\n", "\n")
    head, _, rest = text.partition("\n")
    found = _SUBJECT_LINE.match(head)
    blank, _, body = rest.partition("\n")
    if found is None or blank.strip():
        raise TemplateFormatError(f"mail template {template}.txt must start with a 'Subject: ...' line and a blank line")
    subject = found.group(1)
    body = body.rstrip() + "\n"
    html_name = f"{TEMPLATE_FOLDER}/{template}.html"
    try:
        html: str | None = render_template(html_name, **context, subject=subject)
    except TemplateNotFound as exc:
        if exc.name != html_name:
            raise  # the HTML template exists but includes a missing one
        html = None
    return Rendered(subject=subject, body=body, html=html)


def build_context(recipient_name: str, refs: Mapping[str, str]) -> dict[str, Any]:
    """Template variables: the recipient's name, the portal's address, and each ref's loader."""
    context: dict[str, Any] = {"recipient_name": recipient_name, "base_url": current_settings().base_url,
                               "refs": dict(refs)}
    for name, ref_id in refs.items():
        loader = LOADERS.get(name)
        if loader is None:
            raise jobs.JobError(f"no mail context loader is registered for {name!r}; nothing was sent", retry=False)
        try:
            context[name] = loader(ref_id)
        except LookupError:
            raise jobs.JobError(f"the {name} this message is about no longer exists; nothing was sent",
                                retry=False) from None
    return context


def mail_domain(settings: Settings) -> str:
    return mail_from_address(settings.mail_from).rpartition("@")[2]


# -- the job -------------------------------------------------------------------------------------------

def _record_give_up(job: Job, reason: str) -> None:
    params = job.params or {}
    record("mail:message:give-up", actor=Actor.system(), subject_id=params.get("recipient_id"),
           targets={"job": job.id, **dict(params.get("refs") or {})},
           details={"template": params.get("template"), "reason": reason})


@jobs.handler(SEND_KIND, on_give_up=_record_give_up)
def send_job(ctx: jobs.JobContext) -> dict[str, Any]:
    template = str(ctx.params.get("template", ""))
    recipient_id = str(ctx.params.get("recipient_id", ""))
    refs = {str(k): str(v) for k, v in dict(ctx.params.get("refs") or {}).items()}
    queued_by = ctx.params.get("actor")
    actor = Actor(queued_by["type"], queued_by.get("id")) if queued_by else Actor.system()

    employee, address, name = _recipient(recipient_id)
    try:
        with language_of(employee) as language:  # the recipient's language, wording and dates alike
            rendered = render(template, build_context(name, refs))
    except TemplateNotFound as exc:
        raise jobs.JobError(f"the mail template {exc.name} does not exist; nothing was sent", retry=False) from None
    except TemplateFormatError as exc:
        raise jobs.JobError(f"{exc}; nothing was sent", retry=False) from None
    except TemplateError as exc:
        raise jobs.JobError(f"the mail template {template} could not be rendered ({type(exc).__name__}); "
                            f"nothing was sent", retry=False) from None

    settings = current_settings()
    try:
        send_now(address, rendered.subject, rendered.body, html=rendered.html,
                 message_id=message_id_for(ctx.job_id, settings), language=html_lang(language))
    except MailError as exc:
        if not exc.permanent:
            log.warning("mail job %s (attempt %d): %s; it will be retried", ctx.job_id, ctx.attempt, exc.reason)
        raise jobs.JobError(exc.reason, retry=not exc.permanent) from None
    transport = "outbox" if settings.smtp_target() is None else "smtp"
    record("mail:message:send", actor=actor, subject_id=recipient_id, targets={"job": ctx.job_id, **refs},
           details={"template": template, "transport": transport, "attempt": ctx.attempt, "language": language})
    return {"template": template, "transport": transport}


def _recipient(recipient_id: str) -> tuple[Employee, str, str]:
    """The recipient's address and name, or give up (no retry) when they are gone."""
    employee = db.session.get(Employee, recipient_id) if recipient_id else None
    if employee is None:
        raise jobs.JobError("the recipient no longer exists (erased or removed); nothing was sent", retry=False)
    try:
        # A former employee's work mailbox is gone: their mail goes to the personal address on record.
        address = (employee.personal_email if employee.is_former else None) or employee.email
        name = employee.display_name
    except SealError:
        address, name = "", ""
    if not address.strip():
        raise jobs.JobError("the recipient's address was erased; nothing was sent", retry=False)
    return employee, address.strip(), name


# -- transports ----------------------------------------------------------------------------------------

def tls_context() -> ssl.SSLContext:
    """Certificate and host name checked (smtplib's own default checks neither)."""
    return ssl.create_default_context()


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout and verified TLS, and one that does not hide the
    error of a failed send behind the error of the QUIT after it."""

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        state = self.mail
        host: smtplib.SMTP
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=SMTP_TIMEOUT_SECONDS, context=tls_context())
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if state.use_tls:
                host.starttls(context=tls_context())
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()


def _send_smtp(message: flask_mail.Message) -> None:
    try:
        with _Connection(current_app.extensions["mail"]) as connection:
            connection.send(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted(code for code, _ in exc.recipients.values())
        code = codes[-1] if codes else 0
        raise MailError(_refusal("the recipient", code), permanent=500 <= code < 600) from None
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        what = "the sender" if isinstance(exc, smtplib.SMTPSenderRefused) else "the message"
        raise MailError(_refusal(what, exc.smtp_code), permanent=500 <= exc.smtp_code < 600) from None
    except smtplib.SMTPAuthenticationError as exc:
        # The portal's own credentials: retried, so that mail queued meanwhile goes out once they are fixed.
        raise MailError(f"the mail server did not accept the portal's credentials (SMTP {exc.smtp_code})",
                        permanent=False) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"the mail server answered SMTP {exc.smtp_code}", permanent=False) from None
    except flask_mail.BadHeaderError:
        raise MailError("the message has a line break in a header", permanent=True) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"the mail server could not be reached ({type(exc).__name__})", permanent=False) from None


def _refusal(what: str, code: int) -> str:
    if 500 <= code < 600:
        return f"the mail server refused {what} permanently (SMTP {code})"
    return f"the mail server refused {what} for now (SMTP {code})"


def _write_outbox(directory: Path, message: flask_mail.Message) -> Path:
    """Write the message as an .eml file, atomically (a temporary name, then a rename) and readable
    by the portal's user only. The name follows from the Message-ID: a retry replaces its file."""
    data = message.as_bytes()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        final = directory / f"{hashlib.sha256(message.msgId.encode()).hexdigest()[:32]}.eml"
        write_file(final, data)
    except OSError as exc:
        raise MailError(f"the outbox folder could not be written ({type(exc).__name__})", permanent=False) from None
    flask_mail.email_dispatched.send(current_app._get_current_object(),  # type: ignore[attr-defined]
                                     message=message)  # as Flask-Mail does, so record_messages() sees it
    return final


@periodic(every=3600)
def purge_outbox() -> None:
    """Messages written to the outbox folder (no ``PORTAL_SMTP_URL``) are plain text with names and
    request details: each is removed ``PORTAL_OUTBOX_DAYS`` after it was written."""
    settings: Settings = current_settings()
    cutoff = time.time() - settings.outbox_days * 86400
    try:
        files = list(settings.outbox_dir.glob("*.eml"))
    except OSError:
        return
    for path in files:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue
