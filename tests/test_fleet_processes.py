"""scan_fleet with worker processes (``processes=2``): the same report as with threads,
and a worker process that dies fails only the clusters it was reading."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from bot.fleet import scan_fleet
from bot.kube.client import KubeClient, KubeTarget
from tests.test_fleet import NOW, POLICY, Fleet, connect, expected, keyed


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield Fleet(stack, tmp_path)


def die_on_doomed(target: KubeTarget) -> KubeClient:
    """connect() that kills the worker process reading the target named "doomed"."""
    if target.name == "doomed":
        os._exit(3)
    return connect(target)


def test_worker_processes_give_the_same_report(fleet: Fleet) -> None:
    report = scan_fleet(
        fleet.targets,
        now=NOW,
        policy=POLICY,
        connect=connect,
        probe=fleet.probe,
        concurrency=4,
        processes=2,
    )
    assert [s.run.snapshot.cluster for s in report.scans] == ["down", "locked", "healthy"]
    assert keyed(report) == expected(fleet, store=False)
    healthy = report.scans[2].run.snapshot
    assert {c.location.kind for c in healthy.certificates} == {"Secret", "Setting", "TLSEndpoint"}


def test_a_worker_process_that_dies_fails_only_its_clusters(fleet: Fleet) -> None:
    doomed = KubeTarget(name="doomed", kubeconfig=fleet.targets[1].kubeconfig)
    report = scan_fleet(
        [doomed, fleet.targets[1]],
        now=NOW,
        policy=POLICY,
        connect=die_on_doomed,
        probe=fleet.probe,
        concurrency=2,  # one thread per worker: the other worker reads "locked"
        processes=2,
    )
    gone = report.scans[0].run.snapshot.coverage_of("api")
    assert (gone.status.value, gone.detail) == (
        "error",
        "internal error while reading the cluster: the worker process exited",
    )
    assert keyed(report) == {
        "doomed": {("source-unreachable", "critical", "Cluster//doomed")},
        "locked": expected(fleet)["locked"],
    }


def test_worker_processes_do_not_import_the_store() -> None:
    """Workers fork from a server that preloads bot.fleet: with SQLAlchemy and Alembic in
    it each worker would carry ~30 MB more (the bench's memory goal counts every worker)."""
    code = (
        "import sys, bot.fleet, bot.fleet_processes; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'bot.store.db') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
