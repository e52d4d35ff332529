"""Audit rows: append one to the chain, read the newest, stream them all in ``seq`` order.

``append`` must see the true newest row and give the next ``seq``, also when several
threads or replicas audit at once. On PostgreSQL it takes a transaction-level advisory
lock (``pg_advisory_xact_lock``, released at COMMIT/ROLLBACK) in the caller's transaction
before reading the newest row, so appenders queue and each reads its predecessor's
committed row (READ COMMITTED takes a new snapshot per statement). On SQLite every
writing transaction is ``BEGIN IMMEDIATE`` (bot.store.db), which already serialises
writers. The unique constraint on ``seq`` is the backstop: a missed lock fails loudly
instead of forking the chain.

The hash itself belongs to bot.audit (this layer must not know how records are sealed):
``append`` hands (seq, prev_hash) to the caller's ``seal`` and stores what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.store.models_audit import AuditEvent

# Key of the advisory lock that serialises appends; must differ from
# db.MIGRATION_LOCK_KEY and lock.LEADER_LOCK_KEY.
AUDIT_LOCK_KEY = 0x5EC_B07_A0D17
STREAM_BATCH = 1000

# (seq, prev_hash) -> (hash, hmac or None)
Seal = Callable[[int, str], tuple[str, str | None]]


class AuditRecord(NamedTuple):
    """A stored record as plain values: what streaming readers get (no ORM objects, which
    cost more to build than the rest of ``verify`` put together)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    hmac: str | None


_COLUMNS = tuple(getattr(AuditEvent, name) for name in AuditRecord._fields)


def lock(session: Session) -> None:
    """Serialise appenders until the caller's transaction ends (PostgreSQL; see above)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    payload: Mapping[str, Any],
    seal: Seal,
) -> AuditEvent:
    """Add the next record of the chain (seq = newest + 1) and flush it."""
    lock(session)
    previous = last(session)
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = "" if previous is None else previous.hash
    digest, mac = seal(seq, prev_hash)
    row = AuditEvent(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        payload=dict(payload),
        prev_hash=prev_hash,
        hash=digest,
        hmac=mac,
    )
    session.add(row)
    session.flush()
    return row


def last(session: Session) -> AuditEvent | None:
    """The newest record (highest seq), or None when the log is empty."""
    return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()


def iterate(
    session: Session, *, since: datetime | None = None, batch: int = STREAM_BATCH
) -> Iterator[AuditRecord]:
    """Every record (or those with ``at >= since``) in seq order, fetched ``batch`` rows
    at a time (a server-side cursor on PostgreSQL): 100,000 rows never sit in memory."""
    query = select(*_COLUMNS).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    for row in session.execute(query):
        yield AuditRecord._make(row)


def recent(session: Session, *, limit: int, subject: str | None = None) -> list[AuditEvent]:
    """The newest ``limit`` records (of one subject, or all), newest first."""
    query = select(AuditEvent)
    if subject is not None:
        query = query.where(AuditEvent.subject == subject)
    return list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit)))
