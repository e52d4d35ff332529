"""scan_fleet end to end: several fake clusters (one down, one that forbids secrets, one
healthy with served certificates to judge), recorded in the store, then scanned again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.core.policy import CheckPolicy
from bot.fleet import scan_fleet
from bot.kube.client import KubeClient, KubeTarget
from bot.scan import ScanReport
from bot.sources.live import ProbeOptions
from bot.store.db import session_scope
from bot.store.models import Scan
from tests.fakes.kube_api import FakeKubeAPI, FakeTLSEndpoint
from tests.sources import NOW, ec_key, key_pem, pem
from tests.sources.test_live import (
    APISERVER,
    APISERVER_KEY,
    CA,
    FAST,
    ISSUER,
    UI_NEW,
    UI_NEW_KEY,
    UI_OLD,
    UI_OLD_KEY,
    apiserver_endpoints,
    at,
    make_cert,
    node,
    setting,
    ssl_certificates_custom,
    tls_secret,
    vip_configmap,
)
from tests.store.conftest import BACKENDS, migrated_engine

POLICY = CheckPolicy()
ROTATE_OFF = '{"enable":false,"expiringInHours":240}'
ROTATE_ON = '{"enable":true,"expiringInHours":720}'


def connect(target: KubeTarget) -> KubeClient:
    return KubeClient.connect(target, timeouts=FAST, page_size=2)


def keyed(report: ScanReport) -> dict[str, set[tuple[str, str, str]]]:
    return {
        s.run.snapshot.cluster: {
            (f.check_id, f.severity.value, f.resource.key) for f in s.run.findings
        }
        for s in report.scans
    }


class Fleet:
    """Three fake clusters and the probe options that reach the healthy one's listeners."""

    def __init__(self, stack: ExitStack, tmp_path: Path) -> None:
        admin_key = ec_key("fleet-admin")
        admin = make_cert("system:admin", key=admin_key, not_after=at(10), issuer=ISSUER)
        self.healthy = stack.enter_context(FakeKubeAPI(objects=self._healthy_objects()))
        self.locked = stack.enter_context(FakeKubeAPI(objects=self._locked_objects()))
        self.locked.deny(verb="list", resource="secrets")
        down = FakeKubeAPI()
        self.down_url = down.url
        self.api = stack.enter_context(
            FakeTLSEndpoint(chain_pem=[pem(APISERVER), pem(CA)], key_pem=key_pem(APISERVER_KEY))
        )
        self.vip = stack.enter_context(
            FakeTLSEndpoint(chain_pem=[pem(UI_OLD), pem(CA)], key_pem=key_pem(UI_OLD_KEY))
        )
        kc = tmp_path / "kubeconfigs"
        kc.mkdir()
        self.targets = [
            KubeTarget(name="down", kubeconfig=down.write_kubeconfig(kc / "down")),
            KubeTarget(name="locked", kubeconfig=self.locked.write_kubeconfig(kc / "locked")),
            KubeTarget(
                name="healthy",
                kubeconfig=self.healthy.write_kubeconfig(
                    kc / "healthy",
                    client_cert_pem=pem(admin).encode(),
                    client_key_pem=key_pem(admin_key).encode(),
                ),
            ),
        ]
        down.close()  # its port is closed: connection refused
        ports = {"kube-apiserver": self.api.port, "harvester-vip": self.vip.port}
        self.probe = ProbeOptions(ports=ports, timeout=2)

    @staticmethod
    def _healthy_objects() -> list[dict[str, Any]]:
        return [
            setting("server-version", None, "v1.5.1"),
            setting("auto-rotate-rke2-certs", ROTATE_ON, ROTATE_OFF),
            # tls-ingress was renewed; the VIP still serves UI_OLD (see Fleet.vip)
            ssl_certificates_custom(pem(UI_NEW, CA), key_pem(UI_NEW_KEY)),
            tls_secret("cattle-system", "tls-ingress", pem(UI_NEW, CA), key_pem(UI_NEW_KEY)),
            apiserver_endpoints("127.0.0.1"),
            vip_configmap("127.0.0.1"),
            node("node-0", "10.9.9.9"),
        ]

    @staticmethod
    def _locked_objects() -> list[dict[str, Any]]:
        return [
            setting("server-version", None, "v1.5.1"),
            setting("auto-rotate-rke2-certs", ROTATE_OFF, ROTATE_OFF),
            tls_secret("default", "never-read", pem(UI_OLD)),
        ]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        yield Fleet(stack, tmp_path)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def expected(fleet: Fleet, *, store: bool = True) -> dict[str, set[tuple[str, str, str]]]:
    vip, api = f"127.0.0.1:{fleet.vip.port}", f"127.0.0.1:{fleet.api.port}"
    found = {
        "down": {("source-unreachable", "critical", "Cluster//down")},
        "locked": {
            ("source-forbidden", "warning", "Cluster//locked#secrets"),
            ("auto-rotate-disabled", "warning", "Setting//auto-rotate-rke2-certs#value"),
        },
        "healthy": {
            ("cert-served-mismatch", "warning", f"TLSEndpoint//{vip}"),
            ("cert-expiring", "critical", f"TLSEndpoint//{api}#chain[0]"),  # apiserver, 5 days
            ("cert-expiring", "critical", f"TLSEndpoint//{vip}#chain[0]"),  # old UI cert
            (
                "kubeconfig-credential-expiring",
                "critical",
                "Credential//kubeconfig#client-certificate",
            ),
        },
    }
    if store:  # only with a store can the rotation check decide: nothing recorded yet
        found["healthy"] |= {
            ("credential-rotation-overdue", "info", "Cluster//healthy#credentials.password"),
            ("credential-rotation-overdue", "info", "Cluster//healthy#credentials.ssh-keys"),
        }
    return found


def test_one_cluster_down_one_locked_one_healthy(fleet: Fleet, engine: Engine) -> None:
    said: list[str] = []
    report = scan_fleet(
        fleet.targets,
        now=NOW,
        policy=POLICY,
        connect=connect,
        probe=fleet.probe,
        concurrency=3,
        engine=engine,
        progress=said.append,
    )
    assert [s.run.snapshot.cluster for s in report.scans] == ["down", "locked", "healthy"]
    assert keyed(report) == expected(fleet)
    down, locked, healthy = (s.run.snapshot for s in report.scans)
    assert [(c.subject, c.status.value, c.detail) for c in down.coverage] == [
        ("api", "error", f"{fleet.down_url}: connection refused"),
        ("credentials", "read", ""),  # the kubeconfig is local: read all the same
    ]
    assert (locked.coverage_of("secrets").status.value, locked.covers("settings")) == (
        "forbidden",
        True,
    )
    assert healthy.coverage_of("probe").status.value == "read"
    assert sorted(said) == [
        "down: 1 finding(s), api error",
        "healthy: 6 finding(s), api read",
        "locked: 2 finding(s), api read",
    ]
    outcomes = {s.run.snapshot.cluster: s.outcome for s in report.scans}
    assert {c: set(o.status.values()) for c, o in outcomes.items() if o} == {
        "down": {"new"},
        "locked": {"new"},
        "healthy": {"new"},
    }
    with session_scope(engine) as session:
        rows = session.scalars(select(Scan).order_by(Scan.id)).all()
        stored = sorted((r.source, r.counts["findings"]) for r in rows)
    assert stored == [("live", 1), ("live", 2), ("live", 6)]

    again = scan_fleet(
        fleet.targets, now=NOW, policy=POLICY, connect=connect, probe=fleet.probe, engine=engine
    )
    assert keyed(again) == expected(fleet)
    for scan in again.scans:
        assert scan.outcome is not None
        assert set(scan.outcome.status.values()) == {"unchanged"}
        assert scan.outcome.resolved == ()


def test_without_a_store_nothing_is_recorded(fleet: Fleet) -> None:
    report = scan_fleet(
        fleet.targets, now=NOW, policy=POLICY, connect=connect, probe=fleet.probe, concurrency=1
    )
    assert keyed(report) == expected(fleet, store=False)
    assert [s.outcome for s in report.scans] == [None, None, None]


def test_connect_failures_and_bugs_stay_with_their_cluster(fleet: Fleet, tmp_path: Path) -> None:
    missing = KubeTarget(name="no-file", kubeconfig=tmp_path / "nope.yaml")
    buggy = KubeTarget(name="buggy", kubeconfig=fleet.targets[1].kubeconfig)

    def flaky(target: KubeTarget) -> KubeClient:
        if target.name == "buggy":
            raise RuntimeError("a bug")
        return connect(target)

    report = scan_fleet(
        [missing, buggy, fleet.targets[1]],
        now=NOW,
        policy=POLICY,
        connect=flaky,
        probe=fleet.probe,
    )
    first, second, _ = (s.run.snapshot for s in report.scans)
    assert first.coverage_of("api").status.value == "error"
    assert "nope.yaml" in first.coverage_of("api").detail
    assert first.origin == str(tmp_path / "nope.yaml")
    assert (second.coverage_of("api").status.value, second.coverage_of("api").detail) == (
        "error",
        "internal error while reading the cluster: RuntimeError",
    )
    assert keyed(report)["buggy"] == {("source-unreachable", "critical", "Cluster//buggy")}
    assert keyed(report)["locked"] == expected(fleet)["locked"]


@pytest.mark.parametrize("bound", [1, 2])
def test_concurrency_is_bounded(tmp_path: Path, bound: int) -> None:
    lock = threading.Lock()
    live = [0, 0]  # now, peak

    def counting(target: KubeTarget) -> KubeClient:
        client = connect(target)
        with lock:
            live[0] += 1
            live[1] = max(live[1], live[0])
        close = client.close

        def closing() -> None:
            with lock:
                live[0] -= 1
            close()

        client.close = closing  # type: ignore[method-assign]
        return client

    with ExitStack() as stack:
        apis = [stack.enter_context(FakeKubeAPI(latency=0.02)) for _ in range(4)]
        targets = [
            KubeTarget(name=f"c{i}", kubeconfig=a.write_kubeconfig(tmp_path / f"kc{i}"))
            for i, a in enumerate(apis)
        ]
        report = scan_fleet(
            targets,
            now=NOW,
            policy=POLICY,
            connect=counting,
            probe=ProbeOptions(enabled=False),
            concurrency=bound,
        )
    assert [s.run.snapshot.coverage_of("api").status.value for s in report.scans] == ["read"] * 4
    assert live == [0, bound]


def test_invalid_arguments() -> None:
    same = [KubeTarget(name="a"), KubeTarget(name="a")]
    with pytest.raises(ValueError, match="unique"):
        scan_fleet(same, now=datetime(2026, 6, 1, tzinfo=UTC), policy=POLICY)
    with pytest.raises(ValueError, match="concurrency"):
        scan_fleet([], now=NOW, policy=POLICY, concurrency=0)
    with pytest.raises(ValueError, match="processes"):
        scan_fleet([], now=NOW, policy=POLICY, processes=0)
