"""Outbox rows: enqueue (deduplicated), claim, and the three ends of a send attempt.

A row moves pending -> sent or pending -> dead, never back. Every move is a conditional
write (``UPDATE … WHERE id = ? AND state = 'pending' AND claim_token = ?``) whose row count
says whether this caller won, so two dispatchers (an overlapping leader) cannot both send
one message: whoever claims a row owns it until ``claimed_until``.

``attempts`` counts claims: it is raised when a row is claimed, before anything is sent,
so a dispatcher that dies mid-send still uses up an attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models_ops import OutboxRow

PENDING, SENT, DEAD = "pending", "sent", "dead"


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    channel: str,
    kind: str,
    payload: Mapping[str, Any],
    now: datetime,
    finding_id: int | None = None,
) -> bool:
    """Add a pending message unless one with ``dedupe_key`` exists; True if added."""
    if exists(session, dedupe_key):
        return False
    row = OutboxRow(
        dedupe_key=dedupe_key,
        channel=channel,
        kind=kind,
        payload=dict(payload),
        finding_id=finding_id,
        created_at=now,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    try:
        # A savepoint: a concurrent writer of the same key must not doom the caller's
        # transaction (the scan it belongs to); the duplicate is simply not added.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def exists(session: Session, dedupe_key: str) -> bool:
    query = select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)
    return session.scalars(query).first() is not None


def by_key(session: Session, dedupe_key: str) -> OutboxRow | None:
    return session.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == dedupe_key)).first()


def get(session: Session, row_id: int) -> OutboxRow | None:
    return session.get(OutboxRow, row_id)


def due(session: Session, *, now: datetime, limit: int) -> list[int]:
    """Ids of pending rows due at ``now`` and not claimed by anyone, oldest first."""
    query = (
        select(OutboxRow.id)
        .where(
            OutboxRow.state == PENDING,
            OutboxRow.next_attempt_at <= now,
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
        )
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Session, row_id: int, *, now: datetime, until: datetime, token: str) -> bool:
    """Take a due row for sending until ``until``; False if someone else has it."""
    result = session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == row_id,
            OutboxRow.state == PENDING,
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now),
        )
        .values(claimed_until=until, claim_token=token, attempts=OutboxRow.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return _won(result)


def _mine(row_id: int, token: str) -> Any:
    return update(OutboxRow).where(
        OutboxRow.id == row_id, OutboxRow.state == PENDING, OutboxRow.claim_token == token
    )


def _won(result: Any) -> bool:
    return int(getattr(result, "rowcount", 0)) == 1


def mark_sent(
    session: Session,
    row_id: int,
    *,
    token: str,
    now: datetime,
    channel_id: str,
    ts: str,
    thread_ts: str | None,
) -> bool:
    values = {
        "state": SENT,
        "sent_at": now,
        "slack_channel": channel_id,
        "slack_ts": ts,
        "thread_ts": thread_ts,
        "claimed_until": None,
        "last_error": None,
    }
    stmt = _mine(row_id, token).values(**values).execution_options(synchronize_session=False)
    return _won(session.execute(stmt))


def retry_later(
    session: Session, row_id: int, *, token: str, at: datetime, error: str | None
) -> bool:
    """Give the row back, due again at ``at`` (``error``: why this attempt failed)."""
    stmt = _mine(row_id, token).values(
        next_attempt_at=at, claimed_until=None, claim_token=None, last_error=error
    )
    return _won(session.execute(stmt.execution_options(synchronize_session=False)))


def defer(session: Session, row_id: int, *, token: str, at: datetime) -> bool:
    """Give the row back without using up an attempt (it waits for another message)."""
    stmt = _mine(row_id, token).values(
        next_attempt_at=at,
        claimed_until=None,
        claim_token=None,
        attempts=OutboxRow.attempts - 1,
    )
    return _won(session.execute(stmt.execution_options(synchronize_session=False)))


def mark_dead(session: Session, row_id: int, *, token: str, error: str) -> bool:
    stmt = _mine(row_id, token).values(state=DEAD, claimed_until=None, last_error=error)
    return _won(session.execute(stmt.execution_options(synchronize_session=False)))


def last_alert(
    session: Session, *, finding_id: int, channel: str, before: int | None = None
) -> OutboxRow | None:
    """The newest alert about a finding in a channel (top-level or a thread reply, any
    state), or None; ``before``: only rows older than that row id."""
    query = select(OutboxRow).where(
        OutboxRow.finding_id == finding_id,
        OutboxRow.channel == channel,
        OutboxRow.kind == "alert",
    )
    if before is not None:
        query = query.where(OutboxRow.id < before)
    return session.scalars(query.order_by(OutboxRow.id.desc()).limit(1)).first()


def posted_as(session: Session, *, channel: str, ts: str) -> OutboxRow | None:
    """The sent row whose message is ``ts`` in ``channel`` (a thread's first message)."""
    query = select(OutboxRow).where(
        OutboxRow.channel == channel, OutboxRow.slack_ts == ts, OutboxRow.state == SENT
    )
    return session.scalars(query.limit(1)).first()


def last_of_kind(session: Session, *, kind: str, channel: str) -> OutboxRow | None:
    """The newest row of ``kind`` for ``channel`` (the previous digest), or None."""
    query = (
        select(OutboxRow)
        .where(OutboxRow.kind == kind, OutboxRow.channel == channel)
        .order_by(OutboxRow.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def counts(session: Session) -> dict[str, int]:
    """Rows per state (pending, sent, dead)."""
    query = select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
    found = {str(state): int(n) for state, n in session.execute(query)}
    return {state: found.get(state, 0) for state in (PENDING, SENT, DEAD)}


def prune(session: Session, *, kind: str, before: datetime) -> int:
    """Delete finished (sent or dead) rows of ``kind`` created before ``before``."""
    result = session.execute(
        delete(OutboxRow)
        .where(OutboxRow.kind == kind, OutboxRow.state != PENDING, OutboxRow.created_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
