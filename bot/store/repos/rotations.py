"""Credential rotation records: append one per ``rotated`` command, read the latest ones."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import CredentialRotation


def add(
    session: Session,
    *,
    cluster_id: int,
    node: str,
    kind: str,
    rotated_at: datetime,
    recorded_by: str,
) -> CredentialRotation:
    """Append a rotation record (history is kept; readers take the latest)."""
    row = CredentialRotation(
        cluster_id=cluster_id, node=node, kind=kind, rotated_at=rotated_at, recorded_by=recorded_by
    )
    session.add(row)
    session.flush()
    return row


def latest(session: Session, *, cluster_id: int) -> list[tuple[str, str, datetime]]:
    """(node, kind, newest rotated_at) per recorded (node, kind) of a cluster, sorted."""
    newest = func.max(CredentialRotation.rotated_at)
    query = (
        select(CredentialRotation.node, CredentialRotation.kind, newest)
        .where(CredentialRotation.cluster_id == cluster_id)
        .group_by(CredentialRotation.node, CredentialRotation.kind)
        .order_by(CredentialRotation.kind, CredentialRotation.node)
    )
    return [(node, kind, at) for node, kind, at in session.execute(query)]
