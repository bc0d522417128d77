"""The flowables: text made safe for reportlab, in the two styles the portal's documents use.

Everything that comes from the data (names, purposes, file names, ...) is plain text: it is
escaped before it reaches a reportlab ``Paragraph`` (which parses a mini-markup) and reduced to
what the font can draw, so that a name such as ``<b>Eve & Co</b>`` prints literally and ``Łukasz``
prints either as written (DejaVu Sans) or with ``?`` (Helvetica), never crashes.

- :class:`Writer`, the report style (the export report, the metrics report, the record of
  processing): a story with titled sections, zebra tables with a repeated header, label/value facts.
- :class:`Text` and :func:`grid_table`, the certificate style (the deletion certificate, the
  evidence pack's request.pdf): paragraph styles, and plain grid tables the document lays out itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle, StyleSheet1, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, Flowable, Paragraph, Table, TableStyle

from .fonts import document_fonts
from .page import ACCENT, FRAME_WIDTH, GRID, HEADER_FILL, INK, MUTED, ZEBRA_FILL
from .text import drawable


class Writer:
    """Builds the story (the flowables) of a document in the report style."""

    def __init__(self) -> None:
        self.fonts = document_fonts()
        self.styles = self.stylesheet()
        self.story: list[Flowable] = []

    # -- text ----------------------------------------------------------------------------------

    def text(self, value: object) -> str:
        """Plain text (from the data or a translation) made safe for a Paragraph."""
        return escape(drawable(str(value), self.fonts.covers))

    def plain(self, value: object) -> str:
        """Plain text for the canvas and charts, which do not parse markup."""
        return drawable(str(value), self.fonts.covers)

    def para(self, value: object, style: str = "Body") -> Paragraph:
        return Paragraph(self.text(value), self.styles[style])

    def title(self, title: str, subtitle: str) -> None:
        """The document's title and, under it, what it is."""
        self.story.append(Paragraph(self.text(title), self.styles["Title"]))
        self.story.append(self.para(subtitle, "Subtitle"))

    def heading(self, value: str) -> None:
        """A section heading, never alone at the bottom of a page."""
        self.story.append(CondPageBreak(45 * mm))
        self.story.append(Paragraph(self.text(value), self.styles["H1"]))

    def bullets(self, items: Sequence[str], style: str = "Bullet") -> None:
        for item in items:
            self.story.append(Paragraph(self.text(item), self.styles[style], bulletText="•"))

    def stylesheet(self) -> StyleSheet1:
        """The paragraph styles, by name; a document may adjust them."""
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
        """A table with a repeated header row, a light grid and zebra rows; every cell is plain
        text. ``widths`` are relative: the table spans the frame."""
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


class Text:
    """Paragraph styles of the certificate style, and text made safe for them (escaped, drawable
    by the font)."""

    def __init__(self) -> None:
        self.fonts = document_fonts()
        base = getSampleStyleSheet()
        regular, bold = self.fonts.regular, self.fonts.bold
        self.body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9.5, leading=13,
                                   textColor=INK)
        self.muted = ParagraphStyle("muted", parent=self.body, fontSize=8, leading=10.5, textColor=MUTED)
        self.code = ParagraphStyle("code", parent=self.muted, fontName="Courier", fontSize=7, leading=9)
        self.title = ParagraphStyle("title", parent=base["Title"], fontName=bold, fontSize=18, leading=22,
                                    textColor=ACCENT, alignment=0)
        self.heading = ParagraphStyle("heading", parent=base["Heading2"], fontName=bold, fontSize=11.5, leading=15,
                                      textColor=ACCENT, spaceBefore=8, spaceAfter=4)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=9, leading=11.5)
        self.cell_bold = ParagraphStyle("cell-bold", parent=self.cell, fontName=bold)

    def plain(self, text: object) -> str:
        return drawable(str(text), self.fonts.covers)

    def para(self, text: object, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(escape(self.plain(text)), style or self.body)

    def ascii(self, text: str, style: ParagraphStyle) -> Paragraph:
        """Text in a built-in font (Courier): only printable ASCII, the rest as '?'."""
        safe = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in text)
        return Paragraph(escape(safe), style)


def grid_table(rows: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
    """``rows`` (flowables or text, laid out by the caller) in a light grid, ``widths`` absolute;
    with ``header``, the first row is shaded and repeated on each page."""
    table = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
    style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    table.setStyle(TableStyle(style))
    return table
