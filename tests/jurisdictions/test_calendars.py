"""The pinned business-day calendars: the literal lists agree with the law's rules, and differ from
the ``holidays`` library exactly where the library is wrong about the law."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from portal.jurisdictions.calendars import (
    BRAZIL,
    CALENDARS,
    CALIFORNIA,
    COLOMBIA,
    PINNED_YEARS,
    SPAIN,
    WEEKENDS,
    Calendar,
)


@pytest.mark.parametrize("calendar", [c for c in CALENDARS if c.pinned], ids=lambda c: c.key)
@pytest.mark.parametrize("year", PINNED_YEARS)
def test_the_pinned_list_is_what_the_rules_give(calendar: Calendar, year: int) -> None:
    pinned = [(h.day, h.name) for h in calendar.pinned if h.day.year == year]
    assert pinned == [(h.day, h.name) for h in calendar.rule(year)]
    assert pinned == sorted(pinned)


def test_colombia_has_the_18_holidays_of_ley_51_de_1983_and_no_chiquinquira_day() -> None:
    """Ley 51 de 1983 Art. 1 lists 18 days; 6 Jan, 19 Mar, 29 Jun, 15 Aug, 12 Oct, 1 Nov, 11 Nov,
    Ascension, Corpus Christi and the Sacred Heart move to the next Monday. The ``holidays`` library
    adds a "Day of Our Lady of the Rosary of Chiquinquirá" in July citing a law that could not be
    confirmed: it is not pinned."""
    for year in PINNED_YEARS:
        ours = COLOMBIA.holiday_dates([year])
        assert len(ours) == 18
        library = set(holidays.country_holidays("CO", years=year))
        extra = library - ours
        assert all(day.month == 7 and "Chiquinquir" in holidays.country_holidays("CO", years=year)[day]
                   for day in extra), extra
        assert ours - library == set()
    assert date(2026, 7, 13) not in COLOMBIA.holiday_dates([2026]) and COLOMBIA.is_working_day(date(2026, 7, 13))
    assert date(2027, 7, 12) not in COLOMBIA.holiday_dates([2027])


@pytest.mark.parametrize(("day", "name"), [
    (date(2026, 1, 12), "Reyes Magos"), (date(2026, 3, 23), "San José"), (date(2026, 5, 18), "Ascensión del Señor"),
    (date(2026, 6, 8), "Corpus Christi"), (date(2026, 6, 15), "Sagrado Corazón de Jesús"),
    (date(2026, 8, 17), "Asunción de la Virgen"), (date(2026, 11, 2), "Todos los Santos"),
    (date(2026, 11, 16), "Independencia de Cartagena"), (date(2027, 7, 5), "San Pedro y San Pablo"),
    (date(2027, 10, 18), "Día de la Raza"),
])
def test_colombian_holidays_moved_to_monday(day: date, name: str) -> None:
    assert day.weekday() == 0
    assert (day, name) in [(h.day, h.name) for h in COLOMBIA.holidays(day.year)]


def test_california_follows_gov_code_6700_not_the_library() -> None:
    ours = CALIFORNIA.holiday_dates([2026])
    library = set(holidays.country_holidays("US", subdiv="CA", years=2026))
    # The library counts these, which are not §6700 holidays: Susan B. Anthony Day, a Friday
    # "observed" July 4 (§6701 gives no Saturday rule but for Veterans Day), the day after Thanksgiving.
    assert library - ours == {date(2026, 2, 15), date(2026, 7, 3), date(2026, 11, 27)}
    # ... and misses these, which are: Lincoln Day, Lunar New Year, Genocide Remembrance Day,
    # Admission Day, Native American Day, Columbus Day.
    assert ours - library == {date(2026, 2, 12), date(2026, 2, 17), date(2026, 4, 24), date(2026, 9, 9),
                              date(2026, 9, 25), date(2026, 10, 12)}
    assert CALIFORNIA.is_working_day(date(2026, 4, 3))  # Good Friday: a holiday from noon to 3 p.m. only


def test_california_sunday_and_saturday_rules() -> None:
    """§6701: 1 Jan, 12 Feb, 31 Mar, 4 Jul, 9 Sep, 11 Nov and 25 Dec on a Sunday give the Monday; 11 Nov
    on a Saturday gives the Friday."""
    assert date(2027, 7, 5) in CALIFORNIA.holiday_dates([2027])  # Sun 4 Jul 2027
    assert date(2028, 11, 10) in CALIFORNIA.holiday_dates([2028])  # Sat 11 Nov 2028
    assert date(2027, 12, 24) not in CALIFORNIA.holiday_dates([2027])  # Sat 25 Dec 2027: no Friday


def test_spain_national_holidays() -> None:
    assert SPAIN.holiday_dates([2026]) == {date(2026, m, day) for m, day in (
        (1, 1), (1, 6), (4, 3), (5, 1), (8, 15), (10, 12), (11, 1), (12, 6), (12, 8), (12, 25))}
    assert date(2026, 4, 2) not in SPAIN.holiday_dates([2026])  # Holy Thursday: regional, not national


def test_brazil_national_holidays_include_black_awareness_day_not_carnival() -> None:
    days = BRAZIL.holiday_dates([2026])
    assert date(2026, 11, 20) in days and date(2026, 4, 3) in days
    assert date(2026, 2, 16) not in days and date(2026, 2, 17) not in days  # Carnival: ponto facultativo


def test_working_days() -> None:
    assert WEEKENDS.next_working_day(date(2026, 2, 28)) == date(2026, 3, 2)
    assert SPAIN.next_working_day(date(2026, 12, 8)) == date(2026, 12, 9)
    assert COLOMBIA.working_days_after(date(2026, 1, 9), 1) == date(2026, 1, 13)
    with pytest.raises(ValueError):
        COLOMBIA.working_days_after(date(2026, 1, 9), -1)
