"""The fleet scan use case: many live clusters at once, none able to stop the others.

Each cluster is connected, read (``bot.sources.live.read_live``) and checked in a worker
of a bounded thread pool: the work is network-bound, so threads overlap the latency of
many API servers while ``concurrency`` caps the connections and memory in flight. A
cluster that cannot even be connected (bad kubeconfig, unknown context) becomes a
snapshot whose coverage ``api`` is ERROR, so source-unreachable reports it like a cluster
that is down. Results are recorded in the main thread as they come in, one transaction
per cluster (``bot.findings.service.record_scan``): a slow cluster never holds a database
lock, and a cluster already recorded stays recorded whatever happens to the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.checks.base import Check
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, run_checks
from bot.core.policy import CheckPolicy
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.errors import BotError
from bot.kube.client import KubeClient, KubeTarget
from bot.kube.errors import KubeForbidden, KubeUnauthorized
from bot.scan import ClusterScan, ScanReport
from bot.sources.live import read_live
from bot.sources.tlsprobe import ProbeOptions

if TYPE_CHECKING:
    from bot.store.db import Engine

log = logging.getLogger(__name__)

Connect = Callable[[KubeTarget], KubeClient]


def describe(target: KubeTarget) -> str:
    """Where a target's credentials come from, for a snapshot's origin (no secrets)."""
    if target.in_cluster:
        return "in-cluster service account"
    where = str(target.kubeconfig) if target.kubeconfig else "default kubeconfig"
    return f"{where} (context {target.context})" if target.context else where


def failed_snapshot(
    target: KubeTarget, *, now: datetime, status: CoverageStatus, reason: str
) -> Snapshot:
    """The snapshot of a cluster that could not be read at all: coverage ``api`` only."""
    return Snapshot(
        cluster=target.name,
        source="live",
        origin=describe(target),
        scanned_at=now,
        coverage=(CoverageItem("api", status, reason),),
    )


def probe_for(target: KubeTarget, probe: ProbeOptions) -> ProbeOptions:
    """The probe options of one target: its own VIP when the clusters file names one."""
    return replace(probe, vip=target.vip) if target.vip else probe


def read_target(
    target: KubeTarget, *, now: datetime, connect: Connect, probe: ProbeOptions
) -> Snapshot:
    """Connect and read one cluster; every failure becomes coverage, never an exception."""
    try:
        client = connect(target)
    except (KubeUnauthorized, KubeForbidden) as e:
        return failed_snapshot(target, now=now, status=CoverageStatus.FORBIDDEN, reason=str(e))
    except BotError as e:  # KubeConfigError (a UserError), KubeUnavailable, ...
        return failed_snapshot(target, now=now, status=CoverageStatus.ERROR, reason=str(e))
    try:
        return read_live(
            client, cluster=target.name, scanned_at=now, probe=probe_for(target, probe)
        )
    finally:
        client.close()


def _scan_one(
    target: KubeTarget,
    *,
    now: datetime,
    connect: Connect,
    probe: ProbeOptions,
    checks: Sequence[Check],
    policy: CheckPolicy,
) -> CheckRun:
    try:
        snapshot = read_target(target, now=now, connect=connect, probe=probe)
    except Exception as e:  # boundary: a bug while reading one cluster must not stop the fleet
        log.exception("scanning cluster %s failed", target.name)
        reason = f"internal error while reading the cluster: {type(e).__name__}"
        snapshot = failed_snapshot(target, now=now, status=CoverageStatus.ERROR, reason=reason)
    return run_checks(snapshot, checks, policy)


def scan_fleet(
    targets: Sequence[KubeTarget],
    *,
    now: datetime,
    policy: CheckPolicy,
    connect: Connect = KubeClient.connect,
    probe: ProbeOptions | None = None,
    concurrency: int = 8,
    checks: Sequence[Check] | None = None,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScanReport:
    """Scan every target, at most ``concurrency`` at once; record each when ``engine``.

    The report lists the clusters in the order of ``targets``. ``now`` is the scan time of
    every snapshot; ``clock`` (default: ``now``) gives each cluster's finish time.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ValueError("cluster names must be unique")
    chosen = tuple(checks) if checks is not None else builtin_checks()
    options = probe or ProbeOptions()
    say = progress or (lambda _msg: None)
    scans: dict[str, ClusterScan] = {}
    workers = max(1, min(concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fleet") as pool:
        futures = {
            pool.submit(
                _scan_one,
                t,
                now=now,
                connect=connect,
                probe=options,
                checks=chosen,
                policy=policy,
            ): t
            for t in targets
        }
        for future in as_completed(futures):
            target = futures[future]
            run = future.result()  # _scan_one turns every failure into coverage
            scans[target.name] = _record(run, now=now, engine=engine, clock=clock)
            api = run.snapshot.coverage_of("api")
            say(f"{target.name}: {len(run.findings)} finding(s), api {api.status.value}")
    return ScanReport(scans=[scans[name] for name in names])


def _record(
    run: CheckRun,
    *,
    now: datetime,
    engine: Engine | None,
    clock: Callable[[], datetime] | None,
) -> ClusterScan:
    if engine is None:
        return ClusterScan(run=run, started_at=now)
    from bot.findings.service import record_scan
    from bot.store.db import session_scope

    finished = clock() if clock else now
    with session_scope(engine) as session:
        outcome = record_scan(session=session, run=run, started_at=now, finished_at=finished)
    return ClusterScan(run=run, outcome=outcome, started_at=now)
