"""The live source reads the node agent's ConfigMaps (bot.sources.live_agent) from the fake
kube-apiserver with the real client: certificates at ``File <node>/<path>[i]`` that the
certificate checks judge like PKI files, and one honest ``node-pki`` verdict: READ,
PARTIAL (stale, malformed, unreadable files, control-plane node without an agent), MISSING,
FORBIDDEN, ERROR. Scan times are fixed; staleness is judged against them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.snapshot import Snapshot
from bot.kube.client import KubeClient, KubeTarget
from bot.remediation.actions_rotate import RotateRke2Certs
from bot.sources.live import ProbeOptions, read_live
from tests.agent import Folder, inventory_configmap, rke2_folder
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW
from tests.sources.test_live import FAST, node

NO_PROBE = ProbeOptions(enabled=False)
NS = "secbot-agent"  # the default: the agent has its own namespace
CM = f"/api/v1/namespaces/{NS}/configmaps"
NODES = [
    node("node-0", "10.0.0.10"),
    node("node-1", "10.0.0.11"),
    node("node-2", "10.0.0.12", control_plane=False),
]


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Folder]:
    return {
        "node-0": rke2_folder(tmp_path / "n0", apiserver_days=10, label="0", links=False),
        "node-1": rke2_folder(tmp_path / "n1", apiserver_days=25, label="1", links=False),
    }


def fresh(folders: dict[str, Folder], *names: str, hours_ago: float = 1) -> list[dict[str, Any]]:
    at = NOW - timedelta(hours=hours_ago)
    return [inventory_configmap(folders[n].root, n, updated=at) for n in names]


def read(
    objects: list[dict[str, Any]],
    tmp_path: Path,
    *,
    held: tuple[str, ...] = (),
    role: str = "harvester",
    namespace: str | None = None,
    setup: Any = None,
) -> tuple[Snapshot, FakeKubeAPI]:
    with FakeKubeAPI(objects=objects) as api:
        if setup is not None:
            setup(api)
        path = api.write_kubeconfig(tmp_path / f"kc-{api.port}")
        target = KubeTarget(name="c", kubeconfig=path, role=role)
        with KubeClient.connect(target, timeouts=FAST) as client:
            where = {} if namespace is None else {"agent_namespace": namespace}
            snap = read_live(
                client, cluster="c", scanned_at=NOW, probe=NO_PROBE, held_files=held, **where
            )
    assert api.server_errors == []
    return snap, api


def verdict(snap: Snapshot) -> tuple[str, str]:
    item = snap.coverage_of("node-pki")
    return item.status.value, item.detail


def file_gaps(snap: Snapshot) -> dict[str, tuple[str, str]]:
    return {
        c.subject: (c.status.value, c.detail)
        for c in snap.coverage
        if c.subject.startswith("file:")
    }


def test_fresh_inventories_are_certificates_the_checks_judge(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    snap, api = read([*NODES, *fresh(folders, "node-0", "node-1")], tmp_path)
    assert verdict(snap) == ("read", "16 certificates from 2 nodes")
    (request,) = api.requests_to(CM)
    assert request.query["labelSelector"] == ["app.kubernetes.io/component=pki-inventory"]
    keys = {c.location.key for c in snap.certificates if c.location.kind == "File"}
    assert "File//node-0/serving-kube-apiserver.crt#[0]" in keys
    assert "File//node-1/kube-scheduler/kube-scheduler.der#[0]" in keys
    assert len(keys) == 16
    assert snap.keys == ()  # nothing of a key travels through an inventory
    assert "PRIVATE KEY" not in repr(snap)

    found = run_checks(snap, [get_check("cert-expiring")]).findings
    assert [(f.severity.value, f.resource.key, f.message) for f in found] == [
        (
            "critical",
            "File//node-0/serving-kube-apiserver.crt#[0]",
            "certificate CN=kube-apiserver expires in 10 days (2026-06-11)",
        ),
        (
            "warning",
            "File//node-1/serving-kube-apiserver.crt#[0]",
            "certificate CN=kube-apiserver expires in 25 days (2026-06-26)",
        ),
    ]
    # The RKE2 rotation is offered for them as for a PKI folder's serving-kube-apiserver.crt.
    rotate = RotateRke2Certs()
    assert [rotate.applies_to(f.check_id, f.resource, f.evidence) for f in found] == [None, None]


def test_stale_inventory_is_partial_and_its_certificates_are_not_used(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    objects = [*NODES, *fresh(folders, "node-0"), *fresh(folders, "node-1", hours_ago=3.5)]
    snap, _ = read(objects, tmp_path)
    status, detail = verdict(snap)
    assert status == "partial"
    assert detail == (
        "8 certificates from 1 node; node-1: inventory is 3h old (limit 3h): the agent is "
        "not running or cannot publish; its certificates are not used"
    )
    assert not any(c.location.name.startswith("node-1/") for c in snap.certificates)
    found = run_checks(snap, [get_check("cert-expiring")]).findings
    assert [f.resource.key for f in found] == ["File//node-0/serving-kube-apiserver.crt#[0]"]


def test_stale_is_judged_by_the_inventory_interval(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    # 6h interval: limit 18h; 17h old is fresh, 19h old is stale.
    day = [
        inventory_configmap(
            folders["node-0"].root, "node-0", updated=NOW - timedelta(hours=17), interval=6 * 3600
        )
    ]
    snap, _ = read([*NODES[:1], *day], tmp_path)
    assert verdict(snap) == ("read", "8 certificates from 1 node")
    late = [
        inventory_configmap(
            folders["node-0"].root, "node-0", updated=NOW - timedelta(hours=19), interval=6 * 3600
        )
    ]
    snap, _ = read([*NODES[:1], *late], tmp_path)
    assert verdict(snap)[1].startswith(
        "0 certificates from 0 nodes; node-0: inventory is 19h old (limit 18h)"
    )


def test_control_plane_node_without_agent_is_partial(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    snap, _ = read([*NODES, *fresh(folders, "node-0")], tmp_path)
    assert verdict(snap) == (
        "partial",
        "8 certificates from 1 node; agent not running on node node-1 (no inventory)",
    )  # node-2 is a worker: no agent expected there


def test_no_inventory_at_all_is_missing_with_how_to_deploy(tmp_path: Path) -> None:
    snap, _ = read(NODES, tmp_path)
    assert verdict(snap) == (
        "missing",
        "no PKI inventories in namespace secbot-agent "
        "(app.kubernetes.io/component=pki-inventory); run the node agent (secbot agent) on the "
        "control-plane nodes: see deploy/README.md; if the agent publishes elsewhere, set "
        "SECBOT_AGENT_NAMESPACE to its namespace",
    )
    assert run_checks(snap, [get_check("source-forbidden")]).findings == ()


def test_forbidden_names_the_permission_and_is_a_finding(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    snap, _ = read(
        [*NODES, *fresh(folders, "node-0")],
        tmp_path,
        setup=lambda api: api.deny(verb="list", resource="configmaps", namespace=NS),
    )
    status, detail = verdict(snap)
    assert status == "forbidden"
    assert detail.startswith(
        "cannot list configmaps in namespace secbot-agent: 403 Forbidden: configmaps is "
        'forbidden: User "secbot" cannot list resource "configmaps" in API group "" in the '
        'namespace "secbot-agent"'
    )
    assert not any(c.location.kind == "File" for c in snap.certificates)
    found = run_checks(snap, [get_check("source-forbidden")]).findings
    assert [(f.severity.value, f.resource.key) for f in found] == [
        ("warning", "Cluster//c#node-pki")
    ]


def test_a_failing_list_is_an_error(tmp_path: Path) -> None:
    snap, _ = read(NODES, tmp_path, setup=lambda api: api.fail(CM, 500))
    status, detail = verdict(snap)
    assert (status, detail.split(": ")[:2]) == (
        "error",
        ["cannot list configmaps in namespace secbot-agent", "500 InternalError"],
    )


def test_malformed_inventories_and_entries(folders: dict[str, Folder], tmp_path: Path) -> None:
    good, broken, lying = fresh(folders, "node-0", "node-1", "node-0")
    broken["data"]["inventory.json"] = "{not json"
    doc = json.loads(lying["data"]["inventory.json"])
    doc["node"] = "node-9"
    doc["certificates"][0]["fingerprint"] = "0" * 64
    lying["metadata"] |= {"name": "secbot-pki-node-9", "annotations": {"secbot.io/node": "node-9"}}
    lying["data"]["inventory.json"] = json.dumps(doc)
    snap, _ = read([*NODES, good, broken, lying], tmp_path)
    status, detail = verdict(snap)
    assert status == "partial"
    parts = detail.split("; ")
    assert parts[0] == "15 certificates from 2 nodes"  # node-0: 8, node-9: 7 of 8
    assert (
        "ConfigMap secbot-agent/secbot-pki-node-1 is malformed: not JSON: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)"
    ) in parts
    assert (
        "node-9: inventory entries unusable: client-admin.crt[0]: fingerprint does not match "
        "the pem" in parts
    )
    assert file_gaps(snap)["file:node-9/client-admin.crt"] == (
        "error",
        "fingerprint does not match the pem",
    )
    assert "agent not running on node node-1 (no inventory)" not in parts  # said: malformed


def test_unreadable_files_on_the_node_are_file_gaps(tmp_path: Path) -> None:
    linked = rke2_folder(tmp_path / "linked", links=True)
    cms = [inventory_configmap(linked.root, "node-0", updated=NOW)]
    snap, _ = read([*NODES[:1], *cms], tmp_path)
    assert file_gaps(snap) == {
        "file:node-0/link-out.crt": ("error", "symbolic link out of the folder; not read")
    }
    assert verdict(snap) == (
        "partial",
        "8 certificates from 1 node; node-0: 1 file unreadable: link-out.crt",
    )


def test_a_rancher_cluster_reads_node_pki_too(folders: dict[str, Folder], tmp_path: Path) -> None:
    """Rancher's management cluster runs on RKE2: its server certificates expire alike."""
    cms = [inventory_configmap(folders["node-0"].root, "node-0", updated=NOW)]
    snap, api = read([*NODES[:1], *cms], tmp_path, role="rancher")
    assert verdict(snap)[0] == "read"
    assert any(c.location.kind == "File" for c in snap.certificates)
    assert len(api.requests_to(CM)) == 1


def test_the_agent_namespace_is_configurable(folders: dict[str, Folder], tmp_path: Path) -> None:
    cms = [inventory_configmap(folders["node-0"].root, "node-0", updated=NOW, namespace="ops")]
    snap, api = read([*NODES[:1], *cms], tmp_path, namespace="ops")
    assert verdict(snap) == ("read", "8 certificates from 1 node")
    assert len(api.requests_to("/api/v1/namespaces/ops/configmaps")) == 1


HELD = (
    "node-0/serving-kube-apiserver.crt",
    "node-1/serving-kube-apiserver.crt",
    "node-1/etcd/server-client.crt",
    "node-5/serving-kube-apiserver.crt",  # not a node of the cluster any more
)


def test_files_of_open_findings_stay_unresolvable_while_unread(
    folders: dict[str, Folder], tmp_path: Path
) -> None:
    objects = [*NODES, *fresh(folders, "node-0"), *fresh(folders, "node-1", hours_ago=30)]
    snap, _ = read(objects, tmp_path, held=HELD)
    gaps = file_gaps(snap)
    assert {s: g for s, g in gaps.items() if s != "file:node-0/link-out.crt"} == {
        "file:node-1/serving-kube-apiserver.crt": (
            "error",
            "not re-read: stale inventory (30h old)",
        ),
        "file:node-1/etcd/server-client.crt": ("error", "not re-read: stale inventory (30h old)"),
    }  # node-0 was read completely; node-5 is gone


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda api: api.deny(verb="list", resource="configmaps"),
            "not re-read: inventories could not be listed "
            "(list configmaps in namespace secbot-agent: forbidden)",
        ),
        (lambda api: api.fail(CM, 503), "not re-read: inventories could not be listed"),
        (
            lambda api: api.remove("v1", "ConfigMap", "secbot-pki-node-0", NS),
            "not re-read: no inventory from this node",
        ),
    ],
)
def test_files_stay_held_when_no_inventory_can_be_read(
    folders: dict[str, Folder], tmp_path: Path, setup: Any, reason: str
) -> None:
    snap, _ = read([*NODES, *fresh(folders, "node-0")], tmp_path, held=HELD[:1], setup=setup)
    assert file_gaps(snap) == {"file:node-0/serving-kube-apiserver.crt": ("error", reason)}


def test_an_agent_that_cannot_read_its_folder_holds_its_files(tmp_path: Path) -> None:
    blind = [inventory_configmap(tmp_path / "wrong-mount", "node-0", updated=NOW)]
    snap, _ = read([*NODES[:1], *blind], tmp_path, held=HELD[:1])
    assert verdict(snap) == ("partial", "0 certificates from 1 node; node-0: no such folder")
    assert file_gaps(snap) == {
        "file:node-0/serving-kube-apiserver.crt": (
            "error",
            "not re-read: incomplete inventory (no such folder)",
        )
    }
