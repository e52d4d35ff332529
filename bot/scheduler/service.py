"""The scheduler of ``secbot serve``: APScheduler paused until this replica leads.

``start`` builds a ``BackgroundScheduler`` (UTC, in-memory job store, coalesce, one
instance per job, misfire grace from each job's grace; reference/libraries.md §2.3,
§6.5), adds every ``JobSpec`` by id, and starts it *paused*. The leader loop then runs
``step`` every ``tick`` seconds:

1. ask the gate; on becoming leader: say so, catch up missed slots, ``resume()``; on
   losing leadership: ``pause()`` (running jobs finish; their slots are claimed anyway);
2. refresh this instance's heartbeat row (``scheduler_instances``);
3. on SQLite, say once if another live instance uses the same database: SQLite means
   one replica.

Tests drive ``step`` directly (no thread, no sleeping). Under the loop the catch-up runs
on a thread of its own, so a fleet of missed scans never stalls lease renewals or
heartbeats; called directly, ``step`` catches up inline.

``SchedulerService.describe`` answers ``secbot scheduler list`` for this service's jobs
(bot.scheduler.jobs_info, which also answers it without starting anything). ``make_holder``
names this process in claims, leases and heartbeats.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.scheduler.jobs import JobSpec
from bot.scheduler.jobs_info import JobInfo, describe_jobs
from bot.scheduler.leader import LeaderGate
from bot.scheduler.runner import JobRunner, new_error_id
from bot.store.db import Engine, session_scope
from bot.store.repos import instances

log = logging.getLogger(__name__)

LEADER_MESSAGE = "leader: running jobs"
CATCH_UP_EVERY = timedelta(minutes=1)
SQLITE_MESSAGE = (
    "SQLite supports one replica: another secbot serve ({host}, pid {pid}) uses this "
    "database; use PostgreSQL for several"
)


def make_holder() -> str:
    """This process's identity in claims, leases and heartbeats: host:pid:random."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class SchedulerService:
    """APScheduler plus the leader loop; ``start``/``stop`` from ``secbot serve``."""

    def __init__(
        self,
        *,
        jobs: Sequence[JobSpec],
        runner: JobRunner,
        gate: LeaderGate,
        engine: Engine,
        clock: Callable[[], datetime],
        holder: str,
        say: Callable[[str], None],
        tick: float = 5.0,
        workers: int = 4,
    ) -> None:
        self._jobs = list(jobs)
        self._runner = runner
        self._gate = gate
        self._engine = engine
        self._clock = clock
        self.holder = holder
        self._say = say
        self._tick = tick
        self._workers = max(4, workers)
        self._alive_window = timedelta(seconds=max(30.0, 3 * tick))
        self._born = clock()
        self._scheduler: Any = None
        self._stop = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self._catch_up_thread: threading.Thread | None = None
        self._background = False
        self._leading = False
        self._said_standby = False
        self._warned_sqlite = False
        self._caught_up = datetime.min.replace(tzinfo=UTC)
        self._host = socket.gethostname()[:253]
        self._pid = os.getpid()

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def scheduler(self) -> Any:
        """The BackgroundScheduler once started (tests look at its state)."""
        return self._scheduler

    def start(self, *, loop: bool = True) -> None:
        """Build and start the scheduler paused; with ``loop``, start the leader thread."""
        from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
        from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
        from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
            BackgroundScheduler,
        )

        if self._scheduler is not None:
            raise RuntimeError("the scheduler is already started")
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(self._workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        for job in self._jobs:
            scheduler.add_job(
                self._fire,
                trigger=job.trigger,
                args=(job.id,),
                id=job.id,
                name=job.description,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(job.grace.total_seconds())),
            )
        scheduler.start(paused=True)
        self._scheduler = scheduler
        if loop:
            self._background = True
            self._loop_thread = threading.Thread(
                target=self._loop, name="secbot-leader", daemon=True
            )
            self._loop_thread.start()

    def stop(self) -> None:
        """Stop the loop, wait for running jobs, give up leadership, remove our row."""
        self._stop.set()
        if self._loop_thread is not None:
            self._loop_thread.join()
        if self._catch_up_thread is not None:  # read after the loop ended: it may start one
            self._catch_up_thread.join()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self._leading = False
        try:
            self._gate.release()
        except Exception as e:  # shutting down: note it and carry on
            log.warning("leader gate release failed: %s", type(e).__name__)
        try:
            with session_scope(self._engine) as session:
                instances.remove(session, instance_id=self.holder)
        except Exception as e:
            log.warning("cannot remove the scheduler instance row: %s", type(e).__name__)

    def describe(self) -> list[JobInfo]:
        return describe_jobs(jobs=self._jobs, engine=self._engine, clock=self._clock)

    def step(self) -> None:
        """One leader-loop round: gate, catch-up and resume or pause, heartbeat, checks."""
        try:
            leading = self._gate.acquire()
        except Exception:  # a broken gate must not make two leaders: step down
            _log_error(f"leader gate {self._gate.describe()}")
            leading = False
        if leading and not self._leading:
            self._leading = True
            self._say(LEADER_MESSAGE)
            self._catch_up()
            if self._scheduler is not None:
                self._scheduler.resume()
        elif leading and self._clock() - self._caught_up >= CATCH_UP_EVERY:
            # Slots whose run failed or was abandoned, or a fire APScheduler missed.
            self._catch_up()
        elif not leading and self._leading:
            self._leading = False
            if self._scheduler is not None:
                self._scheduler.pause()
            self._say(f"leader: lost leadership ({self._gate.describe()}); jobs paused")
        elif not leading and not self._said_standby:
            self._said_standby = True
            self._say(f"standby: another replica leads ({self._gate.describe()})")
        self._heartbeat()

    def _heartbeat(self) -> None:
        now = self._clock()
        try:
            with session_scope(self._engine) as session:
                instances.heartbeat(
                    session,
                    instance_id=self.holder,
                    host=self._host,
                    pid=self._pid,
                    now=now,
                    leader=self._leading,
                )
                others = (
                    # Only heartbeats after our start count: the row a crashed
                    # predecessor left behind is no second replica.
                    instances.others_alive(
                        session, me=self.holder, since=max(now - self._alive_window, self._born)
                    )
                    if self._engine.dialect.name == "sqlite" and not self._warned_sqlite
                    else []
                )
        except Exception as e:  # the database is down; the gate decides leadership
            log.warning("scheduler heartbeat failed: %s", type(e).__name__)
            return
        if others:
            self._warned_sqlite = True
            self._say(SQLITE_MESSAGE.format(host=others[0].host, pid=others[0].pid))

    def _catch_up(self) -> None:
        self._caught_up = self._clock()
        if not self._background:
            self._run_catch_up()
            return
        if self._catch_up_thread is not None and self._catch_up_thread.is_alive():
            return  # the previous term's catch-up is still running
        self._catch_up_thread = threading.Thread(
            target=self._run_catch_up, name="secbot-catch-up", daemon=True
        )
        self._catch_up_thread.start()

    def _run_catch_up(self) -> None:
        try:
            results = self._runner.catch_up(workers=self._workers)
        except Exception:  # jobs log their own failures; this guards the rest
            _log_error("catch-up")
            return
        if results:
            done = ", ".join(f"{job_id} {outcome}" for job_id, outcome in results)
            log.info("catch-up after downtime: %s", done)

    def _fire(self, job_id: str) -> None:
        try:
            self._runner.run_due(job_id)
        except Exception:  # run_due logs job failures itself; this is a bug guard
            _log_error(f"scheduled run of {job_id}")

    def _loop(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # the loop must outlive any one round
                _log_error("leader loop round")
            if self._stop.wait(self._tick):
                return


def _log_error(what: str) -> None:
    """Log the exception being handled with an error id; the traceback only at DEBUG
    (exception texts are not ours to trust with secrets)."""
    debug = log.isEnabledFor(logging.DEBUG)
    log.error("%s failed (error %s)", what, new_error_id(), exc_info=debug)
