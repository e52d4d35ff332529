"""Remediation request and vote rows; every state change is a conditional write.

``move`` is ``UPDATE … WHERE id = ? AND state = <from>`` and returns whether this caller
made the change (reference/libraries.md §5.5); ``add_vote`` inserts inside a SAVEPOINT so a
second vote by the same person is refused without dooming the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models_remediation import Approval, RemediationRequest


def add(session: Session, **values: Any) -> RemediationRequest:
    row = RemediationRequest(**values)
    session.add(row)
    session.flush()
    return row


def get(session: Session, request_id: int, *, lock: bool = False) -> RemediationRequest | None:
    return session.get(RemediationRequest, request_id, with_for_update=lock)


def newest(
    session: Session, *, states: tuple[str, ...] | None, limit: int
) -> list[RemediationRequest]:
    query = select(RemediationRequest).order_by(RemediationRequest.id.desc()).limit(limit)
    if states is not None:
        query = query.where(RemediationRequest.state.in_(states))
    return list(session.scalars(query))


def move(session: Session, request_id: int, frm: str, to: str, **values: Any) -> bool:
    result = session.execute(
        update(RemediationRequest)
        .where(RemediationRequest.id == request_id, RemediationRequest.state == frm)
        .values(state=to, **values)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def ids_in_state(
    session: Session,
    state: str,
    *,
    before: datetime | None = None,
    decided_before: datetime | None = None,
    unfinished: bool = False,
) -> list[int]:
    """Requests in ``state`` (with ``expires_at <= before`` / ``decided_at <=
    decided_before`` when given), oldest first."""
    query = select(RemediationRequest.id).where(RemediationRequest.state == state)
    if before is not None:
        query = query.where(RemediationRequest.expires_at <= before)
    if decided_before is not None:
        query = query.where(RemediationRequest.decided_at <= decided_before)
    if unfinished:
        query = query.where(RemediationRequest.finished_at.is_(None))
    return list(session.scalars(query.order_by(RemediationRequest.id)))


def add_vote(session: Session, **values: Any) -> bool:
    """Record a vote; False if this person already voted on this request."""
    try:
        with session.begin_nested():
            session.add(Approval(**values))
    except IntegrityError:
        return False
    return True


def approvers(session: Session, request_id: int) -> list[str]:
    query = (
        select(Approval.approver)
        .where(Approval.request_id == request_id, Approval.decision == "approve")
        .order_by(Approval.id)
    )
    return list(session.scalars(query))


def approvals(session: Session, request_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Approval)
        .where(Approval.request_id == request_id, Approval.decision == "approve")
    )
    return int(session.scalar(query) or 0)
