"""What the executor checks before it sends anything, on SQLite and PostgreSQL: the store
is not trusted to still hold what was approved. A plan edited after the approval, a
request set to ``approved`` without the votes, or an approval whose run was lost and is
found long after the request's time all end the request (failed / expired, audited in
the same transaction, announced) and not one request reaches the cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.audit.log import recent, verify
from bot.remediation import flow, requests
from bot.remediation.planner import plan_remediation
from bot.store import db
from bot.store.repos import outbox as outbox_repo
from bot.store.repos import remediation as remediation_repo
from tests.fakes.kube_api import FakeKubeAPI
from tests.remediation.test_flow import AUDIT, World
from tests.store.conftest import BACKENDS, migrated_engine

CHANNEL = "#approvals"
TAMPERED = "not run: the stored plan no longer matches what was approved"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    from tests.remediation.test_flow import _objects

    with FakeKubeAPI(objects=_objects()) as api:
        w = World(engine, api, tmp_path)
        w.scan()
        w.executor.announce = flow.announce_finish(CHANNEL)
        yield w


def _edit(world: World, request_id: int, **values: Any) -> None:
    """What someone with write access to the database does behind the bot's back."""
    with db.session_scope(world.engine) as s:
        row = remediation_repo.get(s, request_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def _history(world: World, request_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    with db.session_scope(world.engine) as s:
        entries = reversed(recent(s, limit=20, subject=f"R-{request_id}"))
        return [(e.actor, e.action, e.payload) for e in entries]


def _announced(world: World, request_id: int, event: str) -> bool:
    with db.session_scope(world.engine) as s:
        key = f"request-update:{CHANNEL}:R-{request_id}:{event}"
        return outbox_repo.by_key(s, key) is not None


def _nothing_sent(world: World, since: int) -> bool:
    """Not one request (not even a GET) reached the cluster after ``since`` requests."""
    return len(world.api.requests) == since


def test_a_plan_edited_after_approval_is_refused(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    with db.session_scope(world.engine) as s:
        row = remediation_repo.get(s, rid)
        assert row is not None
        plan = dict(row.plan)
    # The value the approver saw stays, but the write would also touch `default`.
    patch = {**plan["patch"], "default": '{"enable":false,"expiringInHours":1}'}
    _edit(world, rid, plan={**plan, "patch": patch})
    sent = len(world.api.requests)
    view = world.executor.run(rid)
    assert view is not None and view.state == "failed"
    assert view.reason == TAMPERED and view.result == {"reason": TAMPERED}
    assert _nothing_sent(world, sent) and world.patches() == []
    assert _history(world, rid)[-1] == ("system", "remediation.failed", {"reason": TAMPERED})
    assert _announced(world, rid, "failed")
    assert world.executor.run(rid) is None  # ended: never tried again
    assert verify(world.engine, hmac_key=AUDIT.hmac_key).ok


def test_a_plan_that_no_longer_parses_is_refused(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    _edit(world, rid, plan={"format": 1, "action": "enable-auto-rotate"})
    sent = len(world.api.requests)
    assert world.executor.run(rid) is None  # no view of a plan that does not parse
    with db.session_scope(world.engine) as s:
        row = remediation_repo.get(s, rid)
        assert row is not None and (row.state, row.reason) == ("failed", TAMPERED)
    assert _nothing_sent(world, sent)
    assert _history(world, rid)[-1] == ("system", "remediation.failed", {"reason": TAMPERED})


def test_a_request_set_to_approved_without_votes_is_refused(world: World) -> None:
    rid = world.request()
    with db.session_scope(world.engine) as s:  # pending -> approved, no vote at all
        assert remediation_repo.move(s, rid, "pending", "approved")
    sent = len(world.api.requests)
    assert world.executor.run_approved() == [rid]
    assert world.state(rid) == "failed"
    why = "not run: not enough approvals recorded (0 of 1)"
    assert _history(world, rid)[-1] == ("system", "remediation.failed", {"reason": why})
    assert _announced(world, rid, "failed")
    assert _nothing_sent(world, sent)
    assert world.executor.run_approved() == []


def test_the_requesters_own_vote_and_a_lowered_requirement_do_not_count(world: World) -> None:
    rid = world.request()
    with db.session_scope(world.engine) as s:
        row = remediation_repo.get(s, rid)
        assert row is not None
        assert remediation_repo.add_vote(
            s,
            request_id=rid,
            approver="U1",  # the requester
            decision="approve",
            plan_hash=row.plan_hash,
            reason=None,
            at=world.clock(),
        )
        row.approvals_required = 0  # the plan itself (hashed) still says 1
        assert remediation_repo.move(s, rid, "pending", "approved", decided_at=world.clock())
    sent = len(world.api.requests)
    view = world.executor.run(rid)
    assert view is not None and view.state == "failed"
    assert view.reason == "not run: not enough approvals recorded (0 of 1)"
    assert _nothing_sent(world, sent)


def test_an_approval_whose_run_was_lost_expires_after_the_requests_time(world: World) -> None:
    rid = world.request()
    world.clock.now += timedelta(minutes=50)  # approved late in the request's hour
    world.vote(rid, "U2").raise_if_denied()  # the voter's run is lost (a crash)
    world.clock.now += timedelta(days=30)
    sent = len(world.api.requests)
    assert world.executor.run_approved() == [rid]
    assert world.state(rid) == "expired"
    why = "not run: approved but not started within 1h of the approval; plan again with fix"
    assert _history(world, rid)[-1] == ("system", "remediation.expired", {"reason": why})
    assert _announced(world, rid, "expired")
    assert _nothing_sent(world, sent) and world.patches() == []
    assert world.executor.run_approved() == []
    assert verify(world.engine, hmac_key=AUDIT.hmac_key).ok


def test_the_bound_counts_from_the_approval_with_the_requests_own_ttl(world: World) -> None:
    client = world.connect(world.target)
    try:
        plan = plan_remediation(client, action_id=None, finding=world.finding(), now=world.clock())
    finally:
        client.close()
    with db.session_scope(world.engine) as s:  # SECBOT_REMEDIATION_TTL=10m
        short = requests.request(
            session=s,
            plan=plan,
            requester="U1",
            now=world.clock(),
            audit=AUDIT,
            ttl=timedelta(minutes=10),
        ).id
    world.clock.now += timedelta(minutes=9)
    world.vote(short, "U2").raise_if_denied()
    world.clock.now += timedelta(minutes=9)  # 18 min after the request, 9 after approval
    view = world.executor.run(short)
    assert view is not None and view.state == "done", view
    assert len(world.patches()) == 1


def test_a_lost_run_found_within_the_time_still_runs(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    world.clock.now += timedelta(minutes=59)
    assert world.executor.run_approved() == [rid]
    assert world.state(rid) == "done" and len(world.patches()) == 1
