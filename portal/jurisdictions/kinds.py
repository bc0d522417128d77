"""The kinds of request, as objects: what each is called for each audience, what it asks of the
form, whether it needs a fresh sign-in, how it is fulfilled, and which CPRA §7102 request it
counts as. What a kind means *in law* (its citation, its deadline, the grounds to refuse it) is
per regime, in :mod:`portal.jurisdictions.registry`.

Adding a kind: one :class:`RequestKind` here, a :class:`RequestType` value, and one migration
(the ``type`` column's CHECK constraint lists the values).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


class RequestType(enum.StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class Cpra(enum.StrEnum):
    """The requests of 11 CCR §7102(a)(1) (the CPRA metrics), which a kind is reported as."""

    KNOW = "request to know"
    DELETE = "request to delete"
    CORRECT = "request to correct"
    OPT_OUT = "request to opt-out of sale/sharing"
    LIMIT = "request to limit"


@dataclass(frozen=True)
class RequestKind:
    type: RequestType
    employee_label: LazyString  # the requester's pages and e-mails: "Access (a copy of my data)"
    staff_label: LazyString  # the DPO's queue, case page, reports: "Access"
    explanation: LazyString  # one sentence, where the right is offered
    form: str  # which form asks for it (portal.rights.views.employee_forms)
    scope: str | None  # "categories" (which data, which dates), "purpose" (AI training), or None
    step_up: bool  # filing it needs a fresh sign-in
    fulfilment: str  # "export", "erasure-job", "rectification", "restriction", "objection"
    cpra: Cpra  # what a California request of this kind is (see registry: US-CA deadlines)
    right_name: str  # the right it exercises, named in evidence: "Right of access"

    @property
    def value(self) -> str:
        return self.type.value

    @property
    def email_label(self) -> LazyString:
        return self.employee_label

    @property
    def report_label(self) -> LazyString:
        return self.staff_label


KINDS: tuple[RequestKind, ...] = (
    RequestKind(RequestType.ACCESS, _l("Access (a copy of my data)"), _l("Access"),
                _l("Get a copy of all the monitoring data held about you, with why it is processed, who receives "
                   "it and how long it is kept."),
                "description", None, False, "export", Cpra.KNOW, "Right of access"),
    RequestKind(RequestType.PORTABILITY, _l("Portability (my data, machine-readable)"), _l("Portability"),
                _l("Get the data you provided in a structured, machine-readable format you can take to another "
                   "service."),
                "description", None, False, "export", Cpra.KNOW, "Right to data portability"),
    RequestKind(RequestType.ERASURE, _l("Erasure"), _l("Erasure"),
                _l("Have your monitoring data deleted and its encryption key destroyed, unless the law requires it "
                   "to be kept."),
                "erasure", "categories", True, "erasure-job", Cpra.DELETE, "Right to erasure"),
    RequestKind(RequestType.RECTIFICATION, _l("Rectification (correct my data)"), _l("Rectification"),
                _l("Have data about you that is wrong or incomplete corrected."),
                "rectification", None, False, "rectification", Cpra.CORRECT, "Right to rectification"),
    # Restriction (keep but do not use) and an objection to AI training both ask to stop a use of
    # data that includes screenshots, which can show the contents of messages: sensitive personal
    # information (Cal. Civ. Code §1798.140(ae)(1)(E)). A Californian's is at least a request to
    # limit its use (§1798.121), with §7027(g)'s 15 business days. The portal neither sells nor
    # shares data, so no kind is a request to opt out of sale/sharing.
    RequestKind(RequestType.RESTRICTION, _l("Restriction (keep but do not use)"), _l("Restriction"),
                _l("Have your data kept but no longer used (for example while its accuracy is checked)."),
                "restriction", "categories", False, "restriction", Cpra.LIMIT, "Right to restriction of processing"),
    RequestKind(RequestType.OBJECTION, _l("Objection"), _l("Objection"),
                _l("Object to the use of your data for training AI models, on grounds of your particular "
                   "situation."),
                "objection", "purpose", True, "objection", Cpra.LIMIT, "Right to object"),
)

_BY_TYPE = {k.type: k for k in KINDS}


def kind(value: RequestType | str) -> RequestKind:
    """The kind of ``value``; ``ValueError`` for a value that is none."""
    return _BY_TYPE[RequestType(value)]


assert set(_BY_TYPE) == set(RequestType)  # noqa: S101 - every type has exactly one kind
