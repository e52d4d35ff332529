"""ORM models of remediation: requests (R-<id>) and the votes on them.

A request moves along ``pending -> approved -> executing -> done | failed | drifted``, or
ends ``rejected`` / ``expired``, or ``unknown`` when a crash left it ``executing``. Every
move is a conditional write (``UPDATE … WHERE state = <expected>``), so double clicks, Slack
retries and two replicas cannot move it twice (reference/libraries.md §5.5). ``plan`` is the
plan's JSON (non-secret by contract: bot.remediation.plan), ``plan_hash`` what approvals are
bound to. One vote per person per request (unique), each remembering the hash it approved.

Imported at the end of bot.store.models, so ``Base.metadata`` always holds these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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

REQUEST_STATES = (
    "pending",
    "approved",
    "rejected",
    "expired",
    "executing",
    "done",
    "failed",
    "drifted",
    "unknown",
)
DECISIONS = ("approve", "reject")


class RemediationRequest(Base):
    """One ``fix`` asked for: the plan, who asked, where it stands."""

    __tablename__ = "remediation_requests"
    __table_args__ = (
        CheckConstraint(_in("state", REQUEST_STATES), name="state"),
        Index(None, "state", "expires_at"),
        Index(None, "finding_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"))
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    action: Mapped[str] = mapped_column(String(64))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan_hash: Mapped[str] = mapped_column(String(64))
    risk: Mapped[str] = mapped_column(String(8))
    approvals_required: Mapped[int] = mapped_column(Integer)
    requester: Mapped[str] = mapped_column(String(64))  # Slack user id (or "cli:<user>")
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # non-secret outcome
    # The process executing it (host:pid:random, as in scheduler_instances): recovery
    # takes over only requests whose process is no longer alive.
    executor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)  # rejection / failure, one line


class Approval(Base):
    """One person's vote on one request, bound to the plan hash they saw."""

    __tablename__ = "approvals"
    __table_args__ = (
        UniqueConstraint("request_id", "approver"),
        CheckConstraint(_in("decision", DECISIONS), name="decision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("remediation_requests.id"))
    approver: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))
    plan_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
