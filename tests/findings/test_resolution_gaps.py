"""What a scan did not read resolves nothing: a node's files, a live cluster's API.

Real sources, checks and store (SQLite and PostgreSQL). Aspects: a support bundle whose
node archive is corrupt or missing keeps that node's findings open (rke2-token-mismatch
on ``Node node-1``), the next bundle that reads the node resolves them, and a node gone
from the bundle's node list may resolve; a scan whose API did not answer keeps the
coverage findings of the scans before it (source-forbidden on ``Cluster prod [secrets]``)
open without resolving or reopening them, while the API-level finding itself resolves.
A PKI folder's certificate finding stays open while the file is not read, below a folder
that cannot be listed or past the entry limit where the walk stopped; a file read before
the cut resolves, and the next whole read resolves the rest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
from bot.core.snapshot import CoverageStatus, Snapshot
from bot.findings.service import ScanOutcome, record_scan
from bot.kube.client import KubeClient, KubeTarget
from bot.sources.bundle import read_bundle
from bot.sources.limits import Limits
from bot.sources.live import read_live
from bot.sources.pki import read_pki
from bot.store import db
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW, ec_key, leaf, make_cert, pem
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


# -- a PKI folder: what the walk did not read -------------------------------------------------
CA_KEY = ec_key("gaps-ca")
CA = make_cert("gaps-ca", key=CA_KEY, not_after=NOW + timedelta(days=3000), ca=True)
ISSUER = (CA.subject, CA_KEY)


def _cert_file(folder: Path, rel: str, days: float) -> None:
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(pem(leaf(rel, days, ISSUER)[0]))


def _read_pki(folder: Path, day: int, limits: Limits | None = None) -> Snapshot:
    at = NOW + timedelta(days=day)
    return read_pki(folder, cluster="node-a", scanned_at=at, limits=limits or Limits())


def _record(engine: Engine, snap: Snapshot) -> ScanOutcome:
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    with db.session_scope(engine) as session:
        at = snap.scanned_at
        return record_scan(session=session, run=run, started_at=at, finished_at=at)


def _pki(engine: Engine, folder: Path, day: int, limits: Limits | None = None) -> ScanOutcome:
    return _record(engine, _read_pki(folder, day, limits))


def _expired_at(rel: str) -> str:
    ref = ResourceRef("File", rel, field="[0]")
    return Finding("cert-expired", "node-a", ref, Severity.CRITICAL, "").fingerprint


def _expired(outcome: ScanOutcome) -> list[str]:
    return [r.resource_key for r in outcome.resolved if r.check_id == "cert-expired"]


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder anyone may read: root reads as nobody in ``_unlistable``."""
    with tempfile.TemporaryDirectory(prefix="secbot-pki-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@contextmanager
def _unlistable(folder: Path) -> Iterator[None]:
    """``folder`` cannot be listed: mode 000, and root (who lists anything) reads as nobody."""
    folder.chmod(0o000)
    try:
        if os.geteuid() != 0:
            yield
            return
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
    finally:
        folder.chmod(0o755)


def test_a_file_below_an_unlistable_folder_keeps_its_finding(
    engine: Engine, world_readable: Path
) -> None:
    root = world_readable
    _cert_file(root, "server/tls/client-ca.crt", 3000)
    _cert_file(root, "server/tls/etcd/server-client.crt", -2)
    etcd = _expired_at("server/tls/etcd/server-client.crt")
    assert _pki(engine, root, 0).status[etcd] == "new"
    with _unlistable(root / "server/tls/etcd"):
        unread = _read_pki(root, 1)
    assert unread.coverage_of("file:server/tls/etcd").status == CoverageStatus.ERROR
    gap = _record(engine, unread)
    assert etcd not in gap.status and gap.resolved == ()
    _cert_file(root, "server/tls/etcd/server-client.crt", 300)  # renewed, and read again
    assert _expired(_pki(engine, root, 2)) == ["File//server/tls/etcd/server-client.crt#[0]"]


def test_files_past_the_entry_limit_keep_their_findings(engine: Engine, tmp_path: Path) -> None:
    _cert_file(tmp_path, "a.crt", -2)
    _cert_file(tmp_path, "server/tls/serving-kube-apiserver.crt", -2)
    serving = _expired_at("server/tls/serving-kube-apiserver.crt")
    assert _pki(engine, tmp_path, 0).status[serving] == "new"
    _cert_file(tmp_path, "a.crt", 300)  # renewed, and read before the walk stops
    for i in range(5):
        _cert_file(tmp_path, f"junk/{i}.crt", 3000)  # sorts before server/
    cut = _read_pki(tmp_path, 1, Limits(max_entries=3))
    assert cut.coverage_of("file:.").status == CoverageStatus.PARTIAL  # bot.sources.pki
    stopped = _record(engine, cut)
    assert _expired(stopped) == ["File//a.crt#[0]"] and serving not in stopped.status
    _cert_file(tmp_path, "server/tls/serving-kube-apiserver.crt", 300)
    whole = _pki(engine, tmp_path, 2)
    assert _expired(whole) == ["File//server/tls/serving-kube-apiserver.crt#[0]"]
