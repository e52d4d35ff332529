"""Dates for people: relative and absolute at once, in the configured time zone.

"in 6 days, Dec 04", "3 days ago, Nov 25", "today, 14:05", "tomorrow, 09:00",
"expired 2 days ago, Nov 26". Days are counted between *calendar dates in ``tz``*, not as
24-hour periods, so the answer is right across a DST change (a day may last 23 or 25
hours) and near midnight; the absolute part is the local date or wall-clock time. The
store keeps UTC; a naive datetime is taken as UTC (SQLite hands those back). No clock
here: ``now`` is always a parameter. Month names are fixed English abbreviations, so the
output does not depend on the process locale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_local(ts: datetime, tz: tzinfo) -> datetime:
    """``ts`` in ``tz`` (naive = UTC)."""
    aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return aware.astimezone(tz)


def days_between(ts: datetime, *, now: datetime, tz: tzinfo) -> int:
    """Calendar days from ``now``'s local date to ``ts``'s local date (negative: past)."""
    return (to_local(ts, tz).date() - to_local(now, tz).date()).days


def _date(local: datetime, now_local: datetime) -> str:
    text = f"{_MONTHS[local.month - 1]} {local.day:02d}"
    return text if local.year == now_local.year else f"{text}, {local.year}"


def format_when(ts: datetime, *, now: datetime, tz: tzinfo) -> str:
    """Relative + absolute: "in 6 days, Dec 04", "3 days ago, Nov 25", "today, 14:05"."""
    local, now_local = to_local(ts, tz), to_local(now, tz)
    days = (local.date() - now_local.date()).days
    time = f"{local.hour:02d}:{local.minute:02d}"
    if days == 0:
        return f"today, {time}"
    if days == 1:
        return f"tomorrow, {time}"
    if days == -1:
        return f"yesterday, {time}"
    if days > 1:
        return f"in {days} days, {_date(local, now_local)}"
    return f"{-days} days ago, {_date(local, now_local)}"


def format_expiry(not_after: datetime, *, now: datetime, tz: tzinfo) -> str:
    """An expiry: "expires in 6 days, Dec 04", once past "expired 2 days ago, Nov 26"."""
    when = format_when(not_after, now=now, tz=tz)
    past = to_local(not_after, tz) <= to_local(now, tz)
    return f"expired {when}" if past else f"expires {when}"


def format_absolute(ts: datetime, *, tz: tzinfo) -> str:
    """The exact local time with the zone's abbreviation: "2026-12-04 14:05 CET"."""
    local = to_local(ts, tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def format_duration(delta: timedelta) -> str:
    """At most two units: "7d", "3d 4h", "5h 30m", "45m" (rounded down; "0m" for less)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts[:2]) or "0m"
