"""A finding about a node's RKE2 certificate (read from the node agent's inventory) stays
open while the agent cannot be heard: its inventory stale, deleted, or unlistable. It is
resolved only when a fresh inventory shows the certificate renewed. scan_fleet with the
store, the fake kube-apiserver and the real client; every scan has its own fixed time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.core.policy import CheckPolicy
from bot.fleet import scan_fleet
from bot.kube.client import KubeClient, KubeTarget
from bot.scan import ClusterScan
from bot.sources.live import ProbeOptions
from bot.store.db import session_scope
from bot.store.repos import findings as findings_repo
from tests.agent import inventory_configmap, rke2_folder
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW
from tests.sources.test_live import FAST, node
from tests.store.conftest import BACKENDS, migrated_engine

APISERVER = "File//node-0/serving-kube-apiserver.crt#[0]"
NAME = "secbot-pki-node-0"


def connect(target: KubeTarget) -> KubeClient:
    return KubeClient.connect(target, timeouts=FAST)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


class Cluster:
    """One fake Harvester cluster with a control-plane node whose agent publishes."""

    def __init__(self, api: FakeKubeAPI, tmp_path: Path) -> None:
        self.api, self.tmp = api, tmp_path
        self.target = KubeTarget(name="c", kubeconfig=api.write_kubeconfig(tmp_path / "kc"))
        self.rounds = 0

    def publish(self, *, at: datetime, apiserver_days: float) -> None:
        self.rounds += 1
        folder = rke2_folder(
            self.tmp / f"r{self.rounds}", apiserver_days=apiserver_days, links=False
        )
        self.api.add(inventory_configmap(folder.root, "node-0", updated=at))

    def scan(self, engine: Engine, at: datetime) -> ClusterScan:
        report = scan_fleet(
            [self.target],
            now=at,
            policy=CheckPolicy(),
            connect=connect,
            probe=ProbeOptions(enabled=False),
            engine=engine,
        )
        (scan,) = report.scans
        return scan


def expiring(scan: ClusterScan) -> list[str]:
    return [f.resource.key for f in scan.run.findings if f.check_id == "cert-expiring"]


def open_keys(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        rows = findings_repo.list_open(session)
        return sorted(r.resource.key for r in rows if r.check_id == "cert-expiring")


def resolved(scan: ClusterScan) -> list[str]:
    assert scan.outcome is not None
    return [r.resource_key for r in scan.outcome.resolved if r.check_id == "cert-expiring"]


def test_an_absent_agent_never_resolves_a_finding(engine: Engine, tmp_path: Path) -> None:
    objects: list[dict[str, Any]] = [node("node-0", "10.0.0.10")]
    with FakeKubeAPI(objects=objects) as api:
        cluster = Cluster(api, tmp_path)
        cluster.publish(at=NOW, apiserver_days=10)
        first = cluster.scan(engine, NOW)
        assert expiring(first) == [APISERVER]
        assert open_keys(engine) == [APISERVER]

        # The agent stopped: its inventory grows stale and is not used ...
        later = NOW + timedelta(days=1)
        stale = cluster.scan(engine, later)
        assert stale.run.snapshot.coverage_of("node-pki").status.value == "partial"
        assert (expiring(stale), resolved(stale)) == ([], [])
        gap = stale.run.snapshot.coverage_of("file:node-0/serving-kube-apiserver.crt")
        assert (gap.status.value, gap.detail) == (
            "error",
            "not re-read: stale inventory (24h old)",
        )
        assert open_keys(engine) == [APISERVER]

        # ... its ConfigMap is deleted ...
        assert api.remove("v1", "ConfigMap", NAME, "secbot-agent")  # the default namespace
        gone = cluster.scan(engine, later + timedelta(hours=1))
        assert gone.run.snapshot.coverage_of("node-pki").status.value == "missing"
        assert resolved(gone) == []
        assert open_keys(engine) == [APISERVER]

        # ... or the bot may no longer list the ConfigMaps.
        cluster.publish(at=later + timedelta(hours=2), apiserver_days=10)
        api.deny(verb="list", resource="configmaps")
        refused = cluster.scan(engine, later + timedelta(hours=2))
        assert refused.run.snapshot.coverage_of("node-pki").status.value == "forbidden"
        assert resolved(refused) == []
        assert open_keys(engine) == [APISERVER]
        api.clear_denials()

        # A fresh inventory with the certificate renewed resolves it.
        renewed_at = later + timedelta(hours=3)
        cluster.publish(at=renewed_at, apiserver_days=400)
        renewed = cluster.scan(engine, renewed_at)
        assert renewed.run.snapshot.coverage_of("node-pki").status.value == "read"
        assert (expiring(renewed), resolved(renewed)) == ([], [APISERVER])
        assert open_keys(engine) == []
