"""SchedulerService driven by step(): a follower stays paused, a new leader catches up
once and resumes, a lost leader pauses; the SQLite one-replica warning; describe()."""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from sqlalchemy import Engine, select

from bot.scheduler.jobs import JobSpec
from bot.scheduler.jobs_info import JobInfo, describe_jobs
from bot.scheduler.leader import AlwaysLeader, LeaderGate, PostgresLeader
from bot.scheduler.runner import JobRunner
from bot.scheduler.service import SchedulerService
from bot.store.db import read_scope, session_scope
from bot.store.models_ops import SchedulerInstance
from bot.store.repos import instances
from tests.scheduler.conftest import Calls, Clock, make_jobs
from tests.store.conftest import migrated_engine

NOV29_DIGEST = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
PROD_SCAN = datetime(2026, 11, 29, 10, 25, 34, tzinfo=UTC)
HOST, PID = socket.gethostname()[:253], os.getpid()


class SwitchGate:
    """A LeaderGate the test flips by hand."""

    def __init__(self) -> None:
        self.leading = False
        self.released = 0

    def acquire(self) -> bool:
        return self.leading

    def release(self) -> None:
        self.released += 1

    def describe(self) -> str:
        return "switch"


def service(
    engine: Engine,
    clock: Clock,
    jobs: list[JobSpec],
    gate: LeaderGate,
    said: list[str],
    holder: str = "A",
) -> SchedulerService:
    return SchedulerService(
        jobs=jobs,
        runner=JobRunner(engine, clock, holder, jobs),
        gate=gate,
        engine=engine,
        clock=clock,
        holder=holder,
        say=said.append,
        tick=5.0,
    )


def instance_rows(engine: Engine) -> list[tuple[str, bool]]:
    with read_scope(engine) as s:
        rows = s.scalars(select(SchedulerInstance).order_by(SchedulerInstance.id))
        return [(r.id, r.leader) for r in rows]


def test_follower_stays_paused_leader_catches_up_and_resumes(engine: Engine, calls: Calls) -> None:
    clock = Clock(datetime(2026, 11, 29, 10, 30, tzinfo=UTC))  # missed 08:00Z and 10:25:34Z
    jobs = make_jobs(calls, "prod")
    gate, said = SwitchGate(), []
    svc = service(engine, clock, jobs, gate, said)
    svc.start(loop=False)
    try:
        assert svc.scheduler.state == STATE_PAUSED
        assert sorted(j.id for j in svc.scheduler.get_jobs()) == sorted(j.id for j in jobs)
        svc.step()
        assert said == ["standby: another replica leads (switch)"]
        assert svc.scheduler.state == STATE_PAUSED
        assert (calls.digests, calls.scans) == ([], [])
        assert instance_rows(engine) == [("A", False)]

        gate.leading = True
        clock.advance(seconds=5)
        svc.step()
        assert said[1:] == ["leader: running jobs"]
        assert svc.leading is True
        assert svc.scheduler.state == STATE_RUNNING
        assert calls.digests == [NOV29_DIGEST]
        assert calls.scans == ["prod"]
        assert instance_rows(engine) == [("A", True)]

        clock.advance(seconds=5)
        svc.step()  # still leading: no second catch-up, nothing said
        assert len(said) == 2
        assert (calls.digests, calls.scans) == ([NOV29_DIGEST], ["prod"])

        gate.leading = False
        clock.advance(seconds=5)
        svc.step()
        assert said[2:] == ["leader: lost leadership (switch); jobs paused"]
        assert svc.scheduler.state == STATE_PAUSED
        assert instance_rows(engine) == [("A", False)]
    finally:
        svc.stop()
    assert svc.scheduler is None
    assert gate.released == 1
    assert instance_rows(engine) == []


def test_sqlite_warns_once_about_a_second_instance(engine: Engine, calls: Calls) -> None:
    clock = Clock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    jobs = make_jobs(calls)
    with session_scope(engine) as s:  # a replica that died ten minutes ago does not count,
        instances.heartbeat(  # nor one that crashed just before we started
            s,
            instance_id="dead",
            host="gone",
            pid=1,
            now=clock() - timedelta(minutes=10),
            leader=True,
        )
        instances.heartbeat(
            s,
            instance_id="crashed",
            host="gone",
            pid=2,
            now=clock() - timedelta(seconds=3),
            leader=True,
        )
    said_a: list[str] = []
    said_b: list[str] = []
    a = service(engine, clock, jobs, AlwaysLeader(), said_a, holder="A")
    b = service(engine, clock, jobs, AlwaysLeader(), said_b, holder="B")
    a.step()
    assert said_a == ["leader: running jobs"]
    b.step()
    clock.advance(seconds=5)
    a.step()
    b.step()
    a.step()
    warning = (
        f"SQLite supports one replica: another secbot serve ({HOST}, pid {PID}) uses this "
        "database; use PostgreSQL for several"
    )
    if engine.dialect.name == "sqlite":
        assert said_a == ["leader: running jobs", warning]
        assert said_b == ["leader: running jobs", warning]
    else:  # PostgreSQL carries several replicas: nothing to warn about
        assert said_a == said_b == ["leader: running jobs"]
    a.stop()
    b.stop()
    assert instance_rows(engine) == [("crashed", True), ("dead", True)]


@pytest.mark.postgres
def test_two_services_on_postgres_one_leads_and_hands_over(calls: Calls, tmp_path: Path) -> None:
    with migrated_engine("postgres", tmp_path) as engine:
        clock = Clock(NOV29_DIGEST + timedelta(hours=1))
        jobs = make_jobs(calls)
        said_a: list[str] = []
        said_b: list[str] = []
        a = service(engine, clock, jobs, PostgresLeader(engine), said_a, holder="A")
        b = service(engine, clock, jobs, PostgresLeader(engine), said_b, holder="B")
        a.start(loop=False)
        b.start(loop=False)
        try:
            a.step()
            b.step()
            assert said_a == ["leader: running jobs"]
            assert said_b[0].startswith("standby: another replica leads (PostgreSQL advisory lock")
            assert (a.scheduler.state, b.scheduler.state) == (STATE_RUNNING, STATE_PAUSED)
            assert calls.digests == [NOV29_DIGEST]
            a.stop()  # releases the lock
            clock.advance(seconds=5)
            b.step()
            assert said_b[1:] == ["leader: running jobs"]
            assert b.scheduler.state == STATE_RUNNING
            assert calls.digests == [NOV29_DIGEST]  # the slot was claimed: not again
        finally:
            a.stop()
            b.stop()


def test_describe_without_start(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(seconds=1))
    jobs = make_jobs(calls, "prod")
    svc = service(engine, clock, jobs, SwitchGate(), [])
    JobRunner(engine, clock, "A", jobs).run_due("digest")  # one recorded claim to show
    assert svc.describe() == [
        JobInfo(
            id="scan:prod",
            description="scan cluster prod every 6h",
            trigger="interval[6:00:00] UTC",
            next_run=PROD_SCAN,
            claim=True,
        ),
        JobInfo(
            id="digest",
            description="daily digest at 09:00 Europe/Berlin",
            trigger="cron[hour='9', minute='0'] Europe/Berlin",
            next_run=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            claim=True,
            last_slot="2026-11-29",
            last_claimed_at=clock.now,
            last_finished_at=clock.now,
            last_error=None,
            last_holder="A",
        ),
        JobInfo(
            id="outbox",
            description="send due messages every 5s",
            trigger="interval[0:00:05] UTC",
            next_run=datetime(2026, 11, 29, 8, 0, 5, tzinfo=UTC),
            claim=False,
        ),
        JobInfo(
            id="expiry",
            description="expire silences every 1m",
            trigger="interval[0:01:00] UTC",
            next_run=datetime(2026, 11, 29, 8, 1, tzinfo=UTC),
            claim=False,
        ),
    ]
    assert describe_jobs(jobs=jobs, engine=engine, clock=clock) == svc.describe()


def test_the_loop_thread_leads_and_stops(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(minutes=30))
    jobs = make_jobs(calls)
    led = threading.Event()
    said: list[str] = []

    def say(message: str) -> None:
        said.append(message)
        led.set()

    svc = SchedulerService(
        jobs=jobs,
        runner=JobRunner(engine, clock, "A", jobs),
        gate=AlwaysLeader(),
        engine=engine,
        clock=clock,
        holder="A",
        say=say,
        tick=60.0,
    )
    svc.start()
    try:
        assert led.wait(10)
    finally:
        svc.stop()  # waits for the loop and its catch-up thread
    assert said == ["leader: running jobs"]
    assert calls.digests == [NOV29_DIGEST]
    assert instance_rows(engine) == []
