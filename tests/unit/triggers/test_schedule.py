"""Schedule expressions: rate(), EventBridge cron() and five-field cron fire when EventBridge (or Unix cron) would,
in their time zone and across DST; rates keep one epoch-anchored grid; every mistake is one ValueError with an
example; the search examines a bounded number of months."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth.triggers.schedule import EPOCH, FIRST_YEAR, HORIZON_YEARS, LAST_YEAR, Schedule, parse

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NEXT = [
    # rate(): tick k = 1970-01-01T00:00Z + k * period
    ("rate(5 minutes)", "UTC", "2025-01-15 10:07", "2025-01-15 10:10"),
    ("rate(5 minutes)", "UTC", "2025-01-15 10:10", "2025-01-15 10:15"),  # strictly after
    ("rate(7 minutes)", "UTC", "2025-01-15 10:07", "2025-01-15 10:14"),  # 10:07 is tick 4135561
    ("rate(1 hour)", "UTC", "2025-01-15 10:07", "2025-01-15 11:00"),
    ("rate(2 hours)", "UTC", "2025-01-15 10:07", "2025-01-15 12:00"),
    ("rate(1 day)", "UTC", "2025-01-15 10:07", "2025-01-16 00:00"),
    ("rate(3 days)", "UTC", "2025-01-15 10:07", "2025-01-18 00:00"),  # 2025-01-15 is day 20103 = 3 * 6701
    ("rate(1 day)", BERLIN, "2025-01-15 10:07", "2025-01-16 00:00"),  # elapsed time: no zone
    ("rate(5 minutes)", "UTC", "1969-12-31 23:58", "1970-01-01 00:00"),
    # EventBridge cron(): fields, steps, names, day-of-week 1 = Sunday
    ("cron(0 12 * * ? *)", "UTC", "2025-01-15 10:07", "2025-01-15 12:00"),
    ("cron(0 12 * * ? *)", "UTC", "2025-01-15 12:00", "2025-01-16 12:00"),
    ("cron(0/15 * * * ? *)", "UTC", "2025-01-15 10:07", "2025-01-15 10:15"),
    ("cron(5/20 * * * ? *)", "UTC", "2025-01-15 10:47", "2025-01-15 11:05"),
    ("cron(0 9-17/4 * * ? *)", "UTC", "2025-01-15 17:01", "2025-01-16 09:00"),
    ("cron(0 12 ? * 1 *)", "UTC", "2025-01-15 10:07", "2025-01-19 12:00"),  # Sunday
    ("cron(0 12 ? * 2-6 *)", "UTC", "2025-01-17 13:00", "2025-01-20 12:00"),  # Friday → Monday
    ("cron(0 12 ? jan,JUL mon-FRI *)", "UTC", "2025-01-31 13:00", "2025-07-01 12:00"),
    ("cron(0 0 1 1 ? 2026/4)", "UTC", "2027-01-01 00:00", "2030-01-01 00:00"),
    # month ends and leap years
    ("cron(0 0 31 * ? *)", "UTC", "2025-04-01 00:00", "2025-05-31 00:00"),
    ("cron(0 0 L * ? *)", "UTC", "2025-02-10 00:00", "2025-02-28 00:00"),
    ("cron(0 0 L * ? *)", "UTC", "2024-02-10 00:00", "2024-02-29 00:00"),
    ("cron(0 0 29 2 ? *)", "UTC", "2025-01-01 00:00", "2028-02-29 00:00"),
    ("cron(0 0 29 2 ? *)", "UTC", "2096-03-01 00:00", "2104-02-29 00:00"),  # 2100 is no leap year
    # W: the nearest weekday, within the month
    ("cron(0 9 15W * ? *)", "UTC", "2025-03-01 00:00", "2025-03-14 09:00"),  # Saturday 15th → Friday
    ("cron(0 9 15W * ? *)", "UTC", "2025-06-01 00:00", "2025-06-16 09:00"),  # Sunday 15th → Monday
    ("cron(0 9 1W * ? *)", "UTC", "2025-01-31 12:00", "2025-02-03 09:00"),  # Saturday 1st → Monday 3rd
    ("cron(0 9 31W * ? *)", "UTC", "2025-08-01 00:00", "2025-08-29 09:00"),  # Sunday 31st → Friday 29th
    ("cron(0 9 LW * ? *)", "UTC", "2025-05-01 00:00", "2025-05-30 09:00"),  # Saturday 31st → Friday
    # #, nL and L in day-of-week
    ("cron(0 9 ? * 3#2 *)", "UTC", "2025-01-15 10:07", "2025-02-11 09:00"),  # second Tuesday
    ("cron(0 9 ? * TUE#2 *)", "UTC", "2025-01-15 10:07", "2025-02-11 09:00"),
    ("cron(0 9 ? * 6#5 *)", "UTC", "2025-02-01 00:00", "2025-05-30 09:00"),  # the next fifth Friday
    ("cron(0 9 ? * 6L *)", "UTC", "2025-02-01 00:00", "2025-02-28 09:00"),  # last Friday
    ("cron(0 9 ? * L *)", "UTC", "2025-01-15 10:07", "2025-01-18 09:00"),  # L alone: Saturday
    # year bounds
    ("cron(0 0 1 1 ? 2020)", "UTC", "2025-01-15 10:07", None),
    ("cron(0 0 1 1 ? 2030)", "UTC", "2025-01-15 10:07", "2030-01-01 00:00"),
    ("cron(59 23 31 12 ? 2199)", "UTC", "2199-12-31 23:58", "2199-12-31 23:59"),
    ("cron(59 23 31 12 ? 2199)", "UTC", "2199-12-31 23:59", None),
    ("cron(0 0 * * ? *)", "UTC", "2199-12-31 00:00", None),
    ("cron(0 0 * * ? *)", "UTC", "1900-06-01 00:00", "1970-01-01 00:00"),
    # five fields: 0 and 7 are Sunday; both day fields restricted → either; a *-field → both
    ("*/15 * * * *", "UTC", "2025-01-15 10:07", "2025-01-15 10:15"),
    ("0 0 * * 0", "UTC", "2025-01-15 10:07", "2025-01-19 00:00"),
    ("0 0 * * 7", "UTC", "2025-01-15 10:07", "2025-01-19 00:00"),
    ("0 0 13 * 5", "UTC", "2025-01-15 10:07", "2025-01-17 00:00"),  # a Friday
    ("0 0 13 * 5", "UTC", "2025-02-08 00:00", "2025-02-13 00:00"),  # the 13th, a Thursday
    ("0 0 */2 * 1", "UTC", "2025-01-01 00:00", "2025-01-13 00:00"),  # odd days that are Mondays
    ("0 9 * jan-MAR mon", "UTC", "2025-03-31 10:00", "2026-01-05 09:00"),
    ("0 0 31 * *", "UTC", "2025-04-01 00:00", "2025-05-31 00:00"),
    ("0 0 29 2 *", "UTC", "2097-01-01 00:00", "2104-02-29 00:00"),
    ("0 9 * * *", NEW_YORK, "2025-01-15 00:00", "2025-01-15 14:00"),
    ("0 0 * * *", "UTC", "9999-12-31 00:00", None),
    # DST, Europe/Berlin 2025: 03-30 02:00 CET → 03:00 CEST (01:00Z); 10-26 03:00 CEST → 02:00 CET (01:00Z)
    ("cron(30 2 * * ? *)", BERLIN, "2025-03-29 02:00", "2025-03-31 00:30"),  # 03-30 02:30 does not exist
    ("cron(0 3 * * ? *)", BERLIN, "2025-03-29 12:00", "2025-03-30 01:00"),
    ("cron(0/30 * * * ? *)", BERLIN, "2025-03-30 00:45", "2025-03-30 01:00"),  # 01:45 CET → 03:00 CEST
    ("cron(30 2 * * ? *)", BERLIN, "2025-10-25 12:00", "2025-10-26 00:30"),  # first 02:30, CEST
    ("cron(30 2 * * ? *)", BERLIN, "2025-10-26 00:30", "2025-10-27 01:30"),  # not again at 02:30 CET
    ("cron(0/20 * * * ? *)", BERLIN, "2025-10-26 00:50", "2025-10-26 02:00"),  # 02:50 CEST → 03:00 CET
    ("cron(0/20 * * * ? *)", BERLIN, "2025-10-26 01:10", "2025-10-26 02:00"),  # from 02:10 CET, second pass
    # DST, America/New_York 2025: 03-09 02:00 EST → 03:00 EDT (07:00Z); 11-02 02:00 EDT → 01:00 EST (06:00Z)
    ("30 2 * * *", NEW_YORK, "2025-03-08 12:00", "2025-03-10 06:30"),
    ("30 1 * * *", NEW_YORK, "2025-11-01 12:00", "2025-11-02 05:30"),  # 01:30 EDT
    ("30 1 * * *", NEW_YORK, "2025-11-02 05:30", "2025-11-03 06:30"),  # then 01:30 EST the next day
    ("0 * * * *", NEW_YORK, "2025-11-02 05:30", "2025-11-02 07:00"),  # 01:00 EST repeats: 02:00 EST next
]


@pytest.mark.parametrize(("expression", "zone", "moment", "expected"), NEXT)
def test_next_after(expression: str, zone: str, moment: str, expected: str | None) -> None:
    fire = parse(expression, zone).next_after(at(moment))
    assert fire == (at(expected) if expected else None)
    assert fire is None or fire.tzinfo is UTC


def test_moments_in_any_zone_give_the_same_answer() -> None:
    schedule = parse("cron(0 12 * * ? *)", BERLIN)
    moment = at("2025-06-01 08:00")
    assert schedule.next_after(moment) == schedule.next_after(moment.astimezone(ZoneInfo("Asia/Tokyo")))
    assert schedule.next_after(moment) == at("2025-06-01 10:00")  # 12:00 CEST


def test_ticks_between_is_half_open_and_bounded() -> None:
    schedule = parse("rate(1 hour)")
    after, until = at("2025-01-15 10:00"), at("2025-01-15 14:00")
    assert schedule.ticks_between(after, until, 10) == [at(f"2025-01-15 {hour}:00") for hour in (11, 12, 13, 14)]
    assert schedule.ticks_between(after, until, 2) == [at("2025-01-15 11:00"), at("2025-01-15 12:00")]
    assert schedule.ticks_between(after, until, 0) == []
    assert schedule.ticks_between(until, after, 10) == []
    assert parse("cron(0 0 1 1 ? 2026)").ticks_between(at("2025-01-01 00:00"), at("2199-01-01 00:00"), 5) == [
        at("2026-01-01 00:00")]


def test_ticks_between_across_fall_back_fires_each_wall_time_once() -> None:
    ticks = parse("cron(0/30 * * * ? *)", BERLIN).ticks_between(at("2025-10-25 23:59"), at("2025-10-26 02:59"), 10)
    walls = [tick.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M %Z") for tick in ticks]
    assert walls == ["02:00 CEST", "02:30 CEST", "03:00 CET", "03:30 CET"]


def test_canonical_form_and_attributes() -> None:
    schedule = parse("  cron(0  12 ? jan mon-fri *) ", BERLIN)
    assert (schedule.expression, schedule.timezone, str(schedule)) == (
        "cron(0 12 ? JAN MON-FRI *)", BERLIN, "cron(0 12 ? JAN MON-FRI *)")
    assert str(parse("RATE( 5  MINUTES )")) == "rate(5 minutes)"
    assert str(parse("rate(05 minutes)")) == "rate(5 minutes)"
    assert str(parse("0 12 * * mon")) == "0 12 * * MON"
    assert parse("rate(1 hour)") == parse("rate(1  hour)")
    assert hash(parse("0 12 * * 1", NEW_YORK)) == hash(parse("0 12 * * 1", NEW_YORK))
    assert parse("0 12 * * 1", NEW_YORK) != parse("0 12 * * 1")


ERRORS = [
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("rate(5 minute)", "a value other than 1 takes the plural unit, as EventBridge requires; e.g. \"rate(5 minutes)\""),
    ("rate(1 minutes)", "the value 1 takes the singular unit, as EventBridge requires; e.g. \"rate(1 minute)\""),
    ("rate(2 hour)", 'e.g. "rate(2 hours)"'),
    ("rate(0 minutes)", "the value '0' is not a positive integer"),
    ("rate(-5 minutes)", "the value '-5' is not a positive integer"),
    ("rate(1.5 hours)", "the value '1.5' is not a positive integer"),
    ("rate(\u00b2 minutes)", "is not a positive integer"),
    ("rate(5 weeks)", "'weeks' is not a unit; use minutes, hours or days"),
    ("rate(5)", "rate() takes a value and a unit"),
    ("rate(5 minutes", "the closing parenthesis is missing"),
    ("cron(0 12 * * ? *) UTC", "'UTC' follows the closing parenthesis"),
    ("rate(999999999999 days)", "is too long"),
    ("at(2025-01-01T00:00:00)", "'at' is not a schedule type"),
    ("cron(0 12 * * *)", "cron() takes six fields (minutes hours day-of-month month day-of-week year), got 5"),
    ("cron(0 12 * * * *)", "put ? in exactly one of day-of-month and day-of-week"),
    ("cron(0 12 ? * ? *)", "put ? in exactly one of day-of-month and day-of-week"),
    ("cron(0 12 1 * MON *)", "put ? in exactly one of day-of-month and day-of-week"),
    ("cron(60 12 * * ? *)", "minutes: 60 is outside 0-59"),
    ("cron(0 24 * * ? *)", "hours: 24 is outside 0-23"),
    ("cron(0 12 32 * ? *)", "day-of-month: 32 is outside 1-31"),
    ("cron(0 12 * 13 ? *)", "month: 13 is outside 1-12"),
    ("cron(0 12 ? * 0 *)", "day-of-week: 0 is outside 1-7"),
    ("cron(0 12 * * ? 1969)", "year: 1969 is outside 1970-2199"),
    ("cron(0 12 * * ? 2200)", "year: 2200 is outside 1970-2199"),
    ("cron(0 12 ? FOO * *)", "month: 'FOO' is not a number or a name"),
    ("cron(x 12 * * ? *)", "minutes: 'X' is not a number;"),
    ("cron(? 12 * * ? *)", "minutes: ? may only be a whole day-of-month or day-of-week field"),
    ("cron(*/0 * * * ? *)", "minutes: the step '0' is not a positive integer"),
    ("cron(10-5 * * * ? *)", "minutes: the range 10-5 runs backwards"),
    ("cron(1,,2 * * * ? *)", "minutes: '1,,2' has an empty list item"),
    ("cron(0 12 ? * 3#1,6#3 *)", "day-of-week: with # the field holds one expression, as EventBridge requires"),
    ("cron(0 12 ? * 3#6 *)", "asks for week '6' of the month; use 1-5"),
    ("cron(0 12 ? * 8#1 *)", "day-of-week: 8 is outside 1-7"),
    ("cron(0 12 1-5W * ? *)", "day-of-month: W takes one day, as in 15W or LW"),
    ("cron(0 12 L-3 * ? *)", "day-of-month: 'L' is not a number"),
    ("cron(0 0 31 4 ? *)", "day-of-month 31 never occurs in APR, so it would never fire"),
    ("cron(0 0 30,31 2 ? *)", "day-of-month 30 never occurs in FEB"),
    ("0 12 * *", "a cron expression has five fields (minute hour day-of-month month day-of-week), got 4"),
    ("0 12 * * ? *", 'got 6; e.g. "0 12 * * *", or "cron(0 12 * * ? *)" for EventBridge\'s six'),
    ("0 12 L * *", "L belongs to EventBridge's cron(...) syntax"),
    ("0 12 15W * *", "W belongs to EventBridge's cron(...) syntax"),
    ("0 12 * * 5L", "L belongs to EventBridge's cron(...) syntax"),
    ("0 12 * * 1#2", "# belongs to EventBridge's cron(...) syntax"),
    ("0 12 ? * 1", "? belongs to EventBridge's cron(...) syntax"),
    ("0 12 * * 8", "day-of-week: 8 is outside 0-7"),
    ("0 12 * * SAT-SUN", "day-of-week: the range SAT-SUN runs backwards; list the values instead"),
    ("0 0 31 2 *", "day-of-month 31 never occurs in FEB"),
]


@pytest.mark.parametrize(("expression", "message"), ERRORS)
def test_errors_say_what_is_wrong_and_show_an_example(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse(expression)
    text = str(caught.value)
    assert message in text
    assert text.startswith(f"schedule {expression!r}: ")
    assert "; e.g. " in text
    example = text.split("; e.g. ")[-1].split('"')[1]  # the first quoted example must itself parse
    parse(example)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "../etc/passwd", "Europe"])
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(ValueError, match=rf"unknown time zone {zone!r}; use an IANA name, e\.g\. \"Europe/Berlin\""):
        parse("rate(1 hour)", zone)


def test_naive_moments_and_negative_limits_are_refused() -> None:
    schedule = parse("rate(1 hour)")
    with pytest.raises(ValueError, match="moment must be an aware datetime"):
        schedule.next_after(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="after must be an aware datetime"):
        schedule.ticks_between(datetime(2025, 1, 1), at("2025-01-02 00:00"), 0)
    with pytest.raises(ValueError, match="until must be an aware datetime"):
        schedule.ticks_between(at("2025-01-01 00:00"), datetime(2025, 1, 2), 5)
    with pytest.raises(ValueError, match="limit must not be negative"):
        schedule.ticks_between(at("2025-01-01 00:00"), at("2025-01-02 00:00"), -1)


# rate(): one grid for every process and every moment

RATES = st.builds(lambda value, unit: f"rate({value} {unit}{'s' if value != 1 else ''})",
                  st.integers(1, 2000), st.sampled_from(["minute", "hour", "day"]))
MOMENTS = st.datetimes(datetime(1960, 1, 1), datetime(2200, 1, 1),
                       timezones=st.sampled_from([UTC, ZoneInfo(BERLIN), ZoneInfo(NEW_YORK)]))


@settings(database=None, max_examples=300, deadline=None)  # a shared CI machine: minute walks, not timing
@given(RATES, MOMENTS)
def test_rate_ticks_are_one_epoch_grid(expression: str, moment: datetime) -> None:
    schedule = parse(expression)
    first = schedule.next_after(EPOCH)
    assert first is not None
    period = first - EPOCH
    fire = schedule.next_after(moment)
    assert fire is not None and fire > moment
    assert fire - moment <= period
    assert (fire - EPOCH) % period == timedelta(0)
    assert parse(expression, BERLIN).next_after(moment) == fire  # a second parse, another zone: the same tick
    assert schedule.ticks_between(moment, fire - timedelta(microseconds=1), 3) == []
    assert schedule.ticks_between(moment, fire, 3) == [fire]


# cron() across DST: compared with a minute-by-minute walk over real instants, which knows nothing of the search

WALLS: list[tuple[str, Callable[[datetime], bool]]] = [
    ("cron(0/20 * * * ? *)", lambda wall: wall.minute % 20 == 0),
    ("cron(30 2 * * ? *)", lambda wall: (wall.hour, wall.minute) == (2, 30)),
    ("cron(15 1-3 * * ? *)", lambda wall: wall.minute == 15 and 1 <= wall.hour <= 3),
    ("0 * * * *", lambda wall: wall.minute == 0),
    ("*/7 2 * * *", lambda wall: wall.hour == 2 and wall.minute % 7 == 0),
    ("45 0-3 * * *", lambda wall: wall.minute == 45 and wall.hour <= 3),
]
ZONES = [BERLIN, NEW_YORK, "Australia/Lord_Howe", "UTC"]  # Lord Howe moves its clocks by 30 minutes


@cache
def transitions(zone: str) -> list[datetime]:
    """The instants in 2024-2026 at which ``zone`` changes its UTC offset."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    hour = at("2024-01-01 00:00")
    while hour.year < 2027:
        if hour.astimezone(tz).utcoffset() != (hour + timedelta(hours=1)).astimezone(tz).utcoffset():
            minute = hour
            while minute.astimezone(tz).utcoffset() == hour.astimezone(tz).utcoffset():
                minute += timedelta(minutes=1)
            found.append(minute)
        hour += timedelta(hours=1)
    return found


def walk(zone: str, fires: Callable[[datetime], bool], moment: datetime, limit: datetime) -> datetime | None:
    """The first whole-minute instant after ``moment`` whose wall time fires, counting a repeated wall once."""
    tz = ZoneInfo(zone)
    instant = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while instant <= limit:
        wall = instant.astimezone(tz)
        if fires(wall) and not wall.fold:
            return instant
        instant += timedelta(minutes=1)
    return None


@settings(database=None, max_examples=300, deadline=None)  # a shared CI machine: minute walks, not timing
@given(st.sampled_from(WALLS), st.sampled_from(ZONES), st.data())
def test_cron_across_dst_agrees_with_a_minute_walk(case: tuple[str, Callable[[datetime], bool]], zone: str,
                                                   data: st.DataObject) -> None:
    expression, fires = case
    near = data.draw(st.sampled_from(transitions(zone) or [at("2025-03-30 01:00")]))
    moment = near + data.draw(st.timedeltas(timedelta(hours=-4), timedelta(hours=4)))
    schedule = parse(expression, zone)
    fire = schedule.next_after(moment)
    assert fire is not None and fire > moment
    assert fire == walk(zone, fires, moment, moment + timedelta(days=2))
    assert schedule.ticks_between(moment, fire - timedelta(seconds=1), 3) == []


# the search examines a bounded number of months

def steps(schedule: Schedule, moment: datetime) -> int:
    return schedule._search(moment)[1]


@pytest.mark.parametrize(("expression", "zone", "moment", "most"), [
    ("cron(0 0 29 2 ? *)", "UTC", "2096-03-01 00:00", 8),  # 2097 … 2104, February only
    ("0 0 29 2 *", "UTC", "2096-03-01 00:00", 8),
    ("cron(0 0 31 * ? *)", "UTC", "2025-01-31 00:00", 3),  # January (past), February (none), March
    ("0 0 31 * *", "UTC", "2025-01-31 00:00", 3),
    ("cron(0 0 ? 2 1#5 *)", "UTC", "2185-01-01 00:00", 15),  # a fifth Sunday in February: none after 2184
    ("cron(0 0 1 1 ? 2199)", "UTC", "1970-01-01 00:00", 1),
    ("cron(* * * * ? *)", "UTC", "2025-01-15 10:07", 1),
    # a skipped or repeated hour is jumped over, not walked minute by minute
    ("cron(* * * * ? *)", BERLIN, "2025-03-30 00:59", 2),
    ("* * * * *", "Australia/Lord_Howe", "2025-10-04 15:29", 2),
    ("cron(* * * * ? *)", BERLIN, "2025-10-26 01:00", 1),
])
def test_pathological_expressions_take_few_steps(expression: str, zone: str, moment: str, most: int) -> None:
    assert steps(parse(expression, zone), at(moment)) <= most


@pytest.mark.parametrize("expression", ["cron(0 0 ? 2 1#5 *)", "cron(0 0 29 2 ? *)", "cron(0 0 31 * ? *)",
                                        "cron(0 0 ? * 6#5 1970-2199)", "cron(0 0 LW 2 ? *)", "0 0 29 2 *",
                                        "0 0 */15 2 1", "0 0 31 12 *"])
def test_the_search_never_examines_more_months_than_its_horizon(expression: str) -> None:
    schedule = parse(expression)
    years = LAST_YEAR - FIRST_YEAR + 1 if expression.startswith("cron(") else HORIZON_YEARS + 1
    moment = at("1971-01-01 00:00")
    for _ in range(300):
        assert steps(schedule, moment) <= 12 * years
        fire = schedule.next_after(moment)
        if fire is None:
            break
        moment = fire
