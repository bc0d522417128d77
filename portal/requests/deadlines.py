"""Legal deadlines of data-subject requests, per jurisdiction (DESIGN §4).

Pure date arithmetic: no Flask, no database, no clock (callers pass ``today``). Every deadline is
computed from the *day of receipt* as a ``date``; which calendar day a timestamp falls on (the
subject's time zone) is the caller's choice.

Rules, one per (jurisdiction, group of request types):

* GDPR (EU/EEA; Spain as "LOPDGDD/GDPR"), Art. 12(3): one calendar month from receipt, extendable
  once by two further months (counted from the first due date), before the first one passes.
* CCPA/CPRA (US-CA), Cal. Civ. Code §1798.130(a)(2) and 11 CCR §7021: 45 calendar days, extendable
  once by 45; acknowledgement within 10 business days.
* Colombia, Ley 1581 Art. 14 (consultas: access, portability) 10 business days + 5;
  Art. 15 (reclamos: the rest) 15 business days + 8, counted from the day after receipt.
* Brazil, LGPD Art. 19(II): 15 calendar days, no extension.
* Anything else: GDPR's rule, the strictest common one, as "GDPR (default)".

Business days are Monday to Friday less the public holidays that the ``holidays`` library gives for
the country (and subdivision). Months follow the usual rule: the same day next month, or that
month's last day when it has no such day (Jan 31 -> Feb 28/29).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from portal.requests.models import RequestType

__all__ = [
    "Deadline",
    "DeadlineError",
    "business_days_after",
    "can_extend",
    "days_left",
    "deadline_for",
    "deadline_table",
    "extended_due",
    "is_overdue",
]


class DeadlineError(ValueError):
    """A deadline question that has no answer (not extendable, bad request type, bad count)."""


@dataclass(frozen=True)
class Deadline:
    regime: str
    due: date  # the first deadline
    acknowledge_by: date | None
    extendable: bool
    max_extension: str  # "2 months", "45 days", "5 business days"; "" when not extendable
    basis: str  # the legal citation


# --- periods -------------------------------------------------------------------------------


class _Unit(StrEnum):
    MONTHS = "months"
    DAYS = "days"
    BUSINESS_DAYS = "business days"


@dataclass(frozen=True)
class _Period:
    amount: int
    unit: _Unit

    def text(self) -> str:
        if self.amount == 1:
            return f"1 {self.unit.removesuffix('s')}"
        return f"{self.amount} {self.unit}"

    def after(self, start: date, country: str, subdiv: str | None) -> date:
        if self.unit is _Unit.MONTHS:
            return _add_months(start, self.amount)
        if self.unit is _Unit.DAYS:
            return start + timedelta(days=self.amount)
        return business_days_after(country, subdiv, start, self.amount)


def _add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day when it is shorter."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(start.day, last))


# --- business days -------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _holiday_calendar(country: str, subdiv: str | None, first_year: int, last_year: int) -> holidays.HolidayBase:
    # expand=False: the calendar is complete for its years and is never mutated by a look-up, so
    # one cached instance is safe to share between threads.
    return holidays.country_holidays(country, subdiv=subdiv, years=range(first_year, last_year + 1), expand=False)


def business_days_after(country: str, subdiv: str | None, start: date, n: int) -> date:
    """The ``n``-th business day after ``start`` (``start`` itself never counts).

    Business days are Monday to Friday that are not public holidays of ``country`` (and
    ``subdiv``) in the ``holidays`` library. ``n == 0`` gives ``start`` back.
    """
    start = _as_date(start)
    if n < 0:
        raise DeadlineError(f"business day count must not be negative: {n}")
    if n == 0:
        return start
    # A calendar of the years the answer can fall in: about 250 business days a year. Beyond the
    # calendar's last year every weekday would count as a business day, so when the answer lands
    # past it, look again with a longer calendar.
    last_year = start.year + 1 + n // 200
    while True:
        try:
            cal = _holiday_calendar(country, subdiv, start.year, last_year)
        except NotImplementedError as exc:
            raise DeadlineError(f"no holiday calendar for {country}{'-' + subdiv if subdiv else ''}") from exc
        result: date = cal.get_nth_working_day(start, n)
        if result.year <= last_year:
            return result
        last_year = result.year + 1


# --- rules ---------------------------------------------------------------------------------

# EU member states and the EEA (IS, LI, NO). Greece is "GR" in ISO 3166 and "EL" in EU usage.
# Åland and France's outermost regions have ISO codes of their own but are in the EU.
_GDPR_COUNTRIES = frozenset(
    {
        # EU member states
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU"),
        *("IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        # EEA
        *("IS", "LI", "NO"),
        # Åland and the outermost regions of France
        *("AX", "GF", "GP", "MQ", "RE", "YT", "MF"),
    }
)

_CO_QUERIES = frozenset({RequestType.ACCESS, RequestType.PORTABILITY})


@dataclass(frozen=True)
class _Rule:
    regime: str
    basis: str
    first: _Period
    extension: _Period | None
    acknowledge: _Period | None
    country: str = ""  # whose holidays count for business days
    subdiv: str | None = None


_GDPR_BASIS = "GDPR Art. 12(3)"
_ONE_MONTH = _Period(1, _Unit.MONTHS)
_TWO_MONTHS = _Period(2, _Unit.MONTHS)

_GDPR = _Rule("GDPR", _GDPR_BASIS, _ONE_MONTH, _TWO_MONTHS, None)
_SPAIN = _Rule("LOPDGDD/GDPR", _GDPR_BASIS, _ONE_MONTH, _TWO_MONTHS, None)
_DEFAULT = _Rule("GDPR (default)", _GDPR_BASIS, _ONE_MONTH, _TWO_MONTHS, None)
_CCPA = _Rule(
    "CCPA/CPRA",
    "Cal. Civ. Code §1798.130(a)(2); 11 CCR §7021",
    _Period(45, _Unit.DAYS),
    _Period(45, _Unit.DAYS),
    _Period(10, _Unit.BUSINESS_DAYS),
    country="US",
    subdiv="CA",
)
_CO_QUERY = _Rule(
    "Ley 1581 (Colombia)",
    "Ley 1581 Art. 14",
    _Period(10, _Unit.BUSINESS_DAYS),
    _Period(5, _Unit.BUSINESS_DAYS),
    None,
    country="CO",
)
_CO_CLAIM = _Rule(
    "Ley 1581 (Colombia)",
    "Ley 1581 Art. 15",
    _Period(15, _Unit.BUSINESS_DAYS),
    _Period(8, _Unit.BUSINESS_DAYS),
    None,
    country="CO",
)
_BRAZIL = _Rule("LGPD (Brazil)", "LGPD Art. 19(II)", _Period(15, _Unit.DAYS), None, None)

_JURISDICTION = re.compile(r"([A-Z]{2})(?:-([A-Z0-9]{1,3}))?")


def _parse_jurisdiction(jurisdiction: str) -> tuple[str, str | None] | None:
    code = (jurisdiction or "").strip().upper().replace("_", "-")
    m = _JURISDICTION.fullmatch(code)
    return (m.group(1), m.group(2)) if m else None


def _request_type(request_type: RequestType | str) -> RequestType:
    try:
        return RequestType(request_type)
    except ValueError:
        raise DeadlineError(f"unknown request type: {request_type!r}") from None


def _rule(jurisdiction: str, request_type: RequestType | str) -> _Rule:
    kind = _request_type(request_type)
    parsed = _parse_jurisdiction(jurisdiction)
    if parsed is None:
        return _DEFAULT  # a code we cannot read still gets the strictest common deadline
    country, subdiv = parsed
    if country == "ES":
        return _SPAIN
    if country in _GDPR_COUNTRIES:
        return _GDPR
    if country == "US" and subdiv == "CA":
        return _CCPA
    if country == "CO":
        return _CO_QUERY if kind in _CO_QUERIES else _CO_CLAIM
    if country == "BR":
        return _BRAZIL
    return _DEFAULT


def _as_date(value: date) -> date:
    # A datetime is a date too; arithmetic on it would keep the time. The caller has chosen the
    # calendar day by passing it, so drop the time.
    return value.date() if isinstance(value, datetime) else value


# --- API -----------------------------------------------------------------------------------


def deadline_for(jurisdiction: str, request_type: RequestType, received: date) -> Deadline:
    """The first deadline (and acknowledgement deadline, if any) for a request received on ``received``."""
    rule = _rule(jurisdiction, request_type)
    received = _as_date(received)
    return Deadline(
        regime=rule.regime,
        due=rule.first.after(received, rule.country, rule.subdiv),
        acknowledge_by=rule.acknowledge.after(received, rule.country, rule.subdiv) if rule.acknowledge else None,
        extendable=rule.extension is not None,
        max_extension=rule.extension.text() if rule.extension else "",
        basis=rule.basis,
    )


def extended_due(jurisdiction: str, request_type: RequestType, received: date) -> date:
    """The due date after the one extension allowed, counted from the first due date."""
    rule = _rule(jurisdiction, request_type)
    if rule.extension is None:
        raise DeadlineError(f"{rule.regime} ({rule.basis}) allows no extension")
    first = rule.first.after(_as_date(received), rule.country, rule.subdiv)
    return rule.extension.after(first, rule.country, rule.subdiv)


def can_extend(
    jurisdiction: str,
    request_type: RequestType,
    received: date,
    today: date,
    already_extended: bool,
) -> tuple[bool, str]:
    """Whether the deadline may be extended now: ``(True, "")`` or ``(False, reason)``.

    An extension is allowed once, and only while the first deadline has not passed (the notice
    must reach the requester within the first period).
    """
    deadline = deadline_for(jurisdiction, request_type, received)
    if not deadline.extendable:
        return False, f"{deadline.regime} ({deadline.basis}) allows no extension"
    if already_extended:
        return False, "the deadline has already been extended once"
    if is_overdue(deadline.due, _as_date(today)):
        return False, f"the first deadline ({deadline.due.isoformat()}) has passed"
    return True, ""


def is_overdue(due: date, today: date) -> bool:
    return _as_date(today) > _as_date(due)


def days_left(due: date, today: date) -> int:
    """Calendar days until ``due``: 0 on the day itself, negative when overdue."""
    return (_as_date(due) - _as_date(today)).days


def _first_text(rule: _Rule) -> str:
    if rule.first.unit is _Unit.MONTHS:
        return f"{rule.first.text()} from receipt (same day, or the month's last day)"
    if rule.first.unit is _Unit.BUSINESS_DAYS:
        return f"{rule.first.text()} from the day after receipt ({_calendar_text(rule)} holidays)"
    return f"{rule.first.text()} (calendar) from receipt"


def _calendar_text(rule: _Rule) -> str:
    return f"{rule.country}-{rule.subdiv}" if rule.subdiv else rule.country


def _extension_text(rule: _Rule) -> str:
    if rule.extension is None:
        return "none"
    return f"once, +{rule.extension.text()} from the first due date, before it passes"


def _ack_text(rule: _Rule) -> str:
    if rule.acknowledge is None:
        return "none"
    return f"{rule.acknowledge.text()} after receipt ({_calendar_text(rule)} holidays)"


def deadline_table() -> list[dict[str, str]]:
    """The implemented rules, one row per (jurisdiction, request types), for documentation."""
    all_types = ", ".join(t.value for t in RequestType)
    queries = ", ".join(t.value for t in RequestType if t in _CO_QUERIES)
    claims = ", ".join(t.value for t in RequestType if t not in _CO_QUERIES)
    eu = " ".join(sorted(_GDPR_COUNTRIES - {"ES"}))
    rows = [
        ("ES", _SPAIN, all_types),
        (f"EU/EEA: {eu}", _GDPR, all_types),
        ("US-CA", _CCPA, all_types),
        ("CO", _CO_QUERY, queries),
        ("CO", _CO_CLAIM, claims),
        ("BR", _BRAZIL, all_types),
        ("any other (incl. other US states)", _DEFAULT, all_types),
    ]
    return [
        {
            "jurisdiction": where,
            "regime": rule.regime,
            "types": types,
            "first_deadline": _first_text(rule),
            "extension": _extension_text(rule),
            "acknowledgement": _ack_text(rule),
            "basis": rule.basis,
        }
        for where, rule, types in rows
    ]
