"""The remediation flow around the state machine: each step and its message in one
transaction (the outbox, like every other notification), for Slack and the scheduler.

- ``ask``: store the plan as a pending request and post the approval message (with
  Approve / Reject) to the approval channel;
- ``decide``: a vote; the outcome (approval recorded, approved, rejected) is a reply in
  the approval message's thread, and a decision replaces its buttons;
- ``refuse_fix``: a fix that never became a request (it does not fit the finding, a
  precondition, a refused dry run), audited;
- ``announce_finish`` (the executor's hook): done / failed / drifted / unknown, same way;
- ``expire``: pending requests past their time end, and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.audit.log import AuditLog
from bot.notify.payloads import RequestNotice
from bot.remediation import request_views, requests, rules
from bot.remediation.plan import Plan
from bot.remediation.text import plan_lines
from bot.store.db import Engine, Session, session_scope
from bot.store.repos import outbox as outbox_repo


def notice(
    view: request_views.RequestView,
    event: str,
    *,
    at: datetime,
    actor: str | None = None,
    detail: str | None = None,
) -> RequestNotice:
    plan = view.plan
    return RequestNotice(
        request_id=view.id,
        event=event,
        action=view.action,
        title=plan.title,
        cluster=plan.cluster,
        finding_id=plan.finding_id,
        risk=view.risk,
        approvals_required=view.approvals_required,
        requester=view.requester,
        at=at,
        expires_at=view.expires_at,
        lines=tuple(plan_lines(plan)) if event == "planned" else (),
        actor=actor,
        detail=detail,
        plan_hash=view.plan_hash,
    )


def _post(session: Session, channel: str | None, item: RequestNotice, *, at: datetime) -> None:
    if channel is None:
        return
    kind, key = (
        ("request", f"request:{channel}:R-{item.request_id}")
        if item.event == "planned"
        else ("request-update", f"request-update:{channel}:R-{item.request_id}:{item.event}")
    )
    if item.event == "vote":
        key += f":{item.actor}"
    outbox_repo.enqueue(
        session, dedupe_key=key, channel=channel, kind=kind, payload=item.to_json(), now=at
    )


def ask(
    *,
    engine: Engine,
    plan: Plan,
    requester: str,
    now: datetime,
    audit: AuditLog,
    channel: str | None,
    ttl: timedelta = requests.DEFAULT_TTL,
) -> request_views.RequestView:
    with session_scope(engine) as session:
        view = requests.request(
            session=session, plan=plan, requester=requester, now=now, audit=audit, ttl=ttl
        )
        _post(session, channel, notice(view, "planned", at=now), at=now)
    return view


def decide(
    *,
    engine: Engine,
    request_id: int,
    voter: str,
    approve: bool,
    reason: str,
    may_approve: Callable[[str], bool],
    now: datetime,
    audit: AuditLog,
    channel: str | None,
    plan_hash: str | None = None,
) -> requests.VoteResult:
    """A vote; commits the audit row of a refusal too (then see ``denied``).

    Membership (a Slack user-group lookup, seconds at worst) is settled before the
    transaction: nothing slow may run while SQLite's write lock is held.
    """
    settled = _settled(may_approve, voter)
    with session_scope(engine) as session:
        result = requests.vote(
            session=session,
            request_id=request_id,
            voter=voter,
            approve=approve,
            plan_hash=plan_hash,
            may_approve=settled,
            now=now,
            audit=audit,
            reason=reason,
        )
        view = result.request or request_views.get(session=session, request_id=request_id)
        if view is None:
            return result
        if view.state == "expired":  # found by this vote: the buttons must go too
            _post(
                session,
                channel,
                notice(view, "expired", at=now, detail="nobody decided in time"),
                at=now,
            )
        elif result.request is not None:
            event = {"approved": "approved", "rejected": "rejected"}.get(view.state, "vote")
            detail = (
                view.reason
                if event == "rejected"
                else (
                    f"{len(view.approvals)} of {view.approvals_required} approvals"
                    if event == "vote"
                    else "executing now"
                )
            )
            _post(session, channel, notice(view, event, at=now, actor=voter, detail=detail), at=now)
    return result


def _settled(may_approve: Callable[[str], bool], voter: str) -> Callable[[str], bool]:
    """``may_approve(voter)`` asked now; a failed lookup is kept, for the vote to refuse
    saying so (rules.ApproverLookupFailed), not as "only approvers"."""
    try:
        allowed = may_approve(voter)
    except rules.ApproverLookupFailed as e:
        failure = e

        def unknown(_user: str) -> bool:
            raise failure

        return unknown
    return lambda _user: allowed


def refuse_fix(
    *,
    engine: Engine,
    requester: str,
    finding_id: int,
    action: str | None,
    reason: str,
    now: datetime,
    audit: AuditLog,
) -> None:
    """A ``fix`` that asks nothing of the approvers, audited as "remediation.denied" on
    F-<id>: an action that does not fit the finding, a precondition that does not hold,
    a dry run the server refused. ``reason`` is what the requester is shown (the audit
    log masks credentials again)."""
    with session_scope(engine) as session:
        audit.record(
            session,
            actor=requester[:64] or "unknown",
            action="remediation.denied",
            subject=f"F-{finding_id}",
            payload={"action": action, "reason": " ".join(reason.split())[:500]},
            at=now,
        )


def announce_finish(channel: str | None) -> Callable[[Session, request_views.RequestView], None]:
    """The executor's hook: the outcome of an execution, posted in the same transaction."""

    def announce(session: Session, view: request_views.RequestView) -> None:
        result = view.result or {}
        detail = str(result.get("reason") or result.get("verified") or "") or None
        when = view.finished_at or view.created_at
        _post(session, channel, notice(view, view.state, at=when, detail=detail), at=when)

    return announce


def expire(*, engine: Engine, now: datetime, audit: AuditLog, channel: str | None) -> list[int]:
    with session_scope(engine) as session:
        ended = requests.expire(session=session, now=now, audit=audit)
        for request_id in ended:
            view = request_views.get(session=session, request_id=request_id)
            if view is not None:
                _post(
                    session,
                    channel,
                    notice(view, "expired", at=now, detail="nobody decided in time"),
                    at=now,
                )
    return ended
