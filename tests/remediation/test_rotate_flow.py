"""rotate-rke2-certs through the executor: two approvals (high risk), the generation bump
applied once, the control plane polled until it reaches the new generation (the apiserver
restarting in between is "not yet"), then a re-scan must show the endpoint's certificate
renewed; a control plane that never gets there fails after the timeout. SQLite and PG."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.checks.runner import CheckRun
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot, TLSEndpoint
from bot.findings.service import record_scan
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.remediation import requests
from bot.remediation.executor import Executor
from bot.remediation.planner import FindingRef, plan_remediation
from bot.store import db
from tests.fakes.kube_api import FakeKubeAPI
from tests.remediation.test_catalog import cluster, control_plane
from tests.remediation.test_flow import APPROVERS, AUDIT
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ENDPOINT = ResourceRef("TLSEndpoint", "192.168.0.10:6443", "", "chain[0]")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _scan(engine: Engine, at: datetime, *, expiring: bool) -> int:
    findings = (
        (
            Finding(
                "cert-expiring",
                "prod",
                ENDPOINT,
                Severity.CRITICAL,
                "expires in 5 days",
                evidence={"subject": "CN=kube-apiserver"},
                tier="7d",
            ),
        )
        if expiring
        else ()
    )
    # The probe reached the endpoint, so its absence from the findings is news.
    served = TLSEndpoint("192.168.0.10", 6443, "kube-apiserver", leaf_sha256="ab" * 32)
    snap = Snapshot(
        "prod",
        "live",
        "https://prod:6443",
        at,
        endpoints=(served,),
        coverage=(CoverageItem("api", CoverageStatus.READ),),
    )
    run = CheckRun(snap, findings, (), frozenset({"cert-expiring"}))
    with db.session_scope(engine) as s:
        outcome = record_scan(session=s, run=run, started_at=at, finished_at=at)
    return next(iter(outcome.ids.values()), 0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _setup(
    engine: Engine, api: FakeKubeAPI, tmp_path: Path, *, renews: bool
) -> tuple[Executor, int, Clock]:
    clock = Clock()
    fid = _scan(engine, T0, expiring=True)
    target = KubeTarget(name="prod", kubeconfig=api.write_kubeconfig(tmp_path / "kc"))
    connect = partial(KubeClient.connect, timeouts=Timeouts(2, 5, 0))

    def rescan(_t: KubeTarget) -> None:
        _scan(engine, clock(), expiring=not renews)  # the endpoint's new certificate

    def sleep(seconds: float) -> None:  # the control plane moves on while we wait
        clock.now += timedelta(seconds=seconds)
        if renews and clock.now >= T0 + timedelta(minutes=2):
            api.add(control_plane(3, 3))

    executor = Executor(
        engine=engine,
        connect=connect,
        targets=lambda: [target],
        rescan=rescan,
        clock=clock,
        audit=AUDIT,
        sleep=sleep,
        rotation_timeout=timedelta(minutes=10),
    )
    client = connect(target)
    try:
        ref = FindingRef(
            f"F-{fid}", "prod", "cert-expiring", ENDPOINT.key, {"subject": "CN=kube-apiserver"}
        )
        plan = plan_remediation(client, action_id=None, finding=ref, now=clock())
    finally:
        client.close()
    assert (plan.action, plan.risk, plan.approvals_required) == ("rotate-rke2-certs", "high", 2)
    with db.session_scope(engine) as s:
        rid = requests.request(session=s, plan=plan, requester="U1", now=clock(), audit=AUDIT).id
    for voter in ("U2", "U4"):
        with db.session_scope(engine) as s:
            requests.vote(
                session=s,
                request_id=rid,
                voter=voter,
                approve=True,
                plan_hash=None,
                may_approve=APPROVERS.__contains__,
                now=clock(),
                audit=AUDIT,
            ).raise_if_denied()
    return executor, rid, clock


def _objects() -> list[dict[str, Any]]:
    return [cluster(2), control_plane(2, 2)]


def test_rotation_is_applied_once_and_verified(engine: Engine, tmp_path: Path) -> None:
    with FakeKubeAPI(objects=_objects()) as api:
        executor, rid, _clock = _setup(engine, api, tmp_path, renews=True)
        view = executor.run(rid)
        patches = [r for r in api.requests if r.method == "PATCH" and "dryRun" not in r.query]
    assert view is not None and view.state == "done", view
    assert view.result is not None and "a later notAfter" in str(view.result["verified"])
    assert len(patches) == 1 and patches[0].path.endswith("/clusters/local")


def test_a_rotation_that_never_finishes_fails(engine: Engine, tmp_path: Path) -> None:
    with FakeKubeAPI(objects=_objects()) as api:
        executor, rid, _clock = _setup(engine, api, tmp_path, renews=False)
        view = executor.run(rid)
    assert view is not None and view.state == "failed"
    assert view.reason == "the rotation did not finish in time"


def test_a_control_plane_that_stops_answering_is_not_yet_not_unknown(
    engine: Engine, tmp_path: Path
) -> None:
    """The rotation restarts the apiserver: GETs of the control plane fail for a while."""
    with FakeKubeAPI(objects=_objects()) as api:
        executor, rid, _clock = _setup(engine, api, tmp_path, renews=True)
        polls = executor.sleep
        path = "/apis/rke.cattle.io/v1/namespaces/fleet-local/rkecontrolplanes/local"

        first = iter([True])

        def sleep(seconds: float) -> None:  # after the patch: the next two reads fail
            if next(first, False):
                api.fail(path, 503, times=2, method="GET")
            polls(seconds)

        executor.sleep = sleep
        view = executor.run(rid)
    assert view is not None and view.state == "done", view
    assert view.result is not None and "a later notAfter" in str(view.result["verified"])
