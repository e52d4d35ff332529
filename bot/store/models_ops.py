"""ORM models of the bot's own operation: finding history, the outbox, job claims and
the scheduler instances (DESIGN.md "Data model": outbox, scheduler_lock / leases).

- ``finding_events``: every lifecycle transition (new, reopened, escalated, resolved,
  silenced, unsilenced); the digest reads "what changed since the last digest" from it.
- ``outbox``: every message secbot means to post, written in the same transaction as the
  state change that caused it. ``dedupe_key`` is unique, so planning the same message
  twice is a no-op; a dispatcher claims due rows (``claimed_until``), sends, and marks
  them ``sent`` (with the Slack ``ts`` for threading) or, after too many failures,
  ``dead``. The payload is data (non-secret by contract), rendered at send time.
- ``job_claims``: one row per (job, slot): whoever inserts it runs that slot, so two
  overlapping schedulers never run the same scan or send the same digest twice.
- ``scheduler_instances``: each ``secbot serve`` says it is alive (``seen_at``), which
  is how a second replica on SQLite is noticed and how ``scheduler list`` shows the
  leader.

Imported at the end of bot.store.models, so ``Base.metadata`` always holds these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime, _in

EVENT_KINDS = ("new", "reopened", "escalated", "resolved", "silenced", "unsilenced")
OUTBOX_STATES = ("pending", "sent", "dead")


class FindingEvent(Base):
    """One transition of one finding, at the time of the scan (or command) that made it."""

    __tablename__ = "finding_events"
    __table_args__ = (
        CheckConstraint(_in("event", EVENT_KINDS), name="event"),
        Index(None, "cluster_id", "at"),
        Index(None, "finding_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    severity: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))  # Slack user id for silences


class OutboxRow(Base):
    """A message to post (or a thread reply / update), until it is sent or dead."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "finding_id", "channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))  # alert | resolved | digest | notice
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slack_channel: Mapped[str | None] = mapped_column(String(32))  # channel id it went to
    slack_ts: Mapped[str | None] = mapped_column(String(32))  # of the message it posted
    thread_ts: Mapped[str | None] = mapped_column(String(32))  # the thread it replied in
    last_error: Mapped[str | None] = mapped_column(Text)


class JobClaim(Base):
    """Who ran (or is running) one slot of one job; unique per (job_id, slot)."""

    __tablename__ = "job_claims"
    __table_args__ = (UniqueConstraint("job_id", "slot"), Index(None, "job_id", "claimed_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200))
    slot: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    holder: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)


class SchedulerInstance(Base):
    """A running ``secbot serve``: host, pid, whether it leads, when it was last alive."""

    __tablename__ = "scheduler_instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leader: Mapped[bool] = mapped_column(Boolean)
