"""The outcomes of requests and the portal's own messages on their timelines, worded when read
(see portal.i18n.statements): a request's page, the DPO's case, the e-mails and the PDFs each
say them in their reader's language. Parameters are references, counts, register keys and the
jurisdiction; the register's category names are read when worded (the register is kept in one
language) and the legal wording comes from the jurisdiction registry through ``wording``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import select

from portal.extensions import db
from portal.i18n import complaint_to, format_number, wording
from portal.i18n.statements import renders
from portal.jurisdictions import regime_for
from portal.jurisdictions.kinds import RequestType
from portal.monitoring.models import DataCategory

COPY_READY = "request.copy-ready"
COPY_MADE = "request.copy-made"
RECTIFIED = "request.rectified"  # before recipients were given tasks: kept for the rows that say so
RECTIFICATION_RECORDED = "request.rectification-recorded"
RESTRICTED = "request.restricted"
OBJECTION_UPHELD = "request.objection-upheld"
ERASED = "request.erased"
ERASED_NOTICE = "request.erased-notice"
ERASURE_RESUMED = "request.erasure-resumed"
DUPLICATE = "request.duplicate"

# The general legal basis for keeping data under a hold, where a regime states none of its own.
HOLD_BASIS = "the data is needed for the establishment, exercise or defence of legal claims"


def hold_basis(jurisdiction: str | None) -> str:
    """The legal basis for keeping data under a legal hold, in the regime's own terms (the
    registry's ``legal_hold_reason``), as stored in a request's result and its certificate."""
    return regime_for(jurisdiction).citations.get("legal_hold_reason") or HOLD_BASIS


def hold_basis_wording(text: str | None) -> str:
    """A stored hold basis (:func:`hold_basis`) in the reader's language."""
    return wording(text) if text else ""


def _names() -> dict[str, str]:
    return {c.key: c.name for c in db.session.scalars(select(DataCategory))}


def how_to_complain(jurisdiction: str | None) -> str:
    """Where the person may complain about data being kept. Where the law wants a request to the
    controller first (Colombia, Brazil), this erasure request was it."""
    regime = regime_for(jurisdiction)
    if regime.complain_first:
        return gettext("If you disagree, you may complain to %(authority)s: this request was the request to the "
                       "controller that %(law)s requires first.", authority=complaint_to(regime),
                       law=regime.complain_first)
    return gettext("If you disagree, you may complain to %(authority)s.", authority=complaint_to(regime))


def held_sentence(jurisdiction: str | None, held: Mapping[str, int]) -> str:
    """What the requester reads about the data a legal hold kept: which, why (the legal basis),
    what happens when the hold is lifted, and how to complain."""
    names = _names()
    listed = ", ".join(f"{names.get(key, key)} ({format_number(count)})" for key, count in sorted(held.items()))
    return gettext("Some of your data is under a legal hold and was not erased: %(listed)s. It is kept blocked "
                   "(stored, not used for anything else) until the hold is lifted; the portal then erases it as "
                   "this request asked and tells you. Legal basis: %(basis)s. %(complain)s", listed=listed,
                   basis=hold_basis_wording(hold_basis(jurisdiction)), complain=how_to_complain(jurisdiction))


@renders(COPY_READY)
def _copy_ready(p: Mapping[str, Any]) -> str:
    days = int(p.get("days") or 0)
    return ngettext("A complete copy of your data is ready: download it from the request's page or from your "
                    "exports within %(num)s day.",
                    "A complete copy of your data is ready: download it from the request's page or from your "
                    "exports within %(num)s days.", days)


@renders(COPY_MADE)
def _copy_made(p: Mapping[str, Any]) -> str:
    return gettext("A complete copy was made available for download.")


@renders(RECTIFIED)
def _rectified(p: Mapping[str, Any]) -> str:
    return gettext("Your correction is recorded alongside the original data. The portal does not send it to the "
                   "teams and systems that received the data: the Data Protection Officer can tell you which of "
                   "them hold it.")


@renders(RECTIFICATION_RECORDED)
def _rectification_recorded(p: Mapping[str, Any]) -> str:
    return gettext("Your correction is recorded alongside the original data.")


@renders(RESTRICTED)
def _restricted(p: Mapping[str, Any]) -> str:
    return gettext("Your data is kept but restricted: it is excluded from processing and from AI training.")


@renders(OBJECTION_UPHELD)
def _objection(p: Mapping[str, Any]) -> str:
    purpose = p.get("purpose")
    if purpose == "analytics":
        return gettext("Your objection is upheld: your data is no longer used for productivity analytics or "
                       "profiling. The exclusion is on the list that the systems using the data read.")
    if purpose == "security_monitoring":
        return gettext("Your objection is upheld: your data is no longer used for security monitoring. The "
                       "exclusion is on the list that the systems using the data read.")
    return gettext("Your objection is upheld: your data is no longer used for AI training.")


@renders(ERASED)
def _erased(p: Mapping[str, Any]) -> str:
    parts = [gettext("Your data was erased and its key destroyed.") if p.get("key_destroyed")
             else gettext("Your data was erased.")]
    if p.get("removal_required"):
        parts.append(gettext("The records of which AI training sets and models used your data are kept, as "
                             "evidence, and marked “removal required”: the portal does not itself remove data from "
                             "training sets or from models already trained on them."))
    held = p.get("held") or {}
    if held:
        parts.append(held_sentence(p.get("jurisdiction"), held))
    return " ".join(parts)


@renders(ERASED_NOTICE)
def _erased_notice(p: Mapping[str, Any]) -> str:
    """What an erasure that left nothing means for another open request of the same person."""
    ref = p.get("ref", "")
    kind = p.get("type")
    if kind in (RequestType.ACCESS.value, RequestType.PORTABILITY.value):
        return gettext("Your erasure %(ref)s has been carried out: your monitoring data is deleted. The copy this "
                       "request gives you will hold what remains about you (your requests, your consent history "
                       "and who accessed your data).", ref=ref)
    if kind == RequestType.RECTIFICATION.value:
        text = gettext("Your erasure %(ref)s has been carried out: the monitoring data this request asks to correct "
                       "is deleted, so there is nothing left to correct.", ref=ref)
    elif kind == RequestType.RESTRICTION.value:
        text = gettext("Your erasure %(ref)s has been carried out: the monitoring data this request asks to restrict "
                       "is deleted, so nothing of it can be used any more.", ref=ref)
    elif kind == RequestType.OBJECTION.value:
        text = gettext("Your erasure %(ref)s has been carried out: the monitoring data this request objects to is "
                       "deleted, so nothing of it can be used any more, for AI training or anything else.", ref=ref)
    else:
        text = gettext("Your erasure %(ref)s has been carried out and deleted all of your monitoring data.", ref=ref)
    return f"{text} {gettext('The Data Protection Officer handling this request sees this message on the case.')}"


@renders(ERASURE_RESUMED)
def _erasure_resumed(p: Mapping[str, Any]) -> str:
    """A lifted legal hold let an erasure carry on: what it erased now, and what is still held."""
    names = _names()
    erased: Mapping[str, int] = p.get("erased") or {}
    listed = ", ".join(
        gettext("%(category)s (%(num)s deleted)", category=names.get(c, c), num=format_number(erased.get(c, 0)))
        if c != "ai_training_use" else
        gettext("%(category)s (%(num)s kept as evidence, marked “removal required”)", category=names.get(c, c),
                num=format_number(int(p.get("marked") or 0)))
        for c in p.get("categories") or [])
    parts = [gettext("The legal hold on part of your data has been lifted, and your erasure %(ref)s has now been "
                     "carried out for what it kept: %(listed)s.", ref=p.get("ref", ""), listed=listed)]
    if p.get("key_destroyed"):
        parts.append(gettext("Nothing of your monitoring data is left, and its key has been destroyed."))
    still_held = p.get("still_held") or {}
    if still_held:
        parts.append(held_sentence(p.get("jurisdiction"), still_held))
    parts.append(gettext("Your deletion certificate shows the new counts."))
    return " ".join(parts)


@renders(DUPLICATE)
def _duplicate(p: Mapping[str, Any]) -> str:
    return gettext("This repeats the open request %(ref)s; both are kept and handled together.", ref=p.get("ref", ""))
