"""Job claims and scheduler instances on SQLite and PostgreSQL: one claim per slot, a
lost claim leaves the surrounding transaction usable, finish/latest/prune, heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from bot.store import db
from bot.store.models_ops import JobClaim, SchedulerInstance
from bot.store.repos import claims, instances

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def test_one_claim_per_slot(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        assert claims.claim(s, job_id="digest", slot="2026-11-29", holder="A", now=T0) is True
    with db.session_scope(engine) as s:
        assert claims.claim(s, job_id="digest", slot="2026-11-29", holder="B", now=T0) is False
        assert claims.claim(s, job_id="digest", slot="2026-11-29", holder="A", now=T0) is False
        assert claims.claim(s, job_id="digest", slot="2026-11-30", holder="B", now=T0) is True
        assert claims.claim(s, job_id="scan:x", slot="2026-11-29", holder="B", now=T0) is True
    with db.read_scope(engine) as s:
        rows = s.execute(
            select(JobClaim.job_id, JobClaim.slot, JobClaim.holder).order_by(JobClaim.id)
        )
        assert [tuple(r) for r in rows] == [
            ("digest", "2026-11-29", "A"),
            ("digest", "2026-11-30", "B"),
            ("scan:x", "2026-11-29", "B"),
        ]


def test_a_lost_claim_keeps_the_surrounding_transaction(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        claims.claim(s, job_id="digest", slot="d1", holder="A", now=T0)
    with db.session_scope(engine) as s:
        assert claims.claim(s, job_id="scan:a", slot="s1", holder="B", now=T0) is True
        assert claims.claim(s, job_id="digest", slot="d1", holder="B", now=T0) is False
        assert claims.claim(s, job_id="scan:b", slot="s1", holder="B", now=T0) is True
    with db.read_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(JobClaim)) == 3
        kept = claims.get(s, job_id="digest", slot="d1")
        assert kept is not None and kept.holder == "A"
        assert claims.get(s, job_id="scan:a", slot="s1") is not None
        assert claims.get(s, job_id="scan:b", slot="s1") is not None
        assert claims.get(s, job_id="scan:c", slot="s1") is None


def test_finish_only_for_the_holder(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        claims.claim(s, job_id="digest", slot="d1", holder="A", now=T0)
    end = T0 + timedelta(seconds=42)
    with db.session_scope(engine) as s:
        assert claims.finish(s, job_id="digest", slot="d1", holder="B", finished_at=end) is False
        assert claims.finish(s, job_id="digest", slot="dX", holder="A", finished_at=end) is False
        assert (
            claims.finish(s, job_id="digest", slot="d1", holder="A", finished_at=end, error="boom")
            is True
        )
    with db.read_scope(engine) as s:
        row = claims.get(s, job_id="digest", slot="d1")
        assert row is not None
        assert (row.claimed_at, row.finished_at, row.error) == (T0, end, "boom")


def test_latest_and_prune(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        for day in range(3):
            at = T0 + timedelta(days=day)
            claims.claim(s, job_id="digest", slot=f"d{day}", holder="A", now=at)
        claims.claim(s, job_id="scan:a", slot="s9", holder="A", now=T0 + timedelta(days=9))
    with db.read_scope(engine) as s:
        latest = claims.latest(s, job_id="digest")
        assert latest is not None and (latest.slot, latest.claimed_at) == ("d2", T0 + timedelta(2))
        assert claims.latest(s, job_id="outbox") is None
    with db.session_scope(engine) as s:
        assert claims.prune(s, before=T0 + timedelta(days=2)) == 2
    with db.read_scope(engine) as s:
        assert [c.slot for c in s.scalars(select(JobClaim).order_by(JobClaim.id))] == ["d2", "s9"]


def test_instances_heartbeat_alive_and_remove(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        instances.heartbeat(s, instance_id="a", host="node-1", pid=10, now=T0, leader=False)
        instances.heartbeat(s, instance_id="b", host="node-2", pid=20, now=T0, leader=False)
    later = T0 + timedelta(seconds=40)
    with db.session_scope(engine) as s:
        row = instances.heartbeat(s, instance_id="a", host="node-1", pid=10, now=later, leader=True)
        assert (row.started_at, row.seen_at, row.leader) == (T0, later, True)
    with db.read_scope(engine) as s:
        since = later - timedelta(seconds=30)
        assert [r.id for r in instances.alive(s, since=since)] == ["a"]
        assert [r.id for r in instances.alive(s, since=T0)] == ["a", "b"]
        assert [r.id for r in instances.others_alive(s, me="a", since=T0)] == ["b"]
        assert instances.others_alive(s, me="a", since=since) == []
    with db.session_scope(engine) as s:
        assert instances.remove(s, instance_id="b") is True
        assert instances.remove(s, instance_id="b") is False
    with db.read_scope(engine) as s:
        assert [r.id for r in s.scalars(select(SchedulerInstance))] == ["a"]
