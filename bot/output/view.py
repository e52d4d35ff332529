"""The scan report as plain data: the one shape the JSON, SARIF and table renderers share.

Schema ``secbot.scan/v1`` (documented in docs/scan-json.md). Everything here comes from
findings' messages and evidence, which carry no secret material by contract.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from bot.checks.registry import builtin_checks
from bot.core.finding import Finding
from bot.core.severity import Severity
from bot.scan import ClusterScan, ScanReport

SCHEMA = "secbot.scan/v1"


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts else None


def sort_key(finding: Finding) -> tuple[int, str, str, str]:
    """Severity first (worst first), then date (soonest expiry first), then check and resource."""
    date = finding.evidence.get("not_after") or ""
    return (-finding.severity.rank, str(date) or "~", finding.check_id, finding.resource.key)


def _finding(f: Finding, scan: ClusterScan, titles: dict[str, str]) -> dict[str, Any]:
    outcome = scan.outcome
    ids: dict[str, int] = getattr(outcome, "ids", {}) if outcome else {}
    status: dict[str, str] = getattr(outcome, "status", {}) if outcome else {}
    fid = ids.get(f.fingerprint)
    return {
        "id": f"F-{fid}" if fid is not None else None,
        "check": f.check_id,
        "title": titles.get(f.check_id, f.check_id),
        "severity": f.severity.value,
        "status": status.get(f.fingerprint),
        "resource": {
            "kind": f.resource.kind,
            "namespace": f.resource.namespace,
            "name": f.resource.name,
            "field": f.resource.field,
            "key": f.resource.key,
        },
        "message": f.message,
        "fingerprint": f.fingerprint,
        "tier": f.tier,
        "evidence": {k: list(v) if isinstance(v, tuple) else v for k, v in f.evidence.items()},
    }


def _resolved(scan: ClusterScan) -> list[dict[str, Any]]:
    outcome = scan.outcome
    if outcome is None:
        return []
    out = []
    for item in getattr(outcome, "resolved", []):
        out.append(
            {
                "id": f"F-{item.id}",
                "check": item.check_id,
                "fingerprint": item.fingerprint,
                "resource": item.resource_key,
                "severity": str(item.severity),
            }
        )
    return out


def cluster_view(scan: ClusterScan, titles: dict[str, str]) -> dict[str, Any]:
    snap = scan.run.snapshot
    findings = sorted(scan.run.findings, key=sort_key)
    return {
        "cluster": snap.cluster,
        "source": snap.source,
        "origin": snap.origin,
        "scanned_at": _iso(snap.scanned_at),
        "harvester_version": snap.harvester_version or None,
        "scan_id": getattr(scan.outcome, "scan_id", None),
        "findings": [_finding(f, scan, titles) for f in findings],
        "resolved": _resolved(scan),
        "unknown": [{"check": u.check_id, "reason": u.reason} for u in scan.run.unknowns],
        "coverage": [
            {"subject": c.subject, "status": c.status.value, "detail": c.detail}
            for c in snap.coverage
        ],
    }


def report_view(report: ScanReport, *, generated_at: datetime) -> dict[str, Any]:
    """The whole report as ``secbot.scan/v1`` data."""
    titles = {c.id: c.title for c in builtin_checks()}
    clusters = [cluster_view(s, titles) for s in report.scans]
    counts: Counter[str] = Counter()
    for scan in report.scans:
        counts.update(f.severity.value for f in scan.run.findings)
    summary = {s.value: counts.get(s.value, 0) for s in reversed(Severity)}
    summary["unknown"] = sum(len(s.run.unknowns) for s in report.scans)
    return {
        "schema": SCHEMA,
        "generated_at": _iso(generated_at),
        "clusters": clusters,
        "summary": summary,
    }
