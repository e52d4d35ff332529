"""Remediation requests as callers read them: R-<id> and its plan, votes and outcome.

The read side of bot.remediation.requests (which owns every state change): ``get`` one
request, ``listing`` the newest (``pending_only``: those still moving), and the ids the
executor picks up at start — ``unresolved`` (``unknown``, to verify) and ``approved``
(not started yet). A ``RequestView`` is a frozen snapshot built in the caller's session,
so it can be used after that session ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.remediation.plan import Plan
from bot.store.db import Session
from bot.store.models_remediation import RemediationRequest
from bot.store.repos import remediation as repo


def short_request_id(request_id: int) -> str:
    return f"R-{request_id}"


@dataclass(frozen=True)
class RequestView:
    id: int
    action: str
    state: str
    requester: str
    risk: str
    approvals_required: int
    approvals: tuple[str, ...]
    plan: Plan
    plan_hash: str
    created_at: datetime
    expires_at: datetime
    finding_id: int
    reason: str | None = None
    result: dict[str, Any] | None = None
    finished_at: datetime | None = None

    @property
    def short_id(self) -> str:
        return short_request_id(self.id)


def stored_plan(row: RemediationRequest) -> Plan:
    """The plan as ``requests.request`` stored it; ValueError if it is not one."""
    return Plan.from_json(json.dumps(row.plan))


def view_of(session: Session, row: RemediationRequest) -> RequestView:
    """``row`` with its approvers, as a RequestView."""
    votes = repo.approvers(session, row.id)
    return RequestView(
        id=row.id,
        action=row.action,
        state=row.state,
        requester=row.requester,
        risk=row.risk,
        approvals_required=row.approvals_required,
        approvals=tuple(votes),
        plan=stored_plan(row),
        plan_hash=row.plan_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        finding_id=row.finding_id,
        reason=row.reason,
        result=dict(row.result) if row.result else None,
        finished_at=row.finished_at,
    )


def get(*, session: Session, request_id: int) -> RequestView | None:
    row = repo.get(session, request_id)
    return view_of(session, row) if row is not None else None


def listing(*, session: Session, pending_only: bool = False, limit: int = 20) -> list[RequestView]:
    states = ("pending", "approved", "executing") if pending_only else None
    return [view_of(session, row) for row in repo.newest(session, states=states, limit=limit)]


def unresolved(*, session: Session) -> list[int]:
    """Requests ``unknown`` without an outcome yet (recovery verifies them)."""
    return repo.ids_in_state(session, "unknown", unfinished=True)


def approved(*, session: Session) -> list[int]:
    """Requests approved but not started."""
    return repo.ids_in_state(session, "approved")
