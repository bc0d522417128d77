"""The words of a document: its language, text the font can draw, and the house formats.

A document may be built in a job, outside any request: :func:`document_locale` pins the locale so
that ``gettext`` does not ask the request for one. Everything that comes from the data (names,
purposes, file names, ...) is plain text; :func:`drawable` reduces it to what the font can draw.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import gettext as _

from portal import i18n


@contextmanager
def document_locale(language: str | None = None) -> Iterator[None]:
    """Write in ``language`` (the reader's: see portal.i18n.person_language) when it is given;
    else, inside a request, in the reader's language, and outside one in English."""
    if language is None and has_request_context():
        yield
        return
    with force_locale(language or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        yield


def drawable(text: str, covers: Callable[[str], bool]) -> str:
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


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis for the last when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def format_time(value: datetime | None) -> str:
    """``23 November 2026, 14:05 UTC`` in the current language (the house style of
    docs/architecture.md); a naive value is taken to be UTC already."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{i18n.format_datetime(value, zone='UTC')} UTC"


def format_date(value: date | None) -> str:
    """The long date in the current language (``23 November 2026``); "—" for none."""
    return "—" if value is None else i18n.format_date(value)


def format_instant(value: str | None) -> str:
    """An instant as facts hold it (``2026-11-23T14:05:00Z``: see portal.db.instant) as the
    certificate and the evidence pack print it: ``2026-11-23 14:05:00 UTC``; "—" for none."""
    return value.replace("T", " ").replace("Z", " UTC") if value else "—"
