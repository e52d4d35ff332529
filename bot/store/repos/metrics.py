"""Aggregates for the Prometheus endpoint: each one query, plain tuples, no ORM objects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import STATE_OPEN, Cluster, FindingRow, Scan
from bot.store.models_remediation import RemediationRequest


def open_findings(session: Session) -> list[tuple[str, str, str, int]]:
    """(cluster, check id, severity, count) of open findings."""
    query = (
        select(Cluster.name, FindingRow.check_id, FindingRow.severity, func.count())
        .join(Cluster, Cluster.id == FindingRow.cluster_id)
        .where(FindingRow.state == STATE_OPEN)
        .group_by(Cluster.name, FindingRow.check_id, FindingRow.severity)
        .order_by(Cluster.name, FindingRow.check_id, FindingRow.severity)
    )
    return [(str(c), str(k), str(s), int(n)) for c, k, s, n in session.execute(query)]


def last_successful_scans(session: Session) -> list[tuple[str, datetime, datetime]]:
    """(cluster, started, finished) of each cluster's newest scan that did not fail."""
    newest = (
        select(Scan.cluster_id, func.max(Scan.started_at).label("started"))
        .where(Scan.error.is_(None))
        .group_by(Scan.cluster_id)
        .subquery()
    )
    query = (
        select(Cluster.name, Scan.started_at, Scan.finished_at)
        .join(
            newest, (newest.c.cluster_id == Scan.cluster_id) & (newest.c.started == Scan.started_at)
        )
        .join(Cluster, Cluster.id == Scan.cluster_id)
        .where(Scan.error.is_(None))
        .order_by(Cluster.name)
    )
    seen: dict[str, tuple[str, datetime, datetime]] = {}
    for name, started, finished in session.execute(query):
        seen.setdefault(str(name), (str(name), started, finished))
    return list(seen.values())


def requests_by_state(session: Session) -> dict[str, int]:
    query = select(RemediationRequest.state, func.count()).group_by(RemediationRequest.state)
    return {str(state): int(n) for state, n in session.execute(query)}
