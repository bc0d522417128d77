"""The deletion certificate: a PDF the requester keeps as proof that their erasure was done.

It says who asked (name, employee number), which request (reference, received, completed), what
was erased per category and what is blocked under a legal hold, whether the subject's key was
destroyed (crypto-shredding), that the data is suppressed from AI training, and whom to contact.

Its *facts* (the same, without the name: ids, dates, counts, flags) are also printed as canonical
JSON with their SHA-256, the "facts digest". Each download writes an audit entry carrying that
digest, so a certificate shown later can be matched against the tamper-evident audit log.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any, BinaryIO

from flask_babel import gettext as _
from flask_babel import ngettext
from reportlab.lib.units import mm
from reportlab.platypus import Spacer
from sqlalchemy import select

from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.consent import services as consent
from portal.db import instant
from portal.extensions import db
from portal.i18n import person_language, wording
from portal.jurisdictions import regime_for
from portal.monitoring.models import DataCategory
from portal.pdf.layout import Text, grid_table
from portal.pdf.page import FRAME_WIDTH, render
from portal.pdf.text import document_locale, format_instant
from portal.people.models import Employee
from portal.training.services import ledger_facts
from portal.training.wording import model_words, removal_words

from .models import CARRIED_OUT_STATES, DataRequest, RequestType
from .statements import hold_basis_wording

FACTS_VERSION = 1


def is_certifiable(request: DataRequest) -> bool:
    """Only an erasure the portal has carried out has a certificate (while its recipients are still
    to confirm too: the certificate then says which have not yet)."""
    return request.type == RequestType.ERASURE and request.state in CARRIED_OUT_STATES


def file_name(request: DataRequest) -> str:
    """``deletion-certificate-R-1A2B3C4D.pdf``: the reference is hex and a dash, safe anywhere."""
    return f"deletion-certificate-{request.reference}.pdf"


def certificate_facts(request: DataRequest) -> dict[str, Any]:
    """What the certificate certifies, as plain values (no name, no e-mail: ids, dates, counts)."""
    result = request.result or {}
    counts = result.get("categories") or {}
    scope = request.scope or {}
    facts: dict[str, Any] = {
        "certificate": "erasure",
        "version": FACTS_VERSION,
        "request_id": request.id,
        "reference": request.reference,
        "subject_id": request.subject_id,
        "jurisdiction": request.jurisdiction,
        "received_at": instant(request.received_at),
        "completed_at": instant(request.completed_at),
        "scope": {"categories": list(scope.get("categories") or []), "date_from": scope.get("date_from"),
                  "date_to": scope.get("date_to")},
        "categories": {str(key): _category_facts(value or {}) for key, value in sorted(counts.items())},
        "key_destroyed": bool(result.get("key_destroyed")),
        "ai_training_suppressed": consent.is_suppressed(request.subject_id),
    }
    ground = regime_for(request.jurisdiction).erasure_ground(request.erasure_ground)
    if ground is not None:  # erasures since the DPO gives the ground at approval
        facts["erasure_ground"] = ground.code
        facts["erasure_ground_citation"] = ground.citation
    if result.get("hold_basis"):  # erasures since the legal basis is stated per regime
        facts["hold_basis"] = str(result["hold_basis"])
    if result.get("database_files"):  # erasures since the database files are scrubbed say how
        facts["database_files"] = str(result["database_files"])
    ledger = ledger_facts(request.subject_id)
    if ledger:  # absent for a person no snapshot held, so that earlier digests stay as they were
        facts["training_ledger"] = ledger
    recipients = recipient_facts(request)
    if recipients:  # erasures whose recipients were given tasks list each answer with its audit entry
        facts["carried_out_at"] = instant(request.done_at)
        facts["recipients"] = recipients
    return facts


def recipient_facts(request: DataRequest) -> list[dict[str, Any]]:
    """Each recipient's task and answer, tied to the audit entry of the answer."""
    from portal.recipients.services import rows_of_request

    found = []
    for row in rows_of_request(request.id):
        task = row.task
        found.append({"recipient": row.recipient.name, "role": str(row.recipient.role), "task": task.id,
                      "action": str(task.action), "categories": list(task.categories),
                      "due": task.due_on.isoformat(), "state": str(task.state),
                      "outcome": str(task.outcome) if task.outcome else None,
                      "confirmed_at": instant(task.confirmed_at) if task.confirmed_at else None,
                      "details": dict(task.details or {}), "audit_entry": task.confirm_entry_id})
    return found


def _preamble(request: DataRequest) -> str:
    """The law the erasure was done under: the requester's own regime's, and no other."""
    regime = regime_for(request.jurisdiction)
    citation = regime.right(RequestType.ERASURE)
    if regime.law and citation:
        return _("This certifies that the personal data described below was erased at the request of the person "
                 "named, as %(law)s requires (%(citation)s).", law=wording(regime.law), citation=citation)
    return _("This certifies that the personal data described below was erased at the request of the person named.")


def _category_facts(value: dict[str, Any]) -> dict[str, int]:
    """Deleted and blocked items; and, where an erasure kept records of use in AI training as
    evidence, how many it marked "removal required" (absent otherwise, so that the facts of
    earlier certificates, and their digests, stay as they were)."""
    facts = {"deleted": int(value.get("deleted") or 0), "blocked": int(value.get("blocked") or 0)}
    if value.get("removal_required"):
        facts["removal_required"] = int(value["removal_required"])
    return facts


def canonical_json(facts: dict[str, Any]) -> str:
    return json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def facts_digest(facts: dict[str, Any]) -> str:
    """SHA-256 (hex) of the facts as canonical JSON: keys sorted, no spaces, UTF-8."""
    return hashlib.sha256(canonical_json(facts).encode("utf-8")).hexdigest()


def write_certificate(request: DataRequest, subject: Employee, out: BinaryIO) -> str:
    """Write the certificate of the completed erasure ``request`` of ``subject`` to ``out``;
    returns its facts digest."""
    if not is_certifiable(request) or request.subject_id != subject.id:
        raise ValueError("only the requester's completed erasure has a deletion certificate")
    facts = certificate_facts(request)
    digest = facts_digest(facts)
    names = {c.key: c.name for c in db.session.scalars(select(DataCategory))}
    contact = str(current_settings().dpo_contact or "")
    with document_locale(person_language(subject)):
        t = Text()
        story: list[Any] = [
            t.para(_("Deletion certificate"), t.title),
            t.para(_preamble(request)),
            Spacer(1, 4 * mm),
        ]
        who = [
            [t.para(_("Name"), t.cell_bold), t.para(subject.display_name, t.cell)],
            [t.para(_("Employee number"), t.cell_bold), t.para(subject.employee_number or "—", t.cell)],
            [t.para(_("Request reference"), t.cell_bold), t.para(request.reference, t.cell)],
            [t.para(_("Received"), t.cell_bold), t.para(format_instant(facts["received_at"]), t.cell)],
            [t.para(_("Completed"), t.cell_bold), t.para(
                format_instant(facts["completed_at"]) if facts["completed_at"] else
                _("Not yet: erased here on %(date)s; waiting for the recipients below",
                  date=format_instant(facts.get("carried_out_at"))), t.cell)],
        ]
        scope = facts["scope"]
        if scope["categories"]:
            asked = ", ".join(names.get(key, key) for key in scope["categories"])
        else:
            asked = _("all categories")
        if scope["date_from"] or scope["date_to"]:
            asked += " · " + _("%(start)s to %(end)s", start=scope["date_from"] or _("the beginning"),
                               end=scope["date_to"] or _("the day of erasure"))
        who.append([t.para(_("What was asked"), t.cell_bold), t.para(asked, t.cell)])
        ground = regime_for(request.jurisdiction).erasure_ground(facts.get("erasure_ground"))
        if ground is not None:
            who.append([t.para(_("Ground for the erasure"), t.cell_bold),
                        t.para(f"{ground.citation}: {wording(ground.text)}" if ground.citation else wording(ground.text),
                               t.cell)])
        story.append(grid_table(who, [45 * mm, FRAME_WIDTH - 45 * mm], header=False))

        story.append(t.para(_("What was erased"), t.heading))
        rows: list[list[Any]] = [[t.para(_("Category"), t.cell_bold), t.para(_("Items erased"), t.cell_bold),
                                  t.para(_("Items blocked (legal hold)"), t.cell_bold)]]
        total_deleted = total_blocked = 0
        for key, count in facts["categories"].items():
            rows.append([t.para(names.get(key, key), t.cell), t.para(f"{count['deleted']:,}", t.cell),
                         t.para(f"{count['blocked']:,}", t.cell)])
            total_deleted += count["deleted"]
            total_blocked += count["blocked"]
        rows.append([t.para(_("Total"), t.cell_bold), t.para(f"{total_deleted:,}", t.cell_bold),
                     t.para(f"{total_blocked:,}", t.cell_bold)])
        story.append(grid_table(rows, [FRAME_WIDTH - 80 * mm, 35 * mm, 45 * mm]))
        if total_blocked:
            story.append(Spacer(1, 2 * mm))
            hold = (hold_basis_wording(facts.get("hold_basis"))
                    or regime_for(request.jurisdiction).citations.get("legal_hold"))
            story.append(t.para(_("Blocked items are under a legal hold (%(citation)s): they are kept, not used, and "
                                  "erased once the hold is lifted.", citation=hold) if hold else
                                _("Blocked items are under a legal hold: they are kept, not used, and erased once "
                                  "the hold is lifted."), t.muted))
        marked = sum(count.get("removal_required", 0) for count in facts["categories"].values())
        if marked:
            story.append(t.para(_("AI training sets and models"), t.heading))
            story.append(t.para(ngettext(
                "%(num)s record of an AI training set (and the model trained on it) that used your data is kept, "
                "as evidence of where your data went, and marked “removal required”.",
                "%(num)s records of AI training sets (and the models trained on them) that used your data are "
                "kept, as evidence of where your data went, and marked “removal required”.", marked)))
            story.append(t.para(_("The portal does not itself remove data from training sets or from models "
                                  "already trained on them: the removal is recorded as required, and this "
                                  "certificate does not say that it has been done.")))

        if facts.get("recipients"):
            story.append(t.para(_("The teams and systems that received your data"), t.heading))
            story.append(t.para(_("Each was given a task to do the same with its copy and to confirm it. Each "
                                  "answer is in the portal's tamper-evident audit log under the entry named.")))
            answers: list[list[Any]] = [[t.para(_("Recipient"), t.cell_bold), t.para(_("Answer"), t.cell_bold),
                                         t.para(_("Audit entry"), t.cell_bold)]]
            for item in facts["recipients"]:
                answers.append([t.para(item["recipient"], t.cell), t.para(_recipient_answer(item), t.cell),
                                t.para(item["audit_entry"] or "—", t.cell)])
            story.append(grid_table(answers, [45 * mm, FRAME_WIDTH - 45 * mm - 62 * mm, 62 * mm]))
        story.extend(_ledger_story(t, facts.get("training_ledger") or []))

        story.append(t.para(_("What remains, copy by copy"), t.heading))
        story.append(t.para(_("In the portal: the items counted above as deleted are gone, screenshot files "
                              "included; blocked items are kept, as said above.")))
        files = {  # what became of the deleted rows' bytes, as the erasure recorded it
            "overwritten": _("The database files were overwritten where those items were, and the "
                             "database's write-ahead log was emptied."),
            "removed": _("They were kept in database tables of their own, which were then dropped: "
                         "the database's files that held them were emptied and removed."),
            "freed": _("The database then removed them from its tables and indexes (vacuum); the "
                       "space they took in its files is free and is overwritten as it is reused."),
            "deleted": _("The database removes them from its files in its own maintenance; until the "
                         "space they took is reused, it still holds their bytes."),
        }.get(facts.get("database_files") or "")
        if files is not None:
            story.append(t.para(files))
        story.append(t.para(_("Encryption key"), t.heading))
        if facts["key_destroyed"]:
            story.append(t.para(_("Destroyed: yes. Your data was encrypted with a key of its own; that key has been "
                                  "destroyed (crypto-shredding).")))
            story.append(t.para(_("Backups of the portal's data made before the erasure still hold your data "
                                  "until they expire. What was encrypted with your key (applications, web-site "
                                  "domains, web addresses, window titles, positions, key timing and screenshots) "
                                  "can no longer be read there, because the key is destroyed and the portal keeps "
                                  "its keys in a store of their own, never in the data's folders. The time, kind "
                                  "and duration of each event, the time, image format and size of each "
                                  "screenshot, and the counts per day and hour made of them are kept unencrypted, "
                                  "for the dashboards, and stay readable in those backups until they expire.")))
            story.append(t.para(_("If a backup of the key store made before the erasure is ever restored, the "
                                  "portal destroys your key in it again: it keeps a record of every key it has "
                                  "destroyed and checks the key store against it every ten minutes.")))
        else:
            story.append(t.para(_("Destroyed: no. Some of your data is still held (blocked under a legal hold, or "
                                  "outside the scope you asked for), so the key that encrypts it was kept.")))

        story.append(t.para(_("AI training"), t.heading))
        if facts["ai_training_suppressed"]:
            story.append(t.para(_("Suppressed: yes. You are on the suppression list that the AI-training pipeline "
                                  "reads: no new training data set will include your data.")))
        else:
            story.append(t.para(_("Suppressed: no.")))

        story.append(t.para(_("Contact"), t.heading))
        if contact:
            story.append(t.para(_("Questions about this certificate go to the controller's Data Protection Officer: "
                                  "%(contact)s. Please quote %(ref)s.", contact=contact, ref=request.reference)))
        else:
            story.append(t.para(_("Questions about this certificate go to the controller's Data Protection "
                                  "Officer. Please quote %(ref)s.", ref=request.reference)))

        story.append(t.para(_("Facts digest"), t.heading))
        story.append(t.para(_("The facts this certificate states, as canonical JSON (keys sorted, no spaces, "
                              "UTF-8), and their SHA-256. The same digest is written to the portal's "
                              "tamper-evident audit log each time the certificate is downloaded."), t.muted))
        story.append(Spacer(1, 2 * mm))
        story.append(t.ascii(canonical_json(facts), t.code))
        story.append(Spacer(1, 2 * mm))
        story.append(t.para(f"SHA-256: {digest}", t.cell_bold))

        pdf = render(story, t.fonts, title=_("Deletion certificate %(ref)s", ref=request.reference),
                     subject=_("Deletion certificate"))
    out.write(pdf)
    return digest


# -- the training-set ledger (kept apart: recipients' confirmations have a section of their own) -----------

def _ledger_story(t: Text, items: list[dict[str, Any]]) -> list[Any]:
    """The training-set ledger's state for the person: each snapshot that held them, what became of
    it and of each model trained on it, and the audit entries that recorded it."""
    if not items:
        return []
    story: list[Any] = [t.para(_("Training-set ledger"), t.heading), t.para(_(
        "Each AI training-set snapshot that held your data, as the portal's ledger records it (by your pseudonymous "
        "id in training data, never your name), what became of it and of the models trained on it. The ledger is "
        "kept as evidence: an erasure deletes nothing of it. The audit entries are in the portal's tamper-evident "
        "log."))]
    rows: list[list[Any]] = [[t.para(_("Snapshot"), t.cell_bold), t.para(_("Removal"), t.cell_bold),
                              t.para(_("Models trained on it"), t.cell_bold)]]
    for item in items:
        marked = item.get("removal") is not None
        rows.append([t.para(f"{item['dataset']} / {item['snapshot']} ({item['created_on']})", t.cell),
                     t.para(removal_words(item), t.cell),
                     t.para("; ".join(model_words(m, marked) for m in item["models"]) or "—", t.cell)])
        if item["audit_entry_ids"]:
            rows.append([t.para(_("Audit entries"), t.muted), t.ascii(" ".join(item["audit_entry_ids"]), t.code), ""])
    story.append(grid_table(rows, [45 * mm, FRAME_WIDTH - 100 * mm, 55 * mm]))
    return story


def _recipient_answer(item: dict[str, Any]) -> str:
    when = format_instant(item["confirmed_at"])
    details = item.get("details") or {}
    if item["outcome"] == "done":
        text = _("Erased, confirmed %(when)s.", when=when)
        if details.get("rows_deleted") is not None:
            text += " " + ngettext("%(num)s record.", "%(num)s records.", int(details["rows_deleted"]))
        if details.get("snapshot_id"):
            text += " " + _("New data set snapshot: %(id)s.", id=details["snapshot_id"])
        return text
    if item["outcome"] == "not_applicable":
        return _("Held none of this data, confirmed %(when)s.", when=when)
    if item["outcome"] == "refused":
        return _("Refused, %(when)s (the reason is on your request's page).", when=when)
    if item["state"] == "escalated":
        return _("Did not confirm by %(due)s; taken up by the Data Protection Officer.", due=item["due"])
    return _("Not confirmed yet; due %(due)s.", due=item["due"])


def issue_certificate(request: DataRequest, subject: Employee, *, actor: Actor) -> bytes:
    """The certificate as bytes, with the audit entry of its download (the caller commits)."""
    out = io.BytesIO()
    digest = write_certificate(request, subject, out)
    record("requests:certificate:download", actor=actor, subject_id=request.subject_id,
           targets={"request": request.id}, details={"facts_sha256": digest})
    return out.getvalue()
