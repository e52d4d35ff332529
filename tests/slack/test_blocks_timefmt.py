"""Dates for people: relative + absolute, in the configured zone, right across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.slack.blocks.timefmt import (
    days_between,
    format_absolute,
    format_duration,
    format_expiry,
    format_when,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)  # 14:05 in Berlin (CET, UTC+1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (utc(2026, 12, 4, 10, 0), "in 6 days, Dec 04"),
        (utc(2026, 11, 25, 8, 0), "3 days ago, Nov 25"),
        (NOW, "today, 14:05"),
        (utc(2026, 11, 29, 8, 0), "tomorrow, 09:00"),
        (utc(2026, 11, 27, 22, 59), "yesterday, 23:59"),
        # 23:30 UTC is already tomorrow in Berlin: days are local calendar days.
        (utc(2026, 11, 28, 23, 30), "tomorrow, 00:30"),
        (utc(2027, 2, 1, 12, 0), "in 65 days, Feb 01, 2027"),
        (utc(2025, 11, 28, 12, 0), "365 days ago, Nov 28, 2025"),
    ],
)
def test_format_when(ts: datetime, expected: str) -> None:
    assert format_when(ts, now=NOW, tz=BERLIN) == expected


@pytest.mark.parametrize(
    ("not_after", "expected"),
    [
        (utc(2026, 12, 4, 10, 0), "expires in 6 days, Dec 04"),
        (utc(2026, 11, 26, 10, 0), "expired 2 days ago, Nov 26"),
        (utc(2026, 11, 28, 12, 0), "expired today, 13:00"),
        (utc(2026, 11, 28, 20, 0), "expires today, 21:00"),
    ],
)
def test_format_expiry(not_after: datetime, expected: str) -> None:
    assert format_expiry(not_after, now=NOW, tz=BERLIN) == expected


def test_spring_forward_in_berlin() -> None:
    """2026-03-29 02:00 CET -> 03:00 CEST: that day has 23 hours."""
    now = utc(2026, 3, 28, 22, 30)  # Mar 28, 23:30 CET
    # 24 h later is already Mar 30 00:30 CEST: two calendar days, not one.
    assert format_when(now + timedelta(hours=24), now=now, tz=BERLIN) == "in 2 days, Mar 30"
    # 20 h later: Mar 29 20:30 CEST (UTC+2), the wall clock jumped an hour.
    assert format_when(now + timedelta(hours=20), now=now, tz=BERLIN) == "tomorrow, 20:30"
    assert format_absolute(now, tz=BERLIN) == "2026-03-28 23:30 CET"
    assert format_absolute(now + timedelta(hours=20), tz=BERLIN) == "2026-03-29 20:30 CEST"


def test_fall_back_in_berlin() -> None:
    """2026-10-25 03:00 CEST -> 02:00 CET: 02:30 happens twice; that day has 25 hours."""
    now = utc(2026, 10, 24, 22, 30)  # Oct 25, 00:30 CEST
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert format_when(first, now=now, tz=BERLIN) == "today, 02:30"
    assert format_when(second, now=now, tz=BERLIN) == "today, 02:30"
    assert format_absolute(first, tz=BERLIN) == "2026-10-25 02:30 CEST"
    assert format_absolute(second, tz=BERLIN) == "2026-10-25 02:30 CET"
    # The day has 25 hours: 24 h after 00:30 CEST is still Oct 25 (23:30 CET).
    assert format_when(now + timedelta(hours=24), now=now, tz=BERLIN) == "today, 23:30"
    assert days_between(now + timedelta(hours=25), now=now, tz=BERLIN) == 1


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2026, 12, 4, 10, 0)
    assert format_when(naive, now=NOW.replace(tzinfo=None), tz=BERLIN) == "in 6 days, Dec 04"


def test_other_zone_changes_the_day() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")  # NOW is 22:05 there
    assert format_when(utc(2026, 11, 28, 16, 0), now=NOW, tz=tokyo) == "tomorrow, 01:00"
    assert format_when(utc(2026, 11, 28, 16, 0), now=NOW, tz=UTC) == "today, 16:00"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(days=3, hours=4, minutes=5), "3d 4h"),
        (timedelta(hours=5, minutes=30), "5h 30m"),
        (timedelta(minutes=45, seconds=59), "45m"),
        (timedelta(seconds=10), "0m"),
        (timedelta(days=-1), "0m"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected
