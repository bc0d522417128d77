"""request.pdf: the evidence pack's facts for people, made from request.json's facts alone (so the
two cannot say different things).

Built with the PDF toolkit (:mod:`portal.pdf`) in the certificate style (fonts that fall back to
Helvetica, escaped text, grid tables, the "page N of M" footer), in the language of the request's
regime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Paragraph, Spacer

from portal.i18n import regime_language
from portal.i18n.statements import render as statement_text
from portal.jurisdictions import KINDS
from portal.pdf.layout import Text, grid_table
from portal.pdf.page import FRAME_WIDTH, render
from portal.pdf.text import document_locale, format_instant, format_size
from portal.rights.services import STAFF_STATE_LABELS
from portal.training.wording import model_words, removal_words

# Every value of request.json in words (no internal key reaches a reader): kinds and states as
# staff read them elsewhere, timeline entries, roles and export states.
TYPE_NAMES = {k.value: k.report_label for k in KINDS}
STATE_NAMES = {state.value: label for state, label in STAFF_STATE_LABELS.items()}
EVENT_NAMES = {"filed": _l("Filed"), "transition": _l("State changed"), "message": _l("Message"),
               "note": _l("Internal note"), "claim": _l("Claimed"), "assign": _l("Assigned"),
               "extension": _l("Deadline extended"), "approval": _l("Approval"), "duplicate": _l("Repeat linked")}
ROLE_NAMES = {"requester": _l("Requester"), "employee": _l("Requester"), "dpo": _l("DPO"), "admin": _l("Admin"),
              "staff": _l("Staff"), "system": _l("The portal (automatic)"), "auditor": _l("Auditor")}
EXPORT_STATES = {"queued": _l("Waiting to start"), "running": _l("Being prepared"), "ready": _l("Ready"),
                 "failed": _l("Failed"), "expired": _l("Expired and deleted")}
DECISIONS = {"approved": _l("Approved"), "rejected": _l("Refused")}


def _named(names: Mapping[str, Any], value: str | None) -> str:
    return str(names.get(value, value)) if value else "—"
CHANNEL_NAMES = {"self_service": _l("Self-service in the portal"), "portal": _l("Filed in the portal"),
                 "verified": _l("Former employee's verified channel")}


class _Pdf:
    def __init__(self, facts: Mapping[str, Any], names: Mapping[str, str]) -> None:
        self.facts = facts
        self.names = names
        self.t = Text()
        self.story: list[Any] = []

    def cell(self, value: object, *, bold: bool = False) -> Paragraph:
        return self.t.para("—" if value is None or value == "" else value, self.t.cell_bold if bold else self.t.cell)

    def code(self, value: str) -> Paragraph:
        return self.t.ascii(value, self.t.code)

    def heading(self, text: str) -> None:
        self.story.append(CondPageBreak(30 * mm))
        self.story.append(self.t.para(text, self.t.heading))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float]) -> None:
        body = [[self.cell(h, bold=True) for h in header]]
        body += [[c if isinstance(c, Paragraph) else self.cell(c) for c in row] for row in rows]
        self.story.append(grid_table(body, list(widths)))

    def facts_table(self, rows: Sequence[tuple[str, Any]]) -> None:
        body = [[self.cell(label, bold=True), value if isinstance(value, Paragraph) else self.cell(value)]
                for label, value in rows]
        self.story.append(grid_table(body, [48 * mm, FRAME_WIDTH - 48 * mm], header=False))

    def category(self, key: str) -> str:
        return self.names.get(key, key)

    # -- the sections --------------------------------------------------------------------------

    def build(self) -> list[Any]:
        f = self.facts
        self.story += [
            self.t.para(_("Evidence pack: request %(ref)s", ref=f["reference"]), self.t.title),
            self.t.para(_("How one data-subject request was handled: when it came, who verified and decided it on "
                          "what legal basis, what was exported or erased, and whether the legal deadline was met. "
                          "The requester appears only by the portal's pseudonymous id; staff appear by role. The "
                          "audit entries behind these facts are in the pack with Merkle proofs against a signed tree "
                          "head: see README.txt for how to verify them.")),
            Spacer(1, 4 * mm),
        ]
        self.summary()
        self.timeline()
        self.decisions()
        self.exported()
        self.erased()
        self.training_ledger()
        self.recipients()
        self.audit()
        return self.story

    def summary(self) -> None:
        f = self.facts
        deadline = f["deadline"]
        self.heading(_("Summary"))
        self.facts_table([
            (_("Request id"), self.code(f["request_id"])),
            (_("Reference"), f["reference"]),
            (_("Type"), _named(TYPE_NAMES, f["type"])),
            (_("Channel"), CHANNEL_NAMES.get(f["channel"], f["channel"])),
            (_("Identity verified by"), f["identity_verification"]["description"]),
            (_("Subject"), _("%(id)s (pseudonymous id), jurisdiction %(j)s", id=f["subject"]["id"],
                             j=f["subject"]["jurisdiction"])),
            (_("Regime"), f["regime"] or "—"),
            (_("State"), _named(STATE_NAMES, f["state"])),
            (_("Received"), format_instant(f["received_at"])),
            (_("Completed"), format_instant(f["completed_at"])),
            (_("Due"), deadline["due_on"] or "—"),
            (_("Extended to"), deadline["extended_due_on"] or "—"),
            (_("Deadline"), deadline["summary"]),  # it starts with the status: met, late, open and overdue, ...
            (_("Outcome told to the requester"), _outcome(f.get("outcome"))),
            (_("Audit entries"), _("%(n)s, proven against the signed tree head of %(size)s entries",
                                   n=f["audit"]["entries"], size=f["audit"]["tree_size"])),
        ])
        scope = f.get("scope") or {}
        if scope:
            parts = []
            if "categories" in scope:
                parts.append(", ".join(self.category(c) for c in scope["categories"]) or _("all categories"))
            if scope.get("date_from") or scope.get("date_to"):
                parts.append(_("%(start)s to %(end)s", start=scope.get("date_from") or _("the beginning"),
                               end=scope.get("date_to") or _("the day of fulfilment")))
            if scope.get("purpose"):
                parts.append(_("purpose: %(p)s", p=scope["purpose"]))
            self.story.append(Spacer(1, 2 * mm))
            self.story.append(self.t.para(_("Scope asked for: %(scope)s", scope="; ".join(parts)), self.t.muted))
        if deadline.get("extension_reason"):
            self.story.append(Spacer(1, 2 * mm))
            self.story.append(self.t.para(_("Reason given for the extension (%(at)s): %(reason)s",
                                            at=format_instant(deadline["extended_at"]),
                                            reason=deadline["extension_reason"])))

    def timeline(self) -> None:
        self.heading(_("Timeline"))
        rows = []
        for event in self.facts["timeline"]:
            change = (f"{_named(STATE_NAMES, event['from_state']) if event['from_state'] else _('New')} → "
                      f"{_named(STATE_NAMES, event['to_state'])}" if event["to_state"] else "—")
            rows.append([format_instant(event["at"]), _named(EVENT_NAMES, event["kind"]),
                         _named(ROLE_NAMES, event["actor_role"]), change, event["statement"] or ""])
        if not rows:
            self.story.append(self.t.para(_("No events were recorded."), self.t.muted))
            return
        self.table([_("Time"), _("Event"), _("By (role)"), _("State"), _("Statement to the requester")], rows,
                   [30 * mm, 22 * mm, 20 * mm, 46 * mm, FRAME_WIDTH - 118 * mm])

    def decisions(self) -> None:
        self.heading(_("Decisions"))
        decisions = self.facts["decisions"]
        if not decisions:
            self.story.append(self.t.para(_("No decision has been taken yet."), self.t.muted))
        else:
            self.table([_("Decision"), _("When"), _("By (role)"), _("Legal basis"), _("Reasons")],
                       [[_named(DECISIONS, d["decision"]), format_instant(d["at"]), _named(ROLE_NAMES, d["actor_role"]),
                         d["legal_basis_label"], d["reasons"] or ""]
                        for d in decisions],
                       [20 * mm, 28 * mm, 16 * mm, 55 * mm, FRAME_WIDTH - 119 * mm])
        approvals = self.facts["erasure_approvals"]
        if approvals:
            self.story.append(Spacer(1, 3 * mm))
            self.story.append(self.t.para(_("Erasure approvals (four eyes: two different people)"), self.t.cell_bold))
            self.table([_("Approval"), _("By (role)"), _("When")],
                       [[str(n), _named(ROLE_NAMES, a["actor_role"]), format_instant(a["at"])]
                        for n, a in enumerate(approvals, start=1)],
                       [25 * mm, 40 * mm, FRAME_WIDTH - 65 * mm])

    def exported(self) -> None:
        exports = self.facts["exports"]
        if not exports:
            return
        self.heading(_("What was exported"))
        for export in exports:
            self.facts_table([
                (_("Export"), self.code(export["id"])),
                (_("State"), _named(EXPORT_STATES, export["state"])),
                (_("Completed"), format_instant(export["completed_at"])),
                (_("Size"), format_size(export["size"]) if export["size"] is not None else "—"),
                (_("SHA-256 of the archive"), self.code(export["sha256"] or "—")),
            ])
            counts = export.get("counts") or {}
            if counts:
                self.story.append(Spacer(1, 2 * mm))
                self.table([_("Category"), _("Items exported")],
                           [[self.category(k), f"{v:,}"] for k, v in sorted(counts.items())],
                           [FRAME_WIDTH - 40 * mm, 40 * mm])
            self.story.append(Spacer(1, 3 * mm))

    def erased(self) -> None:
        erasure = self.facts.get("erasure")
        if not erasure:
            return
        self.heading(_("What was erased"))
        rows = []
        deleted = blocked = 0
        for key, count in sorted(erasure["categories"].items()):
            rows.append([self.category(key), f"{count['deleted']:,}", f"{count['blocked']:,}"])
            deleted += count["deleted"]
            blocked += count["blocked"]
        rows.append([self.cell(_("Total"), bold=True), self.cell(f"{deleted:,}", bold=True),
                     self.cell(f"{blocked:,}", bold=True)])
        self.table([_("Category"), _("Items erased"), _("Items blocked (legal hold)")], rows,
                   [FRAME_WIDTH - 80 * mm, 35 * mm, 45 * mm])
        self.story.append(Spacer(1, 2 * mm))
        self.story.append(self.t.para(_("Subject's data key destroyed (crypto-shredding): %(yes)s",
                                        yes=_("yes") if erasure["key_destroyed"] else _("no"))))
        marked = sum(count.get("removal_required", 0) for count in erasure["categories"].values())
        if marked:
            self.story.append(self.t.para(_(
                "Records of use in AI training kept as evidence and marked “removal required”: %(n)s. The portal "
                "does not itself remove data from training sets or trained models; nothing here records that "
                "the removal was done.", n=f"{marked:,}")))

    def training_ledger(self) -> None:
        """The snapshots this request marked "removal required" and what became of them (and of the
        models trained on them), each with the audit entries in this pack that recorded it."""
        items = self.facts.get("training_ledger") or []
        if not items:
            return
        self.heading(_("Training-set ledger"))
        self.story.append(self.t.para(_(
            "Each AI training-set snapshot this request marked “removal required”, what the AI-training pipeline "
            "answered for it and for each model trained on it, and the audit entries (in this pack) that recorded "
            "it. The ledger names the person only by their pseudonymous id.")))
        rows = []
        for item in items:
            marked = item.get("removal") is not None
            rows.append([self.cell(f"{item['dataset']} / {item['snapshot']} ({item['created_on']})"),
                         self.cell(removal_words(item, third_person=True)),
                         self.cell("; ".join(model_words(m, marked) for m in item["models"]) or "—"),
                         self.code(" ".join(e[:12] for e in item["audit_entry_ids"]) or "—")])
        self.table([_("Snapshot"), _("Removal"), _("Models trained on it"), _("Audit entries")], rows,
                   [35 * mm, FRAME_WIDTH - 125 * mm, 50 * mm, 40 * mm])

    def recipients(self) -> None:
        found = self.facts.get("recipients")
        if not found:
            return
        self.heading(_("Recipients' tasks and answers"))
        self.story.append(self.t.para(_("Each team or system that received the data was given a task; its answer "
                                        "is the audit entry named, included in this pack.")))
        answers = {"done": _("done"), "not_applicable": _("not applicable"), "refused": _("refused")}
        rows = []
        for item in found:
            if item["outcome"]:
                answer = f"{answers.get(item['outcome'], item['outcome'])}, {format_instant(item['confirmed_at'])}"
                if item.get("details"):
                    answer += " (" + ", ".join(f"{k} {v}" for k, v in sorted(item["details"].items())) + ")"
            elif item["state"] == "escalated":
                answer = _("not confirmed by %(due)s; escalated", due=item["due"])
            else:
                answer = _("open; due %(due)s", due=item["due"])
            rows.append([item["recipient"], answer, self.code(item["audit_entry"] or "—")])
        self.table([_("Recipient"), _("Answer"), _("Audit entry")], rows, [45 * mm, FRAME_WIDTH - 107 * mm, 62 * mm])

    def audit(self) -> None:
        audit = self.facts["audit"]
        self.heading(_("Audit log"))
        self.facts_table([
            (_("Signed tree head"), _("%(size)s entries, signed %(at)s", size=audit["tree_size"],
                                      at=format_instant(audit["signed_at"]))),
            (_("Root hash"), self.code(audit["root_hash"])),
            (_("Key id"), self.code(audit["key_id"])),
            (_("Entries in this pack"), str(audit["entries"])),
        ])


def _outcome(stored: Mapping[str, Any] | None) -> str:
    """The outcome in the PDF's language (a statement), or as it was stored (older rows)."""
    if not stored:
        return "—"
    if "key" in stored:
        return statement_text(stored) or "—"
    return str(stored.get("text") or "—")


def write_request_pdf(facts: Mapping[str, Any], out: BinaryIO, *, category_names: Mapping[str, str]) -> None:
    """Write request.pdf for the facts of request.json to ``out``."""
    # For the authority that receives it: in the language of the request's regime.
    with document_locale(regime_language(facts.get("jurisdiction"))):
        pdf = _Pdf(facts, category_names)
        body = render(pdf.build(), pdf.t.fonts, title=_("Evidence pack: request %(ref)s", ref=facts["reference"]),
                      subject=_("Evidence pack"), footer=_("Evidence pack for request %(id)s", id=facts["request_id"]))
    out.write(body)
