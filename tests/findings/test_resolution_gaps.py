"""What a scan did not read resolves nothing: a node's files, a live cluster's API.

Real sources, checks and store (SQLite and PostgreSQL). Aspects: a support bundle whose
node archive is corrupt or missing keeps that node's findings open (rke2-token-mismatch
on ``Node node-1``), the next bundle that reads the node resolves them, and a node gone
from the bundle's node list may resolve; a scan whose API did not answer keeps the
coverage findings of the scans before it (source-forbidden on ``Cluster prod [secrets]``)
open without resolving or reopening them, while the API-level finding itself resolves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.checks.node_evidence import TOKEN_MISMATCH
from bot.checks.registry import builtin_checks
from bot.checks.runner import run_checks
from bot.core.finding import Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.findings.service import ScanOutcome, record_scan
from bot.kube.client import KubeClient, KubeTarget
from bot.sources.bundle import read_bundle
from bot.sources.live import read_live
from bot.store import db
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources.conftest import BUNDLE, NODES, as_list, bundle_files, write_zip, zip_bytes
from tests.sources.conftest import node as bundle_node
from tests.sources.test_live import FAST, NO_PROBE, node
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
NODE_1 = ResourceRef("Node", "node-1")
MISMATCH = Finding("rke2-token-mismatch", "prod", NODE_1, Severity.CRITICAL, "").fingerprint
FATAL = f'time="2026-11-28T06:00:00Z" level=fatal msg="temporary etcd: {TOKEN_MISMATCH}"\n'


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _node_zip(log: str) -> bytes:
    return zip_bytes({"logs/rke2-server.log": log, "configs/oem/90_custom.yaml": "stages: {}\n"})


def _bundle(engine: Engine, tmp_path: Path, files: dict[str, str | bytes], day: int) -> ScanOutcome:
    folder = tmp_path / f"bundle-{day}"
    folder.mkdir()
    at = T0 + timedelta(days=day)
    snap = read_bundle(write_zip(folder / f"{BUNDLE}.zip", files), scanned_at=at, cluster="prod")
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    with db.session_scope(engine) as session:
        return record_scan(session=session, run=run, started_at=at, finished_at=at)


def _with_node_1(archive: bytes | None) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = dict(bundle_files())
    if archive is None:
        del files["nodes/node-1.zip"]
    else:
        files["nodes/node-1.zip"] = archive
    return files


@pytest.mark.parametrize(
    "unread", [b"PK\x03\x04 not a zip at all", None], ids=["corrupt", "absent"]
)
def test_a_node_whose_files_were_not_read_keeps_its_findings(
    engine: Engine, tmp_path: Path, unread: bytes | None
) -> None:
    first = _bundle(engine, tmp_path, _with_node_1(_node_zip(FATAL)), 0)
    assert first.status[MISMATCH] == "new"
    gap = _bundle(engine, tmp_path, _with_node_1(unread), 1)
    assert MISMATCH not in gap.status and gap.resolved == ()
    fixed = _bundle(engine, tmp_path, _with_node_1(_node_zip("level=info msg=up\n")), 2)
    assert [(r.check_id, r.resource_key) for r in fixed.resolved] == [
        ("rke2-token-mismatch", NODE_1.key)
    ]


def test_a_node_gone_from_the_node_list_may_resolve(engine: Engine, tmp_path: Path) -> None:
    _bundle(engine, tmp_path, _with_node_1(_node_zip(FATAL)), 0)
    files = _with_node_1(None)
    files[NODES] = as_list("v1", "Node", [bundle_node("node-0", "192.168.1.11")])
    gone = _bundle(engine, tmp_path, files, 1)
    assert [r.resource_key for r in gone.resolved] == [NODE_1.key]


def _scan_live(engine: Engine, api: FakeKubeAPI, tmp_path: Path, hours: int) -> ScanOutcome:
    at = T0 + timedelta(hours=hours)
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    client = KubeClient.connect(KubeTarget(name="prod", kubeconfig=path), timeouts=FAST)
    try:
        snap = read_live(client, cluster="prod", scanned_at=at, probe=NO_PROBE)
    finally:
        client.close()
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    with db.session_scope(engine) as session:
        return record_scan(session=session, run=run, started_at=at, finished_at=at)


def test_an_api_blip_neither_resolves_nor_reopens_coverage_findings(
    engine: Engine, tmp_path: Path
) -> None:
    secrets = ResourceRef("Cluster", "prod", field="secrets")
    forbidden = Finding("source-forbidden", "prod", secrets, Severity.WARNING, "").fingerprint
    cluster = ResourceRef("Cluster", "prod")
    down = Finding("source-unreachable", "prod", cluster, Severity.CRITICAL, "").fingerprint
    with FakeKubeAPI(objects=[node("node-0", "10.0.0.10")]) as api:
        api.fail("/api/v1/secrets", 403)
        first = _scan_live(engine, api, tmp_path, 0)
        api.fail("/", 503)  # every request, /version first: the API does not answer
        blip = _scan_live(engine, api, tmp_path, 6)
        api.clear_failures()
        api.fail("/api/v1/secrets", 403)
        back = _scan_live(engine, api, tmp_path, 12)
    assert first.status[forbidden] == "new"
    assert (blip.status.get(down), blip.resolved) == ("new", ())
    assert back.status[forbidden] == "unchanged" and back.reopened == frozenset()
    assert [(r.check_id, r.resource_key) for r in back.resolved] == [
        ("source-unreachable", cluster.key)
    ]
