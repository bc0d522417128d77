"""report.pdf: the human-readable part of an export package, made from an ``ExportSummary`` alone.

Made with the PDF toolkit (:mod:`portal.pdf`): its fonts, its escaping of every value, its
styles, tables and "page N of M" footer. Only this report's own layout is here: its sections, its
charts, and how it words the summary. It may be built in a job, outside any request, so it is
written inside :func:`portal.pdf.text.document_locale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import BinaryIO

from flask_babel import gettext as _
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, Group, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer

from portal.exports.summary import AccessLine, CategorySection, ConsentLine, ExportSummary, PackageFile, TrainingUse
from portal.i18n import complain_sentence, wording
from portal.jurisdictions import regime_for
from portal.jurisdictions.transfers import lines as transfer_lines
from portal.monitoring.access import role_label
from portal.pdf.layout import Writer
from portal.pdf.page import FRAME_WIDTH, INK, MUTED, render
from portal.pdf.text import document_locale, format_date, format_size, format_time, shorten

DAILY_LIMIT = 120  # more days than this are drawn per week, more weeks than this per month
TOP_TARGETS = 10
MAX_LISTED_IMAGES = 200  # more screenshot images than this are summed up in one line of the file list
MAX_NAMED_FILES = 12  # a category with more files names only its data files in its section
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")

BAR_FILL = colors.HexColor("#3A6EA5")


# ---------------------------------------------------------------------------------------------
# The summary in words


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


class _Report(Writer):
    """Builds the story of one report."""

    def __init__(self, summary: ExportSummary) -> None:
        self.summary = summary
        super().__init__()

    # -- sections ------------------------------------------------------------------------------

    def build(self) -> list[Flowable]:
        s = self.summary
        self.title(
            _("Your monitoring data: a copy for %(name)s", name=s.subject_name),
            _("This report explains the copy of your data that %(controller)s holds about you from workplace "
              "monitoring, which you asked for. The data itself is in the files of this package.",
              controller=s.controller))
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
            self.bullets([title])
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
            self.plain(f"{shorten(name, 26)} ({kinds.get(kind, kind)})") for kind, name, _ms, _events in ordered]
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
            self.bullets([f"{when}: {reason}" for when, reason in self.summary.unavailable])
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
        self.bullets([
            _("to know what is collected about you, why, on what basis, for how long and who receives it "
              "(this copy);"),
            _("to have wrong data corrected, to have your data erased, or its use restricted;"),
            _("to object to its use, for example for AI training, and to withdraw any consent at any time, "
              "with effect from then on;"),
            _("to receive your data in a common, machine-readable form (the CSV and JSON files in this package);"),
            complain_sentence(regime),
        ])
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


def write_report(summary: ExportSummary, out: BinaryIO) -> None:
    """Write report.pdf for ``summary`` to ``out`` (a binary file opened for writing)."""
    with document_locale(summary.language):
        writer = _Report(summary)
        pdf = render(writer.build(), writer.fonts,
                     title=_("Your monitoring data: a copy for %(name)s", name=summary.subject_name),
                     subject=_("Copy of your monitoring data"), author=summary.controller,
                     footer=_("Copy for %(name)s, made %(when)s, reference %(ref)s", name=summary.subject_name,
                              when=format_time(summary.generated_at), ref=summary.export_id))
    out.write(pdf)
