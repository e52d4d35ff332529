"""Clusters: looked up by their configured name, created on first use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import Cluster, Scan


def get_by_name(session: Session, name: str) -> Cluster | None:
    """Return the cluster called ``name``, or None."""
    return session.scalars(select(Cluster).where(Cluster.name == name)).one_or_none()


def get_or_create(session: Session, *, name: str, now: datetime) -> Cluster:
    """Return the cluster called ``name``, creating it (at ``now``) if it is new."""
    found = get_by_name(session, name)
    if found is not None:
        return found
    cluster = Cluster(name=name, created_at=now)
    try:
        # A savepoint, so losing a race with another writer does not doom the caller's
        # transaction: the other row is then simply read back.
        with session.begin_nested():
            session.add(cluster)
    except IntegrityError:
        found = get_by_name(session, name)
        if found is None:
            raise
        return found
    return cluster


def list_all(session: Session) -> list[Cluster]:
    """Every known cluster, by name."""
    return list(session.scalars(select(Cluster).order_by(Cluster.name)))


def scanned_since(session: Session, since: datetime) -> list[str]:
    """Names of the clusters with a scan (successful or not) started at or after ``since``."""
    query = (
        select(Cluster.name)
        .join(Scan, Scan.cluster_id == Cluster.id)
        .where(Scan.started_at >= since)
        .distinct()
        .order_by(Cluster.name)
    )
    return list(session.scalars(query))


def lock(session: Session, cluster: Cluster) -> None:
    """Hold the cluster's row until commit (PostgreSQL ``FOR UPDATE``), so two scans of one
    cluster record one after the other and the second sees what the first wrote; SQLite's
    BEGIN IMMEDIATE already serialises writers."""
    session.execute(select(Cluster.id).where(Cluster.id == cluster.id).with_for_update())


def get(session: Session, cluster_id: int) -> Cluster | None:
    """Return the cluster with this id, or None."""
    return session.get(Cluster, cluster_id)
