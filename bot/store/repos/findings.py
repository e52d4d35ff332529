"""Findings rows: look-ups, and the four writes the lifecycle needs.

``insert`` adds a first-seen finding, ``refresh`` records that a scan saw it again (and
reopens it if it was resolved: same row, same F-id), ``resolve`` closes it, ``relocate``
moves an open finding to another resource (a certificate finding following its
certificate, bot.findings.lifecycle: same row, same F-id). Values come from
bot.core.finding.Finding, whose evidence is non-secret by contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.finding import Evidence, Finding
from bot.core.resources import ResourceRef
from bot.store.models import STATE_OPEN, STATE_RESOLVED, Cluster, FindingRow


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


class OpenBrief(NamedTuple):
    """The columns of an open finding that listings need, without an ORM object (loading
    20,000 full rows for a digest costs seconds; these tuples cost milliseconds)."""

    id: int
    cluster_id: int
    check_id: str
    severity: str
    resource_kind: str
    resource_namespace: str
    resource_name: str
    resource_field: str

    @property
    def resource(self) -> ResourceRef:
        return ResourceRef(
            kind=self.resource_kind,
            name=self.resource_name,
            namespace=self.resource_namespace,
            field=self.resource_field,
        )


def open_briefs(session: Session, *, cluster_ids: Sequence[int] | None = None) -> list[OpenBrief]:
    """Open findings (of some clusters, or all) as OpenBrief tuples, by id."""
    query = select(
        FindingRow.id,
        FindingRow.cluster_id,
        FindingRow.check_id,
        FindingRow.severity,
        FindingRow.resource_kind,
        FindingRow.resource_namespace,
        FindingRow.resource_name,
        FindingRow.resource_field,
    ).where(FindingRow.state == STATE_OPEN)
    if cluster_ids is not None:
        query = query.where(FindingRow.cluster_id.in_(list(cluster_ids)))
    return [OpenBrief._make(row) for row in session.execute(query.order_by(FindingRow.id))]


def open_live_files(session: Session, cluster_names: Sequence[str]) -> dict[str, set[str]]:
    """Resource names of open live ``File`` findings (node PKI files), by cluster name."""
    rows = session.execute(
        select(Cluster.name, FindingRow.resource_name)
        .join(Cluster, FindingRow.cluster_id == Cluster.id)
        .where(
            FindingRow.state == STATE_OPEN,
            FindingRow.source == "live",
            FindingRow.resource_kind == "File",
            Cluster.name.in_(list(cluster_names)),
        )
    )
    found: dict[str, set[str]] = {}
    for cluster, name in rows:
        found.setdefault(cluster, set()).add(name)
    return found


def open_of_check(
    session: Session, *, check_id: str, cluster_ids: Sequence[int]
) -> list[FindingRow]:
    """Open findings of one check in some clusters, by id."""
    query = select(FindingRow).where(
        FindingRow.state == STATE_OPEN,
        FindingRow.check_id == check_id,
        FindingRow.cluster_id.in_(list(cluster_ids)),
    )
    return list(session.scalars(query.order_by(FindingRow.id)))


def check_ids(session: Session, finding_ids: Sequence[int]) -> dict[int, str]:
    """finding id -> check id, for many findings at once."""
    out: dict[int, str] = {}
    ids = sorted(set(finding_ids))
    for start in range(0, len(ids), 500):  # stay well under any bind-parameter limit
        chunk = ids[start : start + 500]
        query = select(FindingRow.id, FindingRow.check_id).where(FindingRow.id.in_(chunk))
        out.update({int(i): str(c) for i, c in session.execute(query)})
    return out


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


def relocate(
    session: Session, row: FindingRow, *, finding: Finding, holder: FindingRow | None
) -> FindingRow:
    """Give ``row`` the fingerprint and resource of ``finding``; returns ``row``.

    ``holder`` is the cluster's row that holds that fingerprint now, if any (the caller
    has the cluster's rows loaded). A resolved one gives it up (an older finding at that
    resource): it is history and stays as it was, under a fingerprint no finding can
    have (``retired:<id>``; real ones are hex), so it can never reopen.
    """
    if holder is not None and holder.id != row.id:
        if holder.state != STATE_RESOLVED:
            raise ValueError(f"finding {holder.id} is open at {finding.resource.key}")
        holder.fingerprint = f"retired:{holder.id}"
        session.flush()  # before the row takes the fingerprint (unique per cluster)
    row.fingerprint = finding.fingerprint
    row.resource_kind = finding.resource.kind
    row.resource_namespace = finding.resource.namespace
    row.resource_name = finding.resource.name
    row.resource_field = finding.resource.field
    return row


def resolve(row: FindingRow, *, at: datetime) -> None:
    """Mark a finding resolved at ``at`` (its last_seen stays when it was last seen)."""
    row.state = STATE_RESOLVED
    row.resolved_at = at
