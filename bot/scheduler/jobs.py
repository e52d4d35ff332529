"""The job table: what secbot runs on its own, built from settings and the clusters file.

- ``scan:<cluster>``: every ``SECBOT_SCAN_INTERVAL`` (or the cluster's ``scan_interval``),
  an interval trigger anchored at the Unix epoch plus a stable per-cluster offset (sha256
  of the name modulo the interval). The phase survives restarts (no "first run = now +
  interval" drift) and 200 clusters spread over the interval instead of starting in the
  same second; clusters whose hashes collide move on to the next free second.
- ``digest``: daily at ``SECBOT_DIGEST_AT`` in ``SECBOT_TIMEZONE`` (a ``CronTrigger``
  with that zone; never ``from_crontab``, whose weekday numbers are off by one in 3.x).
- ``outbox``: the dispatcher, every ``SECBOT_OUTBOX_INTERVAL_SECONDS``.
- ``expiry``: silences (later: approvals) that ran out, every minute.

Scans and the digest are claimed per slot (one run per slot across replicas); the outbox
and expiry jobs are idempotent by construction and run unclaimed. Every trigger carries
its time zone explicitly (reference/libraries.md §2.4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.core.durations import format_duration

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]

    from bot.config import Settings
    from bot.kube.config import KubeTarget

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXPIRY_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class JobActions:
    """What the jobs do; built by bot.wiring from the services."""

    scan: Callable[[str], None]  # scan one cluster by target name (records + plans notices)
    digest: Callable[[datetime], None]  # compose+enqueue the digests for this fire time (UTC)
    dispatch: Callable[[], None]  # send due outbox messages
    expire: Callable[[datetime], None]  # expire silences (later: approvals) as of this time


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its trigger, what it runs, and how it is fenced."""

    id: str  # "scan:<cluster>", "digest", "outbox", "expiry"
    description: str
    trigger: BaseTrigger  # explicit timezone on every trigger
    run: Callable[[datetime], None]  # called with the slot's scheduled fire time (aware UTC)
    claim: bool  # True: one run per slot across replicas (job_claims)
    grace: timedelta  # how late a missed slot may still run


def scan_offset(name: str, interval: timedelta) -> int:
    """The cluster's preferred phase within ``interval``, in whole seconds (stable)."""
    seconds = max(1, int(interval.total_seconds()))
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % seconds


def spread_offsets(intervals: Mapping[str, timedelta]) -> dict[str, timedelta]:
    """Offsets for clusters (name -> interval): the hash's second, or the next free one.

    Names are placed in sorted order, so the result depends only on the set of clusters.
    With more clusters than seconds in an interval, the remainder share seconds.
    """
    taken: dict[int, set[int]] = {}
    result: dict[str, timedelta] = {}
    for name in sorted(intervals):
        seconds = max(1, int(intervals[name].total_seconds()))
        used = taken.setdefault(seconds, set())
        offset = scan_offset(name, intervals[name])
        if len(used) < seconds:
            while offset in used:
                offset = (offset + 1) % seconds
        used.add(offset)
        result[name] = timedelta(seconds=offset)
    return result


def build_jobs(
    *, settings: Settings, targets: Sequence[KubeTarget], actions: JobActions
) -> list[JobSpec]:
    """Every job of ``secbot serve``: one scan per cluster, then digest, outbox, expiry."""
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"cluster names must be unique; repeated: {', '.join(duplicates)}")
    intervals = {t.name: t.scan_interval or settings.scan_interval_delta for t in targets}
    offsets = spread_offsets(intervals)
    jobs: list[JobSpec] = []
    for name in sorted(intervals):
        interval = intervals[name]
        jobs.append(
            JobSpec(
                id=f"scan:{name}",
                description=f"scan cluster {name} every {format_duration(interval)}",
                trigger=IntervalTrigger(
                    seconds=interval.total_seconds(),
                    start_date=EPOCH + offsets[name],
                    timezone=UTC,
                ),
                run=partial(_scan, actions.scan, name),
                claim=True,
                grace=interval,  # a missed scan runs once, however long we were down
            )
        )
    hour, minute = settings.digest_time
    outbox_every = timedelta(seconds=settings.outbox_interval_seconds)
    jobs += [
        JobSpec(
            id="digest",
            description=f"daily digest at {hour:02d}:{minute:02d} {settings.timezone}",
            trigger=CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(settings.timezone)),
            run=actions.digest,
            claim=True,
            grace=settings.digest_grace_delta,
        ),
        JobSpec(
            id="outbox",
            description=f"send due messages every {format_duration(outbox_every)}",
            trigger=IntervalTrigger(
                seconds=settings.outbox_interval_seconds, start_date=EPOCH, timezone=UTC
            ),
            run=partial(_dispatch, actions.dispatch),
            claim=False,
            grace=outbox_every,
        ),
        JobSpec(
            id="expiry",
            description=f"expire silences every {format_duration(EXPIRY_EVERY)}",
            trigger=IntervalTrigger(
                seconds=EXPIRY_EVERY.total_seconds(), start_date=EPOCH, timezone=UTC
            ),
            run=actions.expire,
            claim=False,
            grace=EXPIRY_EVERY,
        ),
    ]
    return jobs


def _scan(scan: Callable[[str], None], name: str, _fire: datetime) -> None:
    scan(name)


def _dispatch(dispatch: Callable[[], None], _fire: datetime) -> None:
    dispatch()
