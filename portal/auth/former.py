"""The former-employee path: a one-time code sent to the personal e-mail on record, and the
limited session it opens (see docs/architecture.md, "Leavers and former employees").

Asking for a code does the same work whether or not the address is a former employee's: a code
is drawn and hashed, a row is written, the message is rendered and handed to a sender thread;
only the thread's last step (sending) is skipped for an unknown address. So the answer is the
same, in the same time, and the page says nothing about who is on record.

The code is kept only as a keyed hash bound to its row. That is why its message is the one e-mail
not sent as a job (jobs are durable and would have to keep the code): a thread sends it right
after the commit, and if sending fails the person asks for another code.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask, Response, after_this_request, current_app, has_request_context
from sqlalchemy import delete, update

from portal.audit.services import Actor, record
from portal.auth.models import AuthSession, CodePurpose, EmailCode, SignInMethod
from portal.auth.services import describe_device
from portal.crypto import blind_index
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.jobs.runners import periodic
from portal.mail import services as mail
from portal.people import services as people
from portal.people.models import Employee

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
SESSION_LIFETIME = timedelta(hours=1)
MAIL_TEMPLATE = "former_code"
_THREADS = "portal.former_mail_threads"


class CodeRequestRefused(ValueError):
    """The address given is not an e-mail address (said the same way for everyone)."""


class CodeRefused(Exception):
    """A code was not accepted. ``reason``: ``wrong`` (``tries_left`` more), ``locked`` (too many
    wrong tries), ``expired``, ``used``, ``unknown``."""

    def __init__(self, reason: str, tries_left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left


@dataclass(frozen=True)
class Delivery:
    """A rendered code message, and where it goes (None: an address not on record, nothing is sent)."""

    code_id: str
    to_address: str | None
    subject: str
    body: str


def address_key(address: str) -> str:
    """The keyed index of an address as typed: rate limits and code rows count by it."""
    return blind_index("personal-email", address)


def _code_hash(code_id: str, code: str) -> str:
    return blind_index("former-code", f"{code_id}\n{code}", fold_case=False)


def request_code(address: str, *, purpose: CodePurpose = CodePurpose.SIGN_IN,
                 auth_session: AuthSession | None = None) -> tuple[EmailCode, Delivery]:
    """Draw a code for ``address``; the caller commits, then passes the delivery to :func:`send_later`.

    For a sign-in the address is the one typed; for a step-up it is the signed-in former employee's
    personal e-mail on record (``auth_session`` is theirs)."""
    address = (address or "").strip()
    if not people.EMAIL.match(address) or len(address) > 254:
        raise CodeRequestRefused("Please enter an e-mail address, such as name@example.net.")
    employee = people.find_former_by_personal_email(address)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    row = EmailCode(id=new_id(), address_index=address_key(address), employee_id=employee.id if employee else None,
                    session_id=auth_session.id if auth_session is not None else None, purpose=purpose,
                    expires_at=utcnow() + CODE_LIFETIME, tries=0)
    row.code_hash = _code_hash(row.id, code)
    db.session.add(row)
    db.session.flush()
    record("auth:former-code:issue", actor=Actor.anonymous() if auth_session is None else Actor("employee", row.employee_id),
           subject_id=row.employee_id, targets={"code": row.id[:8]}, details={"purpose": purpose.value})
    rendered = mail.render(MAIL_TEMPLATE, {
        "code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60), "tries": MAX_TRIES,
        "step_up": purpose == CodePurpose.STEP_UP, "base_url": current_app.config["PORTAL_SETTINGS"].base_url,
    })
    return row, Delivery(row.id, address if employee is not None else None, rendered.subject, rendered.body)


def send_later(delivery: Delivery) -> None:
    """Send the code message from a thread of its own, started once the answer has gone out (when
    the server closes the response), so that sending takes none of the answer's time. A thread is
    started for unknown addresses too; it sends nothing."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]

    def start() -> None:
        thread = threading.Thread(target=_deliver, args=(app, delivery), name="former-code-mail", daemon=True)
        threads: set[threading.Thread] = app.extensions.setdefault(_THREADS, set())
        threads.add(thread)
        thread.start()

    if not has_request_context():
        start()
        return

    @after_this_request
    def when_answered(response: Response) -> Response:
        response.call_on_close(start)
        return response


def wait_for_mail(app: Flask, timeout: float = 10.0) -> None:
    """Wait until every code message handed over so far has been sent (or failed)."""
    for thread in list(app.extensions.get(_THREADS, ())):
        thread.join(timeout)


def _deliver(app: Flask, delivery: Delivery) -> None:
    try:
        if delivery.to_address is None:
            return
        with app.app_context():
            try:
                mail.send_now(delivery.to_address, delivery.subject, delivery.body)
            except mail.MailError as exc:
                log.warning("a former employee's code could not be sent: %s", exc.reason)
                outcome = {"sent": False, "reason": exc.reason}
            else:
                outcome = {"sent": True}
            try:
                record("auth:former-code:mail", actor=Actor.system(), targets={"code": delivery.code_id[:8]},
                       details=outcome)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("the sending of a former employee's code could not be audited")
            finally:
                db.session.remove()
    finally:
        app.extensions.get(_THREADS, set()).discard(threading.current_thread())


def verify_code(code_id: str, code: str, *, purpose: CodePurpose,
                auth_session: AuthSession | None = None) -> Employee:
    """Check ``code`` against the code row ``code_id``; each call counts as a try, whatever its
    outcome, in one conditional update (two at once cannot both take the last try). The caller
    commits in every case, so a wrong try is kept. Raises :class:`CodeRefused`."""
    now = utcnow()
    row = db.session.get(EmailCode, code_id)
    if row is None or row.purpose != purpose or (
            purpose == CodePurpose.STEP_UP and (auth_session is None or row.session_id != auth_session.id)):
        raise CodeRefused("unknown")
    taken = db.session.execute(
        update(EmailCode)
        .where(EmailCode.id == row.id, EmailCode.used_at.is_(None), EmailCode.tries < MAX_TRIES,
               EmailCode.expires_at > now)
        .values(tries=EmailCode.tries + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(row)
    targets = {"code": row.id[:8]}
    if not getattr(taken, "rowcount", 0):
        reason = "used" if row.used_at is not None else "locked" if row.tries >= MAX_TRIES else "expired"
        _audit_refusal(row, reason, targets)
        raise CodeRefused(reason)
    matches = hmac.compare_digest(row.code_hash, _code_hash(row.id, code.strip()))
    employee = db.session.get(Employee, row.employee_id) if row.employee_id else None
    if not matches or employee is None or not employee.is_former:
        left = MAX_TRIES - row.tries
        _audit_refusal(row, "wrong" if left else "locked", targets)
        raise CodeRefused("wrong" if left else "locked", tries_left=left)
    used = db.session.execute(
        update(EmailCode).where(EmailCode.id == row.id, EmailCode.used_at.is_(None)).values(used_at=now)
        .execution_options(synchronize_session=False))
    if not getattr(used, "rowcount", 0):
        _audit_refusal(row, "used", targets)
        raise CodeRefused("used")
    record("auth:former-code:verify", actor=Actor("employee", employee.id), subject_id=employee.id,
           targets=targets, details={"purpose": CodePurpose(row.purpose).value, "tries": row.tries})
    return employee


def _audit_refusal(row: EmailCode, reason: str, targets: dict[str, str]) -> None:
    record("auth:former-code:refused", actor=Actor.anonymous(), subject_id=row.employee_id, targets=targets,
           details={"purpose": CodePurpose(row.purpose).value, "reason": reason, "tries": row.tries})


def start_session(employee: Employee, *, user_agent: str, replaces: str | None = None) -> AuthSession:
    """A former employee's limited session, opened by a verified code."""
    from portal.auth.services import end_session

    now = utcnow()
    if replaces:
        end_session(replaces, reason="re-authenticated")
    auth_session = AuthSession(id=secrets.token_urlsafe(32), employee_id=employee.id, identity_id=None,
                               method=SignInMethod.EMAIL_CODE, auth_time=now, stepped_up_at=now, last_seen_at=now,
                               expires_at=now + SESSION_LIFETIME, device=describe_device(user_agent)[:80])
    db.session.add(auth_session)
    db.session.flush()
    record("auth:session:start", actor=Actor("employee", employee.id), subject_id=employee.id,
           targets={"session": auth_session.id[:8]}, details={"method": SignInMethod.EMAIL_CODE.value})
    return auth_session


def refresh(auth_session: AuthSession, *, now: datetime | None = None) -> None:
    """A fresh code was verified in this session: sensitive actions are open again for a while
    (a code typed now is an authentication the portal asked for, as an SSO step-up is)."""
    auth_session.auth_time = auth_session.stepped_up_at = now or utcnow()
    record("auth:session:step-up", actor=Actor("employee", auth_session.employee_id),
           subject_id=auth_session.employee_id, targets={"session": auth_session.id[:8]},
           details={"method": SignInMethod.EMAIL_CODE.value})


@periodic(every=3600)
def purge_codes() -> int:
    """Code rows a day past their expiry go (their address index with them)."""
    result = db.session.execute(delete(EmailCode).where(EmailCode.expires_at < utcnow() - timedelta(days=1)))
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
