"""The rules of the approval state machine, as checks that change nothing:
bot.remediation.requests applies them (refuses, moves, audits).

``vote_denial``: may this person vote on this request now (pending and unexpired, not
the requester, an approver — or, when the approver user-group lookup failed, why that
cannot be told — bound to the plan they saw, a rejection with a reason).

``run_refusal``: may this approved request run now. The store is not trusted to hold
what was approved: anyone with write access to the database could edit a plan after the
approval, or set a request to ``approved`` without a vote, and a run lost to a crash
must not change a cluster days later. A request that fails one of these ends instead
(audited, announced) without a single call to its cluster:

- the stored plan must hash to ``plan_hash`` exactly as the request computed it (the
  hash the votes were bound to) -> else ``failed``;
- approve votes by people other than the requester must number what the (hashed) plan
  requires, whatever the row's own ``approvals_required`` says -> else ``failed``;
- it must start within the request's TTL (``expires_at - created_at``: the
  ``SECBOT_REMEDIATION_TTL`` it was asked with) after the approval -> else ``expired``.

Reasons name the rule, never the plan's content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.durations import format_duration
from bot.remediation.request_views import stored_plan
from bot.store.db import Session
from bot.store.models_remediation import RemediationRequest
from bot.store.repos import remediation as repo

TAMPERED = "not run: the stored plan no longer matches what was approved"


class ApproverLookupFailed(Exception):
    """Whether the voter is an approver cannot be told (a user-group lookup failed);
    the message says which lookup."""


def vote_denial(
    row: RemediationRequest,
    *,
    voter: str,
    approve: bool,
    plan_hash: str | None,  # the plan the voter saw (a prefix is enough); None: not shown
    may_approve: Callable[[str], bool],  # may raise ApproverLookupFailed
    now: datetime,
    reason: str,
) -> str | None:
    """None if the vote counts; else why not ("expired": the request's time is up)."""
    if row.state != "pending":
        return f"it is {row.state}, not waiting for a decision"
    if row.expires_at <= now:
        return "expired"
    if voter == row.requester:
        return "you asked for it; someone else must approve or reject it"
    try:
        allowed = may_approve(voter)
    except ApproverLookupFailed as e:
        return f"{e}: I could not check with Slack whether you are an approver; try again soon"
    if not allowed:
        return "only approvers (SECBOT_APPROVERS) may decide on remediations"
    if plan_hash is not None and not (plan_hash and row.plan_hash.startswith(plan_hash)):
        return "the plan changed since you saw it; look at it again"
    if not approve and not reason.strip():
        return "a rejection needs a reason: reject R-<id> <reason>"
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why R-<id> may not run, and the state it ends in ("failed" or "expired")."""

    state: str
    reason: str


def run_refusal(session: Session, row: RemediationRequest, *, now: datetime) -> Refusal | None:
    """None if ``row`` (approved) may run now; else why not."""
    try:
        plan = stored_plan(row)
    except (ValueError, TypeError):
        return Refusal("failed", TAMPERED)
    if plan.plan_hash() != row.plan_hash:
        return Refusal("failed", TAMPERED)
    required = max(row.approvals_required, plan.approvals_required)
    voters = {v for v in repo.approvers(session, row.id) if v != row.requester}
    if len(voters) < required:
        return Refusal(
            "failed", f"not run: not enough approvals recorded ({len(voters)} of {required})"
        )
    ttl = row.expires_at - row.created_at
    # decided_at is the approval; a request without one was never approved by a vote
    # (and failed above), so created_at is only a floor.
    approved_at = row.decided_at or row.created_at
    if now > approved_at + ttl:
        return Refusal(
            "expired",
            f"not run: approved but not started within {format_duration(ttl)} of the "
            "approval; plan again with fix",
        )
    return None
