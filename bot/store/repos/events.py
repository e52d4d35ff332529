"""Finding history rows: one per lifecycle transition (bot.store.models_ops.FindingEvent).

Written by the findings services in the transaction that makes the change; read by the
digest ("what changed since the last digest") and by notification planning, whose dedupe
keys name the event row, so a transition is announced at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import FindingRow
from bot.store.models_ops import FindingEvent


def add(
    session: Session, *, row: FindingRow, event: str, at: datetime, actor: str | None = None
) -> FindingEvent:
    """Record ``event`` for the finding ``row`` (its current severity and tier); flushed."""
    item = FindingEvent(
        finding_id=row.id,
        cluster_id=row.cluster_id,
        event=event,
        at=at,
        severity=row.severity,
        tier=row.tier,
        actor=actor,
    )
    session.add(item)
    session.flush()
    return item


def since(
    session: Session, *, after: datetime, until: datetime, cluster_ids: Sequence[int] | None = None
) -> list[FindingEvent]:
    """Events with ``after < at <= until`` (of some clusters, or all), oldest first."""
    query = select(FindingEvent).where(FindingEvent.at > after, FindingEvent.at <= until)
    if cluster_ids is not None:
        query = query.where(FindingEvent.cluster_id.in_(list(cluster_ids)))
    return list(session.scalars(query.order_by(FindingEvent.at, FindingEvent.id)))


def latest(session: Session, *, finding_id: int, event: str) -> FindingEvent | None:
    """The newest ``event`` of a finding, or None."""
    query = (
        select(FindingEvent)
        .where(FindingEvent.finding_id == finding_id, FindingEvent.event == event)
        .order_by(FindingEvent.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()
