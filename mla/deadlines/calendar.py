"""When a period ends: calendar days, working days (the country's public holidays) or hours,
counted in the acting authority's time zone and returned as a UTC instant.

Days are counted from the day after the opening event and a period ends at midnight that
closes its last day, local time (Regulation 1182/71 art. 3(1)-(2)). Hours run from the
opening instant. Under the `reg_1182_71_art3` convention (the legal bases of
data/deadlines.yaml `computation:`) three more rules of that article apply: hours start at
the beginning of the hour after the event (art. 3(1)), a last day that is a Saturday, Sunday
or public holiday moves to the next working day (art. 3(4)), and a period of two days or
more includes at least two working days (art. 3(5)).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

END_OF_LAST_DAY = "end_of_last_day"
REG_1182_71 = "reg_1182_71_art3"


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


def next_working_day(day: date, country: str) -> date:
    """`day` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, country):
        day += timedelta(days=1)
    return day


def _working_days(after: date, until: date, country: str) -> int:
    return sum(is_working_day(after + timedelta(days=n), country)
               for n in range(1, (until - after).days + 1))


def last_day_of(first_event_day: date, days: int, country: str, convention: str) -> date:
    """The last day of a period of `days` calendar days counted from the day after
    `first_event_day`."""
    last = first_event_day + timedelta(days=days)
    if convention != REG_1182_71:
        return last
    last = next_working_day(last, country)  # art. 3(4)
    while days >= 2 and _working_days(first_event_day, last, country) < 2:  # art. 3(5)
        last = next_working_day(last + timedelta(days=1), country)
    return last


def add_calendar_days(start: datetime, days: int, tz: str, country: str = "",
                      convention: str = END_OF_LAST_DAY) -> datetime:
    return end_of_day(last_day_of(local_date(start, tz), days, country, convention), tz)


def add_working_days(start: datetime, days: int, tz: str, country: str) -> datetime:
    day = local_date(start, tz)
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, country):
            counted += 1
    return end_of_day(day, tz)


def add_hours(start: datetime, hours: int, tz: str = "UTC",
              convention: str = END_OF_LAST_DAY) -> datetime:
    if convention == REG_1182_71:
        # Art. 3(1): the hour during which the event occurs is not counted; the hour is the
        # authority's clock hour (it matters where the offset is not whole hours).
        local = start.astimezone(ZoneInfo(tz))
        start = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return start.astimezone(UTC) + timedelta(hours=hours)


def due(start: datetime, period: dict[str, int], tz: str, country: str,
        convention: str = END_OF_LAST_DAY) -> datetime:
    if "hours" in period:
        return add_hours(start, period["hours"], tz, convention)
    if "working_days" in period:
        return add_working_days(start, period["working_days"], tz, country)
    return add_calendar_days(start, period["calendar_days"], tz, country, convention)


def due_from_day(first_day: date, period: dict[str, int], tz: str, country: str,
                 convention: str = END_OF_LAST_DAY) -> datetime:
    """A period counted from a date rather than an instant (e.g. EAW art. 23(3): 10 days of
    the new surrender date agreed): the day itself is the event's day."""
    noon = datetime.combine(first_day, time(12), tzinfo=ZoneInfo(tz))
    if "hours" in period:
        return add_hours(end_of_day(first_day, tz), period["hours"], tz, END_OF_LAST_DAY)
    return due(noon, period, tz, country, convention)
