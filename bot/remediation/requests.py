"""Remediation requests: the approval state machine, in the store, audited.

Keyword-only functions over a session the caller opened; every state change is a
conditional write whose row count says whether this caller made it, and is recorded in
the audit log in the same transaction (DESIGN.md "Security stance"):

- ``request`` stores a plan as ``pending`` (expires after ``ttl``, default 1 h);
- ``vote`` (approve or reject): only approvers, never the requester, one vote each, only
  while pending and unexpired, bound to the plan hash the voter saw; enough approvals move
  the request to ``approved``, a rejection (with a reason) to ``rejected``. Every refusal
  (a vote on a request that does not exist too) is audited ("remediation.denied") and
  returned with the rule (bot.remediation.rules.vote_denial);
- ``start`` moves ``approved -> executing``: the one caller that wins runs the plan,
  unless bot.remediation.rules refuses it (the stored plan no longer hashes to what
  was approved, too few approvals recorded, an approval older than the request's TTL):
  then it ends ``failed`` / ``expired`` and nothing runs;
- ``finish`` records done / failed / drifted with a non-secret result;
- ``expire`` ends pending requests past their time; ``recover`` marks requests a crash
  left ``executing`` as ``unknown`` (never re-run; the executor then reads the cluster).

Reading requests (``get``, ``listing``, the ids recovery picks up) is in
bot.remediation.request_views.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.audit.log import AuditLog
from bot.core.masking import mask_text
from bot.errors import UserError
from bot.findings.queries import parse_short_id
from bot.remediation import rules
from bot.remediation.plan import Plan
from bot.remediation.request_views import RequestView, short_request_id, view_of
from bot.store.db import Session
from bot.store.repos import findings as findings_repo
from bot.store.repos import remediation as repo

DEFAULT_TTL = timedelta(hours=1)


def _system(
    session: Session,
    audit: AuditLog,
    request_id: int,
    action: str,
    payload: dict[str, Any],
    *,
    at: datetime,
) -> None:
    """An audit record of a step the bot itself took on R-<id>."""
    audit.record(
        session,
        actor="system",
        action=action,
        subject=short_request_id(request_id),
        payload=payload,
        at=at,
    )


def request(
    *,
    session: Session,
    plan: Plan,
    requester: str,
    now: datetime,
    audit: AuditLog,
    ttl: timedelta = DEFAULT_TTL,
) -> RequestView:
    """Store ``plan`` (a bot.remediation.plan.Plan) as a pending request."""
    finding = findings_repo.get(session, parse_short_id(plan.finding_id))
    if finding is None:
        raise UserError(f"{plan.finding_id} does not exist")
    row = repo.add(
        session,
        cluster_id=finding.cluster_id,
        finding_id=finding.id,
        action=plan.action,
        plan=json.loads(plan.to_json()),
        plan_hash=plan.plan_hash(),
        risk=plan.risk,
        approvals_required=plan.approvals_required,
        requester=requester,
        state="pending",
        created_at=now,
        expires_at=now + ttl,
    )
    audit.record(
        session,
        actor=requester,
        action="remediation.request",
        subject=short_request_id(row.id),
        payload={"finding": f"F-{finding.id}", "action": plan.action, "plan_hash": row.plan_hash},
        at=now,
    )
    return view_of(session, row)


@dataclass(frozen=True)
class VoteResult:
    """What a vote did: the request as it is now, or why the vote was refused (the
    refusal is audited; commit, then show ``denied`` to the voter)."""

    request: RequestView | None
    denied: str | None = None

    def raise_if_denied(self) -> RequestView:
        if self.denied is not None or self.request is None:
            raise UserError(self.denied or "no such request")
        return self.request


def _deny(
    session: Session, audit: AuditLog, *, actor: str, request_id: int, why: str, now: datetime
) -> VoteResult:
    audit.record(
        session,
        actor=actor,
        action="remediation.denied",
        subject=short_request_id(request_id),
        payload={"reason": why},
        at=now,
    )
    return VoteResult(None, f"{short_request_id(request_id)}: {why}")


def vote(
    *,
    session: Session,
    request_id: int,
    voter: str,
    approve: bool,
    plan_hash: str | None,  # the plan the voter saw (a prefix is enough); None: not shown
    may_approve: Callable[[str], bool],
    now: datetime,
    audit: AuditLog,
    reason: str = "",
) -> VoteResult:
    """Approve or reject; see the module docstring. A refusal is audited and returned,
    not raised, so the caller's transaction commits the audit row."""
    row = repo.get(session, request_id, lock=True)
    if row is None:  # audited too: who tried to decide on what
        _deny(session, audit, actor=voter, request_id=request_id, why="no such request", now=now)
        return VoteResult(None, f"{short_request_id(request_id)} does not exist")
    deny = rules.vote_denial(
        row,
        voter=voter,
        approve=approve,
        plan_hash=plan_hash,
        may_approve=may_approve,
        now=now,
        reason=reason,
    )
    if deny is not None:
        if deny == "expired":
            if repo.move(session, request_id, "pending", "expired", decided_at=now):
                _system(session, audit, request_id, "remediation.expired", {}, at=now)
            deny = "the request expired; ask for a new plan with fix"
        return _deny(session, audit, actor=voter, request_id=request_id, why=deny, now=now)
    clean = mask_text(" ".join(reason.split()))[:500] or None
    voted = repo.add_vote(
        session,
        request_id=request_id,
        approver=voter,
        decision="approve" if approve else "reject",
        plan_hash=row.plan_hash,
        reason=clean,
        at=now,
    )
    if not voted:
        return _deny(
            session,
            audit,
            actor=voter,
            request_id=request_id,
            why="you already voted on it",
            now=now,
        )
    action = "remediation.approve" if approve else "remediation.reject"
    audit.record(
        session,
        actor=voter,
        action=action,
        subject=short_request_id(request_id),
        payload={"plan_hash": row.plan_hash, "reason": clean},
        at=now,
    )
    if not approve:
        repo.move(session, request_id, "pending", "rejected", decided_at=now, reason=clean)
    else:
        if repo.approvals(session, request_id) >= row.approvals_required:
            repo.move(session, request_id, "pending", "approved", decided_at=now)
    session.expire(row)
    return VoteResult(view_of(session, row))


def start(
    *, session: Session, request_id: int, now: datetime, audit: AuditLog, executor: str = ""
) -> str | None:
    """approved -> ``"executing"`` for the one caller that may now execute; ``executor``
    names this process, so recovery can tell a live execution from an orphan. A request
    bot.remediation.rules refuses (a plan changed in the store, missing approvals, an
    approval too old) ends ``"failed"`` / ``"expired"`` instead, audited; the caller
    announces it and sends nothing. None: not this caller's to run."""
    row = repo.get(session, request_id, lock=True)
    if row is None or row.state != "approved":
        return None
    refused = rules.run_refusal(session, row, now=now)
    session.expire(row)  # the moves below bypass the session: read the row afresh later
    if refused is not None:
        result = {"reason": refused.reason}
        ended = finish(
            session=session,
            request_id=request_id,
            state=refused.state,
            result=result,
            now=now,
            audit=audit,
            frm="approved",
        )
        return refused.state if ended else None
    if not repo.move(
        session, request_id, "approved", "executing", decided_at=now, executor=executor or None
    ):
        return None
    _system(session, audit, request_id, "remediation.execute", {}, at=now)
    return "executing"


def finish(
    *,
    session: Session,
    request_id: int,
    state: str,
    result: dict[str, Any],
    now: datetime,
    audit: AuditLog,
    frm: str = "executing",
) -> bool:
    """executing (or unknown, after recovery) -> done | failed | drifted; approved ->
    failed | expired when ``start`` refuses to run it."""
    if state not in ("done", "failed", "drifted", "unknown", "expired"):
        raise ValueError(f"not a final execution state: {state}")
    reason = str(result.get("reason") or "") or None
    if not repo.move(
        session, request_id, frm, state, finished_at=now, result=result, reason=reason
    ):
        return False
    _system(session, audit, request_id, f"remediation.{state}", result, at=now)
    return True


def expire(*, session: Session, now: datetime, audit: AuditLog) -> list[int]:
    """End every pending request past its time; returns their ids."""
    ids = repo.ids_in_state(session, "pending", before=now)
    ended = [i for i in ids if repo.move(session, i, "pending", "expired", decided_at=now)]
    for request_id in ended:
        _system(session, audit, request_id, "remediation.expired", {}, at=now)
    return ended


def recover(
    *,
    session: Session,
    now: datetime,
    audit: AuditLog,
    started_before: datetime | None = None,
    alive: frozenset[str] | None = None,
) -> list[int]:
    """Requests a crash left ``executing``: mark them ``unknown`` (never run again).
    Only those whose executing process is not in ``alive`` (live processes, from their
    heartbeats) — or, without that, started before ``started_before``."""
    ids = repo.ids_in_state(session, "executing", decided_before=started_before)
    if alive is not None:
        ids = [i for i in ids if (row := repo.get(session, i)) and row.executor not in alive]
    marked = [i for i in ids if repo.move(session, i, "executing", "unknown")]
    for request_id in marked:
        _system(
            session,
            audit,
            request_id,
            "remediation.outcome-unknown",
            {"reason": "found executing at start"},
            at=now,
        )
    return marked
