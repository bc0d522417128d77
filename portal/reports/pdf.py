"""What the metrics report and the record of processing share to become PDFs.

Both are made with the export report's toolkit (:mod:`portal.exports.report`): its fonts (DejaVu
Sans when the system has it), its escaping of every value, its styles, tables, label/value facts and
its "page N of M" footer. Only what those two documents need beyond it is here: a writer that
needs no export summary, a title block, a bulleted list, and rendering the story to bytes.

Who the controller is: no setting names the controller (or gives its address). The export package
calls it "the employer" (``ExportSummary.controller``'s default); these documents read the same
default, so that all of them change together once there is a setting.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import fields

from flask import current_app
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import StyleSheet1
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate

from portal.exports.report import FONT_DIR, MARGIN, _canvas_maker, _fonts, _shorten, _Writer
from portal.exports.summary import ExportSummary
from portal.i18n import html_lang


def controller_name() -> str:
    """The controller as the export package names it (there is no setting for it)."""
    default = next(f.default for f in fields(ExportSummary) if f.name == "controller")
    return str(default)


def dpo_contact() -> str:
    return str(current_app.config["PORTAL_SETTINGS"].dpo_contact or "")


class ReportWriter(_Writer):
    """The export report's writer without an export: styles, escaping, tables and facts."""

    def __init__(self) -> None:
        # The writer's helpers used here (para, heading, table, facts) never read the summary.
        super().__init__(None, _fonts(FONT_DIR))  # type: ignore[arg-type]

    def _styles(self) -> StyleSheet1:
        sheet = super()._styles()
        # Tables of figures have many narrow columns: headers a point smaller, so that a
        # one-word heading ("Withdrawn") fits its column.
        sheet["HeadCell"].fontSize = 7.5
        sheet["HeadCell"].leading = 9.5
        return sheet

    def title(self, title: str, subtitle: str) -> None:
        self.story.append(Paragraph(self.text(title), self.styles["Title"]))
        self.story.append(self.para(subtitle, "Subtitle"))

    def bullets(self, items: Sequence[str], style: str = "Bullet") -> None:
        for item in items:
            self.story.append(Paragraph(self.text(item), self.styles[style], bulletText="•"))


def render(writer: ReportWriter, *, title: str, subject: str, footer: str) -> bytes:
    """The writer's story as a PDF (A4, the export report's margins and numbered footer)."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + 4 * mm, title=writer.plain(title),
                            author=writer.plain(controller_name()), subject=writer.plain(subject),
                            creator="privacy portal", lang=html_lang())
    doc.build(writer.story, canvasmaker=_canvas_maker(writer.fonts, _shorten(writer.plain(footer), 110)))
    return buffer.getvalue()
