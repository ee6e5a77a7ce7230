"""When a period ends: calendar days, working days (the country's public holidays) or hours,
counted in the acting authority's time zone and returned as a UTC instant.

Days are counted from the day after the opening event and a period ends at midnight that
closes its last day, local time (the usual rule of computation of time limits, e.g.
Regulation 1182/71 art. 3). Hours run from the opening instant itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays


@cache
def _holidays(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the package does not know: weekends only
        return frozenset()


def is_working_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


def end_of_day(day: date, tz: str) -> datetime:
    """Midnight at the end of `day` in `tz`, as UTC (DST-correct: 23 or 25 hour days too)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_date(instant: datetime, tz: str) -> date:
    return instant.astimezone(ZoneInfo(tz)).date()


def add_calendar_days(start: datetime, days: int, tz: str) -> datetime:
    return end_of_day(local_date(start, tz) + timedelta(days=days), tz)


def add_working_days(start: datetime, days: int, tz: str, country: str) -> datetime:
    day = local_date(start, tz)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, country):
            counted += 1
    return end_of_day(day, tz)


def add_hours(start: datetime, hours: int) -> datetime:
    return start.astimezone(UTC) + timedelta(hours=hours)


def due(start: datetime, period: dict[str, int], tz: str, country: str) -> datetime:
    if "hours" in period:
        return add_hours(start, period["hours"])
    if "working_days" in period:
        return add_working_days(start, period["working_days"], tz, country)
    return add_calendar_days(start, period["calendar_days"], tz)
