"""The toolkit's words: text the font can draw, shortening, and the house formats."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from portal.pdf.fonts import HELVETICA
from portal.pdf.text import drawable, format_instant, format_size, format_time, shorten


def test_drawable_drops_control_characters_and_replaces_what_the_font_lacks() -> None:
    assert drawable("a\tb\nc\x00d\u200be", HELVETICA.covers) == "a b cde"
    # José is Latin-1; Ő loses its accent; Ł and 李 have no Latin-1 form.
    assert drawable("Łukasz José Őrs 李", HELVETICA.covers) == "?ukasz José Ors ?"
    assert drawable("Łukasz 李", lambda ch: True) == "Łukasz 李"


def test_shorten_ends_a_cut_text_with_an_ellipsis() -> None:
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdefg", 6) == "abcde…"


def test_sizes_are_in_thousands(app: Flask) -> None:
    with app.test_request_context():
        assert format_size(999) == "999 bytes"
        assert format_size(1_500) == "1.5 kB"
        assert format_size(2_500_000_000) == "2.5 GB"
        assert format_size(7_000_000_000_000) == "7000.0 GB"


def test_times_are_shown_in_utc() -> None:
    from zoneinfo import ZoneInfo

    madrid = datetime(2026, 7, 1, 16, 5, tzinfo=ZoneInfo("Europe/Madrid"))
    assert format_time(madrid) == "1 July 2026, 14:05 UTC"
    assert format_time(datetime(2026, 7, 1, 14, 5)) == "1 July 2026, 14:05 UTC"
    assert format_time(None) == "—"


def test_instants_of_facts_are_printed_with_utc_spelt_out() -> None:
    assert format_instant("2026-11-23T14:05:00Z") == "2026-11-23 14:05:00 UTC"
    assert format_instant(None) == "—"
