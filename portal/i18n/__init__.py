"""Languages: which one each person reads, and dates, numbers and times in it.

The portal speaks English (the source strings), Spanish (``es``, Spain and Colombia) and
Brazilian Portuguese (``pt_BR``); ``PORTAL_LANGUAGES`` narrows what a deployment offers. A
person's language is, in this order (docs/architecture.md, "Languages"):

1. the one they chose with the switcher in the header (``employees.language``, audited);
2. their identity provider's ``locale`` claim, stored at each sign-in (``employees.idp_locale``);
3. on a page, the browser's Accept-Language;
4. the language of their regime (``Regime.language``: ES and CO ``es``, BR ``pt_BR``, else ``en``).

E-mails and PDFs are written outside the reader's browser, so they use 1, 2 and 4: a message to
a DPO is in the DPO's language, a deletion certificate in its requester's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import has_request_context, request, session
from flask_babel import force_locale, get_locale, gettext
from flask_login import current_user

from portal.config import NoSettings, current_settings
from portal.jurisdictions import regime_for

if TYPE_CHECKING:
    from flask import Flask

    from portal.jurisdictions import Regime
    from portal.people.models import Employee

# The languages the portal ships, each named in itself (a switcher lists them so).
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}
DEFAULT = "en"
SESSION_KEY = "language"  # the choice of someone not signed in (the landing page, sign-in errors)


def offered() -> tuple[str, ...]:
    """The languages this deployment offers (``PORTAL_LANGUAGES``), English always among them."""
    try:
        return tuple(current_settings().languages)
    except NoSettings:  # outside the portal's app: every shipped language
        return tuple(LANGUAGES)


def shipped(tag: str | None) -> str | None:
    """The portal's language for a BCP 47 tag or POSIX locale (``es-CO``, ``pt_BR``, ``pt``,
    ``en-US``), or None. Portuguese of any country reads ``pt_BR``, the one we ship."""
    if not tag or not isinstance(tag, str):
        return None
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return {"es": "es", "pt": "pt_BR", "en": "en"}.get(language)


def match(tag: str | None) -> str | None:
    """As :func:`shipped`, among the languages this deployment offers."""
    wanted = shipped(tag)
    return wanted if wanted in offered() else None


def regime_language(jurisdiction: str | None) -> str:
    """The language of the regime a jurisdiction falls under, if offered; else English."""
    return match(regime_for(jurisdiction).language) or DEFAULT


def person_language(employee: Employee | None) -> str:
    """The language to write to someone in when no browser is involved (e-mails, PDFs)."""
    if employee is None:
        return DEFAULT
    return (match(employee.language) or match(employee.idp_locale)
            or regime_language(employee.jurisdiction))


def _accepted() -> str | None:
    for tag, _quality in request.accept_languages:
        found = match(tag)
        if found:
            return found
    return None


def select_locale() -> str:
    """Flask-Babel's locale selector: the reader's language on a page, English elsewhere."""
    if not has_request_context():
        return DEFAULT
    user = current_user
    if user is not None and user.is_authenticated:
        return (match(user.language) or match(user.idp_locale) or _accepted()
                or regime_language(user.jurisdiction))
    return match(session.get(SESSION_KEY)) or _accepted() or DEFAULT


def select_timezone() -> str:
    """Flask-Babel's time-zone selector: the signed-in person's zone, else UTC."""
    if has_request_context() and current_user is not None and current_user.is_authenticated:
        return zone_name(current_user.timezone)
    return "UTC"


def zone_name(name: str | None) -> str:
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name or "UTC"


def html_lang(locale: Any = None) -> str:
    """The BCP 47 tag for ``<html lang>`` and PDF metadata: ``pt-BR``, ``es``, ``en``."""
    value = str(locale or get_locale() or DEFAULT)
    return value.replace("_", "-")


@contextlib.contextmanager
def language_of(employee: Employee | None) -> Iterator[str]:
    """Run the block in ``employee``'s language (e-mails and PDFs made by jobs or the shell)."""
    language = person_language(employee)
    with force_locale(language):
        yield language


# -- the registry's wording --------------------------------------------------------------------------

def wording(text: str | None) -> str:
    """One of the registry's sentences (a law's name, a complaint sentence) in the reader's
    language; they are extracted for the catalogues by portal.i18n.extract."""
    return gettext(text) if text else ""


def ground_wording(jurisdiction: str | None, code: str | None) -> str:
    """How a stored refusal ground reads for the reader: its citation and its text, translated."""
    if not code:
        return ""
    found = regime_for(jurisdiction).ground(code)
    if found is None:
        return code
    return f"{found.citation}: {wording(found.text)}" if found.citation else wording(found.text)


def complaint_to(regime: Regime, with_url: bool = True) -> str:
    """For "You may complain to ...": the authority, named and linked, or who it is. Without the
    address where the text must not point outside (an export's offline index.html)."""
    if regime.authority is not None:
        if not with_url:
            return gettext("the %(name)s (%(short)s)", name=regime.authority.name, short=regime.authority.short)
        return gettext("the %(name)s (%(short)s), %(url)s", name=regime.authority.name,
                       short=regime.authority.short, url=regime.authority.complaint_url)
    if with_url and regime.authority_list_url:
        return gettext("%(who)s (the list: %(url)s)", who=wording(regime.authority_fallback),
                       url=regime.authority_list_url)
    return wording(regime.authority_fallback)


def complain_sentence(regime: Regime, with_url: bool = True) -> str:
    """The regime's sentence about complaining, with its authority, in the reader's language."""
    return wording(regime.complain_text) % {"authority": complaint_to(regime, with_url)}


# -- dates, numbers and times (Babel, in the current language) --------------------------------------

def _locale() -> Locale:
    """The current language's conventions; English is written the international way (day before
    month, 24-hour clock: ``4 December 2026``), as the portal always has."""
    locale = get_locale() or Locale.parse(DEFAULT)
    return Locale.parse("en_GB") if locale.language == "en" else locale


#: The one date style and the one date-time style of every page, e-mail and PDF
#: (docs/architecture.md, "Languages"): ``4 December 2026`` / ``4 de diciembre de 2026``, and
#: the same followed by the time of day on the 24-hour clock. Machine-readable attributes
#: (``<time datetime>``, file names, JSON) stay ISO 8601.
DATE_STYLE = "long"
TIME_STYLE = "HH:mm"


def format_date(value: date | datetime | None, fmt: str = DATE_STYLE,
                zone: str | tzinfo | None = None) -> str:
    """A date in the current language (``4 de diciembre de 2026``); a datetime is first put in
    ``zone`` (default: the reader's). ``fmt`` other than the house style is for chart labels
    (``MMM``, ``EEE``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(_zone(zone)).date()
    return babel_dates.format_date(value, format=fmt, locale=_locale())


def format_datetime(value: datetime | None, fmt: str = "house", zone: str | tzinfo | None = None) -> str:
    """A moment in the current language, in ``zone`` (default: the reader's): the house date
    followed by the time of day (``4 December 2026, 15:08``; ``fmt="seconds"`` adds the seconds,
    for lists of events that come seconds apart); another ``fmt`` names a Babel style."""
    if value is None:
        return ""
    tz = _zone(zone)
    if fmt in ("house", "seconds"):
        local = value.astimezone(tz)
        clock = TIME_STYLE + (":ss" if fmt == "seconds" else "")
        return f"{format_date(local.date())}, {babel_dates.format_time(local, clock, tzinfo=tz, locale=_locale())}"
    return babel_dates.format_datetime(value, format=fmt, tzinfo=tz, locale=_locale())


def format_number(value: int | float | None) -> str:
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=_locale())


def _zone(zone: str | tzinfo | None) -> tzinfo:
    if isinstance(zone, tzinfo):
        return zone
    return ZoneInfo(zone_name(zone if zone else select_timezone()))


def register(app: Flask) -> None:
    """Template helpers (``format_date``, ``format_datetime``, ``format_number`` filters; the
    current language, its ``<html lang>`` tag, and the languages offered) and the switcher."""
    from .views import bp

    app.register_blueprint(bp)
    app.add_template_filter(format_date, "format_date")
    app.add_template_filter(format_datetime, "format_datetime")
    # Flask-Babel's own filters would print another style (and English as en_US): the house one.
    app.add_template_filter(format_date, "dateformat")
    app.add_template_filter(format_datetime, "datetimeformat")
    app.add_template_filter(format_number, "format_number")
    app.add_template_filter(wording, "wording")
    app.add_template_global(complain_sentence, "complain_sentence")

    @app.context_processor
    def language_globals() -> dict[str, Any]:
        current = str(get_locale() or DEFAULT)
        return {"html_lang": html_lang(current), "current_language": current,
                "languages": [(code, LANGUAGES[code]) for code in offered()]}
