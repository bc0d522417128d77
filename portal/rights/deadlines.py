"""Legal deadlines of data-subject requests (docs/architecture.md, "Requests"), as the
registry's regimes set them.

Pure date arithmetic: no Flask, no database, no clock (callers pass ``today``). Every deadline is
computed from the *day of receipt* as a ``date``; which calendar day a timestamp falls on is the
caller's choice. The rules themselves (periods, calendars, rolling, extensions, citations) live in
:mod:`portal.jurisdictions.registry`; this module only applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from portal.jurisdictions import REGIMES, Regime, RequestType, Unit, kind, regime_for
from portal.jurisdictions.registry import DeadlineRule

__all__ = [
    "Deadline",
    "DeadlineError",
    "TimerDate",
    "business_days_after",
    "can_extend",
    "days_left",
    "deadline_for",
    "deadline_table",
    "extended_due",
    "is_overdue",
    "timers",
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
    extended_due: date | None = None  # the latest lawful date once extended (None: no extension)


@dataclass(frozen=True)
class TimerDate:
    label: str
    on: date
    basis: str


def _as_date(value: date) -> date:
    # A datetime is a date too; arithmetic on it would keep the time. The caller has chosen the
    # calendar day by passing it, so drop the time.
    return value.date() if isinstance(value, datetime) else value


def _request_type(request_type: RequestType | str) -> RequestType:
    try:
        return kind(request_type).type
    except (KeyError, ValueError):
        raise DeadlineError(f"unknown request type: {request_type!r}") from None


def _rule(jurisdiction: str, request_type: RequestType | str) -> tuple[Regime, DeadlineRule]:
    regime = regime_for(jurisdiction)
    return regime, regime.rule(_request_type(request_type))


def business_days_after(jurisdiction: str, start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` on the calendar of ``jurisdiction``'s regime."""
    if n < 0:
        raise DeadlineError(f"business day count must not be negative: {n}")
    return regime_for(jurisdiction).calendar.working_days_after(_as_date(start), n)


def deadline_for(jurisdiction: str, request_type: RequestType | str, received: date) -> Deadline:
    """The lawful dates of a request received on ``received``."""
    regime, rule = _rule(jurisdiction, request_type)
    received = _as_date(received)
    cal = regime.calendar
    return Deadline(
        regime=regime.name,
        due=rule.due(received, cal),
        acknowledge_by=rule.acknowledge_by(received, cal),
        extendable=rule.extension is not None,
        max_extension=rule.extension_text,
        basis=rule.basis,
        extended_due=rule.extended_due(received, cal),
    )


def extended_due(jurisdiction: str, request_type: RequestType | str, received: date) -> date:
    """The due date after the one extension allowed."""
    regime, rule = _rule(jurisdiction, request_type)
    found = rule.extended_due(_as_date(received), regime.calendar)
    if found is None:
        raise DeadlineError(f"{regime.name} ({rule.basis}) allows no extension")
    return found


def can_extend(
    jurisdiction: str,
    request_type: RequestType | str,
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


def timers(jurisdiction: str, request_type: RequestType | str, received: date,
           asked_on: date | None = None) -> list[TimerDate]:
    """The further time limits the regime sets for this request (Ley 1581 Art. 15's), as dates;
    one counted from the day the requester was asked to complete the request only once asked."""
    regime, rule = _rule(jurisdiction, request_type)
    found = []
    for timer in rule.timers:
        start = _as_date(received) if timer.counted_from == "receipt" else asked_on
        if start is None:
            continue
        found.append(TimerDate(timer.label, timer.period.after(_as_date(start), regime.calendar), timer.basis))
    return found


def is_overdue(due: date, today: date) -> bool:
    return _as_date(today) > _as_date(due)


def days_left(due: date, today: date) -> int:
    """Calendar days until ``due``: 0 on the day itself, negative when overdue."""
    return (_as_date(due) - _as_date(today)).days


# -- the table the README shows -----------------------------------------------------------------------

def _first_text(rule: DeadlineRule, regime: Regime) -> str:
    if rule.first.unit is Unit.MONTHS:
        text = f"{rule.first.text()} (same date, or the month's last day)"
    elif rule.first.unit is Unit.BUSINESS_DAYS:
        text = f"{rule.first.text()} ({regime.calendar.name})"
    else:
        text = f"{rule.first.text()}"
    if rule.roll:
        text += f"; a non-working last day moves to the next working day ({regime.calendar.name})"
    return text


def _extension_text(rule: DeadlineRule) -> str:
    if rule.extension is None:
        return "none"
    if rule.extension_from_receipt:
        return f"+{rule.extension_text} ({rule.extension.text()} from receipt in all)"
    return f"+{rule.extension_text} after the first due date"


def _codes_text(regime: Regime) -> str:
    if regime.key == "default":
        return "any other (incl. other US states)"
    codes = sorted(regime.codes) + sorted(regime.countries)
    if len(codes) > 6:
        return f"{regime.key}: " + " ".join(codes)
    return ", ".join(codes)


def deadline_table() -> list[dict[str, str]]:
    """The registry's deadline rules, one row per (regime, rule), for documentation."""
    rows = []
    for regime in REGIMES:
        groups: dict[DeadlineRule, list[str]] = {}
        for request_type in RequestType:
            groups.setdefault(regime.rule(request_type), []).append(request_type.value)
        for rule, types in groups.items():
            rows.append({
                "jurisdiction": _codes_text(regime),
                "regime": regime.name,
                "types": ", ".join(types),
                "first_deadline": _first_text(rule, regime),
                "extension": _extension_text(rule),
                "acknowledgement": f"{rule.acknowledge.text()} ({regime.calendar.name})" if rule.acknowledge else "-",
                "basis": rule.basis,
            })
    return rows

