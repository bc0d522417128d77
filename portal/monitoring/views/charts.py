"""Geometry for the dashboard's pictures: pure functions from numbers to positions and classes.

The templates (``templates/monitoring/dashboard/``) draw the results as inline SVG, styled by classes in
``static/portal.css``: no script, no external library, nothing for the CSP to allow. Every chart
also keeps its numbers (``weeks``, ``bars``) so that the page can show them as a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

from portal.monitoring.aggregates import TargetTotal

# --- calendar heat map ---------------------------------------------------------------------------

WEEKS = 26  # about six months
LEVELS = 5  # intensity classes 0 (nothing) to 4 (busiest)
CELL = 12
STEP = 15  # cell plus gap
HEAT_LEFT = 34  # room for weekday names
HEAT_TOP = 18  # room for month names


@dataclass(frozen=True)
class HeatCell:
    day: date
    count: int
    level: int
    x: int
    y: int


@dataclass(frozen=True)
class Label:
    """A month or weekday name: the template formats ``value`` in the reader's language."""

    x: int
    y: int
    value: date


@dataclass(frozen=True)
class LegendStep:
    level: int
    low: int
    high: int


@dataclass(frozen=True)
class HeatWeek:
    start: date
    days: tuple[HeatCell | None, ...]  # Monday to Sunday; None after the last day


@dataclass(frozen=True)
class HeatMap:
    width: int
    height: int
    cell: int
    first: date
    last: date
    cells: list[HeatCell]
    months: list[Label]
    weekdays: list[Label]
    legend: list[LegendStep]
    weeks: list[HeatWeek]
    total: int
    busiest: HeatCell | None

    @property
    def empty(self) -> bool:
        return self.total == 0

    @property
    def week_days(self) -> list[date]:
        """The seven days of the first week, Monday first: the table's column headings."""
        return [self.first + timedelta(days=i) for i in range(7)]


def calendar_start(last: date, weeks: int = WEEKS) -> date:
    """The Monday that begins a calendar of ``weeks`` weeks whose last column holds ``last``."""
    return last - timedelta(days=last.weekday() + 7 * (weeks - 1))


def level_bounds(maximum: int) -> list[int]:
    """The upper bound of each non-zero intensity class: quarters of the busiest day."""
    return [ceil(k * maximum / (LEVELS - 1)) for k in range(1, LEVELS)]


def level_of(count: int, bounds: Sequence[int]) -> int:
    if count <= 0:
        return 0
    return next((k for k, upper in enumerate(bounds, start=1) if count <= upper), LEVELS - 1)


def weeks_to_show(counts: Mapping[date, int], last: date, weeks: int = WEEKS, since: date | None = None) -> int:
    """How many weeks the calendar needs: from the week of the first data (``since``, the oldest
    item held, else the first day counted), at most ``weeks``, so that it never opens on months
    before anything was collected."""
    counted = [day for day, count in counts.items() if count > 0 and day <= last]
    start = min([d for d in (since, min(counted, default=None)) if d is not None], default=None)
    if start is None:
        return weeks
    return max(1, min(weeks, (last - calendar_start(start, 1)).days // 7 + 1))


def heat_map(counts: Mapping[date, int], last: date, weeks: int = WEEKS, since: date | None = None) -> HeatMap:
    """Events per day up to ``last``, from the week of the first data (at most ``weeks`` weeks):
    weeks as columns (oldest on the left), weekdays as rows (Monday at the top); days after
    ``last`` are left out."""
    first = calendar_start(last, weeks_to_show(counts, last, weeks, since))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    values = [max(0, counts.get(day, 0)) for day in days]
    bounds = level_bounds(max(values, default=0))
    cells = [
        HeatCell(day, value, level_of(value, bounds), HEAT_LEFT + (i // 7) * STEP, HEAT_TOP + (i % 7) * STEP)
        for i, (day, value) in enumerate(zip(days, values, strict=True))
    ]
    columns = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    table = [HeatWeek(column[0].day, (*column, *[None] * (7 - len(column)))) for column in columns]

    months: list[Label] = []
    for c, column in enumerate(columns):
        first_of_month = next((cell.day for cell in column if cell.day.day == 1), None)
        if first_of_month is not None:
            months.append(Label(HEAT_LEFT + c * STEP, HEAT_TOP - 6, first_of_month))
    if first.day != 1 and (not months or months[0].x - HEAT_LEFT >= 3 * STEP):
        months.insert(0, Label(HEAT_LEFT, HEAT_TOP - 6, first.replace(day=1)))

    weekdays = [Label(HEAT_LEFT - 6, HEAT_TOP + row * STEP + CELL - 2, first + timedelta(days=row))
                for row in (0, 2, 4)]
    legend = [LegendStep(0, 0, 0)]
    low = 1
    for k, upper in enumerate(bounds, start=1):
        if upper >= low:
            legend.append(LegendStep(k, low, upper))
            low = upper + 1
    busiest = max((cell for cell in cells if cell.count), key=lambda cell: (cell.count, cell.day), default=None)
    return HeatMap(
        width=HEAT_LEFT + len(columns) * STEP, height=HEAT_TOP + 7 * STEP, cell=CELL, first=first, last=last,
        cells=cells, months=months, weekdays=weekdays, legend=legend, weeks=table, total=sum(values), busiest=busiest,
    )


# --- time per site and application ----------------------------------------------------------------

BAR_LABEL_WIDTH = 170
BAR_MAX_WIDTH = 320
BAR_ROW = 28
BAR_HEIGHT = 18
BAR_VALUE_ROOM = 110
LABEL_CHARS = 24


@dataclass(frozen=True)
class Bar:
    kind: str  # "site", "app" or "other"
    label: str  # the site or application; empty for "other"
    short_label: str
    duration_ms: int
    events: int
    x: int
    y: int
    width: float
    height: int
    text_y: int
    value_x: float
    percent: int  # of all time in focus


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_x: int
    bars: list[Bar]
    total_ms: int
    other_count: int

    @property
    def empty(self) -> bool:
        return self.total_ms <= 0


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hours_minutes(duration_ms: int) -> tuple[int, int]:
    """A duration as whole hours and minutes, rounded to the nearest minute."""
    hours, minutes = divmod(round(max(0, duration_ms) / 60_000), 60)
    return hours, minutes


def bar_chart(top: Sequence[TargetTotal], other_ms: int = 0, other_events: int = 0, other_count: int = 0) -> BarChart:
    """Horizontal bars of time in focus: the given targets (largest first) and one bar for the rest."""
    entries = [(t.target_type, t.target, max(0, t.duration_ms), t.events) for t in top]
    if other_count > 0:
        entries.append(("other", "", max(0, other_ms), other_events))
    total = sum(ms for _, _, ms, _ in entries)
    largest = max((ms for _, _, ms, _ in entries), default=0)
    bars = []
    for row, (kind, label, ms, events) in enumerate(entries):
        width = round(ms / largest * BAR_MAX_WIDTH, 1) if largest else 0.0
        if ms and width < 1:
            width = 1.0  # a sliver, so that a small but non-zero value is still seen
        y = row * BAR_ROW + (BAR_ROW - BAR_HEIGHT) // 2
        bars.append(Bar(
            kind=kind, label=label, short_label=shorten(label), duration_ms=ms, events=events,
            x=BAR_LABEL_WIDTH, y=y, width=width, height=BAR_HEIGHT, text_y=y + BAR_HEIGHT - 5,
            value_x=BAR_LABEL_WIDTH + width + 6, percent=round(100 * ms / total) if total else 0,
        ))
    return BarChart(width=BAR_LABEL_WIDTH + BAR_MAX_WIDTH + BAR_VALUE_ROOM, height=max(1, len(bars)) * BAR_ROW,
                    label_x=BAR_LABEL_WIDTH - 8, bars=bars, total_ms=total, other_count=max(0, other_count))


# --- events by hour of day --------------------------------------------------------------------------

HOUR_LEFT = 48  # room for the axis numbers
HOUR_TOP = 10
HOUR_PLOT = 120
HOUR_PITCH = 22
HOUR_BAR = 16
HOUR_BOTTOM = 22


@dataclass(frozen=True)
class HourBar:
    hour: int
    count: int
    x: float
    y: float
    width: int
    height: float


@dataclass(frozen=True)
class Tick:
    position: float
    value: int


@dataclass(frozen=True)
class HourChart:
    width: int
    height: int
    left: int
    right: int
    baseline: int
    bars: list[HourBar]
    x_ticks: list[Tick]  # hour labels under the bars
    y_ticks: list[Tick]  # event counts along the left
    total: int
    peak: HourBar | None

    @property
    def empty(self) -> bool:
        return self.total == 0


def hour_chart(counts: Sequence[int]) -> HourChart:
    """24 vertical bars, midnight to 23:00, scaled to the busiest hour."""
    values = [max(0, int(c)) for c in list(counts)[:24]] + [0] * max(0, 24 - len(counts))
    largest = max(values)
    baseline = HOUR_TOP + HOUR_PLOT
    bars = []
    for hour, count in enumerate(values):
        height = round(count / largest * HOUR_PLOT, 1) if largest else 0.0
        if count and height < 1:
            height = 1.0
        x = HOUR_LEFT + hour * HOUR_PITCH + (HOUR_PITCH - HOUR_BAR) / 2
        bars.append(HourBar(hour, count, x, baseline - height, HOUR_BAR, height))
    x_ticks = [Tick(HOUR_LEFT + hour * HOUR_PITCH + HOUR_PITCH / 2, hour) for hour in range(0, 24, 3)]
    y_values = sorted({0, largest // 2, largest}) if largest else [0]
    y_ticks = [Tick(baseline - (v / largest * HOUR_PLOT if largest else 0), v) for v in y_values]
    peak = max((b for b in bars if b.count), key=lambda b: (b.count, -b.hour), default=None)
    right = HOUR_LEFT + 24 * HOUR_PITCH
    return HourChart(width=right + 4, height=baseline + HOUR_BOTTOM, left=HOUR_LEFT, right=right, baseline=baseline,
                     bars=bars, x_ticks=x_ticks, y_ticks=y_ticks, total=sum(values), peak=peak)
