"""Absence only resolves what the scan could see; escalation ends a silence.

Aspects (SQLite and PostgreSQL): a certificate finding in a Secret stays open when the
next scan could read webhooks but not Secrets (the cert check still decided); an
endpoint that did not answer the probe keeps its finding; a readable Secret without the
finding resolves it; a silenced warning that turns critical is no longer silenced; a
Secrets list that fails on a live cluster is a finding that stays while it fails and
resolves once the list reads again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.audit.log import AuditLog
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, run_checks
from bot.core.finding import Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot, TLSEndpoint
from bot.findings.queries import list_findings
from bot.findings.service import ScanOutcome, record_scan
from bot.findings.silences import silence
from bot.kube.client import KubeClient, KubeTarget
from bot.sources.live import read_live
from bot.store import db
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import ec_key, make_cert, pem
from tests.sources.test_live import FAST, NO_PROBE, node, tls_secret
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SECRET = ResourceRef("Secret", "web-tls", "default", "data.tls.crt[0]")
ENDPOINT = ResourceRef("TLSEndpoint", "10.0.0.5:6443", field="chain[0]")
READ, FORBIDDEN = CoverageStatus.READ, CoverageStatus.FORBIDDEN

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _expiring(
    ref: ResourceRef, severity: Severity = Severity.WARNING, tier: str = "30d"
) -> Finding:
    return Finding("cert-expiring", "prod", ref, severity, "expires soon", tier=tier)


def _run(
    findings: tuple[Finding, ...],
    *,
    secrets: CoverageStatus = READ,
    endpoints: tuple[TLSEndpoint, ...] = (),
    at: datetime = T0,
) -> CheckRun:
    coverage = (CoverageItem("secrets", secrets), CoverageItem("webhooks", READ))
    snap = Snapshot("prod", "live", "https://prod", at, coverage=coverage, endpoints=endpoints)
    return CheckRun(snap, findings, (), frozenset({"cert-expiring"}))


def _record(engine: Engine, run: CheckRun) -> dict[str, str]:
    with db.session_scope(engine) as session:
        outcome = record_scan(
            session=session,
            run=run,
            started_at=run.snapshot.scanned_at,
            finished_at=run.snapshot.scanned_at,
        )
    return {r.resource_key: "resolved" for r in outcome.resolved}


def test_unreadable_secrets_do_not_resolve_secret_findings(engine: Engine) -> None:
    _record(engine, _run((_expiring(SECRET),)))
    assert _record(engine, _run((), secrets=FORBIDDEN)) == {}
    assert _record(engine, _run(())) == {SECRET.key: "resolved"}


def test_an_endpoint_that_did_not_answer_keeps_its_finding(engine: Engine) -> None:
    up = TLSEndpoint("10.0.0.5", 6443, "kube-apiserver", leaf_sha256="ab")
    down = TLSEndpoint("10.0.0.5", 6443, "kube-apiserver", error="timed out")
    _record(engine, _run((_expiring(ENDPOINT),), endpoints=(up,)))
    assert _record(engine, _run((), endpoints=(down,))) == {}
    assert _record(engine, _run((), endpoints=(up,))) == {ENDPOINT.key: "resolved"}


def test_escalation_ends_a_silence(engine: Engine) -> None:
    _record(engine, _run((_expiring(SECRET),)))
    with db.session_scope(engine) as session:
        (view,) = list_findings(session=session, now=T0)
        silence(
            session=session,
            finding_id=view.id,
            duration=timedelta(days=60),
            reason="renewal booked",
            owner="U1",
            now=T0,
            audit=AUDIT,
        )
        assert list_findings(session=session, now=T0) == []
    later = T0 + timedelta(days=16)
    _record(engine, _run((_expiring(SECRET, Severity.CRITICAL, "14d"),), at=later))
    with db.session_scope(engine) as session:
        (view,) = list_findings(session=session, now=later)
    assert (view.severity, view.silenced_until) == (Severity.CRITICAL, None)


def _scan_live(engine: Engine, api: FakeKubeAPI, tmp_path: Path, hours: int) -> ScanOutcome:
    """Read the fake cluster with the real client, run every check, record the scan."""
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


def test_a_failing_secrets_list_is_open_until_the_list_reads_again(
    engine: Engine, tmp_path: Path
) -> None:
    soon = make_cert("soon.example", key=ec_key("soon"), not_after=T0 + timedelta(days=5))
    objects = [node("node-0", "10.0.0.10"), tls_secret("zz", "soon", pem(soon))]
    unread = ResourceRef("Cluster", "prod", field="secrets")
    secret = ResourceRef("Secret", "soon", "zz", "data.tls.crt[0]")
    fp = Finding("source-unreachable", "prod", unread, Severity.WARNING, "").fingerprint
    with FakeKubeAPI(objects=objects) as api:
        api.fail("/api/v1/secrets", 500)
        first = _scan_live(engine, api, tmp_path, 0)
        again = _scan_live(engine, api, tmp_path, 1)
        api.clear_failures()
        read = _scan_live(engine, api, tmp_path, 2)
    # New at the first failure, not news while it keeps failing, resolved once the list
    # reads (same resource key); the Secret's certificate it hid is news at that scan.
    assert (first.status.get(fp), again.status.get(fp), again.resolved) == ("new", "unchanged", ())
    assert [(r.check_id, r.resource_key) for r in read.resolved] == [
        ("source-unreachable", unread.key)
    ]
    assert read.status[_expiring(secret).fingerprint] == "new"
    with db.session_scope(engine) as session:
        still_open = {(v.check_id, v.resource.key) for v in list_findings(session=session, now=T0)}
    assert ("cert-expiring", secret.key) in still_open
    assert ("source-unreachable", unread.key) not in still_open
