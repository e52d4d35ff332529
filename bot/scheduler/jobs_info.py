"""``secbot scheduler list`` as data: the job table with next and last runs.

``describe_jobs`` starts nothing: the next run comes from each job's trigger and the
clock (bot.scheduler.slots), the last run from the job's latest claim in the database
(``job_claims``; unclaimed jobs have none). ``SchedulerService.describe`` answers the
same for a running service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.scheduler.jobs import JobSpec
from bot.scheduler.slots import next_fire, trigger_text
from bot.store.db import Engine, read_scope
from bot.store.repos import claims


@dataclass(frozen=True)
class JobInfo:
    """One row of ``secbot scheduler list``."""

    id: str
    description: str
    trigger: str
    next_run: datetime | None  # aware UTC
    claim: bool
    last_slot: str | None = None
    last_claimed_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_error: str | None = None
    last_holder: str | None = None


def describe_jobs(
    *, jobs: Sequence[JobSpec], engine: Engine, clock: Callable[[], datetime]
) -> list[JobInfo]:
    """The job table with next run times and each claimed job's latest claim."""
    now = clock()
    rows: list[JobInfo] = []
    with read_scope(engine) as session:
        for job in jobs:
            last = claims.latest(session, job_id=job.id) if job.claim else None
            rows.append(
                JobInfo(
                    id=job.id,
                    description=job.description,
                    trigger=trigger_text(job.trigger),
                    next_run=next_fire(job.trigger, now),
                    claim=job.claim,
                    last_slot=last.slot if last else None,
                    last_claimed_at=last.claimed_at if last else None,
                    last_finished_at=last.finished_at if last else None,
                    last_error=last.error if last else None,
                    last_holder=last.holder if last else None,
                )
            )
    return rows
