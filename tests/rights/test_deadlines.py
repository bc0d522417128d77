"""Deadlines of data-subject requests, per regime: a table of edge cases, each with its reasoning.

Every date was counted by hand on a calendar against the law (the holidays used are the
registry's pinned lists, see tests/jurisdictions/test_calendars.py); the reasoning column says
which days were skipped and why. The same table is run through the command line
(``flask requests deadline``), which must print exactly these dates.

Rules (portal.jurisdictions.registry):
* GDPR (ES and the rest of the EU/EEA), Art. 12(3) with Reg. 1182/71 Art. 3: one month (the same date,
  or the month's last day); a last day on a Saturday, Sunday or public holiday (Spain's national
  holidays for ES; none pinned elsewhere) moves to the next working day. The extension runs 3
  months from receipt in all, rolled the same way.
* US-CA: 45 calendar days (+45: 90 from receipt), acknowledgement within 10 business days
  (Gov. Code §6700 calendar); restriction and objection are requests to limit: 15 business days,
  no extension, no acknowledgement (11 CCR §7027(g)).
* CO: consultas (access, portability) 10 business days + 5; reclamos 15 + 8 (Ley 1581 Art. 14, 15),
  on Ley 51 de 1983's holidays, counted from the day after receipt.
* BR: 15 days (Art. 19(II) for access; Art. 18 §§3-5 for the rest, the portal applying the same
  15 days), a last day on a weekend or national holiday moves to the next business day (Código
  Civil Art. 132 §1); no extension.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.jurisdictions import RequestType
from portal.rights.deadlines import (
    DeadlineError,
    business_days_after,
    can_extend,
    days_left,
    deadline_for,
    deadline_table,
    extended_due,
    is_overdue,
    timers,
)

T = RequestType
ALL_TYPES = list(RequestType)


@dataclass(frozen=True)
class Case:
    jurisdiction: str
    kind: RequestType
    received: date
    due: date
    extended: date | None
    acknowledge: date | None
    why: str

    def __str__(self) -> str:
        return f"{self.jurisdiction}-{self.kind.value}-{self.received.isoformat()}"


def d(text: str) -> date:
    return date.fromisoformat(text)


CASES: list[Case] = [
    # -- Spain (LOPDGDD/GDPR) -----------------------------------------------------------------------
    Case("ES", T.ACCESS, d("2026-01-15"), d("2026-02-16"), d("2026-04-15"), None,
         "15 Jan + 1 month = Sun 15 Feb -> Mon 16 Feb; 15 Jan + 3 months = Wed 15 Apr"),
    Case("ES", T.ERASURE, d("2026-01-31"), d("2026-03-02"), d("2026-04-30"), None,
         "31 Jan + 1 month: February has no 31st, its last day Sat 28 Feb -> Mon 2 Mar; + 3 months = Thu 30 Apr"),
    Case("ES", T.PORTABILITY, d("2028-01-31"), d("2028-02-29"), d("2028-05-02"), None,
         "leap year: Tue 29 Feb; + 3 months = Sun 30 Apr -> Mon 1 May is Fiesta del Trabajo -> Tue 2 May "
         "(2028 is past the pinned years: the law's rules give the holidays)"),
    Case("ES", T.RECTIFICATION, d("2026-11-08"), d("2026-12-09"), d("2027-02-08"), None,
         "Tue 8 Dec is the Inmaculada Concepción -> Wed 9 Dec; + 3 months = Mon 8 Feb"),
    Case("ES", T.RESTRICTION, d("2025-12-06"), d("2026-01-07"), d("2026-03-06"), None,
         "Tue 6 Jan is the Epifanía -> Wed 7 Jan; + 3 months = Fri 6 Mar"),
    Case("ES", T.OBJECTION, d("2026-03-03"), d("2026-04-06"), d("2026-06-03"), None,
         "Fri 3 Apr is Viernes Santo, then a weekend -> Mon 6 Apr (Easter Monday is regional, not national)"),
    Case("ES", T.ACCESS, d("2026-02-28"), d("2026-03-30"), d("2026-05-28"), None,
         "Sat 28 Mar -> Mon 30 Mar; the extension counts from receipt: Thu 28 May, not 2 months after "
         "the rolled 30 Mar (Sat 30 May -> 1 Jun)"),
    Case("ES", T.ERASURE, d("2026-11-25"), d("2026-12-28"), d("2027-02-25"), None,
         "Fri 25 Dec is Navidad, then a weekend -> Mon 28 Dec"),
    Case("ES", T.ACCESS, d("2026-12-01"), d("2027-01-04"), d("2027-03-01"), None,
         "across the year end: Fri 1 Jan 2027 is Año Nuevo, then a weekend -> Mon 4 Jan"),
    Case("ES", T.ACCESS, d("2026-09-12"), d("2026-10-13"), d("2026-12-14"), None,
         "Mon 12 Oct is the Fiesta Nacional -> Tue 13 Oct; + 3 months = Sat 12 Dec -> Mon 14 Dec"),
    Case("ES-CN", T.ACCESS, d("2026-03-31"), d("2026-04-30"), d("2026-06-30"), None,
         "the Canaries are Spain; 31 Mar + 1 month: April has 30 days, Thu 30 Apr"),
    # -- the rest of the EU/EEA (GDPR, no holidays pinned: weekends only) ---------------------------
    Case("DE", T.ACCESS, d("2026-11-08"), d("2026-12-08"), d("2027-02-08"), None,
         "Tue 8 Dec is a Spanish holiday, not a German one: it stays"),
    Case("RE", T.ERASURE, d("2026-01-31"), d("2026-03-02"), d("2026-04-30"), None,
         "Réunion is in the EU: GDPR; Sat 28 Feb -> Mon 2 Mar"),
    # -- California (CCPA/CPRA) ---------------------------------------------------------------------
    Case("US-CA", T.ACCESS, d("2026-01-02"), d("2026-02-16"), d("2026-04-02"), d("2026-01-16"),
         "45 and 90 calendar days; acknowledgement: 10 business days, Mon 5 to Fri 16 Jan"),
    Case("US-CA", T.ERASURE, d("2026-01-14"), d("2026-02-28"), d("2026-04-14"), d("2026-01-29"),
         "acknowledgement skips Mon 19 Jan (Dr. Martin Luther King, Jr. Day): 15, 16, 20-23, 26-29 Jan"),
    Case("US-CA", T.RECTIFICATION, d("2026-02-10"), d("2026-03-27"), d("2026-05-11"), d("2026-02-27"),
         "skips Thu 12 Feb (Lincoln Day), Mon 16 Feb (third Monday), Tue 17 Feb (Lunar New Year): 11, 13, 18-20, "
         "23-27 Feb (the holidays library would say 25 Feb)"),
    Case("US-CA", T.PORTABILITY, d("2026-04-20"), d("2026-06-04"), d("2026-07-19"), d("2026-05-05"),
         "skips Fri 24 Apr (Genocide Remembrance Day): 21-23, 27-30 Apr, 1, 4, 5 May"),
    Case("US-CA", T.ACCESS, d("2026-09-04"), d("2026-10-19"), d("2026-12-03"), d("2026-09-22"),
         "skips Mon 7 Sep (first Monday) and Wed 9 Sep (Admission Day): 8, 10, 11, 14-18, 21, 22 Sep"),
    Case("US-CA", T.ERASURE, d("2026-11-16"), d("2026-12-31"), d("2027-02-14"), d("2026-12-01"),
         "skips Thu 26 Nov (Thanksgiving) but not Fri 27 Nov (a state employees' day off, not a §6700 holiday)"),
    Case("US-CA", T.ACCESS, d("2026-06-26"), d("2026-08-10"), d("2026-09-24"), d("2026-07-10"),
         "Sat 4 Jul gives no Friday off under §6701 (only Veterans Day does): Fri 3 Jul counts"),
    Case("US-CA", T.RECTIFICATION, d("2026-03-27"), d("2026-05-11"), d("2026-06-25"), d("2026-04-13"),
         "skips Tue 31 Mar (Cesar Chavez Day); Good Friday 3 Apr is a holiday only from noon to 3 p.m.: it counts"),
    Case("US-CA", T.ERASURE, d("2028-01-15"), d("2028-02-29"), d("2028-04-14"), d("2028-02-01"),
         "leap year: 15 Jan + 45 = 29 Feb; acknowledgement skips Mon 17 Jan 2028 (third Monday, from the rules) "
         "and Wed 26 Jan (Lunar New Year 2028): 18-21, 24, 25, 27, 28, 31 Jan, 1 Feb"),
    Case("US-CA", T.OBJECTION, d("2026-12-18"), d("2027-01-12"), None, None,
         "a request to limit: 15 business days, skipping Fri 25 Dec and Fri 1 Jan; no extension, no acknowledgement"),
    Case("US-CA", T.RESTRICTION, d("2027-06-30"), d("2027-07-22"), None, None,
         "a request to limit: Sun 4 Jul 2027 makes Mon 5 Jul a holiday (§6701); 1, 2, 6-9, 12-16, 19-22 Jul"),
    # -- Colombia (Ley 1581) ------------------------------------------------------------------------
    Case("CO", T.ACCESS, d("2026-01-02"), d("2026-01-19"), d("2026-01-26"), None,
         "consulta: 10 business days skipping Mon 12 Jan (Reyes, 6 Jan moved to Monday); + 5: 20-23, 26 Jan"),
    Case("CO", T.ACCESS, d("2026-03-27"), d("2026-04-14"), d("2026-04-21"), None,
         "Holy Week: Thu 2 and Fri 3 Apr skipped; 30, 31 Mar, 1, 6-10, 13, 14 Apr"),
    Case("CO", T.PORTABILITY, d("2027-03-18"), d("2027-04-06"), d("2027-04-13"), None,
         "Fri 19 Mar counts (San José moved to Mon 22 Mar); Thu 25 and Fri 26 Mar are Holy Week"),
    Case("CO", T.ERASURE, d("2026-07-06"), d("2026-07-28"), d("2026-08-10"), None,
         "reclamo: 15 business days; Mon 13 Jul counts (no Chiquinquirá holiday in Ley 51 de 1983), Mon 20 Jul is "
         "Independence Day; + 8 skips Fri 7 Aug (Boyacá)"),
    Case("CO", T.RECTIFICATION, d("2026-06-01"), d("2026-06-24"), d("2026-07-07"), None,
         "skips Mon 8 Jun (Corpus Christi) and Mon 15 Jun (Sagrado Corazón); + 8 skips Mon 29 Jun (San Pedro)"),
    Case("CO", T.RESTRICTION, d("2026-12-18"), d("2027-01-13"), d("2027-01-25"), None,
         "skips Fri 25 Dec, Fri 1 Jan and Mon 11 Jan 2027 (Reyes moved)"),
    Case("CO", T.OBJECTION, d("2026-08-17"), d("2026-09-07"), d("2026-09-17"), None,
         "received on a holiday (Mon 17 Aug, Asunción moved): counting starts on Tue 18 Aug"),
    Case("CO", T.ACCESS, d("2026-10-10"), d("2026-10-26"), d("2026-11-03"), None,
         "received on a Saturday; skips Mon 12 Oct (Día de la Raza) and, in the extension, Mon 2 Nov (Todos los Santos)"),
    Case("CO", T.ERASURE, d("2027-11-05"), d("2027-11-29"), d("2027-12-10"), None,
         "skips Mon 15 Nov 2027 (Cartagena moved) and, in the extension, Wed 8 Dec (Inmaculada)"),
    # -- Brazil (LGPD) ------------------------------------------------------------------------------
    Case("BR", T.ACCESS, d("2026-03-19"), d("2026-04-06"), None, None,
         "15 days = Fri 3 Apr (Paixão de Cristo), then a weekend -> Mon 6 Apr (Código Civil Art. 132 §1)"),
    Case("BR", T.ACCESS, d("2026-04-06"), d("2026-04-22"), None, None, "Tue 21 Apr (Tiradentes) -> Wed 22 Apr"),
    Case("BR", T.ERASURE, d("2026-04-16"), d("2026-05-04"), None, None,
         "Fri 1 May (Dia do Trabalho), then a weekend -> Mon 4 May"),
    Case("BR", T.ACCESS, d("2026-08-23"), d("2026-09-08"), None, None, "Mon 7 Sep (Independência) -> Tue 8 Sep"),
    Case("BR", T.RECTIFICATION, d("2026-09-27"), d("2026-10-13"), None, None,
         "Mon 12 Oct (Nossa Senhora Aparecida) -> Tue 13 Oct"),
    Case("BR", T.OBJECTION, d("2026-10-18"), d("2026-11-03"), None, None, "Mon 2 Nov (Finados) -> Tue 3 Nov"),
    Case("BR", T.ACCESS, d("2026-11-05"), d("2026-11-23"), None, None,
         "Fri 20 Nov (Zumbi e Consciência Negra, Lei 14.759/2023), then a weekend -> Mon 23 Nov"),
    Case("BR", T.ACCESS, d("2026-10-31"), d("2026-11-16"), None, None, "Sun 15 Nov -> Mon 16 Nov"),
    Case("BR", T.PORTABILITY, d("2026-12-10"), d("2026-12-28"), None, None, "Fri 25 Dec, then a weekend -> Mon 28 Dec"),
    Case("BR-SP", T.RESTRICTION, d("2027-01-24"), d("2027-02-08"), None, None,
         "Carnival Monday 8 Feb 2027 is no national holiday: the date stays"),
    Case("BR", T.ACCESS, d("2026-01-05"), d("2026-01-20"), None, None, "a plain Tuesday: no roll"),
    # -- anything else: the default (GDPR's rule, weekends only) -------------------------------------
    Case("US-NY", T.ACCESS, d("2026-01-31"), d("2026-03-02"), d("2026-04-30"), None,
         "no regime for New York: GDPR's rule as the strictest common one; Sat 28 Feb -> Mon 2 Mar"),
    Case("not a code", T.ERASURE, d("2026-01-15"), d("2026-02-16"), d("2026-04-15"), None,
         "an unreadable code gets the default too"),
]


def test_at_least_eight_cases_per_regime() -> None:
    per: dict[str, int] = {}
    for case in CASES:
        regime = deadline_for(case.jurisdiction, case.kind, case.received).regime
        per[regime] = per.get(regime, 0) + 1
    assert all(per.get(r, 0) >= 8 for r in ("LOPDGDD/GDPR", "CCPA/CPRA", "Ley 1581 (Colombia)", "LGPD (Brazil)")), per


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_lawful_dates(case: Case) -> None:
    found = deadline_for(case.jurisdiction, case.kind, case.received)
    assert (found.due, found.extended_due, found.acknowledge_by) == (case.due, case.extended, case.acknowledge), case.why
    assert found.extendable == (case.extended is not None)
    if case.extended is not None:
        assert extended_due(case.jurisdiction, case.kind, case.received) == case.extended
    else:
        with pytest.raises(DeadlineError):
            extended_due(case.jurisdiction, case.kind, case.received)


def test_the_command_prints_the_same_dates(app: Flask) -> None:
    runner = app.test_cli_runner()
    for case in CASES:
        result = runner.invoke(args=["requests", "deadline", "--jurisdiction", case.jurisdiction, "--type",
                                     case.kind.value, "--received", case.received.isoformat()])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        assert set(printed) == {"due", "extended_due", "acknowledge_by", "basis"}
        assert printed["due"] == case.due.isoformat(), case.why
        assert printed["extended_due"] == (case.extended.isoformat() if case.extended else None), case.why
        assert printed["acknowledge_by"] == (case.acknowledge.isoformat() if case.acknowledge else None), case.why
        assert printed["basis"] == deadline_for(case.jurisdiction, case.kind, case.received).basis


@pytest.mark.parametrize(("args", "message"), [
    (["--jurisdiction", "ES", "--type", "complaint", "--received", "2026-01-01"], "complaint"),
    (["--jurisdiction", "ES", "--type", "access", "--received", "2026-02-30"], "2026-02-30"),
    (["--type", "access", "--received", "2026-01-01"], "--jurisdiction"),
])
def test_the_command_refuses_bad_input(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(args=["requests", "deadline", *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(("kind", "basis"), [
    (T.ACCESS, "Ley 1581 Art. 14"), (T.PORTABILITY, "Ley 1581 Art. 14"), (T.ERASURE, "Ley 1581 Art. 15"),
])
def test_colombia_cites_consultas_and_reclamos(kind: RequestType, basis: str) -> None:
    assert deadline_for("CO", kind, d("2026-01-02")).basis == basis


def test_brazil_cites_art_19_for_access_and_art_18_for_the_rest() -> None:
    assert deadline_for("BR", T.ACCESS, d("2026-01-05")).basis == "LGPD Art. 19(II)"
    for kind in (T.PORTABILITY, T.ERASURE, T.RECTIFICATION, T.RESTRICTION, T.OBJECTION):
        assert deadline_for("BR", kind, d("2026-01-05")).basis.startswith("LGPD Art. 18 §§3-5")


def test_colombia_claim_timers() -> None:
    """Ley 1581 Art. 15: complete an incomplete claim within 5 business days, the "reclamo en trámite"
    marker and the passing on to a competent controller within 2; desistimiento 2 months after the
    request to complete it went unanswered. Received Mon 6 Jul 2026 (Mon 13 Jul is a business day)."""
    found = {t.label.split()[0]: t.on for t in timers("CO", T.ERASURE, d("2026-07-06"))}
    assert found == {"Ask": d("2026-07-13"), "Mark": d("2026-07-08"), "If": d("2026-07-08")}
    asked = timers("CO", T.ERASURE, d("2026-07-06"), asked_on=d("2026-07-10"))
    assert asked[-1].on == d("2026-09-10") and "desistimiento" in asked[-1].label
    assert timers("CO", T.ACCESS, d("2026-07-06")) == []  # consultas have none
    assert timers("ES", T.ERASURE, d("2026-07-06")) == []


# --- extensions, overdue, days left ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "today", "already", "allowed"),
    [
        ("ES", d("2026-02-16"), False, True),  # on the (rolled) first due date itself: still allowed
        ("ES", d("2026-02-17"), False, False),  # the day after: too late
        ("ES", d("2026-01-20"), True, False),  # only once
        ("US-CA", d("2026-03-01"), False, True),  # 15 Jan + 45 = 1 Mar
        ("US-CA", d("2026-03-02"), False, False),
        ("CO", d("2026-01-15"), False, True),
        ("BR", d("2026-01-16"), False, False),  # never extendable
    ],
)
def test_can_extend_until_first_due_date_and_only_once(jurisdiction: str, today: date, already: bool,
                                                        allowed: bool) -> None:
    ok, why = can_extend(jurisdiction, T.ACCESS, d("2026-01-15"), today, already)
    assert ok is allowed
    assert (why == "") is allowed


def test_a_request_to_limit_cannot_be_extended() -> None:
    ok, why = can_extend("US-CA", T.OBJECTION, d("2026-01-15"), d("2026-01-16"), False)
    assert not ok and "7027(g)" in why


@pytest.mark.parametrize(
    ("due", "today", "overdue", "left"),
    [(d("2026-02-15"), d("2026-02-15"), False, 0), (d("2026-02-15"), d("2026-02-16"), True, -1),
     (d("2026-02-15"), d("2026-02-08"), False, 7)],
)
def test_overdue_and_days_left(due: date, today: date, overdue: bool, left: int) -> None:
    assert is_overdue(due, today) is overdue
    assert days_left(due, today) == left


def test_a_datetime_counts_as_its_calendar_day() -> None:
    assert deadline_for("ES", T.ACCESS, datetime(2026, 1, 15, 23, 59)).due == d("2026-02-16")


def test_request_type_as_string_and_unknown() -> None:
    assert deadline_for("ES", "access", d("2026-01-15")).due == d("2026-02-16")
    with pytest.raises(DeadlineError):
        deadline_for("ES", "complaint", d("2026-01-15"))


@pytest.mark.parametrize(
    ("jurisdiction", "start", "n", "expected"),
    [
        ("CO", d("2026-01-09"), 1, d("2026-01-13")),  # Fri -> Mon 12 Jan is Reyes -> Tue 13
        ("US-CA", d("2026-02-11"), 1, d("2026-02-13")),  # Thu 12 Feb is Lincoln Day
        ("ES", d("2026-01-05"), 1, d("2026-01-07")),  # Tue 6 Jan is the Epifanía
        ("CO", d("2026-01-09"), 0, d("2026-01-09")),
    ],
)
def test_business_days_after(jurisdiction: str, start: date, n: int, expected: date) -> None:
    assert business_days_after(jurisdiction, start, n) == expected


def test_business_days_after_rejects_a_negative_count() -> None:
    with pytest.raises(DeadlineError):
        business_days_after("CO", d("2026-01-09"), -1)


def test_deadline_table_describes_every_regime() -> None:
    rows = deadline_table()
    regimes = {r["regime"] for r in rows}
    assert regimes == {"LOPDGDD/GDPR", "GDPR", "CCPA/CPRA", "Ley 1581 (Colombia)", "LGPD (Brazil)", "GDPR (default)"}
    for regime in regimes:  # every kind appears once per regime
        kinds = [k for r in rows if r["regime"] == regime for k in r["types"].split(", ")]
        assert sorted(kinds) == sorted(t.value for t in RequestType)


# --- properties ---------------------------------------------------------------------------------

JURISDICTIONS = ["ES", "DE", "RE", "US-CA", "US-NY", "CO", "BR", "JP"]
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(jurisdiction=st.sampled_from(JURISDICTIONS), request_type=st.sampled_from(ALL_TYPES), received=dates)
def test_due_after_receipt_and_extension_never_shortens(jurisdiction: str, request_type: RequestType,
                                                         received: date) -> None:
    found = deadline_for(jurisdiction, request_type, received)
    assert found.due > received
    if found.extended_due is not None:
        assert found.extended_due > found.due
    if found.acknowledge_by is not None:
        assert received < found.acknowledge_by <= found.due
