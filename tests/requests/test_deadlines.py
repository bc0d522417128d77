"""Deadlines of data-subject requests (portal.requests.deadlines): no app, no database.

Every expected date below was counted by hand on a calendar; the business-day cases list the days
that are skipped and why, checked against the holiday lists that ``holidays`` 0.109 gives for
``country_holidays("CO")`` and ``country_holidays("US", subdiv="CA")``.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.requests.deadlines import (
    Deadline,
    DeadlineError,
    business_days_after,
    can_extend,
    days_left,
    deadline_for,
    deadline_table,
    extended_due,
    is_overdue,
)
from portal.requests.models import RequestType

ALL_TYPES = list(RequestType)
CO_QUERIES = [RequestType.ACCESS, RequestType.PORTABILITY]
CO_CLAIMS = [RequestType.ERASURE, RequestType.RECTIFICATION, RequestType.RESTRICTION, RequestType.OBJECTION]


# --- GDPR: one calendar month, +2 months -------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 1, 15), date(2026, 2, 15)),  # the plain case: same day next month
        (date(2027, 1, 31), date(2027, 2, 28)),  # February has no 31st: its last day
        (date(2028, 1, 31), date(2028, 2, 29)),  # ... which is the 29th in a leap year
        (date(2028, 1, 29), date(2028, 2, 29)),  # leap year: Feb 29 exists, the same day
        (date(2027, 1, 29), date(2027, 2, 28)),  # non-leap: Feb 29 does not, the last day
        (date(2026, 3, 31), date(2026, 4, 30)),  # April has 30 days
        (date(2026, 5, 31), date(2026, 6, 30)),
        (date(2026, 8, 31), date(2026, 9, 30)),
        (date(2026, 12, 31), date(2027, 1, 31)),  # across the year end
        (date(2028, 2, 29), date(2028, 3, 29)),  # leap day + 1 month: the 29th, not March's last day
        (date(2027, 2, 28), date(2027, 3, 28)),  # Feb 28 is not "the month's end" rule: same day
    ],
)
def test_gdpr_one_calendar_month(received: date, due: date) -> None:
    d = deadline_for("DE", RequestType.ACCESS, received)
    assert d == Deadline(
        regime="GDPR",
        due=due,
        acknowledge_by=None,
        extendable=True,
        max_extension="2 months",
        basis="GDPR Art. 12(3)",
    )


@pytest.mark.parametrize(
    ("received", "extended"),
    [
        # received -> first due -> + 2 months from the first due date
        (date(2026, 1, 15), date(2026, 4, 15)),  # Feb 15 -> Apr 15
        (date(2026, 8, 31), date(2026, 11, 30)),  # Sep 30 -> Nov 30 (not Dec 31: that would be 4 months)
        (date(2026, 10, 31), date(2027, 1, 30)),  # Nov 30 -> Jan 30: counted from the due date, not Jan 31
        (date(2026, 12, 31), date(2027, 3, 31)),  # Jan 31 -> Mar 31
        (date(2027, 1, 31), date(2027, 4, 28)),  # Feb 28 -> Apr 28
        (date(2027, 11, 30), date(2028, 2, 29)),  # Dec 30 -> Feb 30 does not exist: Feb 29 (leap)
        (date(2026, 11, 30), date(2027, 2, 28)),  # Dec 30 -> Feb 28 (non-leap)
        (date(2028, 2, 29), date(2028, 5, 29)),  # Mar 29 -> May 29
    ],
)
def test_gdpr_extension_two_months_from_first_due(received: date, extended: date) -> None:
    assert extended_due("FR", RequestType.ERASURE, received) == extended


@pytest.mark.parametrize(
    ("jurisdiction", "regime"),
    [
        ("ES", "LOPDGDD/GDPR"),
        ("es", "LOPDGDD/GDPR"),  # codes are read case-insensitively
        ("ES-MD", "LOPDGDD/GDPR"),  # a Spanish subdivision is still Spain
        ("DE", "GDPR"),
        ("FR", "GDPR"),
        ("IE", "GDPR"),
        ("NL", "GDPR"),
        ("IT", "GDPR"),
        ("PT", "GDPR"),
        ("GR", "GDPR"),
        ("EL", "GDPR"),  # Greece in EU usage
        ("NO", "GDPR"),  # EEA
        ("IS", "GDPR"),
        ("LI", "GDPR"),
        ("DE-BY", "GDPR"),
    ],
)
def test_gdpr_jurisdictions(jurisdiction: str, regime: str) -> None:
    d = deadline_for(jurisdiction, RequestType.PORTABILITY, date(2026, 3, 31))
    assert (d.regime, d.due, d.basis, d.acknowledge_by) == (regime, date(2026, 4, 30), "GDPR Art. 12(3)", None)


@pytest.mark.parametrize("jurisdiction", ["US-NY", "US-TX", "US", "GB", "CA", "MX", "JP", "", "  ", "not a code", "X"])
def test_other_jurisdictions_fall_to_gdpr(jurisdiction: str) -> None:
    d = deadline_for(jurisdiction, RequestType.ACCESS, date(2027, 1, 31))
    assert d.regime == "GDPR (default)"
    assert d.due == date(2027, 2, 28)
    assert d.basis == "GDPR Art. 12(3)"
    assert d.extendable and d.max_extension == "2 months"
    assert d.acknowledge_by is None
    assert extended_due(jurisdiction, RequestType.ACCESS, date(2027, 1, 31)) == date(2027, 4, 28)


# --- CCPA/CPRA: 45 days, +45; acknowledgement within 10 business days --------------------------


@pytest.mark.parametrize(
    ("received", "due", "extended"),
    [
        # Jan 20 + 45: Jan 31 is +11, Feb 28 is +39, Mar 6 is +45; Mar 6 + 45: Mar 31 +25, Apr 20 +45
        (date(2027, 1, 20), date(2027, 3, 6), date(2027, 4, 20)),
        # leap year: Jan 31 +11, Feb 29 +40, Mar 5 +45; Mar 5 + 45: Mar 31 +26, Apr 19 +45
        (date(2028, 1, 20), date(2028, 3, 5), date(2028, 4, 19)),
        # Nov 23 + 45: Nov 30 +7, Dec 31 +38, Jan 7 +45; Jan 7 + 45: Jan 31 +24, Feb 21 +45
        (date(2026, 11, 23), date(2027, 1, 7), date(2027, 2, 21)),
        # Dec 21 + 45: Dec 31 +10, Jan 31 +41, Feb 4 +45; Feb 4 + 45: Feb 28 +24, Mar 21 +45
        (date(2026, 12, 21), date(2027, 2, 4), date(2027, 3, 21)),
    ],
)
def test_ccpa_45_days_and_extension(received: date, due: date, extended: date) -> None:
    d = deadline_for("US-CA", RequestType.ERASURE, received)
    assert (d.regime, d.due, d.extendable, d.max_extension) == ("CCPA/CPRA", due, True, "45 days")
    assert d.basis == "Cal. Civ. Code §1798.130(a)(2); 11 CCR §7021"
    assert extended_due("US-CA", RequestType.ERASURE, received) == extended


@pytest.mark.parametrize(
    ("received", "ack"),
    [
        # Thanksgiving 2026: received Mon Nov 23. Business days: Tue 24 (1), Wed 25 (2);
        # skipped Thu 26 (Thanksgiving Day) and Fri 27 (Day After Thanksgiving, a CA holiday), Sat-Sun;
        # Mon 30 (3), Tue Dec 1 (4), Wed 2 (5), Thu 3 (6), Fri 4 (7), Mon 7 (8), Tue 8 (9), Wed 9 (10).
        (date(2026, 11, 23), date(2026, 12, 9)),
        # Veterans Day 2026: received Mon Nov 9. Tue 10 (1); skipped Wed 11 (Veterans Day);
        # Thu 12 (2), Fri 13 (3), Mon 16 (4) ... Fri 20 (8), Mon 23 (9), Tue 24 (10).
        (date(2026, 11, 9), date(2026, 11, 24)),
        # Christmas 2026: received Mon Dec 21. Tue 22 (1), Wed 23 (2), Thu 24 (3: Christmas Eve is
        # no holiday); skipped Fri 25 (Christmas Day); Mon 28 (4), Tue 29 (5), Wed 30 (6), Thu 31 (7);
        # skipped Fri Jan 1 2027 (New Year's Day); Mon 4 (8), Tue 5 (9), Wed 6 (10).
        (date(2026, 12, 21), date(2027, 1, 6)),
        # Christmas 2027 falls on a Saturday and New Year 2028 too: both observed on the Friday before.
        # Received Fri Dec 17 2027: Mon 20 (1), Tue 21 (2), Wed 22 (3), Thu 23 (4); skipped
        # Fri 24 (Christmas, observed); Mon 27 (5), Tue 28 (6), Wed 29 (7), Thu 30 (8); skipped
        # Fri 31 (New Year's Day, observed); Mon Jan 3 2028 (9), Tue Jan 4 (10).
        (date(2027, 12, 17), date(2028, 1, 4)),
        # Thanksgiving 2027: received Tue Nov 23. Wed 24 (1); skipped Thu 25, Fri 26;
        # Mon 29 (2), Tue 30 (3), Wed Dec 1 (4), Thu 2 (5), Fri 3 (6), Mon 6 (7), Tue 7 (8),
        # Wed 8 (9), Thu 9 (10).
        (date(2027, 11, 23), date(2027, 12, 9)),
    ],
)
def test_ccpa_acknowledgement_in_business_days(received: date, ack: date) -> None:
    assert deadline_for("US-CA", RequestType.ACCESS, received).acknowledge_by == ack


def test_ccpa_only_for_california() -> None:
    assert deadline_for("us-ca", RequestType.ACCESS, date(2026, 1, 5)).regime == "CCPA/CPRA"
    assert deadline_for("US_CA", RequestType.ACCESS, date(2026, 1, 5)).regime == "CCPA/CPRA"
    assert deadline_for("US-NY", RequestType.ACCESS, date(2026, 1, 5)).regime == "GDPR (default)"


# --- Colombia: Ley 1581, business days from the day after receipt -------------------------------


@pytest.mark.parametrize(
    ("received", "query_due", "query_extended"),
    [
        # "Puente" Monday: received Fri Jan 9 2026; skipped Sat 10, Sun 11, Mon 12 (Epiphany, moved
        # to Monday). Tue 13 (1), Wed 14 (2), Thu 15 (3), Fri 16 (4), Mon 19 (5) ... Fri 23 (9),
        # Mon 26 (10). Extension: Tue 27 (1) ... Fri 30 (4), Mon Feb 2 (5).
        (date(2026, 1, 9), date(2026, 1, 26), date(2026, 2, 2)),
        # Two holidays: received Thu Aug 6 2026; skipped Fri 7 (Battle of Boyacá), Sat-Sun;
        # Mon 10 (1) ... Fri 14 (5); skipped Mon 17 (Assumption, moved to Monday);
        # Tue 18 (6), Wed 19 (7), Thu 20 (8), Fri 21 (9), Mon 24 (10).
        # Extension: Tue 25 (1), Wed 26 (2), Thu 27 (3), Fri 28 (4), Mon 31 (5).
        (date(2026, 8, 6), date(2026, 8, 24), date(2026, 8, 31)),
        # Holy Week 2027: received Wed Mar 24; skipped Thu 25 (Maundy Thursday), Fri 26 (Good
        # Friday), Sat-Sun; Mon 29 (1), Tue 30 (2), Wed 31 (3), Thu Apr 1 (4), Fri 2 (5), Mon 5 (6)
        # ... Fri 9 (10). Extension: Mon 12 (1) ... Fri 16 (5).
        (date(2027, 3, 24), date(2027, 4, 9), date(2027, 4, 16)),
        # Saint Joseph's puente and Holy Week together: received Fri Mar 19 2027; skipped Mon 22
        # (Saint Joseph, moved to Monday); Tue 23 (1), Wed 24 (2); skipped Thu 25, Fri 26 (Holy
        # Week); Mon 29 (3), Tue 30 (4), Wed 31 (5), Thu Apr 1 (6), Fri 2 (7), Mon 5 (8), Tue 6 (9),
        # Wed 7 (10). Extension: Thu 8 (1), Fri 9 (2), Mon 12 (3), Tue 13 (4), Wed 14 (5).
        (date(2027, 3, 19), date(2027, 4, 7), date(2027, 4, 14)),
        # Christmas / New Year 2026-2027: received Wed Dec 23 2026. Thu 24 (1: Christmas Eve is a
        # working day); skipped Fri 25 (Christmas); Mon 28 (2), Tue 29 (3), Wed 30 (4), Thu 31 (5);
        # skipped Fri Jan 1 (New Year); Mon 4 (6), Tue 5 (7), Wed 6 (8), Thu 7 (9), Fri 8 (10).
        # Extension: skipped Mon 11 (Epiphany, moved to Monday); Tue 12 (1) ... Fri 15 (4), Mon 18 (5).
        (date(2026, 12, 23), date(2027, 1, 8), date(2027, 1, 18)),
        # Received on a Saturday, Dec 26 2026: Sun 27 skipped, Mon 28 (1), Tue 29 (2), Wed 30 (3),
        # Thu 31 (4); skipped Fri Jan 1; Mon 4 (5) ... Fri 8 (9); skipped Mon 11 (Epiphany); Tue 12 (10).
        # Extension: Wed 13 (1), Thu 14 (2), Fri 15 (3), Mon 18 (4), Tue 19 (5).
        (date(2026, 12, 26), date(2027, 1, 12), date(2027, 1, 19)),
    ],
)
@pytest.mark.parametrize("request_type", CO_QUERIES)
def test_colombia_queries(request_type: RequestType, received: date, query_due: date, query_extended: date) -> None:
    d = deadline_for("CO", request_type, received)
    assert d == Deadline(
        regime="Ley 1581 (Colombia)",
        due=query_due,
        acknowledge_by=None,
        extendable=True,
        max_extension="5 business days",
        basis="Ley 1581 Art. 14",
    )
    assert extended_due("CO", request_type, received) == query_extended


@pytest.mark.parametrize(
    ("received", "claim_due", "claim_extended"),
    [
        # Received Fri Jan 9 2026 (Epiphany Monday skipped, see above): day 10 is Mon Jan 26;
        # Tue 27 (11), Wed 28 (12), Thu 29 (13), Fri 30 (14), Mon Feb 2 (15).
        # Extension: Tue 3 (1), Wed 4 (2), Thu 5 (3), Fri 6 (4), Mon 9 (5), Tue 10 (6), Wed 11 (7), Thu 12 (8).
        (date(2026, 1, 9), date(2026, 2, 2), date(2026, 2, 12)),
        # Holy Week 2027, received Wed Mar 24: day 10 is Fri Apr 9 (see above);
        # Mon 12 (11) ... Fri 16 (15). Extension: Mon 19 (1) ... Fri 23 (5), Mon 26 (6), Tue 27 (7), Wed 28 (8).
        (date(2027, 3, 24), date(2027, 4, 16), date(2027, 4, 28)),
        # Christmas 2026, received Wed Dec 23: day 10 is Fri Jan 8 (see above); skipped Mon 11
        # (Epiphany); Tue 12 (11), Wed 13 (12), Thu 14 (13), Fri 15 (14), Mon 18 (15).
        # Extension: Tue 19 (1), Wed 20 (2), Thu 21 (3), Fri 22 (4), Mon 25 (5), Tue 26 (6),
        # Wed 27 (7), Thu 28 (8).
        (date(2026, 12, 23), date(2027, 1, 18), date(2027, 1, 28)),
        # Labour Day 2026 is Fri May 1 and Ascension is moved to Mon May 18. Received Thu Apr 30:
        # skipped Fri May 1, Sat-Sun; Mon 4 (1) ... Fri 8 (5), Mon 11 (6) ... Fri 15 (10); skipped
        # Mon 18 (Ascension); Tue 19 (11), Wed 20 (12), Thu 21 (13), Fri 22 (14), Mon 25 (15).
        # Extension: Tue 26 (1), Wed 27 (2), Thu 28 (3), Fri 29 (4), Mon Jun 1 (5), Tue 2 (6),
        # Wed 3 (7), Thu 4 (8).
        (date(2026, 4, 30), date(2026, 5, 25), date(2026, 6, 4)),
    ],
)
@pytest.mark.parametrize("request_type", CO_CLAIMS)
def test_colombia_claims(request_type: RequestType, received: date, claim_due: date, claim_extended: date) -> None:
    d = deadline_for("CO", request_type, received)
    assert d == Deadline(
        regime="Ley 1581 (Colombia)",
        due=claim_due,
        acknowledge_by=None,
        extendable=True,
        max_extension="8 business days",
        basis="Ley 1581 Art. 15",
    )
    assert extended_due("CO", request_type, received) == claim_extended


def test_colombia_subdivision_uses_national_holidays() -> None:
    assert deadline_for("CO-DC", RequestType.ACCESS, date(2026, 1, 9)).due == date(2026, 1, 26)


# --- Brazil: 15 days, no extension --------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2026, 12, 20), date(2027, 1, 4)),  # Dec 31 is +11, Jan 4 is +15
        (date(2028, 2, 20), date(2028, 3, 6)),  # leap: Feb 29 is +9, Mar 6 is +15
        (date(2027, 2, 20), date(2027, 3, 7)),  # non-leap: Feb 28 is +8, Mar 7 is +15
    ],
)
@pytest.mark.parametrize("request_type", ALL_TYPES)
def test_brazil_15_days_not_extendable(request_type: RequestType, received: date, due: date) -> None:
    d = deadline_for("BR", request_type, received)
    assert d == Deadline(
        regime="LGPD (Brazil)",
        due=due,
        acknowledge_by=None,
        extendable=False,
        max_extension="",
        basis="LGPD Art. 19(II)",
    )
    with pytest.raises(DeadlineError):
        extended_due("BR", request_type, received)
    allowed, reason = can_extend("BR", request_type, received, today=received, already_extended=False)
    assert not allowed
    assert "no extension" in reason


# --- can_extend, is_overdue, days_left ----------------------------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "request_type", "received", "last_day_to_extend"),
    [
        ("ES", RequestType.ACCESS, date(2027, 1, 31), date(2027, 2, 28)),
        ("US-CA", RequestType.ERASURE, date(2027, 1, 20), date(2027, 3, 6)),
        ("CO", RequestType.ACCESS, date(2026, 1, 9), date(2026, 1, 26)),
        ("CO", RequestType.OBJECTION, date(2026, 1, 9), date(2026, 2, 2)),
    ],
)
def test_can_extend_until_first_due_date_and_only_once(
    jurisdiction: str, request_type: RequestType, received: date, last_day_to_extend: date
) -> None:
    assert can_extend(jurisdiction, request_type, received, received, already_extended=False) == (True, "")
    assert can_extend(jurisdiction, request_type, received, last_day_to_extend, already_extended=False) == (True, "")

    day_after = date.fromordinal(last_day_to_extend.toordinal() + 1)
    allowed, reason = can_extend(jurisdiction, request_type, received, day_after, already_extended=False)
    assert not allowed
    assert "passed" in reason and last_day_to_extend.isoformat() in reason

    allowed, reason = can_extend(jurisdiction, request_type, received, received, already_extended=True)
    assert not allowed
    assert "already" in reason


@pytest.mark.parametrize(
    ("due", "today", "overdue", "left"),
    [
        (date(2026, 2, 28), date(2026, 2, 1), False, 27),
        (date(2026, 2, 28), date(2026, 2, 28), False, 0),  # the due date itself is still in time
        (date(2026, 2, 28), date(2026, 3, 1), True, -1),
        (date(2028, 3, 1), date(2028, 2, 28), False, 2),  # leap day in between
        (date(2027, 1, 31), date(2026, 12, 31), False, 31),
        (date(2026, 12, 31), date(2027, 1, 10), True, -10),
    ],
)
def test_overdue_and_days_left(due: date, today: date, overdue: bool, left: int) -> None:
    assert is_overdue(due, today) is overdue
    assert days_left(due, today) == left


def test_a_datetime_counts_as_its_calendar_day() -> None:
    assert deadline_for("ES", RequestType.ACCESS, datetime(2027, 1, 31, 23, 59)).due == date(2027, 2, 28)
    assert days_left(date(2026, 2, 28), datetime(2026, 2, 27, 18, 0)) == 1


def test_request_type_as_string_and_unknown() -> None:
    assert deadline_for("CO", "erasure", date(2026, 1, 9)).basis == "Ley 1581 Art. 15"  # type: ignore[arg-type]
    with pytest.raises(DeadlineError):
        deadline_for("ES", "consent", date(2026, 1, 9))  # type: ignore[arg-type]


# --- business_days_after ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "subdiv", "start", "n", "expected"),
    [
        ("CO", None, date(2026, 1, 9), 0, date(2026, 1, 9)),
        ("CO", None, date(2026, 1, 9), 1, date(2026, 1, 13)),  # Sat, Sun, Epiphany Monday skipped
        ("US", "CA", date(2026, 11, 25), 1, date(2026, 11, 30)),  # Thanksgiving Thu + Fri skipped
        ("US", "CA", date(2026, 3, 30), 1, date(2026, 4, 1)),  # Cesar Chavez Day, Tue Mar 31 2026
        ("US", None, date(2026, 3, 30), 1, date(2026, 3, 31)),  # ... a California holiday, not federal
        # Across two year ends: from Mon Dec 28 2026 (not counted), 260 CO business days.
        # Dec 29-31 2026 give 3. 2027 has 261 weekdays (it starts on a Friday, 365 days) and 16 CO
        # holidays on weekdays (Jan 1, Jan 11, Mar 22, Mar 25, Mar 26, May 10, May 31, Jun 7, Jul 5,
        # Jul 12, Jul 20, Aug 16, Oct 18, Nov 1, Nov 15, Dec 8; May 1, Aug 7 and Dec 25 are
        # Saturdays): 245, so 248 by Fri Dec 31 2027. Jan 2028: Mon 3 (249) ... Fri 7 (253);
        # skipped Mon 10 (Epiphany, moved to Monday); Tue 11 (254) ... Fri 14 (257), Mon 17 (258),
        # Tue 18 (259), Wed 19 (260).
        ("CO", None, date(2026, 12, 28), 260, date(2028, 1, 19)),
    ],
)
def test_business_days_after(country: str, subdiv: str | None, start: date, n: int, expected: date) -> None:
    assert business_days_after(country, subdiv, start, n) == expected


def test_business_days_after_rejects_negative_and_unknown_country() -> None:
    with pytest.raises(DeadlineError):
        business_days_after("CO", None, date(2026, 1, 9), -1)
    with pytest.raises(DeadlineError):
        business_days_after("QQ", None, date(2026, 1, 9), 3)


# --- the table ----------------------------------------------------------------------------------


def test_deadline_table_describes_every_regime() -> None:
    rows = deadline_table()
    keys = {"jurisdiction", "regime", "types", "first_deadline", "extension", "acknowledgement", "basis"}
    assert all(set(row) == keys for row in rows)
    assert {row["regime"] for row in rows} == {
        "LOPDGDD/GDPR",
        "GDPR",
        "GDPR (default)",
        "CCPA/CPRA",
        "Ley 1581 (Colombia)",
        "LGPD (Brazil)",
    }
    co = {row["basis"]: row["types"] for row in rows if row["jurisdiction"] == "CO"}
    assert co == {
        "Ley 1581 Art. 14": "access, portability",
        "Ley 1581 Art. 15": "erasure, rectification, restriction, objection",
    }


# --- properties ---------------------------------------------------------------------------------

JURISDICTIONS = ["ES", "DE", "FR", "US-CA", "US-NY", "CO", "BR", "JP"]
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(jurisdiction=st.sampled_from(JURISDICTIONS), request_type=st.sampled_from(ALL_TYPES), received=dates)
def test_due_after_receipt_and_extension_never_shortens(
    jurisdiction: str, request_type: RequestType, received: date
) -> None:
    d = deadline_for(jurisdiction, request_type, received)
    assert d.due > received
    if d.acknowledge_by is not None:
        assert received < d.acknowledge_by <= d.due
    if d.extendable:
        assert extended_due(jurisdiction, request_type, received) > d.due
    else:
        with pytest.raises(DeadlineError):
            extended_due(jurisdiction, request_type, received)


@settings(max_examples=500, deadline=None)
@given(received=st.dates(min_value=date(1990, 1, 1), max_value=date(2199, 12, 31)))
def test_gdpr_month_keeps_the_day_unless_the_month_is_shorter(received: date) -> None:
    due = deadline_for("IE", RequestType.ACCESS, received).due
    assert (due.year * 12 + due.month) - (received.year * 12 + received.month) == 1
    last_of_month = calendar.monthrange(due.year, due.month)[1]
    assert due.day <= received.day
    if due.day < received.day:
        assert due.day == last_of_month  # only when the month has no such day
    extended = extended_due("IE", RequestType.ACCESS, received)
    assert (extended.year * 12 + extended.month) - (due.year * 12 + due.month) == 2
    assert extended.day <= due.day
