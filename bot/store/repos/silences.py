"""Silences rows: add, look up the active ones, mark removed. Active means not removed
and not yet expired at ``now``; an expired silence simply stops counting (no job needed)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Silence


def add(
    session: Session,
    *,
    cluster_id: int,
    finding_id: int,
    reason: str,
    owner: str,
    created_at: datetime,
    expires_at: datetime,
) -> Silence:
    """Insert a silence and flush it so its id is known."""
    row = Silence(
        cluster_id=cluster_id,
        finding_id=finding_id,
        reason=reason,
        owner=owner,
        created_at=created_at,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row


def active(
    session: Session,
    *,
    now: datetime,
    cluster_id: int | None = None,
    finding_ids: Iterable[int] | None = None,
) -> list[Silence]:
    """Silences in force at ``now`` (of one cluster or some findings), soonest expiry first."""
    query = select(Silence).where(Silence.removed_at.is_(None), Silence.expires_at > now)
    if cluster_id is not None:
        query = query.where(Silence.cluster_id == cluster_id)
    if finding_ids is not None:
        query = query.where(Silence.finding_id.in_(list(finding_ids)))
    return list(session.scalars(query.order_by(Silence.expires_at, Silence.id)))


def remove(row: Silence, *, at: datetime, by: str) -> None:
    """End a silence early; the row stays as a record of who silenced what."""
    row.removed_at = at
    row.removed_by = by


def expired_between(session: Session, *, after: datetime, until: datetime) -> list[Silence]:
    """Silences that ran out (not removed early) with ``after < expires_at <= until``."""
    query = select(Silence).where(
        Silence.removed_at.is_(None), Silence.expires_at > after, Silence.expires_at <= until
    )
    return list(session.scalars(query.order_by(Silence.expires_at, Silence.id)))


def expiring(
    session: Session, *, now: datetime, until: datetime, cluster_ids: Iterable[int] | None = None
) -> list[Silence]:
    """Silences in force at ``now`` that end by ``until``, soonest first."""
    query = select(Silence).where(
        Silence.removed_at.is_(None), Silence.expires_at > now, Silence.expires_at <= until
    )
    if cluster_ids is not None:
        query = query.where(Silence.cluster_id.in_(list(cluster_ids)))
    return list(session.scalars(query.order_by(Silence.expires_at, Silence.id)))
