"""Job claims: the database fence that makes a scheduled slot run once across replicas.

Whoever inserts the ``(job_id, slot)`` row first runs that slot (or takes over a failed
or abandoned run of it, see ``claim``); everybody else sees the unique constraint and
skips (reference/libraries.md §5.5 "Scan dedupe"). Leader election
only keeps the replicas from trying; this row is what makes an overlap harmless.

``claim`` inserts inside a SAVEPOINT, so a lost race rolls back just the insert and the
caller's transaction stays usable, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models_ops import JobClaim

# A failed run may be tried again this long after it ended; a run that never ended (its
# replica died) counts as abandoned after this long. Both only within the job's grace.
RETRY_AFTER = timedelta(minutes=10)
ABANDONED_AFTER = timedelta(minutes=30)


def claim(session: Session, *, job_id: str, slot: str, holder: str, now: datetime) -> bool:
    """Claim ``job_id``/``slot`` for ``holder``; False if the slot is taken.

    A slot whose run failed (``RETRY_AFTER`` ago) or was abandoned (unfinished for
    ``ABANDONED_AFTER``) is taken over by a conditional update, so a database blip or a
    killed pod at 09:00 does not cost the day's digest; a finished run is never redone.
    """
    try:
        with session.begin_nested():
            session.add(JobClaim(job_id=job_id, slot=slot, claimed_at=now, holder=holder))
    except IntegrityError:
        # On PostgreSQL a concurrent inserter of the same slot waits here until the
        # winner commits, then fails: the loser never runs the slot.
        result = session.execute(
            update(JobClaim)
            .where(JobClaim.job_id == job_id, JobClaim.slot == slot, _retryable(now))
            .values(holder=holder, claimed_at=now, finished_at=None, error=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0)) == 1
    return True


def _retryable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(JobClaim.error.is_not(None), JobClaim.finished_at <= now - RETRY_AFTER),
        and_(JobClaim.finished_at.is_(None), JobClaim.claimed_at <= now - ABANDONED_AFTER),
    )


def retryable(row: JobClaim, *, now: datetime) -> bool:
    """Would ``claim`` take this slot over at ``now``?"""
    if row.finished_at is None:
        return row.claimed_at <= now - ABANDONED_AFTER
    return row.error is not None and row.finished_at <= now - RETRY_AFTER


def finish(
    session: Session,
    *,
    job_id: str,
    slot: str,
    holder: str,
    finished_at: datetime,
    error: str | None = None,
) -> bool:
    """Record the end of a claimed run (``error``: one non-secret line); False if the
    claim is not ``holder``'s."""
    result = session.execute(
        update(JobClaim)
        .where(JobClaim.job_id == job_id, JobClaim.slot == slot, JobClaim.holder == holder)
        .values(finished_at=finished_at, error=error)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1


def get(session: Session, *, job_id: str, slot: str) -> JobClaim | None:
    """The claim of one slot, or None when nobody has claimed it."""
    query = select(JobClaim).where(JobClaim.job_id == job_id, JobClaim.slot == slot)
    return session.scalars(query).first()


def latest(session: Session, *, job_id: str) -> JobClaim | None:
    """The most recent claim of ``job_id`` (scheduled or manual), or None."""
    query = (
        select(JobClaim)
        .where(JobClaim.job_id == job_id)
        .order_by(JobClaim.claimed_at.desc(), JobClaim.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def prune(session: Session, *, before: datetime) -> int:
    """Delete claims made before ``before`` (their slots can no longer come due);
    returns how many went. 200 clusters scanned 4 times a day add 800 rows a day."""
    result = session.execute(
        delete(JobClaim)
        .where(JobClaim.claimed_at < before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
