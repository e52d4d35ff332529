"""Benchmark: the lifecycle diff of a full fleet scan, and the digest render.

Goal (issue #5): with 100 clusters and 20,000 open findings, each of these takes under
1 s:

- *lifecycle diff*: classify every cluster's new scan against its stored open findings
  (bot.findings.lifecycle.classify), the pure diff that decides what is news. The scan
  moves some certificates into tighter expiry tiers, resolves some findings and adds
  some, so every branch runs. Also printed, for context: recording that scan in the
  store with its notifications planned (record_scan + plan_scan per cluster, one
  transaction each, as bot.fleet does), which is database-bound;
- *digest*: compose the day's digest of the channel that holds all 100 clusters from
  the store (changes since the last digest, silences, the certificate inventory,
  overdue rotations) and render it to Block Kit (bot.slack.blocks).

The store is a fresh SQLite file (``--db`` for another URL, e.g. PostgreSQL), filled
through the real services. Prints each figure next to its goal.

Run: python bench/digest.py [--clusters 100] [--findings 200] [--certs 50] [--db URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.checks.runner import CheckRun  # noqa: E402
from bot.core.finding import Finding  # noqa: E402
from bot.core.resources import ResourceRef  # noqa: E402
from bot.core.severity import Severity, expiry_tier  # noqa: E402
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot  # noqa: E402
from bot.findings.lifecycle import OpenState, classify  # noqa: E402
from bot.findings.service import record_scan  # noqa: E402
from bot.notify.digest import compose_digest  # noqa: E402
from bot.notify.plan import plan_scan  # noqa: E402
from bot.notify.routing import Routing  # noqa: E402
from bot.slack.blocks.render import SlackRenderer  # noqa: E402
from bot.store.db import Engine, make_engine, session_scope, upgrade  # noqa: E402
from bot.store.models import STATE_OPEN  # noqa: E402
from bot.store.repos import clusters as clusters_repo  # noqa: E402
from bot.store.repos import findings as findings_repo  # noqa: E402
from bot.store.repos import inventory as inventory_repo  # noqa: E402
from bot.store.repos import scans as scans_repo  # noqa: E402

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
GOAL = 1.0
PROFILE = False
CHECKS = frozenset({"cert-expiring", "http-proxy-noproxy", "credential-rotation-overdue"})
ROUTING = Routing(alert_channel="#alerts")
T = TypeVar("T")


def _finding(cluster: str, i: int, *, day: int) -> Finding:
    """Finding ``i`` of a cluster on scan day ``day``: mostly certificates counting down."""
    if i % 50 == 49:
        return Finding(
            "credential-rotation-overdue",
            cluster,
            ResourceRef("Node", f"node-{i}", "", "password"),
            Severity.WARNING,
            f"password of node-{i} not rotated for 400 days",
        )
    if i % 10 == 9:
        return Finding(
            "http-proxy-noproxy",
            cluster,
            ResourceRef("Setting", f"s{i}", "", "value"),
            Severity.WARNING,
            f"setting s{i} drifted",
        )
    days_left = 5 + (i * 7) % 85 - day * 3
    severity = (
        Severity.CRITICAL
        if days_left <= 14
        else (Severity.WARNING if days_left <= 30 else Severity.INFO)
    )
    return Finding(
        "cert-expiring",
        cluster,
        ResourceRef("Secret", f"tls-{i}", "default", "data.tls.crt[0]"),
        severity,
        f"certificate CN=svc-{i}.{cluster} expires in {days_left} days",
        evidence={"not_after": (T0 + timedelta(days=days_left)).isoformat()},
        tier=expiry_tier(days_left),
    )


def _run(cluster: str, count: int, *, day: int) -> CheckRun:
    # Day 1 drops the first 5% (resolved) and adds as many new ones.
    indices = range(count) if day == 0 else range(count // 20, count + count // 20)
    findings = tuple(_finding(cluster, i, day=day) for i in indices)
    coverage = (
        CoverageItem("secrets", CoverageStatus.READ),
        CoverageItem("settings", CoverageStatus.READ),
    )
    snap = Snapshot(
        cluster, "live", f"https://{cluster}:6443", T0 + timedelta(days=day), coverage=coverage
    )
    return CheckRun(snap, findings, (), CHECKS)


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _fill(engine: Engine, names: list[str], findings: int) -> None:
    for name in names:
        with session_scope(engine) as s:
            outcome = record_scan(
                session=s, run=_run(name, findings, day=0), started_at=T0, finished_at=T0
            )
            plan_scan(session=s, outcome=outcome, routing=ROUTING, at=T0)


def _inventory(engine: Engine, names: list[str], certs: int) -> None:
    """What the scans' certificates would have put in the inventory (the synthetic
    findings carry no certificates, so it is written directly, after the scans)."""
    for name in names:
        with session_scope(engine) as s:
            cluster = clusters_repo.get_or_create(s, name=name, now=T0)
            scan_id = scans_repo.latest_per_cluster(s, cluster_ids=[cluster.id])[cluster.id].id
            entries = [
                inventory_repo.CertEntry(
                    sha256=f"{name}-{i:04d}".ljust(64, "0"),
                    subject=f"CN=svc-{i}.{name}",
                    issuer="CN=rke2-server-ca",
                    serial=f"{i:x}",
                    not_before=T0 - timedelta(days=300),
                    not_after=T0 + timedelta(days=1 + (i * 11) % 120),
                    location_key=ResourceRef(
                        "Secret", f"tls-{i}", "default", "data.tls.crt[0]"
                    ).key,
                    is_ca=False,
                    auto_renews=False,
                )
                for i in range(certs)
            ]
            inventory_repo.replace(
                s, cluster_id=cluster.id, source="live", scan_id=scan_id, entries=entries
            )


def _diff(engine: Engine, runs: dict[str, CheckRun]) -> float:
    """Seconds to classify every cluster's new scan against the store's open findings."""
    with session_scope(engine) as s:
        stored = {}
        for name in runs:
            cluster = clusters_repo.get_by_name(s, name)
            assert cluster is not None
            rows = findings_repo.for_cluster(s, cluster_id=cluster.id)
            stored[name] = (
                {
                    r.fingerprint: OpenState(
                        _sev(r.severity), r.tier, r.source, r.check_id, r.resource
                    )
                    for r in rows
                    if r.state == STATE_OPEN
                },
                {r.fingerprint for r in rows if r.state != STATE_OPEN},
            )
    start = time.perf_counter()
    news = 0
    for name, run in runs.items():
        open_before, resolved_before = stored[name]
        changes = classify(
            open_before=open_before,
            resolved_before=resolved_before,
            current=run.findings,
            source="live",
            evaluated=run.evaluated,
        )
        news += len(changes.new) + len(changes.escalated) + len(changes.resolved)
    elapsed = time.perf_counter() - start
    print(f"  transitions found: {news}")
    return elapsed


def _sev(value: str) -> Severity:
    return Severity(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--findings", type=int, default=200, help="open findings per cluster")
    parser.add_argument("--certs", type=int, default=50, help="inventory certificates per cluster")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db or f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        names = [f"harv-{i:03d}" for i in range(args.clusters)]
        print(
            f"filling: {args.clusters} clusters x {args.findings} findings, "
            f"{args.certs} inventory certificates each ..."
        )
        _, fill = _timed(lambda: _fill(engine, names, args.findings))
        print(f"  filled in {fill:.1f} s")
        runs = {name: _run(name, args.findings, day=1) for name in names}
        diff = _diff(engine, runs)

        def record() -> None:
            at = T0 + timedelta(days=1)
            for run in runs.values():
                with session_scope(engine) as s:
                    outcome = record_scan(session=s, run=run, started_at=at, finished_at=at)
                    plan_scan(session=s, outcome=outcome, routing=ROUTING, at=at)

        _, stored = _timed(record)
        _inventory(engine, names, args.certs)
        now = T0 + timedelta(days=1, hours=3)
        renderer = SlackRenderer(tz=ZoneInfo("Europe/Berlin"))

        def digest() -> int:
            with session_scope(engine) as s:
                d = compose_digest(
                    session=s,
                    channel="#alerts",
                    clusters=names,
                    since=T0 + timedelta(hours=12),
                    now=now,
                    day="2026-11-29",
                )
            message = renderer.digest(d)
            return len(message["blocks"])

        if PROFILE:
            import cProfile

            cProfile.runctx("digest()", globals(), locals(), sort="cumulative")
        blocks, rendered = _timed(digest)
        engine.dispose()
    total = args.clusters * args.findings
    print(f"{'figure':<46}{'measured':>10}{'goal':>10}")
    print(
        f"{'lifecycle diff, full fleet scan (' + str(total) + ' open)':<46}"
        f"{diff:>9.3f}s{GOAL:>9.1f}s  {'PASS' if diff < GOAL else 'FAIL'}"
    )
    print(
        f"{'digest compose + render (' + str(blocks) + ' blocks)':<46}"
        f"{rendered:>9.3f}s{GOAL:>9.1f}s  {'PASS' if rendered < GOAL else 'FAIL'}"
    )
    print(f"{'(context) record + plan the fleet scan':<46}{stored:>9.3f}s{'-':>10}")


if __name__ == "__main__":
    main()
