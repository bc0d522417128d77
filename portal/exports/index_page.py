"""index.html: the package's front page, opened offline from the unzipped folder.

Standalone on purpose: no JavaScript, nothing fetched from anywhere, every link relative to the
package's own folder. The template is autoescaped; file paths are also percent-encoded per segment,
so that a link can only ever point at a file inside the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from flask import render_template

from portal.exports.report import (
    TOP_TARGETS,
    consent_label,
    derived_text,
    format_hours,
    is_screenshot_image,
    profiling_text,
    scope_categories,
    scope_dates,
)
from portal.exports.summary import ExportSummary, PackageFile
from portal.i18n import complain_sentence, html_lang, wording
from portal.jurisdictions import regime_for
from portal.jurisdictions.transfers import lines as transfer_lines
from portal.monitoring.access import role_label
from portal.pdf.text import document_locale, format_date, format_size, format_time

TEMPLATE = "exports/package_index.html"
GALLERY_LIMIT = 200  # screenshots shown on the page; the rest are in the folder and in screenshots.csv


@dataclass(frozen=True)
class FileLink:
    path: str
    href: str


@dataclass(frozen=True)
class FileRow:
    link: FileLink
    description: str
    rows: str
    size: str
    sha256: str


def href(path: str) -> str:
    """A relative link to a file of the package: each path segment percent-encoded (so ``:``,
    ``?`` and ``#`` stay part of the name), leading slashes and ``..`` segments dropped."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p not in (".", "..")]
    return "/".join(quote(p, safe="") for p in parts)


def _link(path: str) -> FileLink:
    return FileLink(path, href(path))


def _file_row(file: PackageFile) -> FileRow:
    return FileRow(_link(file.path), file.description, "—" if file.rows is None else f"{file.rows:,}",
                   format_size(file.size) if file.size else "—", file.sha256)


def render_index(summary: ExportSummary) -> bytes:
    """index.html for ``summary``, as UTF-8."""
    regime = regime_for(summary.jurisdiction)
    with document_locale(summary.language):
        images = [f for f in summary.files if is_screenshot_image(f)]
        screenshot_list = next((f for f in summary.files if f.path.endswith("screenshots.csv")), None)
        in_scope = set(summary.categories_in_scope)
        page = render_template(
            TEMPLATE,
            s=summary,
            role_label=role_label,
            lang=html_lang(summary.language),
            controller=summary.controller[:1].upper() + summary.controller[1:],
            generated=format_time(summary.generated_at),
            scope_categories=scope_categories(summary),
            scope_dates=scope_dates(summary),
            categories=[{
                "section": c,
                "chosen": c.key in in_scope,
                "count": f"{c.count:,}",
                "first": format_time(c.first_at),
                "last": format_time(c.last_at),
                "retention": f"{c.retention_days:,}",
                "consent": consent_label(summary, c.consent_purpose) if c.consent_purpose else None,
                "files": [_link(p) for p in c.files if not p.startswith("screenshots/")],
                "images": sum(1 for p in c.files if p.startswith("screenshots/")),
                "transfers": transfer_lines(c.transfers, regime.gdpr),
            } for c in summary.categories],
            files=[_file_row(f) for f in summary.files],
            derived_text=derived_text(summary),
            derived_files=[_link(p) for p in summary.derived_files],
            profiling=profiling_text(summary),
            gallery=[(_link(f.path), f.description) for f in images[:GALLERY_LIMIT]],
            gallery_more=max(0, len(images) - GALLERY_LIMIT),
            screenshot_list=_link(screenshot_list.path) if screenshot_list else None,
            targets=[(kind, name, format_hours(ms), f"{events:,}") for kind, name, ms, events in
                     summary.top_targets[:TOP_TARGETS]],
            training=[(u, format_date(u.used_on), f"{u.record_count:,}" if u.record_count is not None else "—") for u in summary.training_uses],
            consents=[(c, format_time(c.decided_at)) for c in summary.consent_history],
            accesses=[(a, format_time(a.accessed_at)) for a in summary.access_log],
            contact=summary.dpo_contact,
            contact_is_email=_is_email(summary.dpo_contact),
            law=wording(regime.law),
            complain=complain_sentence(regime, with_url=False),  # offline: no address outside
            example=next((f.path for f in summary.files if f.path.startswith("data/")), "data/input_events.csv"),
        )
    return page.encode("utf-8")


def _is_email(value: str) -> bool:
    local, at, domain = (value or "").partition("@")
    return bool(at and local and "." in domain and not any(ch.isspace() or ch in "<>\"'?#/:" for ch in value))
