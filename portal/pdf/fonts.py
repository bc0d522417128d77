"""Fonts: DejaVu Sans (registered once per process) when the system has it, else Helvetica.

Every value printed in a PDF goes through :func:`portal.pdf.text.drawable` with the chosen font's
:attr:`Fonts.covers`, so that a character the font lacks prints as its letter without accents or
as ``?``, never as a blank or a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
"""Where DejaVu Sans is looked for; without it the documents fall back to Helvetica (Latin-1 only)."""

_FACES = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
          "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf"}


@dataclass(frozen=True)
class Fonts:
    """The faces a document is set in, and which characters they can draw."""

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


HELVETICA = Fonts("Helvetica", "Helvetica-Bold", _latin1_only)
"""The fallback, built into every PDF reader: it draws what cp1252 has."""


def document_fonts() -> Fonts:
    """The fonts of every PDF: DejaVu Sans if its files are in :data:`FONT_DIR`, else Helvetica."""
    return _fonts_in(FONT_DIR)


@functools.cache
def _fonts_in(directory: Path) -> Fonts:
    if all((directory / file).is_file() for file in _FACES.values()):
        try:
            fonts = {name: TTFont(name, str(directory / file)) for name, file in _FACES.items()}
        except Exception:  # a damaged or unreadable font file: Helvetica still works
            fonts = {}
        if fonts:
            for font in fonts.values():
                pdfmetrics.registerFont(font)
            pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold",
                                          italic="DejaVuSans-Oblique", boldItalic="DejaVuSans-BoldOblique")
            glyphs = frozenset(fonts["DejaVuSans"].face.charToGlyph)
            return Fonts("DejaVuSans", "DejaVuSans-Bold", lambda ch: ord(ch) in glyphs)
    return HELVETICA
