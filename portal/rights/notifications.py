"""What the request e-mails may say: the template variables for a request, loaded at send time.

:mod:`portal.rights.services` queues ``notify(template, recipient_id=..., refs={"request": id})``;
the mail job calls :func:`load_request` when it sends, so a message says what the request is *then*
(its deadline after an extension, its outcome once complete). The values are plain strings and
flags, already worded for people. Templates: ``templates/mail/request_*.txt`` (to the requester)
and ``templates/mail/dpo_*.txt`` (to staff: the reference, type, jurisdiction, deadline and a
link, never the requester's name or what they wrote). No message body is ever put in an e-mail:
the mail says there is one and links to the page behind the sign-in.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from portal.config import current_settings
from portal.db import utcnow
from portal.extensions import db
from portal.i18n import complaint_to, format_date, ground_wording
from portal.jurisdictions import regime_for
from portal.mail.services import context_loader

from . import deadlines
from .models import DataRequest, RequestType
from .services import STAFF_STATE_LABELS, STAFF_TYPE_LABELS, STATE_LABELS, TYPE_LABELS


def supervisory_authority(jurisdiction: str) -> str:
    """The authority a requester in ``jurisdiction`` may complain to, named for a sentence
    ("You may complain to ..."), from the registry."""
    return complaint_to(regime_for(jurisdiction))


def long_date(value: date | None) -> str:
    """``12 March 2026``, ``12 de marzo de 2026``: the month named, in the reader's language."""
    return format_date(value, "long")


def request_urls(request_id: str) -> tuple[str, str]:
    """The requester's page and the DPO's case page, as absolute links for e-mail."""
    base = str(current_settings().base_url).rstrip("/")
    return f"{base}/me/requests/{request_id}", f"{base}/dpo/requests/{request_id}"


@context_loader("request")
def load_request(request_id: str) -> dict[str, Any]:
    """The template variable ``request``: plain values, worded for people. Raises ``LookupError``
    when the request is gone (the message is then given up, not retried)."""
    request = db.session.get(DataRequest, request_id)
    if request is None:
        raise LookupError(request_id)
    kind, state = request.type, request.state
    request_url, case_url = request_urls(request.id)
    settings = current_settings()
    due = request.effective_due
    left = deadlines.days_left(due, utcnow().date()) if due is not None else None
    return {
        "reference": request.reference,
        "type": str(TYPE_LABELS[kind]),
        "staff_type": str(STAFF_TYPE_LABELS[kind]),
        "type_code": kind.value,
        "is_erasure": kind == RequestType.ERASURE,
        "state": str(STATE_LABELS[state]),
        "staff_state": str(STAFF_STATE_LABELS[state]),
        "state_code": state.value,
        "jurisdiction": request.jurisdiction,
        "regime": request.regime or "",
        "received": long_date(request.received_at.date() if request.received_at else None),
        "due": long_date(request.effective_due),
        "first_due": long_date(request.due_on),
        "days_left": left,  # at send time: 0 on the day, negative when overdue, None without a deadline
        "overdue": left is not None and left < 0,
        "extended": request.extended_due_on is not None,
        "extension_reason": request.extension_reason or "",
        "outcome": request.outcome or "",
        "legal_basis": ground_wording(request.jurisdiction, request.legal_basis),
        "decision_text": request.decision_text or "",
        "authority": supervisory_authority(request.jurisdiction),
        "complain_first": regime_for(request.jurisdiction).complain_first or "",
        "dpo_contact": settings.dpo_contact or "",
        "request_url": request_url,
        "case_url": case_url,
    }

