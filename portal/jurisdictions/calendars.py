"""Business-day calendars, pinned in the registry rather than taken from the ``holidays`` library.

Each calendar is the law's own list of public holidays: a literal list for the pinned years (each
date checked against the law by hand, see ``tests/jurisdictions/test_calendars.py``) and the law's
rules written as code for any other year. The rules and the pinned lists must agree for the
pinned years; a test says so.

Why not the ``holidays`` library: for California it counts Susan B. Anthony Day (a day of
remembrance, not a holiday of Gov. Code §6700), a Friday "observed" Independence Day and the day
after Thanksgiving (state employees' holidays, not §6700's), and misses Lincoln Day, Lunar New
Year, Genocide Remembrance Day, Admission Day, Native American Day and Columbus Day. For Colombia
it adds a Chiquinquirá day (9 July moved to a Monday) citing a law that could not be confirmed;
Ley 51 de 1983 (Emiliani) has no such day.

Holidays fixed by a lunar calendar (California's Lunar New Year and Diwali) are known only for the
years listed in :data:`LUNAR_NEW_YEAR` and :data:`DIWALI`; in a year outside them they are not
counted, so a deadline counted in business days comes out a day early at worst, never late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

PINNED_YEARS = (2026, 2027)


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th ``weekday`` (0 = Monday) of the month; ``n = -1`` for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _next_monday(day: date) -> date:
    """Ley 51 de 1983 Art. 1 par. 1: a holiday that does not fall on a Monday moves to the next one."""
    return day + timedelta(days=(7 - day.weekday()) % 7)


# -- Spain: the national holidays (Estatuto de los Trabajadores Art. 37.2; Real Decreto 2001/1983
# Art. 45; the yearly resolution of the Dirección General de Trabajo in the BOE) ---------------------

def _spain(year: int) -> tuple[Holiday, ...]:
    easter = _easter(year)
    days = [
        Holiday(date(year, 1, 1), "Año Nuevo"),
        Holiday(date(year, 1, 6), "Epifanía del Señor"),
        Holiday(easter - timedelta(days=2), "Viernes Santo"),
        Holiday(date(year, 5, 1), "Fiesta del Trabajo"),
        Holiday(date(year, 8, 15), "Asunción de la Virgen"),
        Holiday(date(year, 10, 12), "Fiesta Nacional de España"),
        Holiday(date(year, 11, 1), "Todos los Santos"),
        Holiday(date(year, 12, 6), "Día de la Constitución Española"),
        Holiday(date(year, 12, 8), "Inmaculada Concepción"),
        Holiday(date(year, 12, 25), "Natividad del Señor"),
    ]
    return tuple(sorted(days, key=lambda h: h.day))


# -- California: Gov. Code §6700(a) and §6701 -------------------------------------------------------

# §6700(a)(4): "the second new moon following the winter solstice" (Lunar New Year, AB 2596, 2022).
LUNAR_NEW_YEAR = {2025: date(2025, 1, 29), 2026: date(2026, 2, 17), 2027: date(2027, 2, 6),
                  2028: date(2028, 1, 26)}
# Diwali (AB 268, Stats. 2025 ch. 358, in force 1 January 2026).
DIWALI = {2026: date(2026, 11, 8), 2027: date(2027, 10, 29), 2028: date(2028, 10, 17)}

# §6701: these dates, when they fall on a Sunday, give the Monday after as a holiday.
_CA_SUNDAY_TO_MONDAY = ((1, 1), (2, 12), (3, 31), (7, 4), (9, 9), (11, 11), (12, 25))


def _california(year: int) -> tuple[Holiday, ...]:
    days = [
        Holiday(date(year, 1, 1), "New Year's Day (§6700(a)(2))"),
        Holiday(_nth_weekday(year, 1, 0, 3), "Dr. Martin Luther King, Jr. Day (§6700(a)(3))"),
        Holiday(date(year, 2, 12), "Lincoln Day (§6700(a)(5))"),
        Holiday(_nth_weekday(year, 2, 0, 3), "Third Monday in February (§6700(a)(6))"),
        Holiday(date(year, 3, 31), "Cesar Chavez Day (§6700(a)(7))"),
        Holiday(date(year, 4, 24), "Genocide Remembrance Day (§6700(a)(8))"),
        Holiday(_nth_weekday(year, 5, 0, -1), "Last Monday in May (§6700(a)(9))"),
        Holiday(date(year, 6, 19), "Juneteenth (§6700(a)(10))"),
        Holiday(date(year, 7, 4), "July 4 (§6700(a)(11))"),
        Holiday(_nth_weekday(year, 9, 0, 1), "First Monday in September (§6700(a)(12))"),
        Holiday(date(year, 9, 9), "Admission Day (§6700(a)(13))"),
        Holiday(_nth_weekday(year, 9, 4, 4), "Native American Day (§6700(a)(14))"),
        Holiday(_nth_weekday(year, 10, 0, 2), "Columbus Day (§6700(a)(15))"),
        Holiday(date(year, 11, 11), "Veterans Day (§6700(a)(16))"),
        Holiday(_nth_weekday(year, 11, 3, 4), "Thanksgiving Day, appointed by the President (§6700(a)(19))"),
        Holiday(date(year, 12, 25), "December 25 (§6700(a)(17))"),
    ]
    if year in LUNAR_NEW_YEAR:
        days.append(Holiday(LUNAR_NEW_YEAR[year], "Lunar New Year (§6700(a)(4))"))
    if year in DIWALI:
        days.append(Holiday(DIWALI[year], "Diwali (§6700, AB 268 of 2025)"))
    for month, day in _CA_SUNDAY_TO_MONDAY:
        if date(year, month, day).weekday() == 6:
            days.append(Holiday(date(year, month, day) + timedelta(days=1), f"{month}/{day} fell on a Sunday (§6701)"))
    if date(year, 11, 11).weekday() == 5:
        days.append(Holiday(date(year, 11, 10), "Veterans Day fell on a Saturday (§6701)"))
    # Good Friday is a holiday only from noon to 3 p.m. (§6700(a)(18)): it stays a business day.
    return tuple(sorted(days, key=lambda h: h.day))


# -- Colombia: Ley 51 de 1983 (Emiliani) Art. 1 ------------------------------------------------------

def _colombia(year: int) -> tuple[Holiday, ...]:
    easter = _easter(year)
    days = [
        Holiday(date(year, 1, 1), "Año Nuevo"),
        Holiday(_next_monday(date(year, 1, 6)), "Reyes Magos"),
        Holiday(_next_monday(date(year, 3, 19)), "San José"),
        Holiday(easter - timedelta(days=3), "Jueves Santo"),
        Holiday(easter - timedelta(days=2), "Viernes Santo"),
        Holiday(date(year, 5, 1), "Día del Trabajo"),
        Holiday(_next_monday(easter + timedelta(days=39)), "Ascensión del Señor"),
        Holiday(_next_monday(easter + timedelta(days=60)), "Corpus Christi"),
        Holiday(_next_monday(easter + timedelta(days=68)), "Sagrado Corazón de Jesús"),
        Holiday(_next_monday(date(year, 6, 29)), "San Pedro y San Pablo"),
        Holiday(date(year, 7, 20), "Día de la Independencia"),
        Holiday(date(year, 8, 7), "Batalla de Boyacá"),
        Holiday(_next_monday(date(year, 8, 15)), "Asunción de la Virgen"),
        Holiday(_next_monday(date(year, 10, 12)), "Día de la Raza"),
        Holiday(_next_monday(date(year, 11, 1)), "Todos los Santos"),
        Holiday(_next_monday(date(year, 11, 11)), "Independencia de Cartagena"),
        Holiday(date(year, 12, 8), "Inmaculada Concepción"),
        Holiday(date(year, 12, 25), "Navidad"),
    ]
    return tuple(sorted(days, key=lambda h: h.day))


# -- Brazil: national holidays (Lei 662/1949 as amended by Lei 10.607/2002; Lei 6.802/1980;
# Lei 14.759/2023; Lei 9.093/1995 Art. 2 for Good Friday) --------------------------------------------

def _brazil(year: int) -> tuple[Holiday, ...]:
    easter = _easter(year)
    days = [
        Holiday(date(year, 1, 1), "Confraternização Universal"),
        Holiday(easter - timedelta(days=2), "Paixão de Cristo"),
        Holiday(date(year, 4, 21), "Tiradentes"),
        Holiday(date(year, 5, 1), "Dia do Trabalho"),
        Holiday(date(year, 9, 7), "Independência do Brasil"),
        Holiday(date(year, 10, 12), "Nossa Senhora Aparecida"),
        Holiday(date(year, 11, 2), "Finados"),
        Holiday(date(year, 11, 15), "Proclamação da República"),
        Holiday(date(year, 11, 20), "Dia Nacional de Zumbi e da Consciência Negra"),
        Holiday(date(year, 12, 25), "Natal"),
    ]
    return tuple(sorted(days, key=lambda h: h.day))


def _none(year: int) -> tuple[Holiday, ...]:
    return ()


def _pin(*days: tuple[int, int, int, str]) -> tuple[Holiday, ...]:
    return tuple(Holiday(date(y, m, d), name) for y, m, d, name in days)


@dataclass(frozen=True)
class Calendar:
    """Which days are working days: Monday to Friday less the listed public holidays."""

    key: str
    name: str  # for a sentence: "Spain's national holidays"
    source: str  # the law that makes the list
    rule: Callable[[int], tuple[Holiday, ...]] = field(repr=False, compare=False)
    pinned: tuple[Holiday, ...] = ()  # the literal list for PINNED_YEARS, checked by hand

    def holidays(self, year: int) -> tuple[Holiday, ...]:
        pinned = tuple(h for h in self.pinned if h.day.year == year)
        return pinned if year in PINNED_YEARS and self.pinned else self.rule(year)

    def holiday_dates(self, years: Iterable[int]) -> frozenset[date]:
        return frozenset(h.day for year in years for h in self.holidays(year))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _dates(self, day.year)

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def working_days_after(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself never counts; 0 gives ``start``)."""
        if n < 0:
            raise ValueError(f"business day count must not be negative: {n}")
        day = start
        while n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day


@lru_cache(maxsize=256)
def _dates(calendar: Calendar, year: int) -> frozenset[date]:
    return frozenset(h.day for h in calendar.holidays(year))


SPAIN = Calendar(
    "ES", "Spain's national holidays", "Estatuto de los Trabajadores Art. 37.2; Real Decreto 2001/1983 Art. 45",
    _spain,
    _pin((2026, 1, 1, "Año Nuevo"), (2026, 1, 6, "Epifanía del Señor"), (2026, 4, 3, "Viernes Santo"),
         (2026, 5, 1, "Fiesta del Trabajo"), (2026, 8, 15, "Asunción de la Virgen"),
         (2026, 10, 12, "Fiesta Nacional de España"), (2026, 11, 1, "Todos los Santos"),
         (2026, 12, 6, "Día de la Constitución Española"), (2026, 12, 8, "Inmaculada Concepción"),
         (2026, 12, 25, "Natividad del Señor"),
         (2027, 1, 1, "Año Nuevo"), (2027, 1, 6, "Epifanía del Señor"), (2027, 3, 26, "Viernes Santo"),
         (2027, 5, 1, "Fiesta del Trabajo"), (2027, 8, 15, "Asunción de la Virgen"),
         (2027, 10, 12, "Fiesta Nacional de España"), (2027, 11, 1, "Todos los Santos"),
         (2027, 12, 6, "Día de la Constitución Española"), (2027, 12, 8, "Inmaculada Concepción"),
         (2027, 12, 25, "Natividad del Señor")),
)

CALIFORNIA = Calendar(
    "US-CA", "California's holidays of Gov. Code §6700", "Cal. Gov. Code §§6700, 6701", _california,
    _pin((2026, 1, 1, "New Year's Day (§6700(a)(2))"),
         (2026, 1, 19, "Dr. Martin Luther King, Jr. Day (§6700(a)(3))"),
         (2026, 2, 12, "Lincoln Day (§6700(a)(5))"),
         (2026, 2, 16, "Third Monday in February (§6700(a)(6))"),
         (2026, 2, 17, "Lunar New Year (§6700(a)(4))"),
         (2026, 3, 31, "Cesar Chavez Day (§6700(a)(7))"),
         (2026, 4, 24, "Genocide Remembrance Day (§6700(a)(8))"),
         (2026, 5, 25, "Last Monday in May (§6700(a)(9))"),
         (2026, 6, 19, "Juneteenth (§6700(a)(10))"),
         (2026, 7, 4, "July 4 (§6700(a)(11))"),
         (2026, 9, 7, "First Monday in September (§6700(a)(12))"),
         (2026, 9, 9, "Admission Day (§6700(a)(13))"),
         (2026, 9, 25, "Native American Day (§6700(a)(14))"),
         (2026, 10, 12, "Columbus Day (§6700(a)(15))"),
         (2026, 11, 8, "Diwali (§6700, AB 268 of 2025)"),
         (2026, 11, 11, "Veterans Day (§6700(a)(16))"),
         (2026, 11, 26, "Thanksgiving Day, appointed by the President (§6700(a)(19))"),
         (2026, 12, 25, "December 25 (§6700(a)(17))"),
         (2027, 1, 1, "New Year's Day (§6700(a)(2))"),
         (2027, 1, 18, "Dr. Martin Luther King, Jr. Day (§6700(a)(3))"),
         (2027, 2, 6, "Lunar New Year (§6700(a)(4))"),
         (2027, 2, 12, "Lincoln Day (§6700(a)(5))"),
         (2027, 2, 15, "Third Monday in February (§6700(a)(6))"),
         (2027, 3, 31, "Cesar Chavez Day (§6700(a)(7))"),
         (2027, 4, 24, "Genocide Remembrance Day (§6700(a)(8))"),
         (2027, 5, 31, "Last Monday in May (§6700(a)(9))"),
         (2027, 6, 19, "Juneteenth (§6700(a)(10))"),
         (2027, 7, 4, "July 4 (§6700(a)(11))"),
         (2027, 7, 5, "7/4 fell on a Sunday (§6701)"),
         (2027, 9, 6, "First Monday in September (§6700(a)(12))"),
         (2027, 9, 9, "Admission Day (§6700(a)(13))"),
         (2027, 9, 24, "Native American Day (§6700(a)(14))"),
         (2027, 10, 11, "Columbus Day (§6700(a)(15))"),
         (2027, 10, 29, "Diwali (§6700, AB 268 of 2025)"),
         (2027, 11, 11, "Veterans Day (§6700(a)(16))"),
         (2027, 11, 25, "Thanksgiving Day, appointed by the President (§6700(a)(19))"),
         (2027, 12, 25, "December 25 (§6700(a)(17))")),
)

COLOMBIA = Calendar(
    "CO", "Colombia's holidays of Ley 51 de 1983", "Ley 51 de 1983 Art. 1 (Ley Emiliani)", _colombia,
    _pin((2026, 1, 1, "Año Nuevo"), (2026, 1, 12, "Reyes Magos"), (2026, 3, 23, "San José"),
         (2026, 4, 2, "Jueves Santo"), (2026, 4, 3, "Viernes Santo"), (2026, 5, 1, "Día del Trabajo"),
         (2026, 5, 18, "Ascensión del Señor"), (2026, 6, 8, "Corpus Christi"),
         (2026, 6, 15, "Sagrado Corazón de Jesús"), (2026, 6, 29, "San Pedro y San Pablo"),
         (2026, 7, 20, "Día de la Independencia"), (2026, 8, 7, "Batalla de Boyacá"),
         (2026, 8, 17, "Asunción de la Virgen"), (2026, 10, 12, "Día de la Raza"),
         (2026, 11, 2, "Todos los Santos"), (2026, 11, 16, "Independencia de Cartagena"),
         (2026, 12, 8, "Inmaculada Concepción"), (2026, 12, 25, "Navidad"),
         (2027, 1, 1, "Año Nuevo"), (2027, 1, 11, "Reyes Magos"), (2027, 3, 22, "San José"),
         (2027, 3, 25, "Jueves Santo"), (2027, 3, 26, "Viernes Santo"), (2027, 5, 1, "Día del Trabajo"),
         (2027, 5, 10, "Ascensión del Señor"), (2027, 5, 31, "Corpus Christi"),
         (2027, 6, 7, "Sagrado Corazón de Jesús"), (2027, 7, 5, "San Pedro y San Pablo"),
         (2027, 7, 20, "Día de la Independencia"), (2027, 8, 7, "Batalla de Boyacá"),
         (2027, 8, 16, "Asunción de la Virgen"), (2027, 10, 18, "Día de la Raza"),
         (2027, 11, 1, "Todos los Santos"), (2027, 11, 15, "Independencia de Cartagena"),
         (2027, 12, 8, "Inmaculada Concepción"), (2027, 12, 25, "Navidad")),
)

BRAZIL = Calendar(
    "BR", "Brazil's national holidays", "Lei 662/1949 (Lei 10.607/2002); Lei 6.802/1980; Lei 14.759/2023; "
    "Lei 9.093/1995 Art. 2", _brazil,
    _pin((2026, 1, 1, "Confraternização Universal"), (2026, 4, 3, "Paixão de Cristo"), (2026, 4, 21, "Tiradentes"),
         (2026, 5, 1, "Dia do Trabalho"), (2026, 9, 7, "Independência do Brasil"),
         (2026, 10, 12, "Nossa Senhora Aparecida"), (2026, 11, 2, "Finados"),
         (2026, 11, 15, "Proclamação da República"), (2026, 11, 20, "Dia Nacional de Zumbi e da Consciência Negra"),
         (2026, 12, 25, "Natal"),
         (2027, 1, 1, "Confraternização Universal"), (2027, 3, 26, "Paixão de Cristo"), (2027, 4, 21, "Tiradentes"),
         (2027, 5, 1, "Dia do Trabalho"), (2027, 9, 7, "Independência do Brasil"),
         (2027, 10, 12, "Nossa Senhora Aparecida"), (2027, 11, 2, "Finados"),
         (2027, 11, 15, "Proclamação da República"), (2027, 11, 20, "Dia Nacional de Zumbi e da Consciência Negra"),
         (2027, 12, 25, "Natal")),
)

# Other EU/EEA countries: the portal keeps no list of their public holidays, so only Saturdays
# and Sundays move a GDPR deadline there; a deadline on a holiday is shown a working day early.
WEEKENDS = Calendar("weekends", "Saturdays and Sundays only, no public holidays pinned", "", _none)

CALENDARS: tuple[Calendar, ...] = (SPAIN, CALIFORNIA, COLOMBIA, BRAZIL, WEEKENDS)
