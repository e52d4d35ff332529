"""Shared builders for the notify tests: findings, scans recorded and planned in one
transaction (as the fleet does), a controllable clock, and engines on both backends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from bot.checks.runner import CheckRun
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity, expiry_tier
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.findings.service import ScanOutcome, record_scan
from bot.notify.plan import plan_scan
from bot.notify.routing import Routing
from bot.store import db

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
W, C, INFO = Severity.WARNING, Severity.CRITICAL, Severity.INFO
EXPIRY = "cert-expiring"
PROXY = "http-proxy-noproxy"
EVALUATED = frozenset({EXPIRY, PROXY, "cert-expired"})
ROUTING = Routing(alert_channel="#alerts", per_cluster={"edge": "#edge-ops"})


class Clock:
    """A clock the test moves; never sleeps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def cert(
    name: str, days: int, *, severity: Severity = W, cluster: str = "prod", tier: str | None = None
) -> Finding:
    """A cert-expiring finding about Secret default/<name>, not_after ``days`` after T0."""
    tier = tier or expiry_tier(days)
    return Finding(
        check_id=EXPIRY,
        cluster=cluster,
        resource=ResourceRef("Secret", name, "default", "data.tls.crt[0]"),
        severity=severity,
        message=f"certificate CN={name} expires in {days} days",
        evidence={"not_after": (T0 + timedelta(days=days)).isoformat(), "subject": f"CN={name}"},
        tier=tier,
    )


def proxy(cluster: str = "prod", severity: Severity = W) -> Finding:
    return Finding(
        check_id=PROXY,
        cluster=cluster,
        resource=ResourceRef("Setting", "http-proxy", "", "value.noProxy"),
        severity=severity,
        message="noProxy misses the node IPs 10.0.0.11",
        evidence={"missing": ("10.0.0.11",)},
    )


def run(findings: Iterable[Finding], *, cluster: str = "prod", at: datetime = T0) -> CheckRun:
    read = (
        CoverageItem("settings", CoverageStatus.READ),
        CoverageItem("secrets", CoverageStatus.READ),
    )
    snapshot = Snapshot(cluster, "live", f"https://{cluster}:6443", at, coverage=read)
    return CheckRun(snapshot, tuple(findings), (), EVALUATED)


def scan(
    engine: db.Engine,
    findings: Iterable[Finding],
    *,
    at: datetime,
    cluster: str = "prod",
    routing: Routing | None = ROUTING,
) -> ScanOutcome:
    """Record one scan and plan its notifications in one transaction (as bot.fleet does)."""
    with db.session_scope(engine) as session:
        outcome = record_scan(
            session=session,
            run=run(findings, cluster=cluster, at=at),
            started_at=at,
            finished_at=at,
        )
        if routing is not None:
            plan_scan(session=session, outcome=outcome, routing=routing, at=at)
    return outcome
