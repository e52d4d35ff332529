"""Scheduler instances: each ``secbot serve`` says it is alive, so a second replica on
SQLite is noticed and ``secbot scheduler list`` can show who leads.

An instance refreshes its row every leader-loop tick (``heartbeat``); a row whose
``seen_at`` is older than a few ticks belongs to a process that died without saying
goodbye and simply stops counting.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models_ops import SchedulerInstance


def heartbeat(
    session: Session, *, instance_id: str, host: str, pid: int, now: datetime, leader: bool
) -> SchedulerInstance:
    """Create or refresh this instance's row (``seen_at`` = ``now``)."""
    row = session.get(SchedulerInstance, instance_id)
    if row is None:
        row = SchedulerInstance(
            id=instance_id, host=host, pid=pid, started_at=now, seen_at=now, leader=leader
        )
        session.add(row)
    else:
        row.seen_at = now
        row.leader = leader
    session.flush()
    return row


def alive(session: Session, *, since: datetime) -> list[SchedulerInstance]:
    """Instances seen at or after ``since``, oldest first."""
    query = (
        select(SchedulerInstance)
        .where(SchedulerInstance.seen_at >= since)
        .order_by(SchedulerInstance.started_at, SchedulerInstance.id)
    )
    return list(session.scalars(query))


def others_alive(session: Session, *, me: str, since: datetime) -> list[SchedulerInstance]:
    """Instances other than ``me`` seen at or after ``since``, oldest first."""
    return [row for row in alive(session, since=since) if row.id != me]


def remove(session: Session, *, instance_id: str) -> bool:
    """Delete this instance's row (clean shutdown); False if there was none."""
    result = session.execute(
        delete(SchedulerInstance)
        .where(SchedulerInstance.id == instance_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0)) == 1
