"""The record of processing activities (GDPR Art. 30(1)), made from the category register.

One processing activity per register category (``DataCategory``, in register order): the register
already says, per category, what it is, why it is collected, on what legal basis, for how long and
who receives it. What the register does not hold is either derived here, with the rule said, or
stated as missing, never invented:

* (a) the controller: per country, the entity ``PORTAL_CONTROLLERS`` gives for each GDPR
  jurisdiction (the registry says which), with its address, representative and DPO; without them,
  the export's "the employer", with its address said to be not recorded, and ``PORTAL_DPO_CONTACT``;
* (c) categories of data subjects: the register has no field. Every category is collected by the
  activity-capture agent on employees' computers, so its subjects are employees and former
  employees; screenshots also show whoever is on screen (colleagues in chat, people on web pages:
  docs/architecture.md, "Requests", and the register's own description of them), so those people
  are named for them;
* (e) transfers to third countries: the register's ``transfers`` per category, each recipient's
  country and its safeguard (:mod:`portal.jurisdictions.transfers`); "none recorded" where it has none;
* (g) security measures: the portal's own, the same for every activity (:data:`SECURITY_MEASURES`).

After the register's categories come the portal's own processing (:data:`PORTAL_ACTIVITIES`):
handling the requests, the audit log and the staff access log, which the portal keeps and never
deletes (said as such: no retention period is set for them).

The CSV (:func:`to_csv`) has one row per activity with the columns :data:`CSV_COLUMNS`; lists
(purposes, recipients, measures) are joined with "; ".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from portal.config import current_settings
from portal.db import utcnow
from portal.jurisdictions import Controller, regime_for
from portal.jurisdictions.transfers import lines as transfer_lines
from portal.monitoring.models import CategoryKey
from portal.monitoring.services import register
from portal.pdf.text import document_locale, format_time
from portal.reports.pdf import ReportWriter, controller_name, dpo_contact, render

EMPLOYEES = "Employees and former employees whose computers run the activity-capture agent"
NO_PERIOD = ("No period is set: the portal deletes none of it (an erasure leaves it, as the record of what was "
             "done). Set a period before relying on this record.")
ON_SCREEN = "People who appear on screen (colleagues in chat, people on web pages), incidentally"
NO_TRANSFERS = "None recorded in the register"
CONTROLLER_CONTACT = "Not recorded in the portal's settings"

SECURITY_MEASURES: tuple[str, ...] = (
    "Encryption at rest with a data key per employee (AES-256-GCM), itself kept only wrapped by a master key; "
    "the sensitive parts of every event (application, site, URL, window title, coordinates, payload) and every "
    "screenshot (its image, application and site) are encrypted with it; applications and sites are looked up "
    "through keyed blind indexes under a key derived from it",
    "Erasure by crypto-shredding: the employee's data key is destroyed, so the encrypted parts of copies in "
    "backups become unreadable (the time, kind and duration of each event, the time, image format and size of "
    "each screenshot, and the counts per day and hour stay in clear); the key store is kept outside the data's folders, and keys destroyed are "
    "destroyed again in any restored key store",
    "Directory data (names, e-mail addresses, employee numbers) and what people write in requests are sealed "
    "with a directory key; look-ups use keyed blind indexes",
    "Append-only audit log of every decision and access: a Merkle tree (RFC 9162) with Ed25519-signed tree "
    "heads, verifiable offline",
    "Sign-in through the company's single sign-on (OpenID Connect with PKCE); a fresh sign-in (step-up, "
    "proved by the identity provider's authentication time) before export downloads, erasure and objection "
    "requests and erasure approvals; server-side sessions that can be revoked",
    "Role-based access (DPO, privacy admin, auditor) with a check on every object; refused attempts are "
    "answered as not found and logged",
    "Four-eyes erasure: two approvals by two different people; legal holds block erasure instead of deleting",
    "Every time staff open an employee's data, the access is recorded and shown to the employee",
)

NOTES: tuple[str, ...] = (
    "One processing activity per category of the data-category register, in register order; purposes, legal "
    "basis, recipients, retention and source are the register's.",
    "The controller's name is not set in the portal; it is given as the employee export names it. Its address "
    "and contact details are not recorded in the portal's settings.",
    "Categories of data subjects are not a register field: every category is collected from employees' "
    "computers (employees and former employees); screenshots also show people on screen.",
    "Transfers to third countries (Art. 30(1)(e)) are the register's: per recipient, its country and the "
    "safeguard (Art. 45 or 46); a recipient in the EU/EEA is no transfer.",
    "Retention is the register's period, in days, from collection.",
    "The portal's own processing (requests, the audit log, the staff access log) follows the register's "
    "categories; it is kept in the portal's database, with the same security measures.",
)

CSV_COLUMNS: tuple[str, ...] = (
    "controller", "controller_contact", "dpo_contact", "activity_key", "activity", "purposes", "legal_basis",
    "data_subjects", "personal_data", "recipients", "transfers_third_countries", "retention_days", "retention",
    "security_measures", "source_system", "consent_purpose", "dpia_reference", "generated_at",
)


@dataclass(frozen=True)
class Activity:
    """One processing activity (one register category)."""

    key: str
    name: str
    description: str
    purposes: tuple[str, ...]
    legal_basis: str
    data_subjects: tuple[str, ...]
    recipients: tuple[str, ...]
    transfers: str
    retention_days: int | None  # None: no period is set (the portal's own processing)
    source_system: str
    consent_purpose: str | None
    retention: str = ""  # in words, where no period in days is set
    dpia: str = ""  # the register's impact assessment (Art. 35), where it names one


PORTAL_PREFIX = "portal:"
PORTAL_ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        key="portal:requests", name="Handling data-protection requests",
        description="Each request: who made it, its kind, scope and dates, the messages, the identity check, the "
                    "decisions and their legal grounds, approvals, legal holds, deletion certificates and evidence "
                    "packs (what people write is sealed)",
        purposes=("Answering requests to exercise data-protection rights within their deadlines",
                  "Showing that they were answered lawfully (accountability)"),
        legal_basis="Legal obligation (GDPR Art. 6(1)(c)): answering the rights of Art. 12 to 22 and demonstrating "
                    "compliance (Art. 5(2))",
        data_subjects=("Employees and former employees who make requests", "Staff who handle them"),
        recipients=("Data Protection Officers of the request's queue", "Privacy admins (the second approval of an "
                    "erasure)", "A supervisory authority, when an evidence pack is shared with it"),
        transfers="None recorded", retention_days=None, retention=NO_PERIOD, source_system="The privacy portal",
        consent_purpose=None),
    Activity(
        key="portal:audit-log", name="Audit log",
        description="Every decision and access in the portal: when, which action, by whom and about whom (by "
                    "surrogate id, never a name or e-mail address), signed into a Merkle tree",
        purposes=("Demonstrating compliance and the integrity of every decision",
                  "Security of processing: detecting misuse"),
        legal_basis="Legal obligation (GDPR Art. 6(1)(c)): accountability (Art. 5(2), 24(1)) and security of "
                    "processing (Art. 32)",
        data_subjects=("Employees, former employees and staff the entries concern",),
        recipients=("Data Protection Officers", "Auditors", "A supervisory authority, when an evidence pack is "
                    "shared with it"),
        transfers="None recorded", retention_days=None,
        retention="Kept for good: the log is append-only and its entries cannot be deleted without breaking the "
                  "signed tree heads that cover them",
        source_system="The privacy portal", consent_purpose=None),
    Activity(
        key="portal:access-log", name="Staff access log",
        description="Each time staff open or export an employee's monitoring data: when, the action, the purpose, "
                    "the case, the role and who it was",
        purposes=("Telling employees when and why their data was consulted",
                  "Security of processing: detecting access without a purpose"),
        legal_basis="Legal obligation (GDPR Art. 6(1)(c)): the right of access to the recipients and the dates and "
                    "purposes of consultations (Art. 15(1)(c); CJEU C-579/21) and security of processing (Art. 32)",
        data_subjects=("Employees whose data was opened", "Staff who opened it"),
        recipients=("The employee concerned (without who it was)", "Data Protection Officers", "Auditors"),
        transfers="None recorded", retention_days=None, retention=NO_PERIOD, source_system="The privacy portal",
        consent_purpose=None),
)
"""The portal's own processing (Art. 30(1)): what it keeps to handle requests and account for them."""


@dataclass(frozen=True)
class Record:
    controller: str  # every controller, "ES: Example Iberia S.L.; ..."
    controller_contact: str
    dpo_contact: str  # empty when PORTAL_DPO_CONTACT is not set
    generated_at: datetime
    activities: tuple[Activity, ...]
    security_measures: tuple[str, ...] = SECURITY_MEASURES
    notes: tuple[str, ...] = NOTES
    controllers: tuple[tuple[str, Controller], ...] = ()  # (jurisdiction code, entity) per GDPR country


def _subjects(key: str) -> tuple[str, ...]:
    return (EMPLOYEES, ON_SCREEN) if key == CategoryKey.SCREENSHOTS.value else (EMPLOYEES,)


def _transfers(raw: list[dict[str, str]] | None) -> str:
    return "; ".join(transfer_lines(raw, True)) or NO_TRANSFERS


def build_record(now: datetime | None = None) -> Record:
    """The record as the register stands now, then the portal's own processing."""
    activities = tuple(
        Activity(key=c.key, name=c.name, description=c.description, purposes=tuple(c.purposes or ()),
                 legal_basis=c.legal_basis, data_subjects=_subjects(c.key), recipients=tuple(c.recipients or ()),
                 transfers=_transfers(c.transfers), retention_days=c.retention_days, source_system=c.source_system,
                 consent_purpose=c.consent_purpose, dpia=c.dpia_reference or "")
        for c in register()) + PORTAL_ACTIVITIES
    controllers = gdpr_controllers()
    if not controllers:
        return Record(controller=controller_name(), controller_contact=CONTROLLER_CONTACT, dpo_contact=dpo_contact(),
                      generated_at=now or utcnow(), activities=activities)
    notes = tuple(n for n in NOTES if not n.startswith("The controller's name is not set"))
    return Record(controller="; ".join(f"{code}: {c.name}" for code, c in controllers),
                  controller_contact="; ".join(f"{code}: {_contact(c)}" for code, c in controllers),
                  dpo_contact="; ".join(dict.fromkeys(c.dpo for _code, c in controllers if c.dpo)) or dpo_contact(),
                  generated_at=now or utcnow(), activities=activities, notes=notes, controllers=tuple(controllers))


def _contact(c: Controller) -> str:
    return ", ".join(x for x in (c.address, c.representative and f"represented by {c.representative}",
                                 c.dpo and f"DPO {c.dpo}") if x) or CONTROLLER_CONTACT


def gdpr_controllers() -> list[tuple[str, Controller]]:
    """Art. 30(1)(a): per country, the controller entity of each of the settings' GDPR jurisdictions
    (the registry says which those are), in the settings' order."""
    return [(code, entry) for code, entry in (current_settings().controllers or {}).items()
            if code != "*" and regime_for(code).gdpr]


def _joined(values: tuple[str, ...]) -> str:
    return "; ".join(values)


def to_csv(record: Record) -> str:
    """One row per processing activity, under the header :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for a in record.activities:
        writer.writerow({
            "controller": record.controller, "controller_contact": record.controller_contact,
            "dpo_contact": record.dpo_contact, "activity_key": a.key, "activity": a.name,
            "purposes": _joined(a.purposes), "legal_basis": a.legal_basis, "data_subjects": _joined(a.data_subjects),
            "personal_data": f"{a.name}: {a.description}", "recipients": _joined(a.recipients),
            "transfers_third_countries": a.transfers,
            "retention_days": "" if a.retention_days is None else a.retention_days, "retention": a.retention,
            "security_measures": _joined(record.security_measures), "source_system": a.source_system,
            "consent_purpose": a.consent_purpose or "", "dpia_reference": a.dpia,
            "generated_at": record.generated_at.isoformat(),
        })
    return out.getvalue()


def file_name(record: Record, extension: str) -> str:
    return f"record-of-processing-{record.generated_at.strftime('%Y-%m-%d')}.{extension}"


def to_pdf(record: Record) -> bytes:
    """The record as a PDF: who is responsible, one section per activity, the security measures, notes."""
    with document_locale():
        w = ReportWriter()
        w.title(_("Record of processing activities"),
                _("GDPR Art. 30(1): the processing of workplace monitoring data, one activity per category of the "
                  "data-category register."))
        w.story.append(w.facts([
            *([(_("Controller in %(country)s", country=code), f"{c.name}; {_contact(c)}")
               for code, c in record.controllers] or
              [(_("Controller"), record.controller), (_("Controller's contact details"), record.controller_contact)]),
            (_("Data Protection Officer"), record.dpo_contact or _("Not set (PORTAL_DPO_CONTACT)")),
            (_("Generated"), format_time(record.generated_at)),
            (_("Processing activities"), str(len(record.activities))),
        ]))
        w.heading(_("Processing activities"))
        if all(a.key.startswith(PORTAL_PREFIX) for a in record.activities):
            w.story.append(w.para(_("The register lists no categories of data.")))
        for a in record.activities:
            w.story.append(w.para(a.name, "H2"))
            consent = (_("Yes: consent to “%(purpose)s”, which can be withdrawn at any time.", purpose=a.consent_purpose)
                       if a.consent_purpose else _("No"))
            w.story.append(w.facts([
                (_("Purposes"), _joined(a.purposes) or "—"),
                (_("Legal basis"), a.legal_basis),
                (_("Categories of data subjects"), _joined(a.data_subjects)),
                (_("Categories of personal data"), f"{a.name}: {a.description}"),
                (_("Recipients"), _joined(a.recipients) or "—"),
                (_("Transfers to third countries"), a.transfers),
                (_("Retention"), _("%(days)s days", days=f"{a.retention_days:,}") if a.retention_days is not None
                 else a.retention),
                (_("Rests on consent"), consent),
                (_("Source"), a.source_system),
                (_("Impact assessment (Art. 35)"), a.dpia or "—"),
                (_("Security measures"), _("See “Technical and organisational security measures”.")),
            ]))
        w.heading(_("Technical and organisational security measures"))
        w.story.append(w.para(_("The same for every activity above (Art. 30(1)(g), Art. 32):")))
        w.bullets(record.security_measures)
        w.heading(_("Notes"))
        w.bullets(record.notes)
        title = _("Record of processing activities")
        return render(w, title=title, subject=_("GDPR Art. 30(1)"),
                      footer=_("Record of processing activities, made %(when)s",
                               when=format_time(record.generated_at)))
