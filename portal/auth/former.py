"""The former-employee path: a one-time code sent to the personal e-mail on record, and the
limited session it opens (see docs/architecture.md, "Leavers and former employees").

Asking for a code does the same work whether or not the address is a former employee's: a code
is drawn, hashed and sealed, a code row and a mail job are written in the same transaction, and
the job is dispatched once the answer is out. Only the job, later, finds nothing to send for an
unknown address. So the answer is the same, in the same time, and the page says nothing about who
is on record.

The code row keeps only the code's keyed hash. The job keeps the code sealed under a key derived
from the master key for this purpose, bound to the code row, so that it survives a crash and is
retried like every other mail; the sealed code is wiped from the job once it has been sent or given
up, and a code that expired or was used before it could be sent is never sent.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import Response, after_this_request, has_request_context
from flask_babel import force_locale, get_locale
from sqlalchemy import delete, update

from portal.audit.services import Actor, record
from portal.auth.models import AuthSession, CodePurpose, EmailCode, SignInMethod
from portal.auth.services import describe_device
from portal.config import current_settings
from portal.crypto import blind_index
from portal.crypto.keys import SealError, purpose_cipher
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.i18n import DEFAULT, match
from portal.jobs import services as jobs
from portal.jobs.models import Job
from portal.jobs.runners import periodic, runner
from portal.mail import services as mail
from portal.people import services as people
from portal.people.models import Employee

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
SESSION_LIFETIME = timedelta(hours=1)
MAIL_TEMPLATE = "former_code"
MAIL_KIND = "auth.former-code-mail"
MAIL_ATTEMPTS = 5  # backoff 5, 10, 20, 40 s: within the code's ten minutes
_SEALED = "former-code-mail"  # the purpose the code is sealed for in its job


class CodeRequestRefused(ValueError):
    """The address given is not an e-mail address (said the same way for everyone)."""


class CodeRefused(Exception):
    """A code was not accepted. ``reason``: ``wrong`` (``tries_left`` more), ``locked`` (too many
    wrong tries), ``expired``, ``used``, ``unknown``."""

    def __init__(self, reason: str, tries_left: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left


def address_key(address: str) -> str:
    """The keyed index of an address as typed: rate limits and code rows count by it."""
    return blind_index("personal-email", address)


def _code_hash(code_id: str, code: str) -> str:
    return blind_index("former-code", f"{code_id}\n{code}", fold_case=False)


def request_code(address: str, *, purpose: CodePurpose = CodePurpose.SIGN_IN,
                 auth_session: AuthSession | None = None) -> tuple[EmailCode, str]:
    """Draw a code for ``address`` and queue its message; returns the code row and the mail job's
    id. The caller commits, then hands the job id to :func:`send_later`.

    For a sign-in the address is the one typed; for a step-up it is the signed-in former employee's
    personal e-mail on record (``auth_session`` is theirs). The job is written for an unknown
    address too, alike: only when it runs does it find nobody to write to."""
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
    sealed = base64.b64encode(purpose_cipher(_SEALED).seal_text(row.id, code)).decode()
    job = jobs.enqueue(MAIL_KIND, params={"code_id": row.id, "sealed": sealed, "language": str(get_locale() or DEFAULT)},
                       max_attempts=MAIL_ATTEMPTS, dispatch=False)
    return row, job.id


def send_later(job_id: str) -> None:
    """Dispatch the code's mail job once the answer has gone out, so that sending takes none of the
    answer's time; outside a request, at once. The job is committed already: if this dispatch is
    lost (a crash), the job system's sweep runs it.

    "Out" is whichever comes first: the server has taken the last of the body, or it closes the
    response. Both are needed: a server may skip the close (werkzeug's, behind ``make run``, does
    when the browser resets the connection while it drains it, as happens after a redirect), and a
    body may never be read to its end (HEAD, a client gone)."""
    target = runner()
    sent = threading.Lock()

    def dispatch() -> None:
        if not sent.acquire(blocking=False):
            return  # once
        try:
            target.dispatch(job_id)
        except Exception:
            log.exception("a former employee's code mail could not be dispatched; the sweep will run it")

    if not has_request_context():
        dispatch()
        return

    def then_dispatch(body: Iterable[bytes]) -> Iterator[bytes]:
        yield from body
        dispatch()

    @after_this_request
    def when_answered(response: Response) -> Response:
        response.response = then_dispatch(response.iter_encoded())
        response.call_on_close(dispatch)
        return response


def _wipe_sealed_code(job_id: str) -> None:
    """The code has been sent, or never will be: the job keeps no form of it."""
    job = db.session.get(Job, job_id)
    if job is not None and "sealed" in (job.params or {}):
        job.params = {k: v for k, v in job.params.items() if k != "sealed"}


def _code_mail_given_up(job: Job, reason: str) -> None:
    _wipe_sealed_code(job.id)
    row = db.session.get(EmailCode, str((job.params or {}).get("code_id", "")))
    if row is not None and row.employee_id is not None:
        record("auth:former-code:mail", actor=Actor.system(), targets={"code": row.id[:8], "job": job.id},
               details={"sent": False, "reason": reason})


@jobs.handler(MAIL_KIND, on_give_up=_code_mail_given_up)
def send_code_job(ctx: jobs.JobContext) -> dict[str, Any]:
    """Send a code's message to the personal e-mail on record, while the code can still be used.
    For an address not on record there is nobody to write to: the job ends, sending nothing."""
    row = db.session.get(EmailCode, str(ctx.params.get("code_id", "")))
    if row is None:
        raise jobs.JobError("the code no longer exists; nothing was sent", retry=False)
    result = {"code": row.id[:8]}
    if row.employee_id is None:
        _wipe_sealed_code(ctx.job_id)
        return result
    if row.used_at is not None or row.expires_at <= utcnow():
        raise jobs.JobError("the code expired or was used before its message could be sent; nothing was sent",
                            retry=False)
    employee = db.session.get(Employee, row.employee_id)
    try:
        address = employee.personal_email if employee is not None and employee.is_former else None
        code = purpose_cipher(_SEALED).open_text(row.id, base64.b64decode(str(ctx.params.get("sealed", ""))))
    except (SealError, ValueError):
        raise jobs.JobError("the code could not be read back; nothing was sent", retry=False) from None
    if not address:
        raise jobs.JobError("the person has no personal e-mail on record any more; nothing was sent", retry=False)
    language = match(str(ctx.params.get("language") or "")) or DEFAULT
    settings = current_settings()
    with force_locale(language):
        rendered = mail.render(MAIL_TEMPLATE, {
            "code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60), "tries": MAX_TRIES,
            "step_up": row.purpose == CodePurpose.STEP_UP, "base_url": settings.base_url,
        })
    try:
        mail.send_now(address, rendered.subject, rendered.body, html=rendered.html,
                      message_id=mail.message_id_for(ctx.job_id, settings))
    except mail.MailError as exc:
        log.warning("a former employee's code could not be sent (attempt %d): %s", ctx.attempt, exc.reason)
        raise jobs.JobError(exc.reason, retry=not exc.permanent) from None
    _wipe_sealed_code(ctx.job_id)
    record("auth:former-code:mail", actor=Actor.system(), targets={"code": row.id[:8], "job": ctx.job_id},
           details={"sent": True, "attempt": ctx.attempt})
    return result


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
           targets=targets, details={"purpose": row.purpose.value, "tries": row.tries})
    return employee


def _audit_refusal(row: EmailCode, reason: str, targets: dict[str, str]) -> None:
    record("auth:former-code:refused", actor=Actor.anonymous(), subject_id=row.employee_id, targets=targets,
           details={"purpose": row.purpose.value, "reason": reason, "tries": row.tries})


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
