"""report.pdf: the human-readable part of an export package, made from an ``ExportSummary`` alone.

Everything that comes from the data (names, purposes, file names, ...) is plain text: it is escaped
before it reaches a reportlab ``Paragraph`` (which parses a mini-markup) and reduced to what the
font can draw, so that a name such as ``<b>Eve & Co</b>`` prints literally and ``Łukasz`` prints
either as written (DejaVu Sans, when the system has it) or with ``?`` (Helvetica), never crashes.

The report may be built in a job, outside any request: ``export_locale()`` pins the locale so that
``gettext`` does not ask the request for one.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, StyleSheet1, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from portal import i18n
from portal.exports.summary import AccessLine, CategorySection, ConsentLine, ExportSummary, PackageFile, TrainingUse
from portal.i18n import complain_sentence, html_lang, wording
from portal.jurisdictions import regime_for
from portal.jurisdictions.transfers import lines as transfer_lines
from portal.monitoring.access import role_label

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
"""Where DejaVu Sans is looked for; without it the report falls back to Helvetica (Latin-1 only)."""

DAILY_LIMIT = 120  # more days than this are drawn per week, more weeks than this per month
TOP_TARGETS = 10
MAX_LISTED_IMAGES = 200  # more screenshot images than this are summed up in one line of the file list
MAX_NAMED_FILES = 12  # a category with more files names only its data files in its section
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")

INK = colors.HexColor("#1F2933")
MUTED = colors.HexColor("#52606D")
ACCENT = colors.HexColor("#1D4E89")
HEADER_FILL = colors.HexColor("#E4ECF5")
ZEBRA_FILL = colors.HexColor("#F5F7FA")
GRID = colors.HexColor("#B8C4D0")
BAR_FILL = colors.HexColor("#3A6EA5")

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN


# ---------------------------------------------------------------------------------------------
# Locale, fonts, text


@contextmanager
def export_locale(language: str | None = None) -> Iterator[None]:
    """Write in ``language`` (the reader's: see portal.i18n.person_language) when it is given;
    else, inside a request, in the reader's language, and outside one in English."""
    if language is None and has_request_context():
        yield
        return
    with force_locale(language or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        yield


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    covers: Callable[[str], bool]  # whether the font can draw this character


def _latin1_only(ch: str) -> bool:
    # Helvetica's standard encoding is WinAnsi (cp1252); anything else would print as a blank.
    try:
        ch.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def _fonts(directory: Path) -> _Fonts:
    """DejaVu Sans (registered once per process) if its files are in ``directory``, else Helvetica."""
    faces = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
             "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf"}
    if all((directory / file).is_file() for file in faces.values()):
        try:
            fonts = {name: TTFont(name, str(directory / file)) for name, file in faces.items()}
        except Exception:  # a damaged or unreadable font file: Helvetica still works
            fonts = {}
        if fonts:
            for font in fonts.values():
                pdfmetrics.registerFont(font)
            pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold",
                                          italic="DejaVuSans-Oblique", boldItalic="DejaVuSans-BoldOblique")
            glyphs = frozenset(fonts["DejaVuSans"].face.charToGlyph)
            return _Fonts("DejaVuSans", "DejaVuSans-Bold", lambda ch: ord(ch) in glyphs)
    return _Fonts("Helvetica", "Helvetica-Bold", _latin1_only)


def _drawable(text: str, covers: Callable[[str], bool]) -> str:
    """``text`` with control characters dropped and every character the font lacks replaced:
    by its letter without accents when that exists (ő -> o), else by '?'."""
    out = []
    for ch in str(text):
        if ch in "\n\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        elif covers(ch):
            out.append(ch)
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(covers(c) for c in base) else "?")
    return "".join(out)


def format_time(value: datetime | None) -> str:
    """``23 November 2026, 14:05 UTC`` in the current language (the house style of
    docs/architecture.md); a naive value is taken to be UTC already."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{i18n.format_datetime(value, zone='UTC')} UTC"


def format_date(value: date | None) -> str:
    return "—" if value is None else i18n.format_date(value)


def format_size(size: int) -> str:
    """Bytes in human units (1 kB = 1000 bytes, as file managers show them)."""
    if size < 1000:
        return _("%(n)s bytes", n=size)
    value = size / 1000
    units = ["kB", "MB", "GB"]
    while value >= 1000 and units[1:]:
        value /= 1000
        units.pop(0)
    return f"{value:.1f} {units[0]}"


def format_hours(duration_ms: int) -> str:
    hours = duration_ms / 3_600_000
    return f"{hours:.1f} h" if hours >= 0.1 or duration_ms == 0 else f"{max(1, round(duration_ms / 60_000))} min"


def scope_dates(summary: ExportSummary) -> str:
    if summary.date_from is None and summary.date_to is None:
        return _("all dates")
    if summary.date_to is None:
        return _("from %(start)s on", start=format_date(summary.date_from))
    if summary.date_from is None:
        return _("up to %(end)s", end=format_date(summary.date_to))
    return _("%(start)s to %(end)s", start=format_date(summary.date_from), end=format_date(summary.date_to))


def scope_categories(summary: ExportSummary) -> str:
    names = {c.key: c.name for c in summary.categories}
    chosen = [names.get(key, key) for key in summary.categories_in_scope]
    return ", ".join(chosen) if chosen else _("none")


def consent_label(summary: ExportSummary, purpose: str) -> str:
    """The plain-language name of a consent purpose, as the consent history names it."""
    for line in summary.consent_history:
        if line.purpose == purpose and line.purpose_label:
            return line.purpose_label
    return purpose.replace("_", " ")


# ---------------------------------------------------------------------------------------------
# The document


class _Writer:
    """Builds the story (the flowables) of one report."""

    def __init__(self, summary: ExportSummary, fonts: _Fonts) -> None:
        self.summary = summary
        self.fonts = fonts
        self.styles = self._styles()
        self.story: list[Flowable] = []

    # -- text helpers --------------------------------------------------------------------------

    def text(self, value: object) -> str:
        """Plain text (from the data or a translation) made safe for a Paragraph."""
        return escape(_drawable(str(value), self.fonts.covers))

    def plain(self, value: object) -> str:
        """Plain text for the canvas and charts, which do not parse markup."""
        return _drawable(str(value), self.fonts.covers)

    def para(self, value: object, style: str = "Body") -> Paragraph:
        return Paragraph(self.text(value), self.styles[style])

    def heading(self, value: str) -> None:
        """A section heading, never alone at the bottom of a page."""
        self.story.append(CondPageBreak(45 * mm))
        self.story.append(Paragraph(self.text(value), self.styles["H1"]))

    def _styles(self) -> StyleSheet1:
        base = getSampleStyleSheet()
        regular, bold = self.fonts.regular, self.fonts.bold
        sheet = StyleSheet1()
        sheet.add(ParagraphStyle("Body", parent=base["BodyText"], fontName=regular, fontSize=9.5, leading=13,
                                 textColor=INK, spaceAfter=4))
        sheet.add(ParagraphStyle("Muted", parent=sheet["Body"], textColor=MUTED, fontSize=8.5, leading=11))
        sheet.add(ParagraphStyle("Title", parent=base["Title"], fontName=bold, fontSize=19, leading=24,
                                 textColor=ACCENT, alignment=0, spaceAfter=4))
        sheet.add(ParagraphStyle("Subtitle", parent=sheet["Body"], fontSize=10.5, leading=14, textColor=MUTED,
                                 spaceAfter=10))
        sheet.add(ParagraphStyle("H1", parent=base["Heading1"], fontName=bold, fontSize=14, leading=18,
                                 textColor=ACCENT, spaceBefore=14, spaceAfter=6))
        sheet.add(ParagraphStyle("H2", parent=base["Heading2"], fontName=bold, fontSize=11.5, leading=15,
                                 textColor=INK, spaceBefore=10, spaceAfter=4))
        sheet.add(ParagraphStyle("Cell", parent=sheet["Body"], fontSize=8.5, leading=10.5, spaceAfter=0))
        sheet.add(ParagraphStyle("CellRight", parent=sheet["Cell"], alignment=TA_RIGHT))
        sheet.add(ParagraphStyle("HeadCell", parent=sheet["Cell"], fontName=bold))
        sheet.add(ParagraphStyle("Bullet", parent=sheet["Body"], leftIndent=10, bulletIndent=0, spaceAfter=2))
        return sheet

    # -- tables --------------------------------------------------------------------------------

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float],
              right: Sequence[int] = ()) -> Table:
        """A table with a repeated header row, a light grid and zebra rows; every cell is plain text."""
        data: list[list[Any]] = [[self.para(h, "HeadCell") for h in header]]
        for row in rows:
            data.append([self.para(v, "CellRight" if i in right else "Cell") for i, v in enumerate(row)])
        total = sum(widths)
        table = Table(data, colWidths=[FRAME_WIDTH * w / total for w in widths], repeatRows=1, hAlign="LEFT")
        commands: list[tuple[Any, ...]] = [
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
        commands += [("BACKGROUND", (0, i), (-1, i), ZEBRA_FILL) for i in range(2, len(data), 2)]
        table.setStyle(TableStyle(commands))
        return table

    def facts(self, rows: Sequence[tuple[str, object]], label_width: float = 48 * mm) -> Table:
        """Label/value pairs, labels in bold on the left."""
        data = [[self.para(label, "HeadCell"), self.para(value, "Cell")] for label, value in rows]
        table = Table(data, colWidths=[label_width, FRAME_WIDTH - label_width], hAlign="LEFT")
        table.setStyle(TableStyle([
            ("BACKGROUND", (0, 0), (0, -1), HEADER_FILL),
            ("GRID", (0, 0), (-1, -1), 0.4, GRID),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return table

    # -- sections ------------------------------------------------------------------------------

    def build(self) -> list[Flowable]:
        s = self.summary
        self.story.append(Paragraph(self.text(_("Your monitoring data: a copy for %(name)s", name=s.subject_name)),
                                    self.styles["Title"]))
        self.story.append(self.para(
            _("This report explains the copy of your data that %(controller)s holds about you from workplace "
              "monitoring, which you asked for. The data itself is in the files of this package.",
              controller=s.controller), "Subtitle"))
        self.about()
        self.overview()
        self.charts()
        self.derived()
        self.categories()
        self.training()
        self.consent()
        self.access()
        self.contents()
        self.rights()
        return self.story

    def about(self) -> None:
        s = self.summary
        self.heading(_("About this copy"))
        self.story.append(self.facts([
            (_("Name"), s.subject_name),
            (_("E-mail"), s.subject_email),
            (_("Employee number"), s.employee_number or "—"),
            (_("Jurisdiction"), s.jurisdiction or "—"),
            (_("Generated"), format_time(s.generated_at)),
            (_("Export reference"), s.export_id),
            (_("Categories chosen"), scope_categories(s)),
            (_("Dates"), scope_dates(s)),
        ]))
        self.story.append(Spacer(1, 4))
        self.story.append(self.para(_("All times in this report are in UTC, except the charts by day and by hour, "
                                      "which use your time zone."), "Muted"))

    def overview(self) -> None:
        s = self.summary
        self.heading(_("What this package holds"))
        in_scope = set(s.categories_in_scope)
        rows = [(c.name, f"{c.count:,}" if c.key in in_scope else _("not chosen"), format_time(c.first_at),
                 format_time(c.last_at)) for c in s.categories]
        if rows:
            self.story.append(self.table([_("Category"), _("Items"), _("First"), _("Last")], rows,
                                         [4.2, 1.4, 2.7, 2.7], right=(1,)))
        else:
            self.story.append(self.para(_("The register lists no categories of data.")))

    # -- charts --------------------------------------------------------------------------------

    def charts(self) -> None:
        s = self.summary
        self.heading(_("Your activity at a glance"))
        unit, buckets = daily_buckets(s.daily_counts)
        titles = {"day": _("Events recorded per day"), "week": _("Events recorded per week"),
                  "month": _("Events recorded per month")}
        axes = {"day": _("Day"), "week": _("Week (starting Monday)"), "month": _("Month")}
        self.story.append(self.heading_kept(titles[unit], self.daily_chart(buckets, axes[unit]),
                                            _("No events are recorded in this package, so there is nothing to chart.")))
        hourly = [max(0, int(v)) for v in list(s.hourly_counts)[:24]] + [0] * max(0, 24 - len(s.hourly_counts))
        self.story.append(self.heading_kept(_("Events by hour of the day"), self.hour_chart(hourly) if any(hourly) else None,
                                            _("No events are recorded in this package, so there is nothing to chart.")))
        targets = [t for t in s.top_targets if t[2] > 0][:TOP_TARGETS]
        self.story.append(self.heading_kept(_("Time per web site and application"), self.target_chart(targets),
                                            _("No time in focus on a web site or application is recorded in this "
                                              "package.")))

    def derived(self) -> None:
        s = self.summary
        self.heading(_("Data derived from your activity"))
        for text in derived_text(s):
            self.story.append(self.para(text))
        if s.derived_files:
            self.story.append(self.para(_("They are in these files of this package: %(files)s.",
                                          files=", ".join(s.derived_files))))
        self.story.append(Paragraph(self.text(_("Profiling and automated decisions")), self.styles["H2"]))
        intro, lines = profiling_text(s)
        for text in intro:
            self.story.append(self.para(text))
        for title, details in lines:
            self.story.append(Paragraph(self.text(title), self.styles["Bullet"], bulletText="•"))
            for detail in details:
                self.story.append(self.para(detail))

    def heading_kept(self, title: str, chart: Drawing | None, empty: str) -> KeepTogether:
        parts: list[Flowable] = [Paragraph(self.text(title), self.styles["H2"])]
        parts.append(chart if chart is not None else self.para(empty, "Muted"))
        return KeepTogether(parts)

    def _axis_title(self, drawing: Drawing, x: float, y: float, text: str, angle: int = 0) -> None:
        label = String(0, 0, self.plain(text), fontName=self.fonts.regular, fontSize=8, fillColor=MUTED,
                       textAnchor="middle")
        if angle:
            group = Group(label)
            group.translate(x, y)
            group.rotate(angle)
            drawing.add(group)
        else:
            label.x, label.y = x, y
            drawing.add(label)

    def _style_bar_axes(self, chart: VerticalBarChart | HorizontalBarChart) -> None:
        for axis in (chart.categoryAxis, chart.valueAxis):
            axis.labels.fontName = self.fonts.regular
            axis.labels.fontSize = 7
            axis.labels.fillColor = INK
            axis.strokeColor = MUTED
        chart.valueAxis.visibleGrid = True
        chart.valueAxis.gridStrokeColor = colors.HexColor("#E1E6EC")
        chart.valueAxis.gridStrokeWidth = 0.4
        chart.valueAxis.forceZero = True
        chart.bars[0].fillColor = BAR_FILL
        chart.bars[0].strokeColor = None

    def daily_chart(self, buckets: list[tuple[str, int]], axis_title: str) -> Drawing | None:
        if not buckets or not any(v for _label, v in buckets):
            return None
        width, height = FRAME_WIDTH, 62 * mm
        drawing = Drawing(width, height)
        chart = VerticalBarChart()
        chart.x, chart.y = 42, 34
        chart.width, chart.height = width - chart.x - 8, height - chart.y - 8
        chart.data = [[v for _label, v in buckets]]
        longest = max(len(label) for label, _v in buckets)
        fits = max(2, int(chart.width // (longest * 4.2 + 14)))  # labels that fit side by side at 7 pt
        step = max(1, -(-len(buckets) // fits))
        chart.categoryAxis.categoryNames = [label if i % step == 0 else "" for i, (label, _v) in enumerate(buckets)]
        chart.barSpacing = 0
        chart.groupSpacing = 0.6 if len(buckets) > 60 else 2
        self._style_bar_axes(chart)
        chart.categoryAxis.labels.angle = 0
        chart.categoryAxis.labels.dy = -2
        chart.categoryAxis.labels.boxAnchor = "n"
        chart.categoryAxis.tickDown = 0
        chart.valueAxis.labelTextFormat = _thousands
        drawing.add(chart)
        self._axis_title(drawing, chart.x + chart.width / 2, 6, axis_title)
        self._axis_title(drawing, 9, chart.y + chart.height / 2, _("Events"), angle=90)
        return drawing

    def hour_chart(self, hourly: list[int]) -> Drawing:
        width, height = FRAME_WIDTH, 55 * mm
        drawing = Drawing(width, height)
        chart = VerticalBarChart()
        chart.x, chart.y = 42, 30
        chart.width, chart.height = width - chart.x - 8, height - chart.y - 8
        chart.data = [hourly]
        chart.categoryAxis.categoryNames = [f"{h:02d}" for h in range(24)]
        chart.groupSpacing = 3
        self._style_bar_axes(chart)
        chart.categoryAxis.labels.boxAnchor = "n"
        chart.categoryAxis.tickDown = 2
        chart.valueAxis.labelTextFormat = _thousands
        drawing.add(chart)
        self._axis_title(drawing, chart.x + chart.width / 2, 4, _("Hour of the day (your time zone)"))
        self._axis_title(drawing, 9, chart.y + chart.height / 2, _("Events"), angle=90)
        return drawing

    def target_chart(self, targets: list[tuple[str, str, int, int]]) -> Drawing | None:
        if not targets:
            return None
        bar_pitch = 15
        label_width = 150
        height = len(targets) * bar_pitch + 40
        width = FRAME_WIDTH
        drawing = Drawing(width, height)
        chart = HorizontalBarChart()
        chart.x, chart.y = label_width, 28
        chart.width, chart.height = width - label_width - 40, len(targets) * bar_pitch
        # HorizontalBarChart draws the first category at the bottom: reverse so the biggest is on top.
        ordered = list(reversed(targets))
        chart.data = [[round(ms / 3_600_000, 2) for _kind, _name, ms, _events in ordered]]
        kinds = {"site": _("site"), "app": _("app")}
        chart.categoryAxis.categoryNames = [
            self.plain(f"{_shorten(name, 26)} ({kinds.get(kind, kind)})") for kind, name, _ms, _events in ordered]
        chart.groupSpacing = 3
        self._style_bar_axes(chart)
        chart.categoryAxis.labels.boxAnchor = "e"
        chart.categoryAxis.labels.dx = -3
        chart.categoryAxis.tickLeft = 0
        chart.valueAxis.labelTextFormat = "%.1f"
        chart.barLabelFormat = "%.1f h"
        chart.barLabels.fontName = self.fonts.regular
        chart.barLabels.fontSize = 7
        chart.barLabels.boxAnchor = "w"
        chart.barLabels.dx = 3
        drawing.add(chart)
        self._axis_title(drawing, chart.x + chart.width / 2, 4, _("Hours in focus"))
        return drawing

    # -- the register --------------------------------------------------------------------------

    def categories(self) -> None:
        s = self.summary
        self.heading(_("What is collected about you"))
        self.story.append(self.para(_("Each kind of data that workplace monitoring may collect, why, on what legal "
                                      "basis, for how long, who receives it, and what of it is in this package.")))
        in_scope = set(s.categories_in_scope)
        for category in s.categories:
            self.story.append(self.category(category, category.key in in_scope))
        if not s.categories:
            self.story.append(self.para(_("The register lists no categories of data.")))

    def category(self, c: CategorySection, chosen: bool) -> KeepTogether:
        s = self.summary
        if c.consent_purpose:
            consent = _("Yes: your consent to “%(purpose)s”. You can withdraw it at any time.",
                        purpose=consent_label(s, c.consent_purpose))
        else:
            consent = _("No")
        if not chosen:
            held = _("Not in this package: you did not choose this category.")
        elif c.count:
            held = _("%(count)s items, from %(first)s to %(last)s", count=f"{c.count:,}",
                     first=format_time(c.first_at), last=format_time(c.last_at))
        else:
            held = _("None: nothing of this category is recorded about you for the dates chosen.")
        rows: list[tuple[str, object]] = [
            (_("What it is"), c.description),
            (_("Purposes"), "; ".join(c.purposes) or "—"),
            (_("Legal basis"), wording(c.legal_basis)),
            (_("Kept for"), _("%(days)s days from when each item was collected; a retention run deletes each item "
                              "on or after the end of its period, once a day, except while a legal hold applies to "
                              "it.", days=f"{c.retention_days:,}")
             + (" " + _("Records marked “removal required” are kept as evidence.")
                if c.key == "ai_training_use" else "")),
            (_("Recipients"), "; ".join(c.recipients) or "—"),
            *([(_("Where they receive it"),
                "; ".join(transfer_lines(c.transfers, regime_for(s.jurisdiction).gdpr)))] if c.transfers else []),
            (_("Comes from"), c.source_system),
            (_("Rests on consent"), consent),
            (_("In this package"), held),
            (_("Files"), self.file_names(c.files)),
        ]
        return KeepTogether([Paragraph(self.text(c.name), self.styles["H2"]), self.facts(rows, 38 * mm)])

    def file_names(self, paths: Sequence[str]) -> str:
        if not paths:
            return "—"
        if len(paths) <= MAX_NAMED_FILES:
            return ", ".join(paths)
        shown = [p for p in paths if not p.startswith("screenshots/")][:MAX_NAMED_FILES]
        more = len(paths) - len(shown)
        return _("%(files)s and %(n)s more files, listed under “What is in this package”",
                 files=", ".join(shown), n=f"{more:,}") if shown else _("%(n)s files, listed under “What is in this "
                                                                       "package”", n=f"{more:,}")

    # -- the tables of events ------------------------------------------------------------------

    def training(self) -> None:
        uses: list[TrainingUse] = self.summary.training_uses
        self.heading(_("Use of your data in AI training sets"))
        if not uses:
            self.story.append(self.para(_("Your data has not been used in any AI training set.")))
            return
        self.story.append(self.para(_("Each time records about you went into a snapshot of a data set used to train "
                                      "a model.")))
        rows = [(u.dataset, u.snapshot, f"{u.record_count:,}" if u.record_count is not None else "—", format_date(u.used_on), u.model) for u in uses]
        self.story.append(self.table([_("Data set"), _("Snapshot"), _("Records"), _("Date"), _("Model")], rows,
                                     [3, 2.2, 1.4, 1.6, 3], right=(2,)))
        marked = [u for u in uses if u.removal_required_at is not None]
        if marked:
            self.story.append(self.para(_(
                "%(marked)s of these snapshots (%(snapshots)s) are marked “removal required” (after an erasure, an "
                "upheld objection or a withdrawal of consent): their records are kept, as evidence of where your "
                "data went. The portal does not itself remove data from training sets or from models already "
                "trained on them; your dashboard shows what the AI-training pipeline answered.", marked=f"{len(marked):,}",
                snapshots=", ".join(f"{u.dataset} {u.snapshot}" for u in marked))))

    def consent(self) -> None:
        lines: list[ConsentLine] = self.summary.consent_history
        self.heading(_("Your consent decisions"))
        if not lines:
            self.story.append(self.para(_("You have not given or withdrawn consent for any purpose.")))
            return
        decisions = {"granted": _("granted"), "withdrawn": _("withdrawn")}
        rows = [(format_time(c.decided_at), c.purpose_label, decisions.get(c.decision, c.decision),
                 "—" if c.policy_version is None else str(c.policy_version), c.method, c.device) for c in lines]
        self.story.append(self.table([_("Time"), _("Purpose"), _("Decision"), _("Policy version"), _("How"),
                                      _("Device")], rows, [2.9, 3, 1.6, 1.3, 1.6, 2.2]))

    def access(self) -> None:
        lines: list[AccessLine] = self.summary.access_log
        self.heading(_("Who accessed your data"))
        if not lines:
            self.story.append(self.para(_("No member of staff has viewed or exported your data.")))
            return
        self.story.append(self.para(_("Each time staff viewed or exported your monitoring data, newest first. Staff "
                                      "are named by their role.")))
        actions = {"viewed": _("viewed"), "exported": _("exported")}
        rows = [(format_time(a.accessed_at), actions.get(a.action, a.action), role_label(a.accessor_role), a.purpose,
                 a.case_ref or "—") for a in lines]
        self.story.append(self.table([_("Time"), _("Action"), _("Role"), _("Purpose"), _("Case")], rows,
                                     [2.9, 1.5, 2.3, 3.8, 1.6]))

    # -- the package ---------------------------------------------------------------------------

    def contents(self) -> None:
        files: list[PackageFile] = self.summary.files
        self.heading(_("What is in this package"))
        rows: list[tuple[str, str, str, str]] = [
            ("report.pdf", _("This report."), "—", "—"),
            ("index.html", _("The same information as a page to open in a web browser, with links to every file "
                             "and your screenshots. It needs no internet connection."), "—", "—"),
            ("manifest.json", _("The SHA-256 checksum and size of every file of the package, so that you can "
                                "check that your copy is complete and unchanged."), "—", "—"),
        ]
        images = [f for f in files if is_screenshot_image(f)]
        listed = files if len(images) <= MAX_LISTED_IMAGES else [f for f in files if not is_screenshot_image(f)]
        rows += [(f.path, f.description, f"{f.rows:,}" if f.rows is not None else "—",
                  format_size(f.size) if f.size else "—") for f in listed]
        if len(listed) < len(files):
            index = next((f.path for f in files if f.path.endswith("screenshots.csv")), "index.html")
            rows.append(("screenshots/", _("%(n)s screenshot images, each listed by name in %(list)s",
                                           n=f"{len(images):,}", list=index), "—",
                         format_size(sum(f.size for f in images))))
        self.story.append(self.table([_("File"), _("What it holds"), _("Rows"), _("Size")], rows, [4, 6, 1.2, 1.4],
                                     right=(2, 3)))
        if self.summary.unavailable:
            self.story.append(Spacer(1, 4))
            self.story.append(self.para(_(
                "%(n)s screenshot(s) could not be included: their stored file is missing or damaged. They are "
                "listed under “unavailable” in manifest.json, and below. You can ask the Data Protection Officer "
                "about them, quoting this copy's reference:", n=len(self.summary.unavailable))))
            for when, reason in self.summary.unavailable:
                self.story.append(Paragraph(self.text(f"{when}: {reason}"), self.styles["Bullet"], bulletText="•"))
        self.story.append(Spacer(1, 6))
        self.story.append(Paragraph(self.text(_("How to check this copy")), self.styles["H2"]))
        self.story.append(self.para(_(
            "manifest.json lists every file of the package with its size in bytes and its SHA-256 checksum. "
            "Compute the checksum of a file yourself (for example “sha256sum data/input_events.csv” on Linux, "
            "“shasum -a 256 FILE” on macOS, “certutil -hashfile FILE SHA256” on Windows) and compare it with "
            "the manifest: if they are equal, the file is exactly as it was when the copy was made.")))

    def rights(self) -> None:
        s = self.summary
        regime = regime_for(s.jurisdiction)
        self.heading(_("Your rights"))
        law = wording(regime.law)
        intro = (_("Under %(law)s you have these rights about this data:", law=law) if law
                 else _("You have these rights about this data:"))
        self.story.append(self.para(intro))
        for item in (
            _("to know what is collected about you, why, on what basis, for how long and who receives it "
              "(this copy);"),
            _("to have wrong data corrected, to have your data erased, or its use restricted;"),
            _("to object to its use, for example for AI training, and to withdraw any consent at any time, "
              "with effect from then on;"),
            _("to receive your data in a common, machine-readable form (the CSV and JSON files in this package);"),
            complain_sentence(regime),
        ):
            self.story.append(Paragraph(self.text(item), self.styles["Bullet"], bulletText="•"))
        self.story.append(Spacer(1, 4))
        self.story.append(Paragraph(self.text(_("Questions and requests")), self.styles["H2"]))
        if s.dpo_contact:
            contact = _("For any of these rights, or if something in this copy looks wrong or incomplete, contact "
                        "the Data Protection Officer: %(contact)s. Please quote the reference %(ref)s.",
                        contact=s.dpo_contact, ref=s.export_id)
        else:
            contact = _("For any of these rights, or if something in this copy looks wrong or incomplete, contact "
                        "the Data Protection Officer. Please quote the reference %(ref)s.", ref=s.export_id)
        self.story.append(self.para(contact))


def derived_text(summary: ExportSummary) -> list[str]:
    """What report.pdf and index.html say about the derived data (portal.monitoring.aggregates)."""
    return [
        _("Besides the events themselves, the portal keeps counts derived from them: events per day and per hour "
          "of the day (in your time zone), time in focus and events per web site and application, and items "
          "collected per category. They are what the dashboard shows about how you work."),
        _("Events per day cover the dates of this copy; the other counts are totals over all time, not only the "
          "dates of this copy."),
        _("The portal itself computes no score, rating or ranking of you: these files hold counts and sums only."),
    ]


def profiling_text(summary: ExportSummary) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """What the register states about profiling and decisions by automated means alone: general
    sentences, then (title, details) per category it says is used so (as the dashboard says it)."""
    intro = [_("What the register of processing states about the use of your data for profiling and for decisions "
               "taken by automated means alone:")]
    if not any(p.automated_decisions for p in summary.profiling):
        intro.append(_("No decision about you is taken by automated means alone on the basis of this data."))
    if not summary.profiling:
        intro.append(_("None of this data is used to evaluate you (profiling)."))
    lines = []
    for p in summary.profiling:
        if p.automated_decisions:
            use = _("used for decisions taken by automated means alone")
            if p.profiling:
                use += ", " + _("profiling included")
        else:
            use = _("used for profiling: evaluating how you work")
        lines.append((f"{p.category}: {use}.", [
            f'{_("How it works:")} {p.logic}',
            f'{_("What it means for you:")} {p.significance}',
            _("Who receives it: %(recipients)s", recipients="; ".join(p.recipients) or "—"),
        ]))
    return intro, lines


def is_screenshot_image(file: PackageFile) -> bool:
    return file.path.startswith("screenshots/") and file.path.lower().endswith(IMAGE_EXTENSIONS)


def _thousands(value: float) -> str:
    return f"{value:,.0f}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def daily_buckets(daily: Sequence[tuple[date, int]]) -> tuple[str, list[tuple[str, int]]]:
    """Events per day, or per week or month when there are too many days to read: the unit ("day",
    "week" or "month") and (label, count) for every bucket from the first day to the last, empty ones included."""
    if not daily:
        return "day", []
    first = min(d for d, _n in daily)
    last = max(d for d, _n in daily)
    span = (last - first).days + 1
    if span <= DAILY_LIMIT:
        totals = {first + timedelta(days=i): 0 for i in range(span)}
        for day, n in daily:
            totals[day] += n
        return "day", [(day.strftime("%m-%d") if span <= 366 else day.isoformat(), n) for day, n in totals.items()]
    if span <= DAILY_LIMIT * 7:
        start = first - timedelta(days=first.weekday())
        weeks = {start + timedelta(weeks=i): 0 for i in range((last - start).days // 7 + 1)}
        for day, n in daily:
            weeks[day - timedelta(days=day.weekday())] += n
        return "week", [(week.isoformat(), n) for week, n in weeks.items()]
    months: dict[tuple[int, int], int] = {}
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months[(year, month)] = 0
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for day, n in daily:
        months[(day.year, day.month)] += n
    return "month", [(f"{y}-{m:02d}", n) for (y, m), n in months.items()]


def _canvas_maker(fonts: _Fonts, footer: str) -> type[canvas.Canvas]:
    class NumberedCanvas(canvas.Canvas):
        """Holds the pages back until the end so that each footer can say "page N of M"."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(fonts.regular, 7.5)
                self.setFillColor(MUTED)
                self.setStrokeColor(GRID)
                self.setLineWidth(0.4)
                self.line(MARGIN, 13 * mm, PAGE_WIDTH - MARGIN, 13 * mm)
                self.drawString(MARGIN, 9 * mm, footer)
                self.drawRightString(PAGE_WIDTH - MARGIN, 9 * mm, _("page %(n)s of %(total)s", n=number, total=total))
                super().showPage()
            super().save()

    return NumberedCanvas


def write_report(summary: ExportSummary, out: BinaryIO) -> None:
    """Write report.pdf for ``summary`` to ``out`` (a binary file opened for writing)."""
    with export_locale(summary.language):
        fonts = _fonts(FONT_DIR)
        writer = _Writer(summary, fonts)
        story = writer.build()
        title = _("Your monitoring data: a copy for %(name)s", name=summary.subject_name)
        footer = writer.plain(_("Copy for %(name)s, made %(when)s, reference %(ref)s", name=summary.subject_name,
                                when=format_time(summary.generated_at), ref=summary.export_id))
        buffer = io.BytesIO()  # the package's ZIP entry only offers write(); the PDF is small
        doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                                bottomMargin=MARGIN + 4 * mm, title=writer.plain(title),
                                author=writer.plain(summary.controller), subject=_("Copy of your monitoring data"),
                                creator="privacy portal", lang=html_lang())
        doc.build(story, canvasmaker=_canvas_maker(fonts, _shorten(footer, 110)))
    out.write(buffer.getvalue())
