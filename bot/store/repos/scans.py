"""Scans: one row per scan of a cluster from one source, written once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import Scan


def add(
    session: Session,
    *,
    cluster_id: int,
    source: str,
    origin: str,
    started_at: datetime,
    finished_at: datetime,
    coverage: Sequence[Mapping[str, str]] = (),
    unknowns: Sequence[Mapping[str, str]] = (),
    counts: Mapping[str, int] | None = None,
    error: str | None = None,
) -> Scan:
    """Insert a scan and flush it so its id is known."""
    scan = Scan(
        cluster_id=cluster_id,
        source=source,
        origin=origin,
        started_at=started_at,
        finished_at=finished_at,
        coverage=[dict(item) for item in coverage],
        unknowns=[dict(item) for item in unknowns],
        counts=dict(counts or {}),
        error=error,
    )
    session.add(scan)
    session.flush()
    return scan


def get(session: Session, scan_id: int) -> Scan | None:
    """Return the scan with this id, or None."""
    return session.get(Scan, scan_id)


def latest(session: Session, *, cluster_id: int, source: str | None = None) -> Scan | None:
    """The most recently started scan of a cluster (optionally from one source)."""
    query = select(Scan).where(Scan.cluster_id == cluster_id)
    if source is not None:
        query = query.where(Scan.source == source)
    query = query.order_by(Scan.started_at.desc(), Scan.id.desc()).limit(1)
    return session.scalars(query).first()


def for_cluster(session: Session, *, cluster_id: int, limit: int = 50) -> list[Scan]:
    """The newest ``limit`` scans of a cluster, newest first."""
    query = (
        select(Scan)
        .where(Scan.cluster_id == cluster_id)
        .order_by(Scan.started_at.desc(), Scan.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def latest_per_cluster(
    session: Session, *, cluster_ids: Iterable[int] | None = None
) -> dict[int, Scan]:
    """cluster id -> its most recently started scan (failed ones included), in one query."""
    rank = (
        func.row_number()
        .over(partition_by=Scan.cluster_id, order_by=(Scan.started_at.desc(), Scan.id.desc()))
        .label("rank")
    )
    ranked = select(Scan.id, rank)
    if cluster_ids is not None:
        ranked = ranked.where(Scan.cluster_id.in_(list(cluster_ids)))
    newest = ranked.subquery()
    query = select(Scan).join(newest, newest.c.id == Scan.id).where(newest.c.rank == 1)
    return {scan.cluster_id: scan for scan in session.scalars(query)}
