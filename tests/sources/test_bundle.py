"""The support-bundle source, on real zips and folders written to tmp_path.

Aspects: zip and folder read the same; the "null" quirk; excluded settings vs a bundle that
holds them; node files at any depth; cluster names; the shipped sample. Hostile input:
test_bundle_hostile.py.
"""

from __future__ import annotations

import base64
import json
import os
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.core.snapshot import CoverageItem, CoverageStatus, Event, NodeFile, Setting, Snapshot
from bot.sources.archive import Budget, Tree, open_tree
from bot.sources.builder import SnapshotBuilder
from bot.sources.bundle import _Reader, bundle_cluster_name, read_bundle
from bot.sources.limits import Limits
from tests.sources.conftest import (
    BUNDLE,
    NODES,
    SETTINGS,
    as_list,
    bundle_files,
    setting,
    write_folder,
    write_zip,
    zip_bytes,
)

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SETTINGS_FILE = f"file:{SETTINGS}"


def read(path: Path, *, limits: Limits | None = None, cluster: str | None = None) -> Snapshot:
    return read_bundle(path, scanned_at=NOW, cluster=cluster, limits=limits or Limits())


def cov(snap: Snapshot, subject: str) -> CoverageItem:
    return snap.coverage_of(subject)


def test_zip_and_folder_give_the_same_snapshot(tmp_path: Path) -> None:
    zipped = read_bundle(write_zip(tmp_path / f"{BUNDLE}.zip", bundle_files()), scanned_at=NOW)
    folder = read_bundle(write_folder(tmp_path / BUNDLE, bundle_files()), scanned_at=NOW)
    assert replace(folder, origin=zipped.origin) == zipped
    assert zipped.cluster == "harvester-5bb44244"
    assert zipped.source == "bundle" and zipped.origin == str(tmp_path / f"{BUNDLE}.zip")
    assert zipped.harvester_version == "v1.4.2"
    assert [(n.name, n.internal_ips) for n in zipped.nodes] == [
        ("node-0", ("192.168.1.11",)),
        ("node-1", ("192.168.1.12",)),
    ]
    assert sorted((f.node, f.path) for f in zipped.node_files) == [
        ("node-0", "configs/oem/90_custom.yaml"),
        ("node-0", "logs/rke2-server.log"),
        ("node-1", "configs/oem/90_custom.yaml"),
        ("node-1", "logs/rke2-server.log"),
    ]
    statuses = {c.subject: c.status for c in zipped.coverage if not c.subject.startswith("set")}
    assert statuses == {
        "events": "read",
        "node-files": "read",
        "node-files:node-0": "read",
        "node-files:node-1": "read",
        "nodes": "read",
        "rancher-settings": "read",
        "secrets": "excluded",
        "webhooks": "missing",
    }


def test_null_strings_are_read_as_empty(tmp_path: Path) -> None:
    snap = read_bundle(write_zip(tmp_path / "b.zip", bundle_files()), scanned_at=NOW)
    assert snap.settings["ssl-parameters"] == Setting("ssl-parameters", None, "{}", "7")
    assert snap.rancher_settings == {"server-url": "https://192.168.1.10"}
    assert snap.events == (
        Event(
            namespace="kube-system",
            name="node-0.1",
            reason="CertificateExpirationWarning",
            message="certs expire soon",
            type="Warning",
            involved_kind="Node",
            involved_name="node-0",
            count=2,
            last_seen=datetime(2026, 1, 15, 6, 2, 29, tzinfo=UTC),
        ),
    )


def test_excluded_settings_are_not_covered(tmp_path: Path) -> None:
    snap = read_bundle(write_zip(tmp_path / "b.zip", bundle_files()), scanned_at=NOW)
    detail = "support bundles leave this setting out (reference §4)"
    for name in (
        "ssl-certificates",
        "additional-ca",
        "containerd-registry",
        "cluster-registration-url",
    ):
        assert snap.setting_coverage(name) == CoverageItem(
            f"setting:{name}", CoverageStatus.EXCLUDED, detail
        )
    assert snap.setting_coverage("http-proxy").status == CoverageStatus.READ


def _self_signed(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x51)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_a_bundle_that_holds_excluded_settings_is_read(tmp_path: Path) -> None:
    files = bundle_files()
    files[SETTINGS] = as_list(
        "harvesterhci.io/v1beta1",
        "Setting",
        [
            setting(
                "ssl-certificates", json.dumps({"publicCertificate": _self_signed("ui.example")})
            ),
            setting("additional-ca", "not PEM at all"),
        ],
    )
    snap = read(write_zip(tmp_path / "b.zip", files))
    for name in ("ssl-certificates", "additional-ca"):
        assert snap.setting_coverage(name) == CoverageItem(f"setting:{name}", CoverageStatus.READ)
    assert snap.setting_coverage("containerd-registry").status == CoverageStatus.EXCLUDED
    assert snap.settings["additional-ca"].value == "not PEM at all"
    assert [(c.location.key, c.common_name) for c in snap.certificates] == [
        ("Setting//ssl-certificates#value.publicCertificate[0]", "ui.example")
    ]


def test_unknown_setting_names_are_kept(tmp_path: Path) -> None:
    files = bundle_files()
    files[SETTINGS] = as_list("harvesterhci.io/v1beta1", "Setting", [setting("from-v9.9", "x")])
    snap = read_bundle(write_zip(tmp_path / "b.zip", files), scanned_at=NOW)
    assert snap.settings == {"from-v9.9": Setting("from-v9.9", "x", None, "7")}
    assert cov(snap, "settings").status == CoverageStatus.READ


def test_node_files_found_at_any_depth_tail_of_logs_kept(tmp_path: Path) -> None:
    log = "".join(f"line {i:04d}\n" for i in range(1000))
    nested = zip_bytes(
        {
            "node-0/logs/rke2-server.log": log,
            "node-0/configs/oem/x/99.YML": "a: 1",
            # incompressible, or the ratio limit would refuse the whole archive
            "node-0/configs/oem/big.yaml": base64.b64encode(os.urandom(786_432)) + b"\n",
        }
    )
    files = {k: v for k, v in bundle_files().items() if not k.startswith("nodes/")}
    snap = read(
        write_zip(tmp_path / "b.zip", files | {"nodes/node-0.zip": nested}),
        limits=Limits(max_log_bytes=100),
    )
    got = {f.path: f.text for f in snap.node_files}
    assert got == {
        "logs/rke2-server.log": "".join(f"line {i:04d}\n" for i in range(990, 1000)),
        "configs/oem/x/99.YML": "a: 1",
    }
    assert cov(snap, "file:nodes/node-0.zip/node-0/configs/oem/big.yaml").detail == (
        "1048577 bytes is over the 1048576-byte limit"
    )
    assert cov(snap, "node-files").status == CoverageStatus.PARTIAL
    # Per node: node-0 read with a gap; node-1 (in nodes.yaml, no archive) has no entry.
    assert cov(snap, "node-files:node-0") == CoverageItem(
        "node-files:node-0",
        CoverageStatus.PARTIAL,
        "nodes/node-0.zip/node-0/configs/oem/big.yaml: "
        "1048577 bytes is over the 1048576-byte limit",
    )
    assert [c.subject for c in snap.coverage if c.subject.startswith("node-files:")] == [
        "node-files:node-0"
    ]


def test_unpacked_node_folders_and_links_leaving_the_folder(tmp_path: Path) -> None:
    root = write_folder(
        tmp_path / "bundle",
        {k: v for k, v in bundle_files().items() if not k.startswith("nodes/")}
        | {"nodes/node-0/logs/rke2-server.log": "ok\n"},
    )
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", root / "nodes/node-0/logs/rancherd.log")
    os.symlink(tmp_path, root / "yamls/cluster/linked")
    (root / NODES).unlink()
    os.symlink(tmp_path / "secret.txt", root / NODES)
    snap = read(root)
    assert snap.node_files == (NodeFile("node-0", "logs/rke2-server.log", "ok\n"),)
    outside = "symbolic link points outside the bundle folder; not followed"
    assert cov(snap, f"file:{NODES}").detail == outside
    assert cov(snap, "nodes").status == CoverageStatus.ERROR
    assert cov(snap, "file:yamls/cluster/linked").detail == outside
    assert cov(snap, "file:nodes/node-0/logs/rancherd.log").detail == outside
    assert cov(snap, "node-files").status == CoverageStatus.PARTIAL


def test_secrets_events_views_and_metadata_version(tmp_path: Path) -> None:
    files = bundle_files()
    del files[SETTINGS]
    files["yamls/namespaced/kube-system/events.k8s.io/v1/events.yaml"] = as_list(
        "events.k8s.io/v1",
        "Event",
        [
            {
                "metadata": {"name": "node-0.1", "namespace": "kube-system"},
                "reason": "CertificateExpirationWarning",
                "note": "dup",
            }
        ],
    )
    files["yamls/namespaced/fleet-local/v1/secrets.yaml"] = as_list(
        "v1",
        "Secret",
        [
            {
                "metadata": {"name": "custom-1-machine-plan", "namespace": "fleet-local"},
                "type": "rke.cattle.io/machine-plan",
                "data": {"success-count": base64.b64encode(b"3").decode()},
            }
        ],
    )
    snap = read(write_zip(tmp_path / "b.zip", files))
    assert [e.message for e in snap.events] == ["certs expire soon"]
    assert cov(snap, "secrets").status == CoverageStatus.EXCLUDED
    assert cov(snap, "settings").status == CoverageStatus.MISSING
    assert snap.harvester_version == "v1.4.2"  # metadata.yaml


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{BUNDLE}.zip", "harvester-5bb44244"),
        (f"{BUNDLE} (1).zip", "harvester-5bb44244"),
        ("supportbundle_prod-east_2024-01-02T03-04-05Z.zip", "prod-east"),
        ("bundle-from-customer.zip", "bundle-from-customer"),
    ],
)
def test_bundle_cluster_name(name: str, expected: str) -> None:
    assert bundle_cluster_name(Path("/x") / name) == expected


def test_cluster_name_from_top_folder_or_argument(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "renamed.zip", bundle_files(), top=BUNDLE)
    assert read(path).cluster == "harvester-5bb44244"
    assert read(path, cluster="prod").cluster == "prod"


def test_the_sample_bundle(tmp_path: Path) -> None:
    (path,) = EXAMPLES.glob("supportbundle_*.zip")
    assert path.stem == zipfile.ZipFile(path).namelist()[0].split("/")[0]
    snap = read_bundle(path, scanned_at=NOW)
    assert snap.cluster == "harvester-3f9c2a17" and snap.harvester_version == "v1.4.2"
    assert [(n.name, n.internal_ips, n.roles) for n in snap.nodes] == [
        (f"harvester-node-{i}", (f"192.168.10.1{i + 1}",), ("control-plane", "etcd", "master"))
        for i in range(3)
    ]
    proxy = json.loads(snap.settings["http-proxy"].value or "")
    assert proxy["noProxy"] == "192.168.10.11,192.168.10.12,localhost,127.0.0.1,.svc,.cluster.local"
    assert (
        snap.settings["auto-rotate-rke2-certs"].effective
        == '{"enable":false,"expiringInHours":240}'
    )
    assert json.loads(snap.settings["ssl-parameters"].value or "")["protocols"] == "TLSv1.1 TLSv1.2"
    assert snap.rancher_settings["server-url"] == "https://192.168.10.10"
    assert sorted((e.namespace, e.reason) for e in snap.events) == [
        ("default", "NodeNotReady"),
        ("default", "RegisteredNode"),
        ("kube-system", "CertificateExpirationWarning"),
        ("kube-system", "Pulled"),
    ]
    assert {(c.common_name, c.not_after.date().isoformat()) for c in snap.certificates} == {
        ("harvester-system_cdi-apiserver-signer@1732953600", "2025-11-30"),
        ("dynamiclistener-ca@1741943647", "2035-03-12"),
    }
    paths = {(f.node, f.path) for f in snap.node_files}
    logs = (
        "logs/rke2-server.log",
        "logs/rke2-agent.log",
        "logs/rancherd.log",
        "logs/rancher-system-agent.log",
        "configs/oem/90_custom.yaml",
        "configs/oem/99_custom.yaml",
    )
    assert paths == {(f"harvester-node-{i}", p) for i in range(3) for p in logs}
    texts = {(f.node, f.path): f.text for f in snap.node_files}
    fatal = "bootstrap data already found and encrypted with different token"
    assert [
        n for n in range(3) if fatal in texts[(f"harvester-node-{n}", "logs/rke2-server.log")]
    ] == [1]
    assert "HTTP_PROXY:" in texts[("harvester-node-2", "configs/oem/90_custom.yaml")]
    assert "token: ***" in texts[("harvester-node-0", "configs/oem/99_custom.yaml")]
    assert b"PRIVATE KEY" not in b"".join(
        zipfile.ZipFile(path).read(n) for n in zipfile.ZipFile(path).namelist()
    )
    assert {c.subject: c.status.value for c in snap.coverage if ":" not in c.subject} == {
        "events": "read",
        "node-files": "read",
        "nodes": "read",
        "rancher-settings": "read",
        "secrets": "excluded",
        "settings": "read",
        "webhooks": "read",
    }


class _CountingTree(Tree):
    """A real bundle tree that counts how often its whole listing is asked for."""

    def __init__(self, inner: Tree) -> None:
        self.inner, self.listings = inner, 0

    def names(self) -> list[str]:
        self.listings += 1
        return self.inner.names()

    def read(self, name: str, *, limit: int) -> bytes:
        return self.inner.read(name, limit=limit)

    def read_tail(self, name: str, *, limit: int) -> bytes:
        return self.inner.read_tail(name, limit=limit)


def test_many_unpacked_node_folders_are_collected_in_one_pass(tmp_path: Path) -> None:
    """Every ``nodes/<n>/`` folder's files from the one listing of the bundle: listing it
    again per folder took time quadratic in the entries (16k folders: 17 s)."""
    files = bundle_files()
    count = 300
    for i in range(count):
        files[f"nodes/h{i:03}/logs/rke2-server.log"] = f"h{i:03} up\n"
        files[f"nodes/h{i:03}/deeper/configs/oem/90_custom.yaml"] = f"host: h{i:03}\n"
        files[f"nodes/h{i:03}/junk-{i}"] = ""
    path = write_zip(tmp_path / f"{BUNDLE}.zip", files)
    snap = read(path)
    got = {(f.node, f.path, f.text) for f in snap.node_files if f.node.startswith("h")}
    want = {(f"h{i:03}", "logs/rke2-server.log", f"h{i:03} up\n") for i in range(count)}
    want |= {(f"h{i:03}", "configs/oem/90_custom.yaml", f"host: h{i:03}\n") for i in range(count)}
    assert got == want
    assert [f.path for f in snap.node_files if f.node == "node-0"] == [
        "logs/rke2-server.log",
        "configs/oem/90_custom.yaml",
    ]
    assert all(cov(snap, f"node-files:h{i:03}").status == CoverageStatus.READ for i in range(9))
    limits = Limits()
    tree = _CountingTree(open_tree(path, limits=limits, budget=Budget(limits.max_total_bytes)))
    builder = SnapshotBuilder(cluster="c", source="bundle", origin=str(path), scanned_at=NOW)
    _Reader(tree, f"{BUNDLE}/", builder, limits, Budget(limits.max_total_bytes)).node_files()
    assert len(builder.node_files) == len(snap.node_files)
    assert tree.listings == 1
