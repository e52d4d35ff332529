"""The fleet scan use case: many live clusters at once, none able to stop the others.

Each cluster is connected, read (``bot.sources.live.read_live``) and checked in a worker
of a bounded thread pool: the work is network-bound, so threads overlap the latency of
many API servers while ``concurrency`` caps the connections and memory in flight. A
cluster that cannot even be connected (bad kubeconfig, unknown context) becomes a
snapshot whose coverage ``api`` is ERROR, so source-unreachable reports it like a cluster
that is down. Results are recorded in the main thread as they come in, one transaction
per cluster (``bot.findings.service.record_scan``): a slow cluster never holds a database
lock, and a cluster already recorded stays recorded whatever happens to the next one.

Reading and checking a cluster is also CPU work (decoding hundreds of certificates and
keys), and threads share one interpreter lock: with ``processes`` > 1 the clusters are
spread over that many worker processes (started from a fork server, so never forked from
a process that runs threads), each with its own bounded thread pool; ``concurrency``
still bounds the clusters in flight in total. A worker sends each result back as it is
done; a worker that dies turns the clusters it was reading into ERROR coverage, like any
other failure. Recording stays in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.checks.base import Check
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, run_checks
from bot.core.policy import CheckPolicy
from bot.core.snapshot import CoverageItem, CoverageStatus, RotationRecord, Snapshot
from bot.errors import BotError
from bot.kube.client import KubeClient, KubeTarget
from bot.kube.errors import KubeForbidden, KubeUnauthorized
from bot.notify.routing import Routing
from bot.scan import ClusterScan, ScanReport
from bot.sources.live import DEFAULT_AGENT_NAMESPACE, read_live
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
    target: KubeTarget,
    *,
    now: datetime,
    connect: Connect,
    probe: ProbeOptions,
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE,
    held_files: Sequence[str] = (),
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
            client,
            cluster=target.name,
            scanned_at=now,
            probe=probe_for(target, probe),
            agent_namespace=agent_namespace,
            held_files=held_files,
        )
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class Job:
    """What every worker needs to scan any of the targets (sent to worker processes)."""

    targets: tuple[KubeTarget, ...]
    now: datetime
    connect: Connect
    probe: ProbeOptions
    checks: tuple[Check, ...]
    policy: CheckPolicy
    # Credential rotations recorded in the store, by cluster; None without a store (the
    # rotation check then answers UNKNOWN rather than "never rotated").
    rotations: Mapping[str, tuple[RotationRecord, ...]] | None = None
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE
    # Node PKI files of open findings, by cluster (bot.sources.live_agent holds them open
    # when the node agent's inventory cannot be read).
    held: Mapping[str, tuple[str, ...]] | None = None

    def scan(self, index: int) -> CheckRun:
        """Read and check one target; every failure becomes coverage, never an exception."""
        target, now = self.targets[index], self.now
        try:
            snapshot = read_target(
                target,
                now=now,
                connect=self.connect,
                probe=self.probe,
                agent_namespace=self.agent_namespace,
                held_files=(self.held or {}).get(target.name, ()),
            )
        except Exception as e:  # boundary: a bug reading one cluster must not stop the fleet
            log.exception("scanning cluster %s failed", target.name)
            reason = f"internal error while reading the cluster: {type(e).__name__}"
            snapshot = failed_snapshot(target, now=now, status=CoverageStatus.ERROR, reason=reason)
        if self.rotations is not None and snapshot.covers("api"):
            snapshot = snapshot.with_rotations(self.rotations.get(target.name, ()))
        return run_checks(snapshot, self.checks, self.policy)


def scan_fleet(
    targets: Sequence[KubeTarget],
    *,
    now: datetime,
    policy: CheckPolicy,
    connect: Connect = KubeClient.connect,
    probe: ProbeOptions | None = None,
    concurrency: int = 8,
    processes: int = 1,
    checks: Sequence[Check] | None = None,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: Callable[[str], None] | None = None,
    routing: Routing | None = None,
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE,
) -> ScanReport:
    """Scan every target, at most ``concurrency`` at once; record each when ``engine``
    (and, with ``routing``, plan its notifications in the same transaction).

    ``processes`` > 1 spreads the targets over that many worker processes (see the
    module docstring); ``connect`` and ``checks`` must then be picklable (module-level
    functions, ``functools.partial`` of them). The report lists the clusters in the order
    of ``targets``. ``now`` is the scan time of every snapshot; ``clock`` (default:
    ``now``) gives each cluster's finish time.
    """
    if concurrency < 1 or processes < 1:
        raise ValueError("concurrency and processes must be at least 1")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ValueError("cluster names must be unique")
    chosen = tuple(checks) if checks is not None else builtin_checks()
    rotations, held = _from_store(engine, names) if engine is not None else (None, None)
    job = Job(
        tuple(targets),
        now,
        connect,
        probe or ProbeOptions(),
        chosen,
        policy,
        rotations,
        agent_namespace=agent_namespace,
        held=held,
    )
    say = progress or (lambda _msg: None)
    scans: dict[str, ClusterScan] = {}
    workers = max(1, min(processes, concurrency, len(targets)))
    runs: Iterator[tuple[int, CheckRun]]
    if workers == 1:
        runs = _in_threads(job, threads=max(1, min(concurrency, len(targets))))
    else:
        from bot.fleet_processes import in_processes  # the pool's machinery only when used

        runs = in_processes(job, processes=workers, threads=max(1, concurrency // workers))
    for index, run in runs:
        target = targets[index]
        scans[target.name] = _record(run, now=now, engine=engine, clock=clock, routing=routing)
        api = run.snapshot.coverage_of("api")
        say(f"{target.name}: {len(run.findings)} finding(s), api {api.status.value}")
    return ScanReport(scans=[scans[name] for name in names])


def _from_store(
    engine: Engine, names: Sequence[str]
) -> tuple[dict[str, tuple[RotationRecord, ...]], dict[str, tuple[str, ...]]]:
    """What the store knows for each cluster (one short read): the credential rotations
    recorded, and the node PKI files (``<node>/<path>``) of open live findings."""
    from bot.findings.rotations import rotations_for
    from bot.store.db import session_scope
    from bot.store.repos import findings as findings_repo

    with session_scope(engine) as session:
        rotations = {name: rotations_for(session=session, cluster=name) for name in names}
        files = findings_repo.open_live_files(session, names)
    held = {name: tuple(sorted(files.get(name, ()))) for name in names}
    return rotations, held


def _in_threads(job: Job, *, threads: int) -> Iterator[tuple[int, CheckRun]]:
    """(index, run) of every target as it completes, from a pool of ``threads``."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fleet") as pool:
        futures = {pool.submit(job.scan, i): i for i in range(len(job.targets))}
        for future in as_completed(futures):
            yield futures[future], future.result()  # scan() turns failures into coverage


def _record(
    run: CheckRun,
    *,
    now: datetime,
    engine: Engine | None,
    clock: Callable[[], datetime] | None,
    routing: Routing | None,
) -> ClusterScan:
    if engine is None:
        return ClusterScan(run=run, started_at=now)
    from bot.findings.service import record_scan
    from bot.notify.plan import plan_scan
    from bot.store.db import session_scope

    finished = clock() if clock else now
    with session_scope(engine) as session:
        outcome = record_scan(session=session, run=run, started_at=now, finished_at=finished)
        if routing is not None:
            plan_scan(session=session, outcome=outcome, routing=routing, at=now)
    return ClusterScan(run=run, outcome=outcome, started_at=now)
