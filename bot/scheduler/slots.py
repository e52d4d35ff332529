"""Fire times and slots: which scheduled run a moment belongs to, and its claim key.

APScheduler only looks forward (``get_next_fire_time``); catching up after downtime and
fencing a run need the latest fire time at or before now. For interval triggers that is
arithmetic from the trigger's anchor; for cron triggers the trigger is walked forward
from a growing look-back window, so its own time-zone and DST rules decide (a 09:00
Europe/Berlin digest fires at 08:00 UTC in winter and 07:00 UTC in summer).

A slot names one scheduled run in ``job_claims``:
- cron jobs (the daily digest): the local date in the trigger's zone, e.g. "2026-03-29".
  On the autumn DST fold a 02:30 job fires twice; both firings are the same slot, so the
  digest still goes out once that day;
- interval jobs: the fire time in UTC to the second, e.g. "2026-11-29T01:02:03Z";
- manual runs (``secbot scheduler run``): "manual:<now>", never a scheduled slot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.scheduler.jobs import JobSpec

_FIRST_WINDOW = timedelta(hours=1)
_MAX_WINDOW = timedelta(days=800)  # beyond a yearly cron: give up (None)
_TICK = timedelta(microseconds=1)


def latest_fire(trigger: Any, now: datetime) -> datetime | None:
    """The latest fire time of ``trigger`` at or before ``now``, aware UTC (None: none yet)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    if isinstance(trigger, IntervalTrigger) and not trigger.jitter:
        return _latest_interval(trigger, now)
    window = _FIRST_WINDOW
    while window <= _MAX_WINDOW:
        latest = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            latest = fire
            fire = trigger.get_next_fire_time(latest, latest)
        if latest is not None:
            return _utc(latest)
        window *= 8
    return None


def next_fire(trigger: Any, now: datetime) -> datetime | None:
    """The first fire time at or after ``now``, aware UTC (None: the trigger is done)."""
    fire = trigger.get_next_fire_time(None, now)
    return None if fire is None else _utc(fire)


def slot_of(job: JobSpec, fire: datetime) -> str:
    """The claim key of ``job``'s run scheduled at ``fire`` (see the module docstring)."""
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

    if isinstance(job.trigger, CronTrigger):
        return fire.astimezone(job.trigger.timezone).date().isoformat()
    return _utc(fire).strftime("%Y-%m-%dT%H:%M:%SZ")


def trigger_text(trigger: Any) -> str:
    """``interval[6:00:00] UTC`` or ``cron[hour='9', minute='0'] Europe/Berlin``."""
    return f"{trigger} {trigger.timezone}"


def manual_slot(now: datetime) -> str:
    """The slot of a run by hand: unique to the microsecond, never a scheduled slot."""
    return f"manual:{_utc(now).isoformat(timespec='microseconds')}"


def _latest_interval(trigger: Any, now: datetime) -> datetime | None:
    start: datetime = trigger.start_date
    interval: timedelta = trigger.interval
    if now < start:
        return None
    latest = start + ((now - start) // interval) * interval
    end: datetime | None = trigger.end_date
    if end is not None and latest > end:
        latest = start + ((end - start) // interval) * interval
    return _utc(latest)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
