"""Absence only resolves what the scan could see; escalation ends a silence.

Aspects (SQLite and PostgreSQL): a certificate finding in a Secret stays open when the
next scan could read webhooks but not Secrets (the cert check still decided); an
endpoint that did not answer the probe keeps its finding; a readable Secret without the
finding resolves it; a silenced warning that turns critical is no longer silenced.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.audit.log import AuditLog
from bot.checks.runner import CheckRun
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot, TLSEndpoint
from bot.findings.queries import list_findings
from bot.findings.service import record_scan
from bot.findings.silences import silence
from bot.store import db
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
