"""Running job slots: claim first, then run, then record how it went.

``JobRunner`` is what the APScheduler jobs call (``run_due``), what a new leader calls to
make up for downtime (``catch_up``) and what ``secbot scheduler run JOB`` calls
(``run_now``). For a claimed job a run is:

1. insert the ``(job_id, slot)`` claim in its own short transaction; a replica that
   inserted it first wins and this one reports ``skipped``;
2. run the job (its own transactions; the claim is already committed, so a crash mid-run
   leaves a claim without ``finished_at``, which nobody else runs for 30 minutes);
3. record ``finished_at`` and, on failure, one masked line naming the error id.

A job's exception never escapes: it is logged with an error id (the traceback only at
DEBUG, because exception texts are not ours to trust with secrets) and the run is
``failed``.

Catch-up runs each claimable job's latest slot at or before now, once, if it is within
the job's grace and nobody claimed it, or its run failed 10 minutes ago or was abandoned
30 minutes ago (bot.store.repos.claims): three days down means one digest (today's), not
three; down longer than the digest grace past today's slot means none until tomorrow.
The leader calls it every minute, so a failed digest is retried within its grace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum

from bot.core.masking import mask_text
from bot.errors import UserError
from bot.logctx import bound
from bot.scheduler.jobs import JobSpec
from bot.scheduler.slots import latest_fire, manual_slot, slot_of
from bot.store.db import Engine, read_scope, session_scope
from bot.store.repos import claims

log = logging.getLogger(__name__)

_MAX_ERROR = 300


class Outcome(StrEnum):
    RAN = "ran"  # the job ran and returned
    FAILED = "failed"  # the job (or its claim) failed; logged with an error id
    SKIPPED = "skipped"  # another holder claimed the slot first
    MISSED = "missed"  # the slot is later than the job's grace allows
    IDLE = "idle"  # no fire time at or before now yet


def new_error_id() -> str:
    return uuid.uuid4().hex[:8]


def error_line(error: BaseException, error_id: str) -> str:
    """One masked, bounded line for the claim row: type, first line, error id."""
    lines = mask_text(str(error)).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    if len(text) > _MAX_ERROR:
        text = text[: _MAX_ERROR - 3] + "..."
    return f"{text} (error {error_id})"


_SLOT: ContextVar[str | None] = ContextVar("secbot_job_slot", default=None)


def current_slot() -> str | None:
    """The slot of the job running in this thread (``manual:…`` for ``run_now``), so a
    job can tell a run by hand from a scheduled one (a manual digest must not take the
    day's place)."""
    return _SLOT.get()


class JobRunner:
    """Runs the slots of ``jobs`` as ``holder`` (this replica), fenced by job claims."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        holder: str,
        jobs: Sequence[JobSpec],
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.holder = holder
        self._jobs = {job.id: job for job in jobs}
        if len(self._jobs) != len(jobs):
            raise ValueError("job ids must be unique")

    @property
    def jobs(self) -> list[JobSpec]:
        return list(self._jobs.values())

    def job(self, job_id: str) -> JobSpec:
        """The job with this id; UserError listing the known ids if there is none."""
        job = self._jobs.get(job_id)
        if job is None:
            known = ", ".join(sorted(self._jobs)) or "none"
            raise UserError(f"unknown job {job_id!r}; the jobs are: {known}")
        return job

    def run_slot(self, job_id: str, fire: datetime) -> Outcome:
        """Run ``job_id``'s slot scheduled at ``fire`` (aware), at most once per slot."""
        job = self.job(job_id)
        return self._run(job, slot_of(job, fire), fire)

    def run_due(self, job_id: str) -> Outcome:
        """Run the slot the scheduler just fired (the latest at or before now)."""
        job = self.job(job_id)
        now = self._clock()
        fire = latest_fire(job.trigger, now)
        if fire is None:
            return Outcome.IDLE
        if now - fire > job.grace:
            log.warning("job %s: slot at %s is %s late, beyond its grace", job.id, fire, now - fire)
            return Outcome.MISSED
        return self._run(job, slot_of(job, fire), fire)

    def run_now(self, job_id: str) -> Outcome:
        """Run a job by hand, as of now; its slot is "manual:<now>", so the scheduled
        slot still runs when it comes."""
        job = self.job(job_id)
        now = self._clock()
        return self._run(job, manual_slot(now), now)

    def pending(self) -> list[tuple[JobSpec, datetime]]:
        """Claimable jobs whose latest slot is within grace and unclaimed (or its run
        failed or was abandoned long enough ago), with its fire time."""
        now = self._clock()
        due: list[tuple[JobSpec, datetime]] = []
        candidates = []
        for job in self._jobs.values():
            fire = latest_fire(job.trigger, now) if job.claim else None
            if fire is not None and now - fire <= job.grace:
                candidates.append((job, fire))
        if not candidates:
            return due
        with read_scope(self._engine) as session:
            for job, fire in candidates:
                found = claims.get(session, job_id=job.id, slot=slot_of(job, fire))
                if found is None or claims.retryable(found, now=now):
                    due.append((job, fire))
        return due

    def catch_up(self, *, workers: int = 1) -> list[tuple[str, Outcome]]:
        """Run every missed slot that still counts, once (see the module docstring).

        ``workers`` > 1 runs them side by side (a fleet of missed scans); the outcomes
        come back in job order either way.
        """
        try:
            due = self.pending()
        except UserError as e:  # the database is unavailable: the next leader round retries
            log.error("catch-up: %s", e)
            return []
        if workers <= 1 or len(due) <= 1:
            return [(job.id, self._run(job, slot_of(job, fire), fire)) for job, fire in due]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="secbot-catch-up") as pool:
            futures = [
                (job.id, pool.submit(self._run, job, slot_of(job, fire), fire)) for job, fire in due
            ]
            return [(job_id, future.result()) for job_id, future in futures]

    def _run(self, job: JobSpec, slot: str, fire: datetime) -> Outcome:
        if job.claim:
            refused = self._claim(job, slot)
            if refused is not None:
                return refused
        error: str | None = None
        token = _SLOT.set(slot)
        try:
            with bound(f"job {job.id} {slot}"):
                job.run(fire)
        except Exception as e:  # boundary: one job's failure must not stop the scheduler
            error_id = new_error_id()
            error = error_line(e, error_id)
            log.error(
                "job %s slot %s failed: %s",
                job.id,
                slot,
                error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
        finally:
            _SLOT.reset(token)
        if job.claim:
            self._finish(job, slot, error)
        return Outcome.RAN if error is None else Outcome.FAILED

    def _claim(self, job: JobSpec, slot: str) -> Outcome | None:
        """None when this holder won the slot, else the outcome to report."""
        try:
            with session_scope(self._engine) as session:
                won = claims.claim(
                    session, job_id=job.id, slot=slot, holder=self.holder, now=self._clock()
                )
        except Exception as e:  # database down: nobody can run this slot now
            error = error_line(e, new_error_id())
            log.error("job %s slot %s: cannot claim: %s", job.id, slot, error)
            return Outcome.FAILED
        if not won:
            log.info("job %s slot %s: claimed by another holder; skipped", job.id, slot)
            return Outcome.SKIPPED
        return None

    def _finish(self, job: JobSpec, slot: str, error: str | None) -> None:
        try:
            with session_scope(self._engine) as session:
                claims.finish(
                    session,
                    job_id=job.id,
                    slot=slot,
                    holder=self.holder,
                    finished_at=self._clock(),
                    error=error,
                )
        except Exception as e:  # the run happened; only its record is missing
            line = error_line(e, new_error_id())
            log.error("job %s slot %s: cannot record the end: %s", job.id, slot, line)
