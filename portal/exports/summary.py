"""What the report and the offline index say about one export package: plain data, gathered
while the package is written, so that neither needs the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class CategorySection:
    """One register category with its Art. 15 information and what the package holds of it."""

    key: str
    name: str
    description: str
    purposes: list[str]
    legal_basis: str
    retention_days: int
    recipients: list[str]
    source_system: str
    consent_purpose: str | None
    count: int  # items of this category in the package (after the scope's dates)
    first_at: datetime | None  # first and last item in the package
    last_at: datetime | None
    files: list[str] = field(default_factory=list)  # package paths holding this category's data
    # GDPR Art. 15(1)(c) and (2): the register's transfers ({recipient, destination, safeguard})
    transfers: list[dict[str, str]] = field(default_factory=list)


@dataclass
class PackageFile:
    path: str  # inside the ZIP, "/"-separated
    description: str  # what the file is, for people
    rows: int | None = None  # records in a data file
    size: int = 0  # bytes (filled when written)
    sha256: str = ""  # hex (filled when written)


@dataclass
class TrainingUse:
    dataset: str
    snapshot: str
    record_count: int | None  # None: the pipeline did not say
    used_on: date
    model: str
    removal_required_at: datetime | None = None  # marked "removal required": kept as evidence


@dataclass
class ConsentLine:
    decided_at: datetime
    purpose: str  # a Purpose value, e.g. "ai_training"
    purpose_label: str  # its plain-language name
    decision: str  # "granted" or "withdrawn"
    policy_version: int | None
    method: str
    device: str


@dataclass
class AccessLine:
    accessed_at: datetime
    action: str  # "viewed" or "exported"
    accessor_role: str
    purpose: str
    case_ref: str | None


@dataclass
class ProfilingLine:
    """What the register states about one category used for profiling or automated decisions."""

    category: str  # the register's name
    profiling: bool
    automated_decisions: bool
    logic: str
    significance: str
    recipients: list[str]


@dataclass
class ExportSummary:
    export_id: str
    subject_name: str
    subject_email: str
    employee_number: str | None
    jurisdiction: str
    generated_at: datetime  # UTC
    categories_in_scope: list[str]  # category keys the employee chose
    date_from: date | None  # inclusive, UTC days; None = from the start
    date_to: date | None  # inclusive; None = up to now
    categories: list[CategorySection]  # every register category, in register order
    training_uses: list[TrainingUse]
    consent_history: list[ConsentLine]  # oldest first
    access_log: list[AccessLine]  # newest first
    daily_counts: list[tuple[date, int]]  # events per day (employee's time zone), oldest first
    hourly_counts: list[int]  # 24 values, events per hour of day
    top_targets: list[tuple[str, str, int, int]]  # (kind "site"/"app", name, duration_ms, events), biggest first
    files: list[PackageFile]  # every file of the package but manifest.json, report.pdf and index.html
    dpo_contact: str
    controller: str = "the employer"
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    derived_files: list[str] = field(default_factory=list)  # derived/...: counts the portal keeps about the person
    profiling: list[ProfilingLine] = field(default_factory=list)  # the register's categories used so, in order
    language: str = "en"  # the person's (portal.i18n.person_language): report.pdf and index.html are in it  # (screenshot's time, why it is left out)
