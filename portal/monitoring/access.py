"""Access records: each time staff open an employee's monitoring data or export it for them.

The employee sees when, what, why and for which case, and the kind of role that acted; never
who (CJEU C-579/21, Pankki S: the identity of the staff member is not part of the right of
access, although the DPO can be asked). ``accessor_id`` is kept for the audit trail only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.services import Actor, record
from portal.extensions import db
from portal.i18n.statements import render, renders
from portal.monitoring.models import AccessAction, AccessRecord

ACCESSOR_ROLES = ("dpo", "admin", "auditor", "system")
PAGE_SIZE = 25


class AccessRecordError(ValueError):
    """An access record was refused; nothing was written."""


@dataclass(frozen=True)
class AccessEntry:
    """What the employee may see of one access record: deliberately without ``accessor_id``."""

    id: int
    accessed_at: datetime
    action: str
    accessor_role: str
    purpose: str
    case_ref: str | None


@dataclass(frozen=True)
class AccessPage:
    entries: list[AccessEntry]
    page: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def role_label(accessor_role: str) -> str:
    """How a person reads who accessed their data (the role, never the name; CJEU C-579/21): the
    access log, the export's index.html and report.pdf all say it this way."""
    labels = {"dpo": gettext("Data Protection Officer"), "admin": gettext("Privacy administrator"),
              "auditor": gettext("Auditor")}
    return labels.get(accessor_role, gettext("Automated process"))


# The portal's own purposes, stored as statements (portal.i18n.statements) and worded in the
# reader's language: the employee on their access log, in their export's report.pdf and index.html.
HANDLING_REQUEST = "access.handling-request"
LEGAL_CLAIMS = "access.legal-claims"
SHELL_COPY = "access.shell-copy"
ANSWERING_ACCESS = "access.answering-access-request"
PORTABILITY_EXPORT = "access.portability-export"
SECURITY_INVESTIGATION = "access.security-investigation"
REVIEWING_OBJECTION = "access.reviewing-objection"


@renders(HANDLING_REQUEST)
def _handling(p: Mapping[str, Any]) -> str:
    return gettext("Handling request %(ref)s", ref=p.get("ref", ""))


@renders(LEGAL_CLAIMS)
def _legal_claims(p: Mapping[str, Any]) -> str:
    return gettext("Legal claims (%(matter)s), request %(ref)s", matter=p.get("matter", ""), ref=p.get("ref", ""))


@renders(SHELL_COPY)
def _shell_copy(p: Mapping[str, Any]) -> str:
    return gettext("Copy of the data made by an operator from the shell")


@renders(ANSWERING_ACCESS)
def _answering_access(p: Mapping[str, Any]) -> str:
    return gettext("Answering your access request")


@renders(PORTABILITY_EXPORT)
def _portability_export(p: Mapping[str, Any]) -> str:
    return gettext("Data portability export you asked for")


@renders(SECURITY_INVESTIGATION)
def _security_investigation(p: Mapping[str, Any]) -> str:
    return gettext("Information security investigation of a suspected data leak")


@renders(REVIEWING_OBJECTION)
def _reviewing_objection(p: Mapping[str, Any]) -> str:
    return gettext("Reviewing your objection to the use of your data for AI training")


def record_access(subject_id: str, *, accessor_id: str | None, accessor_role: str, action: AccessAction | str,
                  purpose: str | dict[str, Any], case_ref: str | None = None,
                  at: datetime | None = None) -> AccessRecord:
    """Write that staff (``accessor_id`` in ``accessor_role``, or the system) accessed the
    subject's data, and audit it. ``purpose`` is a statement (:func:`portal.i18n.statements.statement`,
    worded in each reader's language) or a text given as it is. ``at`` back-dates the record
    (imports, the demo)."""
    try:
        action = AccessAction(action)
    except ValueError:
        raise AccessRecordError("unknown action") from None
    stored: dict[str, Any] | None = None
    if isinstance(purpose, dict):
        stored = purpose
        with force_locale("en"):  # the column keeps the English too, for whoever reads the table
            purpose = render(stored) or ""
    purpose = (purpose or "").strip()
    case_ref = (case_ref or "").strip() or None
    if accessor_role not in ACCESSOR_ROLES:
        raise AccessRecordError("unknown accessor role")
    if (accessor_id is None) != (accessor_role == "system"):
        raise AccessRecordError("staff accesses name the staff member; only the system acts without one")
    if not purpose or len(purpose) > 200:
        raise AccessRecordError("a purpose of at most 200 characters is required")
    if case_ref is not None and len(case_ref) > 64:
        raise AccessRecordError("a case reference has at most 64 characters")
    row = AccessRecord(subject_id=subject_id, action=action.value, accessor_role=accessor_role,
                       accessor_id=accessor_id, purpose_text=purpose, purpose_statement=stored, case_ref=case_ref)
    if at is not None:
        row.accessed_at = at
    db.session.add(row)
    db.session.flush()
    actor = Actor("employee", accessor_id) if accessor_id else Actor.system()
    record("monitoring:data:access", actor=actor, subject_id=subject_id, targets={"access_record": row.id},
           details={"action": action.value, "role": accessor_role, "case_ref": case_ref})
    return row


def accesses_of(subject_id: str, *, page: int = 1, per_page: int = PAGE_SIZE) -> AccessPage:
    """The subject's access records, newest first, one page at a time (the table is small per
    subject, and ``ix_access_records_subject_time`` serves both the count and the page)."""
    total = db.session.scalar(select(func.count()).select_from(AccessRecord)
                              .where(AccessRecord.subject_id == subject_id)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(
        select(AccessRecord.id, AccessRecord.accessed_at, AccessRecord.action, AccessRecord.accessor_role,
               AccessRecord.purpose_text, AccessRecord.purpose_statement, AccessRecord.case_ref)
        .where(AccessRecord.subject_id == subject_id)
        .order_by(AccessRecord.accessed_at.desc(), AccessRecord.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    )
    entries = [AccessEntry(id=r.id, accessed_at=r.accessed_at, action=r.action, accessor_role=r.accessor_role,
                           purpose=render(r.purpose_statement, r.purpose_text) or "", case_ref=r.case_ref)
               for r in rows]
    return AccessPage(entries=entries, page=page, pages=pages, total=total)
