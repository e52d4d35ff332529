"""JobRunner on SQLite and PostgreSQL: one run per slot, grace, catch-up after downtime,
failures recorded masked, manual runs, and two runners racing for one slot."""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from bot.errors import UserError
from bot.scheduler.jobs import JobSpec
from bot.scheduler.runner import JobRunner, Outcome
from bot.store import db
from bot.store.db import read_scope
from bot.store.repos import claims
from tests.scheduler.conftest import Calls, Clock, claim_rows, make_jobs

# November: Berlin is on CET (+01:00), so the 09:00 digest fires at 08:00Z.
NOV29_DIGEST = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
PROD_SCAN = datetime(2026, 11, 29, 10, 25, 34, tzinfo=UTC)  # prod's 6-hourly phase


def runner(
    engine: Engine, clock: Clock, calls: Calls, *clusters: str, holder: str = "A"
) -> JobRunner:
    return JobRunner(engine, clock, holder, make_jobs(calls, *clusters))


def test_run_due_runs_a_slot_once_and_records_it(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(seconds=2))
    a = runner(engine, clock, calls)
    assert a.run_due("digest") == Outcome.RAN
    assert calls.digests == [NOV29_DIGEST]
    clock.advance(seconds=3)
    assert a.run_due("digest") == Outcome.SKIPPED
    b = runner(engine, clock, calls, holder="B")
    assert b.run_due("digest") == Outcome.SKIPPED
    assert calls.digests == [NOV29_DIGEST]
    assert claim_rows(engine) == [("digest", "2026-11-29", "A")]
    with read_scope(engine) as session:
        row = claims.get(session, job_id="digest", slot="2026-11-29")
        assert row is not None
        assert (row.claimed_at, row.finished_at, row.error) == (
            NOV29_DIGEST + timedelta(seconds=2),
            NOV29_DIGEST + timedelta(seconds=2),
            None,
        )


def test_run_due_beyond_grace_is_missed(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(hours=6, microseconds=1))
    assert runner(engine, clock, calls).run_due("digest") == Outcome.MISSED
    assert calls.digests == []
    assert claim_rows(engine) == []
    clock.now = NOV29_DIGEST + timedelta(hours=6)  # exactly at the grace: still runs
    assert runner(engine, clock, calls).run_due("digest") == Outcome.RAN
    assert calls.digests == [NOV29_DIGEST]


def test_run_due_before_the_first_fire_is_idle(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST)
    later = IntervalTrigger(hours=1, start_date=NOV29_DIGEST + timedelta(days=1), timezone=UTC)
    job = JobSpec("later", "later", later, calls.expire, claim=True, grace=timedelta(hours=1))
    assert JobRunner(engine, clock, "A", [job]).run_due("later") == Outcome.IDLE
    assert calls.expiries == []


def test_catch_up_after_three_days_down_sends_one_digest(engine: Engine, calls: Calls) -> None:
    clock = Clock(datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC))
    before = runner(engine, clock, calls)
    assert before.run_due("digest") == Outcome.RAN  # the last digest before the outage
    clock.now = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)  # back up three days later
    after = runner(engine, clock, calls, holder="B")
    assert after.catch_up() == [("digest", Outcome.RAN)]
    assert calls.digests == [datetime(2026, 11, 26, 8, 0, tzinfo=UTC), NOV29_DIGEST]
    assert claim_rows(engine) == [("digest", "2026-11-26", "A"), ("digest", "2026-11-29", "B")]
    assert after.catch_up() == []  # and never again for that slot
    assert after.run_due("digest") == Outcome.SKIPPED
    assert len(calls.digests) == 2


def test_down_longer_than_grace_sends_nothing_until_the_next_slot(
    engine: Engine, calls: Calls
) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(hours=6, seconds=1))
    r = runner(engine, clock, calls)
    assert r.catch_up() == []
    assert calls.digests == []
    clock.now = datetime(2026, 11, 30, 7, 59, 59, tzinfo=UTC)
    assert r.catch_up() == []
    clock.now = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
    assert r.run_due("digest") == Outcome.RAN
    assert calls.digests == [datetime(2026, 11, 30, 8, 0, tzinfo=UTC)]
    assert claim_rows(engine) == [("digest", "2026-11-30", "A")]


def test_a_missed_scan_runs_once_on_catch_up(engine: Engine, calls: Calls) -> None:
    clock = Clock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # down since the 27th
    r = runner(engine, clock, calls, "prod")
    assert r.catch_up() == [("scan:prod", Outcome.RAN), ("digest", Outcome.RAN)]
    assert calls.scans == ["prod"]
    assert claim_rows(engine, "scan:prod") == [("scan:prod", "2026-11-29T10:25:34Z", "A")]
    assert r.catch_up() == []
    clock.now = PROD_SCAN + timedelta(hours=6, seconds=1)  # the next scan slot passed
    assert r.catch_up() == [("scan:prod", Outcome.RAN)]
    assert calls.scans == ["prod", "prod"]
    assert [slot for _, slot, _ in claim_rows(engine, "scan:prod")] == [
        "2026-11-29T10:25:34Z",
        "2026-11-29T16:25:34Z",
    ]


def test_catch_up_runs_a_fleet_side_by_side(engine: Engine, calls: Calls) -> None:
    names = [f"c{i}" for i in range(6)]
    clock = Clock(datetime(2026, 11, 29, 23, 59, tzinfo=UTC))
    results = runner(engine, clock, calls, *names).catch_up(workers=4)
    assert results == [(f"scan:{n}", Outcome.RAN) for n in names]  # digest: beyond grace
    assert sorted(calls.scans) == names


def test_a_failing_job_is_recorded_masked_and_never_escapes(
    engine: Engine, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    calls.fail_digest = RuntimeError("push to https://ops:hunter2@hooks.example/x failed\nmore")
    clock = Clock(NOV29_DIGEST + timedelta(seconds=1))
    r = runner(engine, clock, calls)
    with caplog.at_level(logging.ERROR, logger="bot.scheduler.runner"):
        assert r.run_due("digest") == Outcome.FAILED
    with read_scope(engine) as session:
        row = claims.get(session, job_id="digest", slot="2026-11-29")
        assert row is not None and row.finished_at == clock.now
        error = row.error or ""
    match = re.fullmatch(
        r"RuntimeError: push to https://ops:\*\*\*\*@hooks\.example/x failed "
        r"\(error ([0-9a-f]{8})\)",
        error,
    )
    assert match is not None, error
    assert "hunter2" not in caplog.text
    assert match.group(1) in caplog.text
    calls.fail_digest = None
    assert r.run_due("digest") == Outcome.SKIPPED  # not again at once
    assert r.catch_up() == []
    assert calls.digests == []
    # ten minutes later, still within the digest's grace, catch-up tries it again
    clock.advance(minutes=10)
    assert r.catch_up() == [("digest", Outcome.RAN)]
    assert calls.digests == [NOV29_DIGEST]
    assert r.catch_up() == []  # and a finished run is never redone
    with read_scope(engine) as session:
        row = claims.get(session, job_id="digest", slot="2026-11-29")
        assert row is not None and row.error is None and row.finished_at == clock.now


def test_a_run_abandoned_by_a_dead_replica_is_taken_over(engine: Engine, calls: Calls) -> None:
    # Replica B claimed the 09:00 digest and died before finishing it.
    clock = Clock(NOV29_DIGEST + timedelta(seconds=1))
    with db.session_scope(engine) as session:
        assert claims.claim(session, job_id="digest", slot="2026-11-29", holder="B", now=clock.now)
    r = runner(engine, clock, calls)
    assert r.catch_up() == []  # it may still be running
    clock.advance(minutes=29)
    assert r.catch_up() == []
    clock.advance(minutes=2)
    assert r.catch_up() == [("digest", Outcome.RAN)]
    assert calls.digests == [NOV29_DIGEST]
    assert claim_rows(engine) == [("digest", "2026-11-29", "A")]


def test_run_now_uses_a_manual_slot_that_never_blocks_the_schedule(
    engine: Engine, calls: Calls
) -> None:
    clock = Clock(datetime(2026, 11, 29, 7, 0, tzinfo=UTC))
    r = runner(engine, clock, calls)
    assert r.run_now("digest") == Outcome.RAN
    assert calls.digests == [clock.now]
    clock.now = NOV29_DIGEST + timedelta(seconds=1)
    assert r.run_due("digest") == Outcome.RAN
    assert calls.digests == [datetime(2026, 11, 29, 7, 0, tzinfo=UTC), NOV29_DIGEST]
    assert claim_rows(engine) == [
        ("digest", "manual:2026-11-29T07:00:00.000000+00:00", "A"),
        ("digest", "2026-11-29", "A"),
    ]
    assert r.run_now("outbox") == Outcome.RAN  # unclaimed jobs leave no row
    assert calls.dispatches == 1
    assert len(claim_rows(engine)) == 2


def test_unknown_job_lists_the_jobs(engine: Engine, calls: Calls) -> None:
    r = runner(engine, Clock(NOV29_DIGEST), calls, "prod")
    with pytest.raises(UserError) as info:
        r.run_now("nope")
    assert str(info.value) == "unknown job 'nope'; the jobs are: digest, expiry, outbox, scan:prod"


def test_two_runners_in_two_threads_run_a_digest_slot_once(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(days=5))
    fires = [NOV29_DIGEST + timedelta(days=d) for d in range(5)]
    runners = [runner(engine, clock, calls, holder=h) for h in ("A", "B")]
    for fire in fires:
        barrier = threading.Barrier(2)
        outcomes: list[Outcome] = []

        def race(
            r: JobRunner,
            fire: datetime = fire,
            barrier: threading.Barrier = barrier,
            outcomes: list[Outcome] = outcomes,
        ) -> None:
            barrier.wait(10)
            outcomes.append(r.run_slot("digest", fire))

        threads = [threading.Thread(target=race, args=(r,)) for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == [Outcome.RAN, Outcome.SKIPPED]
    assert calls.digests == fires
    assert [slot for _, slot, _ in claim_rows(engine)] == [
        "2026-11-29",
        "2026-11-30",
        "2026-12-01",
        "2026-12-02",
        "2026-12-03",
    ]


def test_two_runners_catching_up_at_once_send_one_digest(engine: Engine, calls: Calls) -> None:
    clock = Clock(NOV29_DIGEST + timedelta(hours=1))
    runners = [runner(engine, clock, calls, holder=h) for h in ("A", "B")]
    barrier = threading.Barrier(2)
    results: list[list[tuple[str, Outcome]]] = []

    def race(r: JobRunner) -> None:
        barrier.wait(10)
        results.append(r.catch_up())

    threads = [threading.Thread(target=race, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ran = [o for result in results for _, o in result if o == Outcome.RAN]
    assert ran == [Outcome.RAN]
    assert calls.digests == [NOV29_DIGEST]
