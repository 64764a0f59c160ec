"""Schedule expressions: parse one once, then ask it when it fires.

Three spellings, all at minute precision; keywords and names are case-insensitive:

- ``rate(5 minutes)``: EventBridge's fixed rate in minutes, hours or days, the unit singular exactly when the value
  is 1. A rate counts elapsed time, so the time zone does not apply to it (``rate(1 day)`` is 24 hours, as on
  EventBridge Scheduler). Ticks are anchored at the Unix epoch in UTC, tick k = 1970-01-01T00:00Z + k × period, so
  two processes, and a restarted one, agree on which tick is due. EventBridge anchors a rate at the schedule's
  creation (or its StartDate) instead; Hearth gives that up for determinism.
- ``cron(0 12 ? * MON-FRI *)``: EventBridge's six fields, minutes hours day-of-month month day-of-week year.
  ``?`` stands in exactly one of the two day fields. Day-of-week is 1-7 or SUN-SAT (1 = Sunday). ``L`` is the last
  day of the month in day-of-month; alone in day-of-week it is the last day of the week (Saturday), and ``6L`` is
  the month's last Friday. ``15W`` is the weekday (Monday to Friday) nearest the 15th and ``LW`` the month's last
  weekday; neither leaves the month. ``3#2`` is the month's second Tuesday, and must be the whole field. Years
  1970-2199.
- ``0 12 * * 1-5``: Unix (and Vercel ``crons``) five fields, minute hour day-of-month month day-of-week, with
  day-of-week 0-7 or SUN-SAT (0 and 7 = Sunday). When both day fields are restricted a day matches if either does;
  as in Vixie cron and cronie, a day field that starts with ``*`` (``*/2`` too) counts as unrestricted, and then a
  day must match both.

Cron fields are wall-clock times in the schedule's IANA time zone, and daylight saving time is handled as
EventBridge Scheduler documents it: a wall time that does not exist that day (spring forward) does not fire, and a
wall time that happens twice (fall back) fires once, at its first occurrence. Five-field crons follow the same
rules (Vercel's run in UTC anyway). Fire times are aware UTC datetimes.

The search for a cron's next fire goes field by field (year, month, day, hour, minute) and examines each month at
most once, so a rare expression (``cron(0 0 29 2 ? *)``) costs a few steps per year searched. EventBridge
expressions are searched up to their last year (2199 at most); five-field ones, which have no year, at most
``HORIZON_YEARS`` ahead, far more than the longest gap between two fires of any expression ``parse`` accepts
(8 years for February 29). ``parse`` refuses a day that no chosen month has (``0 0 30 2 *``).
"""

from __future__ import annotations

import calendar
import math
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, datetime, timedelta, tzinfo
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["EPOCH", "FIRST_YEAR", "HORIZON_YEARS", "LAST_YEAR", "Schedule", "parse"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # tick 0 of every rate()
HORIZON_YEARS = 50  # how far a five-field cron is searched
FIRST_YEAR, LAST_YEAR = 1970, 2199  # EventBridge's year field

_MINUTE = timedelta(minutes=1)
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_ALL_DAYS = frozenset(range(1, 32))
_SATURDAY = 6  # weekdays count from Sunday = 0 inside this module


def parse(expression: str, timezone: str = "UTC") -> Schedule:
    """The schedule ``expression`` describes, its cron fields read in ``timezone`` (an IANA name); raises
    ``ValueError`` saying what is wrong, with a correct example."""
    zone = _zone(timezone)
    text = " ".join(expression.split())
    if not text:
        _invalid(expression, "it is empty", '"rate(5 minutes)", "cron(0 12 * * ? *)" or "0 12 * * *"')
    head, paren, rest = text.partition("(")
    body, close, tail = rest.partition(")")
    rule: _Rate | _Cron
    if not paren:
        rule, canonical = _cron(_Fields(expression, eventbridge=False), text.split())
    elif not close:
        _invalid(expression, "the closing parenthesis is missing", '"cron(0 12 * * ? *)"')
    elif tail.strip():
        _invalid(expression, f"{tail.strip()!r} follows the closing parenthesis", '"cron(0 12 * * ? *)"')
    elif head.strip().lower() == "rate":
        rule, canonical = _rate(expression, body.split())
    elif head.strip().lower() == "cron":
        rule, canonical = _cron(_Fields(expression, eventbridge=True), body.split())
    else:
        _invalid(expression, f"{head.strip()!r} is not a schedule type; Hearth reads rate(...), cron(...) and "
                             "five-field cron", '"rate(1 hour)" or "cron(0 12 * * ? *)"')
    return Schedule(canonical, timezone, rule, zone)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in its time zone. ``expression`` is the canonical spelling (spaces collapsed, names and
    keywords in EventBridge's case), which ``str()`` returns too; make one with ``parse``."""

    expression: str
    timezone: str
    _rule: _Rate | _Cron = field(repr=False)
    _zone: tzinfo = field(repr=False, compare=False)

    def __str__(self) -> str:
        return self.expression

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time strictly after ``moment`` (an aware datetime), in UTC; None if there is none."""
        return self._search(moment)[0]

    def ticks_between(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The fire times in ``(after, until]``, earliest first, at most ``limit`` of them."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        _aware(after, "after")
        _aware(until, "until")
        ticks: list[datetime] = []
        moment = after
        while len(ticks) < limit:
            tick = self.next_after(moment)
            if tick is None or tick > until:
                break
            ticks.append(tick)
            moment = tick
        return ticks

    def _search(self, moment: datetime) -> tuple[datetime | None, int]:
        """``next_after`` and the number of months it examined (tests bound it)."""
        _aware(moment, "moment")
        if isinstance(self._rule, _Rate):
            return self._rule.next_after(moment), 0
        return _next_cron(self._rule, self._zone, moment)


@dataclass(frozen=True)
class _Rate:
    period: timedelta

    def next_after(self, moment: datetime) -> datetime | None:
        ticks = (moment - EPOCH) // self.period  # floor, also before the epoch
        try:
            return EPOCH + (ticks + 1) * self.period
        except OverflowError:
            return None


@dataclass(frozen=True)
class _MonthDays:
    """The day-of-month field. ``star``: it starts with ``*`` or is ``?`` (see the module docstring)."""

    star: bool
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    nearest: frozenset[int] = frozenset()  # 15W
    last_weekday: bool = False  # LW

    def select(self, first: int, length: int) -> set[int]:
        """The days it picks in a month of ``length`` days whose 1st is weekday ``first``."""
        chosen = {day for day in self.days if day <= length}
        if self.last:
            chosen.add(length)
        for day in self.nearest:
            if day <= length:
                chosen.add(_nearest_weekday(day, first, length))
        if self.last_weekday:
            chosen.add(_nearest_weekday(length, first, length))
        return chosen


@dataclass(frozen=True)
class _WeekDays:
    """The day-of-week field, weekdays counted from Sunday = 0."""

    star: bool
    weekdays: frozenset[int] = frozenset()
    last_of: frozenset[int] = frozenset()  # 6L: the month's last Friday
    nth: tuple[int, int] | None = None  # 3#2: (Tuesday, 2)

    def select(self, first: int, length: int) -> set[int]:
        """The days it picks in a month of ``length`` days whose 1st is weekday ``first``."""
        chosen = {day for day in range(1, length + 1) if (first + day - 1) % 7 in self.weekdays}
        for weekday in self.last_of:
            chosen.add(length - (first + length - 1 - weekday) % 7)
        if self.nth is not None:
            weekday, count = self.nth
            day = 1 + (weekday - first) % 7 + 7 * (count - 1)
            if day <= length:
                chosen.add(day)
        return chosen


def _nearest_weekday(day: int, first: int, length: int) -> int:
    weekday = (first + day - 1) % 7
    if weekday == _SATURDAY:
        return day - 1 if day > 1 else day + 2
    if weekday == 0:
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True)
class _Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    month_days: _MonthDays
    months: tuple[int, ...]
    week_days: _WeekDays
    years: tuple[int, ...] | None  # None: every year (five fields)

    def days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` on which it fires, ascending."""
        monday_first, length = calendar.monthrange(year, month)
        first = (monday_first + 1) % 7
        by_date = self.month_days.select(first, length)
        by_weekday = self.week_days.select(first, length)
        if self.month_days.star or self.week_days.star:
            return sorted(by_date & by_weekday)
        return sorted(by_date | by_weekday)

    def next_wall(self, start: datetime, last_year: int) -> tuple[datetime | None, int]:
        """The first matching wall-clock minute at or after naive ``start`` up to ``last_year``, and the number
        of months examined. Past the start, the first hour and minute of the first matching day match."""
        steps = 0
        years = (range(start.year, last_year + 1) if self.years is None
                 else self.years[bisect_left(self.years, start.year):])
        for year in years:
            if year > last_year:
                break
            same_year = year == start.year
            for month in _from(self.months, start.month) if same_year else self.months:
                steps += 1
                same_month = same_year and month == start.month
                days = self.days(year, month)
                for day in _from(days, start.day) if same_month else days:
                    same_day = same_month and day == start.day
                    for hour in _from(self.hours, start.hour) if same_day else self.hours:
                        same_hour = same_day and hour == start.hour
                        minutes = _from(self.minutes, start.minute) if same_hour else self.minutes
                        if minutes:
                            return datetime(year, month, day, hour, minutes[0]), steps
        return None, steps


def _from(values: tuple[int, ...] | list[int], low: int) -> tuple[int, ...] | list[int]:
    return values[bisect_left(values, low):]


def _next_cron(cron: _Cron, zone: tzinfo, moment: datetime) -> tuple[datetime | None, int]:
    try:
        local = moment.astimezone(zone)
        wall = local.replace(tzinfo=None, second=0, microsecond=0) + _MINUTE
    except OverflowError:
        return None, 0
    if local.fold:  # the second pass of a repeated hour: its walls fired in the first pass, before moment
        wall = _first_minute(wall, _shift(zone, wall), lambda w: not _repeated(zone, w))
    last_year = LAST_YEAR if cron.years is not None else min(local.year + HORIZON_YEARS, MAXYEAR)
    steps = 0
    while True:
        found, examined = cron.next_wall(wall, last_year)
        steps += examined
        if found is None:
            return None, steps
        instant = _instant(zone, found)
        if instant is not None:
            return instant, steps
        # skipped by spring forward: go on after the gap
        wall = _first_minute(found, _shift(zone, found), lambda w: _instant(zone, w) is not None)


def _instant(zone: tzinfo, wall: datetime) -> datetime | None:
    """The UTC instant of naive ``wall`` in ``zone`` (the first, if it happens twice); None if it does not exist."""
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def _shift(zone: tzinfo, wall: datetime) -> timedelta:
    """How far a DST transition at ``wall`` moves the clock (zero away from one)."""
    before = wall.replace(tzinfo=zone).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    return abs(after - before)


def _repeated(zone: tzinfo, wall: datetime) -> bool:
    return _shift(zone, wall) > timedelta(0) and _instant(zone, wall) is not None


def _first_minute(wall: datetime, span: timedelta, holds: Callable[[datetime], bool]) -> datetime:
    """The first minute from ``wall`` on where ``holds``, given that it holds at ``wall + span`` and keeps holding
    once it does (a binary search across a DST transition)."""
    low, high = 0, math.ceil(span / _MINUTE)
    while low < high:
        middle = (low + high) // 2
        if holds(wall + middle * _MINUTE):
            high = middle
        else:
            low = middle + 1
    return wall + low * _MINUTE


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, e.g. datetime.now(UTC); got {moment!r}")


def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name, e.g. \"Europe/Berlin\" or \"UTC\"") from None


def _invalid(expression: str, problem: str, example: str) -> NoReturn:
    raise ValueError(f"schedule {expression!r}: {problem}; e.g. {example}")


def _rate(expression: str, parts: list[str]) -> tuple[_Rate, str]:
    if len(parts) != 2:
        _invalid(expression, "rate() takes a value and a unit", '"rate(5 minutes)"')
    value_text, unit = parts[0], parts[1].lower()
    if not (value_text.isascii() and value_text.isdigit()) or int(value_text) == 0:
        _invalid(expression, f"the value {value_text!r} is not a positive integer", '"rate(5 minutes)"')
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        _invalid(expression, f"{parts[1]!r} is not a unit; use minutes, hours or days", f'"rate({value} hours)"')
    if value == 1 and unit != singular:
        _invalid(expression, "the value 1 takes the singular unit, as EventBridge requires", f'"rate(1 {singular})"')
    if value != 1 and unit == singular:
        _invalid(expression, "a value other than 1 takes the plural unit, as EventBridge requires",
                 f'"rate({value} {singular}s)"')
    try:
        period = value * _UNITS[singular]
    except OverflowError:
        _invalid(expression, f"{value} {unit} is too long", '"rate(365 days)"')
    return _Rate(period), f"rate({value} {unit})"


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    example: str


_EB = "cron(0 12 * * ? *)"
_EB_MINUTES = _Field("minutes", 0, 59, {}, '"cron(0/15 * * * ? *)"')
_EB_HOURS = _Field("hours", 0, 23, {}, '"cron(0 9-17 * * ? *)"')
_EB_MONTH_DAYS = _Field("day-of-month", 1, 31, {}, '"cron(0 12 1,15 * ? *)"')
_EB_MONTHS = _Field("month", 1, 12, {name: i for i, name in enumerate(_MONTH_NAMES, 1)}, '"cron(0 12 1 JAN-MAR ? *)"')
_EB_WEEK_DAYS = _Field("day-of-week", 1, 7, {name: i for i, name in enumerate(_DAY_NAMES, 1)},
                       '"cron(0 12 ? * MON-FRI *)" (1-7, 1 = Sunday)')
_EB_YEARS = _Field("year", FIRST_YEAR, LAST_YEAR, {}, '"cron(0 12 * * ? 2025-2030)"')
_MINUTES = _Field("minute", 0, 59, {}, '"*/15 * * * *"')
_HOURS = _Field("hour", 0, 23, {}, '"0 9-17 * * *"')
_MONTH_DAYS = _Field("day-of-month", 1, 31, {}, '"0 12 1,15 * *"')
_MONTHS = _Field("month", 1, 12, _EB_MONTHS.names, '"0 12 1 JAN-MAR *"')
_WEEK_DAYS = _Field("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAY_NAMES)},
                    '"0 12 * * MON-FRI" (0-7, 0 and 7 = Sunday)')


class _Fields:
    """Reads one cron expression's fields; every error names the expression and shows a correct one."""

    def __init__(self, expression: str, eventbridge: bool) -> None:
        self.expression = expression
        self.eventbridge = eventbridge

    def fail(self, problem: str, example: str) -> NoReturn:
        _invalid(self.expression, problem, example)

    def number(self, spec: _Field, text: str) -> int:
        if text.isascii() and text.isdigit():
            value = int(text)
        elif text in spec.names:
            value = spec.names[text]
        elif text == "?":
            self.fail(f"{spec.name}: ? may only be a whole day-of-month or day-of-week field", f'"{_EB}"')
        else:
            self.fail(f"{spec.name}: {text!r} is not a number{' or a name' if spec.names else ''}", spec.example)
        if not spec.low <= value <= spec.high:
            self.fail(f"{spec.name}: {value} is outside {spec.low}-{spec.high}", spec.example)
        return value

    def values(self, spec: _Field, text: str) -> frozenset[int]:
        """``*``, numbers, names, lists, ranges and steps (``a/n`` runs from a to the field's end)."""
        chosen: set[int] = set()
        for item in text.split(","):
            if not item:
                self.fail(f"{spec.name}: {text!r} has an empty list item", spec.example)
            base, slash, step = item.partition("/")
            if base == "*":
                low, high = spec.low, spec.high
            elif "-" in base:
                start, _, end = base.partition("-")
                low, high = self.number(spec, start), self.number(spec, end)
                if low > high:
                    self.fail(f"{spec.name}: the range {base} runs backwards; list the values instead", spec.example)
            else:
                low = self.number(spec, base)
                high = spec.high if slash else low
            if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
                self.fail(f"{spec.name}: the step {step!r} is not a positive integer", spec.example)
            chosen.update(range(low, high + 1, int(step) if slash else 1))
        return frozenset(chosen)

    def month_days(self, text: str) -> _MonthDays:
        if text == "?":
            return _MonthDays(star=True, days=_ALL_DAYS)
        star = text.startswith("*")
        if not any(mark in text for mark in "LW"):
            return _MonthDays(star, self.values(_EB_MONTH_DAYS, text))
        days: set[int] = set()
        nearest: set[int] = set()
        for item in text.split(","):
            if item in ("L", "LW"):
                continue
            if item.endswith("W"):
                if not (item[:-1].isascii() and item[:-1].isdigit()):
                    self.fail(f"day-of-month: W takes one day, as in 15W or LW, not {item!r}", '"cron(0 9 15W * ? *)"')
                nearest.add(self.number(_EB_MONTH_DAYS, item[:-1]))
            else:
                days |= self.values(_EB_MONTH_DAYS, item)
        items = text.split(",")
        return _MonthDays(star, frozenset(days), "L" in items, frozenset(nearest), "LW" in items)

    def week_days(self, text: str) -> _WeekDays:
        if text == "?":
            return _WeekDays(star=True, weekdays=frozenset(range(7)))
        star = text.startswith("*")
        if "#" in text:
            weekday, _, count = text.partition("#")
            if "," in text or "-" in text or "/" in text:
                self.fail("day-of-week: with # the field holds one expression, as EventBridge requires",
                          '"cron(0 12 ? * 3#2 *)" (the second Tuesday)')
            if not (count.isascii() and count.isdigit() and 1 <= int(count) <= 5):
                self.fail(f"day-of-week: {text!r} asks for week {count!r} of the month; use 1-5",
                          '"cron(0 12 ? * 3#2 *)" (the second Tuesday)')
            return _WeekDays(star, nth=(self.number(_EB_WEEK_DAYS, weekday) - 1, int(count)))
        weekdays: set[int] = set()
        last_of: set[int] = set()
        for item in text.split(","):
            if item == "L":
                weekdays.add(_SATURDAY)
            elif item.endswith("L"):
                last_of.add(self.number(_EB_WEEK_DAYS, item[:-1]) - 1)
            else:
                weekdays.update(day - 1 for day in self.values(_EB_WEEK_DAYS, item))
        return _WeekDays(star, frozenset(weekdays), frozenset(last_of))

    def unix_week_days(self, text: str) -> _WeekDays:
        return _WeekDays(text.startswith("*"), frozenset(day % 7 for day in self.values(_WEEK_DAYS, text)))


def _cron(fields: _Fields, parts: list[str]) -> tuple[_Cron, str]:
    parts = [part.upper() for part in parts]
    if fields.eventbridge:
        if len(parts) != 6:
            fields.fail(f"cron() takes six fields (minutes hours day-of-month month day-of-week year), got "
                        f"{len(parts)}", f'"{_EB}"')
        minute, hour, month_day, month, week_day, year = parts
        if (month_day == "?") == (week_day == "?"):
            fields.fail("put ? in exactly one of day-of-month and day-of-week",
                        f'"{_EB}" or "cron(0 12 ? * MON-FRI *)"')
        cron = _Cron(tuple(sorted(fields.values(_EB_MINUTES, minute))), tuple(sorted(fields.values(_EB_HOURS, hour))),
                     fields.month_days(month_day), tuple(sorted(fields.values(_EB_MONTHS, month))),
                     fields.week_days(week_day), tuple(sorted(fields.values(_EB_YEARS, year))))
        canonical = f"cron({' '.join(parts)})"
    else:
        if len(parts) != 5:
            fields.fail(f"a cron expression has five fields (minute hour day-of-month month day-of-week), got "
                        f"{len(parts)}", f'"0 12 * * *", or "{_EB}" for EventBridge\'s six')
        minute, hour, month_day, month, week_day = parts
        specials = [mark for mark in "?#LW" if mark in month_day or mark in week_day.replace("WED", "")]
        if specials:
            fields.fail(f"{specials[0]} belongs to EventBridge's cron(...) syntax; five fields take numbers, names, "
                        "*, lists, ranges and steps", '"0 12 1 * *", or "cron(0 12 L * ? *)"')
        cron = _Cron(tuple(sorted(fields.values(_MINUTES, minute))), tuple(sorted(fields.values(_HOURS, hour))),
                     _MonthDays(month_day.startswith("*"), fields.values(_MONTH_DAYS, month_day)),
                     tuple(sorted(fields.values(_MONTHS, month))), fields.unix_week_days(week_day), None)
        canonical = " ".join(parts)
    _check_days_exist(fields, cron)
    return cron, canonical


def _check_days_exist(fields: _Fields, cron: _Cron) -> None:
    """Refuse a day of the month that none of the chosen months has (``cron(0 0 31 4 ? *)``)."""
    days = cron.month_days
    if days.star or days.last or days.last_weekday or not cron.week_days.star:
        return
    earliest = min(days.days | days.nearest)
    if all(earliest > _LONGEST_MONTH[month - 1] for month in cron.months):
        names = ", ".join(_MONTH_NAMES[month - 1] for month in cron.months)
        fields.fail(f"day-of-month {earliest} never occurs in {names}, so it would never fire",
                    '"cron(0 0 L 2 ? *)" (the last day of February)' if fields.eventbridge else '"0 0 28 2 *"')
