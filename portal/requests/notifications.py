"""What the request e-mails may say: the template variables for a request, loaded at send time.

:mod:`portal.requests.services` queues ``notify(template, recipient_id=..., refs={"request": id})``;
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

from flask import current_app

from portal.db import utcnow
from portal.extensions import db
from portal.mail.services import context_loader

from . import deadlines
from .models import LEGAL_BASIS_LABELS, DataRequest, LegalBasis, RequestState, RequestType
from .services import STATE_LABELS, TYPE_LABELS

# Who a requester may complain to (GDPR Art. 77; Cal. Civ. Code §1798.199.10 ff.; Ley 1581
# Art. 19; LGPD Art. 55-J), by jurisdiction.
AUTHORITIES: dict[str, str] = {
    "ES": "the Agencia Española de Protección de Datos (AEPD), www.aepd.es",
    "US-CA": "the California Privacy Protection Agency (CPPA), cppa.ca.gov",
    "CO": "the Superintendencia de Industria y Comercio (SIC), www.sic.gov.co",
    "BR": "the Autoridade Nacional de Proteção de Dados (ANPD), www.gov.br/anpd",
}
EU_AUTHORITY = ("the data protection supervisory authority of the EU/EEA country where you live or work "
                "(GDPR Art. 77)")
ANY_AUTHORITY = "the data protection authority where you live or work"

# The requester-facing labels say "Waiting for you"; staff read the state from their side.
STAFF_STATE_LABELS = {**STATE_LABELS, RequestState.AWAITING_REQUESTER: "Waiting for the requester",
                      RequestState.FAILED: "Failed (retry it)"}

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def supervisory_authority(jurisdiction: str) -> str:
    """The authority a requester in ``jurisdiction`` may complain to, named for a sentence
    ("You may complain to ...")."""
    code = (jurisdiction or "").strip().upper()
    country = code.split("-", 1)[0]
    if code in AUTHORITIES:
        return AUTHORITIES[code]
    if country in AUTHORITIES:  # a region of Spain, Colombia or Brazil
        return AUTHORITIES[country]
    # deadlines knows which countries GDPR covers (Spain has its own regime name and is named above).
    if deadlines.deadline_for(code, RequestType.ACCESS, date(2000, 1, 3)).regime == "GDPR":
        return EU_AUTHORITY
    return ANY_AUTHORITY


def long_date(value: date | None) -> str:
    """``12 March 2026``: unambiguous wherever the reader lives (no locale involved)."""
    if value is None:
        return ""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def request_urls(request_id: str) -> tuple[str, str]:
    """The requester's page and the DPO's case page, as absolute links for e-mail."""
    base = str(current_app.config["PORTAL_SETTINGS"].base_url).rstrip("/")
    return f"{base}/me/requests/{request_id}", f"{base}/dpo/requests/{request_id}"


def _legal_basis_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return LEGAL_BASIS_LABELS[LegalBasis(value)]
    except ValueError:
        return value


@context_loader("request")
def load_request(request_id: str) -> dict[str, Any]:
    """The template variable ``request``: plain values, worded for people. Raises ``LookupError``
    when the request is gone (the message is then given up, not retried)."""
    request = db.session.get(DataRequest, request_id)
    if request is None:
        raise LookupError(request_id)
    kind = RequestType(request.type)
    state = RequestState(request.state)
    request_url, case_url = request_urls(request.id)
    settings = current_app.config["PORTAL_SETTINGS"]
    due = request.effective_due
    left = deadlines.days_left(due, utcnow().date()) if due is not None else None
    return {
        "reference": request.reference,
        "type": TYPE_LABELS[kind],
        "type_code": kind.value,
        "is_erasure": kind == RequestType.ERASURE,
        "state": STATE_LABELS[state],
        "staff_state": STAFF_STATE_LABELS[state],
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
        "legal_basis": _legal_basis_label(request.legal_basis),
        "decision_text": request.decision_text or "",
        "authority": supervisory_authority(request.jurisdiction),
        "dpo_contact": settings.dpo_contact or "",
        "request_url": request_url,
        "case_url": case_url,
    }

