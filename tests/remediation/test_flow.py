"""The remediation flow end to end on SQLite and PostgreSQL against the fake Kubernetes
API: a real scan finds auto-rotation off, `fix` plans it (server dry run), a second person
approves, the executor applies it exactly once, a re-scan proves the finding gone, and
every step is in an intact audit chain.

Also: self-approval, non-approver, double vote, expiry, rejection without a reason;
16 concurrent approve-and-run attempts -> one PATCH; drift between plan and execute; an
applied change that does not resolve the finding; a crash left `executing`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.audit.log import AuditLog, verify
from bot.core.policy import CheckPolicy
from bot.fleet import scan_fleet
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.remediation import request_views, requests
from bot.remediation.executor import Executor
from bot.remediation.planner import FindingRef, plan_remediation
from bot.sources.tlsprobe import ProbeOptions
from bot.store import db
from bot.store.repos import findings as findings_repo
from tests.fakes.kube_api import FakeKubeAPI
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
FAST = Timeouts(connect=2, read=5, retries=0)
AUDIT = AuditLog(hmac_key=b"k" * 32)
APPROVERS = {"U2", "U4"}
SETTINGS = "harvesterhci.io/v1beta1"


def _setting(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": SETTINGS, "kind": "Setting", "metadata": {"name": name}, "value": value}


def _objects() -> list[dict[str, Any]]:
    return [
        _setting("server-version", "v1.4.2"),
        _setting("auto-rotate-rke2-certs", '{"enable":false,"expiringInHours":240}'),
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}]},
        },
    ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(objects=_objects()) as fake:
        yield fake


class World:
    """One cluster behind the fake API, the store, a clock, and the executor."""

    def __init__(self, engine: Engine, api: FakeKubeAPI, tmp_path: Path) -> None:
        self.engine, self.api, self.clock = engine, api, Clock()
        kubeconfig = api.write_kubeconfig(tmp_path / "kc.yaml", context="prod")
        self.target = KubeTarget(name="prod", kubeconfig=kubeconfig)
        self.connect = partial(KubeClient.connect, timeouts=FAST)
        self.executor = Executor(
            engine=engine,
            connect=self.connect,
            targets=lambda: [self.target],
            rescan=lambda t: self.scan([t]),
            clock=self.clock,
            audit=AUDIT,
        )

    def scan(self, targets: Sequence[KubeTarget] | None = None) -> None:
        scan_fleet(
            targets or [self.target],
            now=self.clock(),
            policy=CheckPolicy(),
            connect=self.connect,
            probe=ProbeOptions(enabled=False),
            engine=self.engine,
            clock=self.clock,
        )

    def finding(self, check_id: str = "auto-rotate-disabled") -> FindingRef:
        with db.session_scope(self.engine) as s:
            row = next(r for r in findings_repo.list_open(s) if r.check_id == check_id)
            return FindingRef(
                f"F-{row.id}", "prod", row.check_id, row.resource.key, dict(row.evidence)
            )

    def request(self) -> int:
        client = self.connect(self.target)
        try:
            plan = plan_remediation(
                client, action_id=None, finding=self.finding(), now=self.clock()
            )
        finally:
            client.close()
        assert plan.accepted, plan.dry_run
        with db.session_scope(self.engine) as s:
            return requests.request(
                session=s, plan=plan, requester="U1", now=self.clock(), audit=AUDIT
            ).id

    def vote(
        self, request_id: int, voter: str, *, approve: bool = True, reason: str = ""
    ) -> requests.VoteResult:
        with db.session_scope(self.engine) as s:
            return requests.vote(
                session=s,
                request_id=request_id,
                voter=voter,
                approve=approve,
                plan_hash=None,
                may_approve=APPROVERS.__contains__,
                now=self.clock(),
                audit=AUDIT,
                reason=reason,
            )

    def state(self, request_id: int) -> str:
        with db.session_scope(self.engine) as s:
            view = request_views.get(session=s, request_id=request_id)
            assert view is not None
            return view.state

    def patches(self) -> list[Any]:
        return [r for r in self.api.requests if r.method == "PATCH" and "dryRun" not in r.query]

    def value(self) -> str:
        client = self.connect(self.target)
        try:
            obj = client.get(api_version=SETTINGS, kind="Setting", name="auto-rotate-rke2-certs")
        finally:
            client.close()
        return str(obj["value"])


@pytest.fixture
def world(engine: Engine, api: FakeKubeAPI, tmp_path: Path) -> World:
    w = World(engine, api, tmp_path)
    w.scan()
    return w


def test_fix_approve_execute_verify_and_audit(world: World) -> None:
    rid = world.request()
    assert (
        world.vote(rid, "U1").denied
        == f"R-{rid}: you asked for it; someone else must approve or reject it"
    )
    assert world.vote(rid, "U3").denied == (
        f"R-{rid}: only approvers (SECBOT_APPROVERS) may decide on remediations"
    )
    voted = world.vote(rid, "U2").raise_if_denied()
    assert voted.state == "approved" and voted.approvals == ("U2",)
    assert world.vote(rid, "U4").denied == f"R-{rid}: it is approved, not waiting for a decision"
    world.clock.now += timedelta(minutes=1)
    done = world.executor.run(rid)
    assert done is not None and done.state == "done", done
    assert done.result == {"verified": f"{done.plan.finding_id} is resolved by a re-scan"}
    assert '"enable":true' in world.value().replace(" ", "")
    assert world.executor.run(rid) is None  # never twice
    assert len(world.patches()) == 1
    result = verify(world.engine, hmac_key=AUDIT.hmac_key)
    assert result.ok and result.first_broken is None
    with db.session_scope(world.engine) as s:
        from bot.audit.log import recent

        actions = [e.action for e in reversed(recent(s, limit=50, subject=f"R-{rid}"))]
    assert actions == [
        "remediation.request",
        "remediation.denied",
        "remediation.denied",
        "remediation.approve",
        "remediation.denied",
        "remediation.execute",
        "remediation.done",
    ]


def test_expired_and_rejected(world: World) -> None:
    rid = world.request()
    assert world.vote(rid, "U2", approve=False).denied == (
        f"R-{rid}: a rejection needs a reason: reject R-<id> <reason>"
    )
    assert world.vote(rid, "U2", approve=False, reason="not in the change window").request
    assert world.state(rid) == "rejected"
    late = world.request()
    world.clock.now += timedelta(hours=1, seconds=1)
    assert world.vote(late, "U2").denied == (
        f"R-{late}: the request expired; ask for a new plan with fix"
    )
    assert world.state(late) == "expired"
    assert world.executor.run(late) is None and world.patches() == []


def test_sixteen_concurrent_approve_and_run_execute_once(world: World) -> None:
    rid = world.request()
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def click(i: int) -> None:
        barrier.wait()
        world.vote(rid, "U2" if i % 2 else "U4")
        view = world.executor.run(rid)
        outcomes.append(view.state if view else "-")

    threads = [threading.Thread(target=click, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["-"] * 15 + ["done"]
    assert len(world.patches()) == 1


def test_drift_between_plan_and_execute_is_not_a_blind_write(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    client = world.connect(world.target)  # someone changes it by hand meanwhile
    try:
        client.patch(
            api_version=SETTINGS,
            kind="Setting",
            name="auto-rotate-rke2-certs",
            body={"value": '{"enable":false,"expiringInHours":300}'},
        )
    finally:
        client.close()
    view = world.executor.run(rid)
    assert view is not None and view.state == "drifted"
    assert view.reason and view.reason.endswith("plan again")
    assert world.patches()[-1].path.endswith("auto-rotate-rke2-certs")  # only the hand edit
    assert len(world.patches()) == 1


def test_applied_but_still_open_is_failed(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    world.executor.rescan = lambda _t: None  # the re-scan sees nothing new
    view = world.executor.run(rid)
    assert view is not None and view.state == "failed"
    assert view.reason == "applied, but the finding is still open after a re-scan"


def test_a_crash_while_executing_is_never_rerun_but_verified(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    with db.session_scope(world.engine) as s:  # the executor died right after starting
        assert requests.start(session=s, request_id=rid, now=world.clock(), audit=AUDIT) == (
            "executing"
        )
    assert world.executor.recover() == [rid]
    view_state = world.state(rid)
    assert view_state == "failed"  # nothing was applied: the finding is still open
    assert world.patches() == []
    assert world.executor.run(rid) is None


def test_a_conflict_on_the_write_is_drift(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    # someone writes between our re-read and our write: the server answers 409
    world.api.fail(
        "/apis/harvesterhci.io/v1beta1/settings/auto-rotate-rke2-certs",
        409,
        method="PATCH",
        times=1,
    )
    view = world.executor.run(rid)
    assert view is not None and view.state == "drifted"
    assert view.reason is not None and "plan again" in view.reason


def test_a_failed_verification_is_unknown_not_stuck(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()

    def down(_target: KubeTarget) -> None:
        raise OSError("connection refused")

    world.executor.rescan = down
    view = world.executor.run(rid)
    assert view is not None and view.state == "unknown"
    assert view.reason == "applied, but could not verify: connection refused; check the cluster"
    assert len(world.patches()) == 1


def test_an_approved_request_whose_run_was_lost_is_run_by_the_sweep(world: World) -> None:
    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()  # approved; the voter's run never happened
    assert world.executor.run_approved() == [rid]
    assert world.state(rid) == "done"
    assert world.executor.run_approved() == []
    assert len(world.patches()) == 1


def test_an_expiry_found_by_a_vote_is_audited(world: World) -> None:
    rid = world.request()
    world.clock.now += timedelta(hours=2)
    assert world.vote(rid, "U2").denied
    with db.session_scope(world.engine) as s:
        from bot.audit.log import recent

        actions = [e.action for e in reversed(recent(s, limit=10, subject=f"R-{rid}"))]
    assert actions == ["remediation.request", "remediation.expired", "remediation.denied"]


def test_recovery_spares_executions_of_live_processes(world: World) -> None:
    from bot.store.repos import instances

    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    with db.session_scope(world.engine) as s:  # another replica is executing it right now
        instances.heartbeat(
            s, instance_id="other:1:aa", host="other", pid=1, now=world.clock(), leader=False
        )
        assert (
            requests.start(
                session=s, request_id=rid, now=world.clock(), audit=AUDIT, executor="other:1:aa"
            )
            == "executing"
        )
    assert world.executor.recover() == []  # alive: not ours to judge
    assert world.state(rid) == "executing"
    world.clock.now += timedelta(minutes=3)  # its heartbeat stopped
    assert world.executor.recover() == [rid]
    assert world.state(rid) == "failed"  # nothing had been applied


def test_at_start_on_sqlite_every_other_execution_is_an_orphan(world: World) -> None:
    from bot.store.repos import instances

    rid = world.request()
    world.vote(rid, "U2").raise_if_denied()
    with db.session_scope(world.engine) as s:  # the previous incarnation, seconds ago
        instances.heartbeat(
            s, instance_id="old:1:aa", host="h", pid=1, now=world.clock(), leader=True
        )
        requests.start(
            session=s, request_id=rid, now=world.clock(), audit=AUDIT, executor="old:1:aa"
        )
    assert world.executor.recover() == []  # its heartbeat looks alive
    assert world.executor.recover(sole_process=True) == [rid]
    assert world.state(rid) == "failed"


def test_a_plan_for_a_finding_that_is_gone_names_it_once(world: World) -> None:
    from dataclasses import replace

    from bot.errors import UserError

    client = world.connect(world.target)
    try:
        plan = plan_remediation(client, action_id=None, finding=world.finding(), now=world.clock())
    finally:
        client.close()
    with db.session_scope(world.engine) as s, pytest.raises(UserError) as gone:
        requests.request(
            session=s,
            plan=replace(plan, finding_id="F-9999"),
            requester="U1",
            now=world.clock(),
            audit=AUDIT,
        )
    assert str(gone.value) == "F-9999 does not exist"
