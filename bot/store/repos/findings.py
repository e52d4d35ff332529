"""Findings rows: look-ups, and the three writes the lifecycle needs.

``insert`` adds a first-seen finding, ``refresh`` records that a scan saw it again (and
reopens it if it was resolved: same row, same F-id), ``resolve`` closes it. Values come
from bot.core.finding.Finding, whose evidence is non-secret by contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.finding import Evidence, Finding
from bot.store.models import STATE_OPEN, STATE_RESOLVED, FindingRow


def get(session: Session, finding_id: int) -> FindingRow | None:
    """Return the finding with this id (``F-<id>``), or None."""
    return session.get(FindingRow, finding_id)


def get_for_update(session: Session, finding_id: int) -> FindingRow | None:
    """Like ``get``, but locks the row (PostgreSQL) so concurrent changes to the finding's
    silences queue up; SQLite's BEGIN IMMEDIATE already serialises writers."""
    return session.get(FindingRow, finding_id, with_for_update=True)


def get_by_fingerprint(session: Session, *, cluster_id: int, fingerprint: str) -> FindingRow | None:
    """Return the finding of a cluster with this fingerprint, or None."""
    query = select(FindingRow).where(
        FindingRow.cluster_id == cluster_id, FindingRow.fingerprint == fingerprint
    )
    return session.scalars(query).one_or_none()


def for_cluster(session: Session, *, cluster_id: int, state: str | None = None) -> list[FindingRow]:
    """A cluster's findings (optionally only ``open`` or ``resolved`` ones), by id."""
    query = select(FindingRow).where(FindingRow.cluster_id == cluster_id)
    if state is not None:
        query = query.where(FindingRow.state == state)
    return list(session.scalars(query.order_by(FindingRow.id)))


def list_open(session: Session, *, cluster_id: int | None = None) -> list[FindingRow]:
    """Open findings of one cluster or of all clusters, by id."""
    query = select(FindingRow).where(FindingRow.state == STATE_OPEN)
    if cluster_id is not None:
        query = query.where(FindingRow.cluster_id == cluster_id)
    return list(session.scalars(query.order_by(FindingRow.id)))


def _evidence_json(evidence: Evidence) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in evidence.items()}


def insert(
    session: Session,
    *,
    cluster_id: int,
    finding: Finding,
    source: str,
    scan_id: int,
    seen_at: datetime,
) -> FindingRow:
    """Add a finding seen for the first time; flushed, so ``row.id`` is set."""
    row = FindingRow(
        cluster_id=cluster_id,
        fingerprint=finding.fingerprint,
        check_id=finding.check_id,
        resource_kind=finding.resource.kind,
        resource_namespace=finding.resource.namespace,
        resource_name=finding.resource.name,
        resource_field=finding.resource.field,
        severity=finding.severity.value,
        tier=finding.tier,
        message=finding.message,
        evidence=_evidence_json(finding.evidence),
        state=STATE_OPEN,
        source=source,
        first_seen=seen_at,
        last_seen=seen_at,
        resolved_at=None,
        first_scan_id=scan_id,
        last_scan_id=scan_id,
    )
    session.add(row)
    session.flush()
    return row


def refresh(
    row: FindingRow, *, finding: Finding, source: str, scan_id: int, seen_at: datetime
) -> None:
    """Record that a scan saw ``finding`` again: current values, open, last seen now."""
    row.severity = finding.severity.value
    row.tier = finding.tier
    row.message = finding.message
    row.evidence = _evidence_json(finding.evidence)
    row.source = source
    row.state = STATE_OPEN
    row.resolved_at = None
    row.last_seen = seen_at
    row.last_scan_id = scan_id


def resolve(row: FindingRow, *, at: datetime) -> None:
    """Mark a finding resolved at ``at`` (its last_seen stays when it was last seen)."""
    row.state = STATE_RESOLVED
    row.resolved_at = at
