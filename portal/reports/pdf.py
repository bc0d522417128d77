"""What the metrics report and the record of processing share to become PDFs.

Both are made with the PDF toolkit (:mod:`portal.pdf`) in the report style, as the export report
is: its fonts (DejaVu Sans when the system has it), its escaping of every value, its styles,
tables, label/value facts and its "page N of M" footer. Only what those two documents need beyond
it is here: narrower table headers, who the controller is, and rendering the story to bytes.

Who the controller is: no setting names the controller (or gives its address). The export package
calls it "the employer" (``ExportSummary.controller``'s default); these documents read the same
default, so that all of them change together once there is a setting.
"""

from __future__ import annotations

from dataclasses import fields

from reportlab.lib.styles import StyleSheet1

from portal.config import current_settings
from portal.exports.summary import ExportSummary
from portal.pdf import page
from portal.pdf.layout import Writer


def controller_name() -> str:
    """The controller as the export package names it (there is no setting for it)."""
    default = next(f.default for f in fields(ExportSummary) if f.name == "controller")
    return str(default)


def dpo_contact() -> str:
    return str(current_settings().dpo_contact or "")


class ReportWriter(Writer):
    """The report style, with table headers for tables of figures."""

    def stylesheet(self) -> StyleSheet1:
        sheet = super().stylesheet()
        # Tables of figures have many narrow columns: headers a point smaller, so that a
        # one-word heading ("Withdrawn") fits its column.
        sheet["HeadCell"].fontSize = 7.5
        sheet["HeadCell"].leading = 9.5
        return sheet


def render(writer: ReportWriter, *, title: str, subject: str, footer: str) -> bytes:
    """The writer's story as a PDF (A4, the house margins and numbered footer), by the controller."""
    return page.render(writer.story, writer.fonts, title=title, subject=subject, author=controller_name(),
                       footer=footer)
