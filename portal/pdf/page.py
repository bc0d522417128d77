"""The page: house colours, A4 with its margins, the "page N of M" footer, and rendering.

Every document is A4 with the same margins; one with a footer (:func:`render`'s ``footer``) keeps
a little more room at the bottom for it.
"""

from __future__ import annotations

import io
from typing import Any

from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Flowable, SimpleDocTemplate

from portal.i18n import html_lang

from .fonts import Fonts
from .text import drawable, shorten

INK = colors.HexColor("#1F2933")
MUTED = colors.HexColor("#52606D")
ACCENT = colors.HexColor("#1D4E89")
HEADER_FILL = colors.HexColor("#E4ECF5")
ZEBRA_FILL = colors.HexColor("#F5F7FA")
GRID = colors.HexColor("#B8C4D0")

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN
FOOTER_ROOM = 4 * mm  # added to the bottom margin of a document with a footer
FOOTER_LIMIT = 110  # characters of footer text, beside the page number


def numbered_canvas(fonts: Fonts, footer: str) -> type[canvas.Canvas]:
    """A canvas class that prints ``footer`` and "page N of M" under a rule at the foot of each page."""

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


def render(story: list[Flowable], fonts: Fonts, *, title: str, subject: str, author: str | None = None,
           footer: str | None = None) -> bytes:
    """``story`` as an A4 PDF in the house margins, its properties (title, subject, author) made
    drawable like the text; with ``footer``, every page ends with it (shortened) and its number."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN + FOOTER_ROOM if footer is not None else MARGIN,
                            title=drawable(title, fonts.covers), subject=drawable(subject, fonts.covers),
                            author=drawable(author, fonts.covers) if author is not None else None,
                            creator="privacy portal", lang=html_lang())
    if footer is None:
        maker = canvas.Canvas
    else:
        maker = numbered_canvas(fonts, shorten(drawable(footer, fonts.covers), FOOTER_LIMIT))
    doc.build(story, canvasmaker=maker)
    return buffer.getvalue()
