"""The monitoring policy: drafts, published versions (which never change), rendering,
differences between versions, and acknowledgements.

Rendering: Python-Markdown turns the source into HTML, then nh3 (bindings to the Rust
``ammonia`` sanitiser) keeps only an explicit allow-list of tags, attributes and URL schemes.
Regular expressions are never used to clean HTML."""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.etree.ElementTree import Element

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup, escape
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper

from portal.audit.services import Actor, record
from portal.config import current_settings
from portal.db import utcnow
from portal.extensions import db
from portal.policy.models import PolicyAcknowledgement, PolicyStatus, PolicyVersion

TITLE_MAX = 200
BODY_MAX = 100_000
SUMMARY_MAX = 2_000

# What a policy may contain once rendered. No images (they would load from elsewhere), no
# style, no scripts, no frames, no forms: text, structure, tables and links.
ALLOWED_TAGS = frozenset({
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "ul", "ol", "li", "strong", "em", "b", "i",
    "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "dl", "dt", "dd",
})
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


class PolicyError(ValueError):
    """A policy action was refused; nothing changed."""


class PublishedVersionChanged(PolicyError):
    """Something tried to change or delete a published version."""


# --- immutability ----------------------------------------------------------------------------------

@event.listens_for(PolicyVersion, "before_update")
def _published_versions_never_change(mapper: Mapper[Any], connection: Connection, target: PolicyVersion) -> None:
    # Ask the database, not the object: its attributes may be expired or already changed.
    stored = connection.scalar(select(PolicyVersion.status).where(PolicyVersion.id == target.id))
    if stored == PolicyStatus.PUBLISHED.value:
        raise PublishedVersionChanged("a published policy version never changes")


@event.listens_for(PolicyVersion, "before_delete")
def _published_versions_are_kept(mapper: Mapper[Any], connection: Connection, target: PolicyVersion) -> None:
    if target.status == PolicyStatus.PUBLISHED:
        raise PublishedVersionChanged("a published policy version is never deleted")


# --- reading ---------------------------------------------------------------------------------------

def current() -> PolicyVersion | None:
    """The latest published version, or None before the first publication."""
    return db.session.scalar(
        select(PolicyVersion).where(PolicyVersion.status == PolicyStatus.PUBLISHED.value)
        .order_by(PolicyVersion.version.desc()).limit(1)
    )


def current_version_number() -> int | None:
    return db.session.scalar(select(func.max(PolicyVersion.version))
                             .where(PolicyVersion.status == PolicyStatus.PUBLISHED.value))


def published() -> list[PolicyVersion]:
    """Every published version, newest first."""
    return list(db.session.scalars(
        select(PolicyVersion).where(PolicyVersion.status == PolicyStatus.PUBLISHED.value)
        .order_by(PolicyVersion.version.desc())
    ))


def get_version(number: int) -> PolicyVersion | None:
    """Published version ``number`` (drafts are never returned)."""
    return db.session.scalar(select(PolicyVersion).where(PolicyVersion.version == number,
                                                         PolicyVersion.status == PolicyStatus.PUBLISHED.value))


def draft() -> PolicyVersion | None:
    """The one draft being written, if any."""
    return db.session.scalar(select(PolicyVersion).where(PolicyVersion.status == PolicyStatus.DRAFT.value)
                             .order_by(PolicyVersion.id.desc()).limit(1))


def draft_digest(version: PolicyVersion) -> str:
    """A fingerprint of what a draft says, so that publishing can insist on what was previewed."""
    content = "\x1f".join((version.title, version.change_summary or "", version.body_markdown))
    return hashlib.sha256(content.encode()).hexdigest()


# --- rendering -------------------------------------------------------------------------------------

class _ShiftHeadings(Treeprocessor):
    """The page's own <h1> is the policy title: the policy's headings start one level lower."""

    def run(self, root: Element) -> None:
        for element in root.iter():
            match = re.fullmatch(r"h([1-6])", element.tag)
            if match:
                element.tag = f"h{min(int(match.group(1)) + 1, 6)}"


class _ShiftHeadingsExtension(Extension):
    def extendMarkdown(self, md: Any) -> None:
        md.treeprocessors.register(_ShiftHeadings(md), "shift_headings", 5)


def _local_link(url: str) -> str | None:
    """Relative URLs: keep links within the portal (``/path``, ``#anchor``); drop the rest,
    including protocol-relative ``//host`` links that would leave it."""
    if url.startswith("#") or (url.startswith("/") and not url.startswith("//") and "\\" not in url):
        return url
    return None


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        url_relative=_local_link,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def render(source: str) -> Markup:
    """Markdown to HTML that is safe to place in a page."""
    html = markdown.markdown(
        source or "",
        extensions=["tables", "sane_lists", _ShiftHeadingsExtension()],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )
    return Markup(sanitise(html))  # noqa: S704 - the allow-list sanitiser produced it


# --- differences -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff. ``kind`` is equal, delete, insert, change or skip."""

    kind: str
    old_number: int | None = None
    old: Markup | None = None
    new_number: int | None = None
    new: Markup | None = None
    skipped: int = 0


@dataclass(frozen=True)
class PolicyDiff:
    old: PolicyVersion
    new: PolicyVersion
    rows: list[DiffRow]
    added: int
    removed: int

    @property
    def identical(self) -> bool:
        return self.added == 0 and self.removed == 0


CONTEXT = 3
WORDS = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")  # a word with the spaces after it


def _mark(tag: str, text: str) -> str:
    """``text`` inside <tag>, but the spaces after it outside (they did not change)."""
    core = text.rstrip()
    return f"<{tag}>{escape(core)}</{tag}>{escape(text[len(core):])}" if core else str(escape(text))


def _highlight(old: str, new: str) -> tuple[Markup, Markup]:
    """Mark the words that differ between two versions of a line with <del> and <ins>."""
    a, b = WORDS.findall(old), WORDS.findall(new)
    left: list[str] = []
    right: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            left.append(escape(removed))
            right.append(escape(added))
            continue
        left.append(_mark("del", removed))
        right.append(_mark("ins", added))
    return Markup("".join(left)), Markup("".join(right))  # noqa: S704 - every piece was escaped


def _equal_rows(old_lines: list[str], new_lines: list[str], i1: int, i2: int, j1: int,
                first: bool, last: bool) -> list[DiffRow]:
    rows = [DiffRow("equal", i1 + k + 1, escape(old_lines[i1 + k]), j1 + k + 1, escape(new_lines[j1 + k]))
            for k in range(i2 - i1)]
    keep_head = 0 if first else CONTEXT
    keep_tail = 0 if last else CONTEXT
    if len(rows) <= keep_head + keep_tail + 1:
        return rows
    hidden = len(rows) - keep_head - keep_tail
    return [*rows[:keep_head], DiffRow("skip", skipped=hidden), *rows[len(rows) - keep_tail:]]


def diff(old: PolicyVersion, new: PolicyVersion) -> PolicyDiff:
    """A side-by-side line diff of two versions' Markdown source, with changed words marked.
    Long unchanged stretches are folded to a few lines of context."""
    old_lines = old.body_markdown.splitlines()
    new_lines = new.body_markdown.splitlines()
    opcodes = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
    rows: list[DiffRow] = []
    added = removed = 0
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            only = len(opcodes) == 1
            rows += _equal_rows(old_lines, new_lines, i1, i2, j1, first=index == 0 and not only,
                                last=index == len(opcodes) - 1 and not only)
            continue
        removed += i2 - i1
        added += j2 - j1
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            left, right = _highlight(old_lines[i1 + k], new_lines[j1 + k])
            rows.append(DiffRow("change", i1 + k + 1, left, j1 + k + 1, right))
        rows += [DiffRow("delete", old_number=i + 1, old=escape(old_lines[i])) for i in range(i1 + pairs, i2)]
        rows += [DiffRow("insert", new_number=j + 1, new=escape(new_lines[j])) for j in range(j1 + pairs, j2)]
    return PolicyDiff(old=old, new=new, rows=rows, added=added, removed=removed)


# --- writing ---------------------------------------------------------------------------------------

def _employee_id(actor: Actor) -> str | None:
    return actor.id if actor.type == "employee" else None


def save_draft(title: str, body: str, change_summary: str, actor: Actor) -> PolicyVersion:
    """Create the draft, or update it: there is one draft at a time."""
    title = (title or "").strip()
    body = (body or "").replace("\r\n", "\n")
    change_summary = (change_summary or "").strip()
    if not title:
        raise PolicyError("a title is required")
    if len(title) > TITLE_MAX or len(body) > BODY_MAX or len(change_summary) > SUMMARY_MAX:
        raise PolicyError("the draft is too long")
    version = draft()
    created = version is None
    if version is None:
        version = PolicyVersion(status=PolicyStatus.DRAFT, created_by_id=_employee_id(actor))
        db.session.add(version)
    version.title, version.body_markdown, version.change_summary = title, body, change_summary
    db.session.flush()
    record("policy:draft:create" if created else "policy:draft:update", actor=actor,
           targets={"policy_version": version.id}, details={"body_chars": len(body)})
    return version


def publish(draft_id: int, actor: Actor, *, expected_digest: str | None = None,
            published_at: datetime | None = None) -> PolicyVersion:
    """Give the draft the next version number and publish it. From then on it never changes.
    ``expected_digest`` (from the preview) refuses a draft that changed since it was previewed."""
    version = db.session.get(PolicyVersion, draft_id)
    if version is None or version.status != PolicyStatus.DRAFT:
        raise PolicyError("there is no such draft to publish")
    if not version.body_markdown.strip():
        raise PolicyError("an empty policy cannot be published")
    if expected_digest is not None and expected_digest != draft_digest(version):
        raise PolicyError("the draft changed since it was previewed")
    number = (current_version_number() or 0) + 1
    version.version = number
    version.status = PolicyStatus.PUBLISHED
    version.published_at = published_at or utcnow()
    version.published_by_id = _employee_id(actor)
    db.session.flush()
    record("policy:version:publish", actor=actor, targets={"policy_version": version.id},
           details={"version": number})
    return version


def acknowledgement(subject_id: str, version: PolicyVersion) -> PolicyAcknowledgement | None:
    return db.session.scalar(select(PolicyAcknowledgement).where(
        PolicyAcknowledgement.subject_id == subject_id, PolicyAcknowledgement.policy_version_id == version.id))


def acknowledgements_of(subject_id: str) -> dict[int, PolicyAcknowledgement]:
    """The subject's acknowledgements, by policy version id."""
    return {ack.policy_version_id: ack for ack in db.session.scalars(
        select(PolicyAcknowledgement).where(PolicyAcknowledgement.subject_id == subject_id))}


def acknowledge(subject_id: str, number: int, actor: Actor, *, at: datetime | None = None) -> PolicyAcknowledgement:
    """Record that the subject has read published version ``number``. Only once per version."""
    version = get_version(number)
    if version is None:
        raise PolicyError("there is no such published version")
    if acknowledgement(subject_id, version) is not None:
        raise PolicyError("you have already acknowledged this version")
    ack = PolicyAcknowledgement(subject_id=subject_id, policy_version_id=version.id)
    if at is not None:
        ack.acknowledged_at = at
    db.session.add(ack)
    db.session.flush()
    record("policy:version:acknowledge", actor=actor, subject_id=subject_id,
           targets={"policy_version": version.id, "acknowledgement": ack.id}, details={"version": number})
    return ack


def needs_acknowledgement(subject_id: str) -> PolicyVersion | None:
    """The current version if the subject has not acknowledged it yet, else None."""
    version = current()
    if version is None or acknowledgement(subject_id, version) is not None:
        return None
    return version


def legal_facts(jurisdiction: str | None) -> dict[str, Any]:
    """What the policy page adds for the reader's regime (the registry says which applies): the
    impact assessment of each register category (GDPR Art. 35) for those under the GDPR, and for
    Spain the workplace digital rights the employer there recorded (LOPDGDD Art. 87, 88, 91: the
    controllers file). Nothing of it for anyone else."""
    from portal.jurisdictions import regime_for
    from portal.monitoring.services import register

    regime = regime_for(jurisdiction)
    dpias = [(c.name, c.dpia_reference) for c in register() if c.dpia_reference] if regime.gdpr else []
    entity = current_settings().controller(jurisdiction)
    workplace = None
    if "device_criteria" in regime.citations:
        workplace = {
            "criteria_date": date.fromisoformat(entity.device_criteria_date) if entity.device_criteria_date else None,
            "criteria_body": entity.device_criteria_body,
            "disconnection": entity.disconnection_policy,
            "disconnection_date": (date.fromisoformat(entity.disconnection_date) if entity.disconnection_date
                                   else None),
            "agreement": entity.collective_agreement,
        }
    return {"legal_regime": regime, "dpias": dpias, "workplace": workplace}
