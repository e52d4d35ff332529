"""fix / approve / reject / requests, and the Approve / Reject buttons.

``fix F-12`` (operators): ack "Planning…"; on the worker, plan against the live cluster
(the server's dry run included), store the request and post the approval message (with
buttons) to the approval channel, then answer the requester with the plan. A fix refused
before that (the action does not fit, a precondition, the server's dry run) is audited.
``approve R-7`` / the Approve button (approvers, never the requester): record the vote;
when it completes the approvals, execute on the worker and answer with the outcome (the
approval thread gets it too). ``reject R-7 reason`` records a rejection; the Reject button
asks for the command, because a rejection needs a reason. Every refusal is audited by the
service and shown to the clicker only.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.errors import UserError
from bot.remediation import flow, request_views
from bot.remediation.rules import ApproverLookupFailed
from bot.remediation.service import plan_fix
from bot.remediation.text import plan_lines
from bot.slack.auth import (
    LOOKUP_FAILED,
    GroupLookup,
    LookupFailed,
    Operators,
    slack_group_lookup,
)
from bot.slack.blocks.common import code, escape, in_code_block, message, one_line, section
from bot.slack.blocks.notices import not_enabled_message
from bot.slack.blocks.requests import (
    APPROVE_ACTION_ID,
    REJECT_ACTION_ID,
    request_message,
    requests_message,
)
from bot.slack.command_types import Approve, Fix, Reject, Requests
from bot.slack.listeners.outcome import Later, Request
from bot.slack.services import RemediationServices, SlackServices
from bot.slack.worker import Message, responder
from bot.store.db import read_scope


def member(allowed: Operators, user: str, lookup: GroupLookup) -> bool:
    """On the list (or in a listed group). A failed group lookup is no answer, so the
    vote is refused saying the lookup failed (ApproverLookupFailed), as for operators."""
    try:
        return bool(user) and allowed.is_operator(user, lookup=lookup)
    except LookupFailed:
        raise ApproverLookupFailed(LOOKUP_FAILED) from None


def _enabled(r: Request) -> RemediationServices:
    if r.services.remediation is None:  # pragma: no cover - the parser answers first
        raise UserError("remediation is not enabled: set SECBOT_APPROVERS")
    return r.services.remediation


def fix(command: Fix, r: Request) -> Later:
    s, rem = r.services, _enabled(r)

    def refused(reason: str, action: str | None) -> None:
        flow.refuse_fix(
            engine=s.engine,
            requester=r.user,
            finding_id=command.finding_id,
            action=action,
            reason=reason,
            now=s.clock(),
            audit=s.audit,
        )

    def job() -> Message:
        try:
            plan = plan_fix(
                engine=s.engine,
                finding_id=command.finding_id,
                action_id=command.action,
                targets=s.load_targets(),
                connect=s.connect,
                now=s.clock(),
            )
        except UserError as e:  # refused before anything was asked: audited, then shown
            refused(str(e), command.action)
            raise
        if not plan.accepted:
            # A plan the API server refuses (a webhook, validation) cannot be approved
            # into anything but a failure: show why, store nothing (but audit it).
            refused(f"the server refused the change in a dry run: {plan.dry_run}", plan.action)
            lines = "\n".join(in_code_block(line) for line in plan_lines(plan))
            text = (
                f":no_entry: The server refused this change in a dry run, so there is "
                f"nothing to approve:\n```{lines}```"
            )
            return message("The server refused the planned change", [section(text)])
        view = flow.ask(
            engine=s.engine,
            plan=plan,
            requester=r.user,
            now=s.clock(),
            audit=s.audit,
            channel=rem.channel,
            ttl=rem.ttl,
        )
        where = f"posted to {rem.channel}" if rem.channel else "no approval channel is set"
        planned = flow.notice(view, "planned", at=view.created_at)
        reply = request_message(planned, tz=s.tz, command=s.command, buttons=False)
        intro = section(
            f":memo: {code(view.short_id)} planned ({where}); an approver must approve it."
        )
        return message(reply["text"], [intro, *reply["blocks"]])

    return Later(job, ack=message(f"Planning the fix of F-{command.finding_id}…", []))


def decide(
    request_id: int, *, approve: bool, reason: str, r: Request, plan_hash: str | None = None
) -> Message:
    """A vote, and the execution it may complete (on the worker)."""
    s, rem = r.services, _enabled(r)
    result = flow.decide(
        engine=s.engine,
        request_id=request_id,
        voter=r.user,
        approve=approve,
        reason=reason,
        may_approve=lambda user: member(rem.approvers, user, r.lookup),
        now=s.clock(),
        audit=s.audit,
        channel=rem.channel,
        plan_hash=plan_hash,
    )
    view = result.raise_if_denied()
    if view.state == "approved":
        done = rem.executor.run(view.id) or view
        return _outcome(done)
    if view.state == "rejected":
        return message(
            f"R-{view.id} rejected", [section(f":no_entry_sign: {code(view.short_id)} rejected.")]
        )
    count = f"{len(view.approvals)} of {view.approvals_required}"
    return message(f"R-{view.id}: {count}", [section(f"Approval recorded: {count}.")])


def _outcome(view: request_views.RequestView) -> Message:
    result = view.result or {}
    # The reason may quote the API server (a webhook's denial): text, never markup.
    detail = escape(one_line(str(result.get("reason") or result.get("verified") or ""), 500))
    text = f"{code(view.short_id)} *{view.state}*" + (f": {detail}" if detail else "")
    return message(f"{view.short_id} {view.state}", [section(text)])


def approve(command: Approve, r: Request) -> Later:
    return Later(lambda: decide(command.request_id, approve=True, reason="", r=r))


def reject(command: Reject, r: Request) -> Later:
    return Later(lambda: decide(command.request_id, approve=False, reason=command.reason, r=r))


def listing(command: Requests, r: Request) -> Later:
    s = r.services

    def job() -> Message:
        with read_scope(s.engine) as session:
            views = request_views.listing(session=session, pending_only=command.pending, limit=40)
        notices = [flow.notice(v, v.state, at=v.created_at) for v in views]
        return requests_message(notices, tz=s.tz, command=s.command)

    return Later(job)


def register(app: App, services: SlackServices) -> None:
    """The Approve / Reject buttons of approval messages."""

    def clicked(ack: Ack, body: dict[str, Any], client: WebClient, *, approve: bool) -> None:
        ack()
        url = body.get("response_url")
        user = str((body.get("user") or {}).get("id") or "")
        value = str(((body.get("actions") or [{}])[0]).get("value") or "")
        if not isinstance(url, str) or not url:
            return
        if services.remediation is None:
            reply = not_enabled_message("approve", command=services.command)
            services.worker.submit(lambda: reply, reply=responder(url), what="request-button")
            return
        request = Request(
            services=services, user=user, now=services.clock(), lookup=slack_group_lookup(client)
        )

        def job() -> Message:
            rid, _sep, shown = value.partition(":")
            number = rid.removeprefix("R-")
            request_id = int(number) if number.isdigit() else 0
            if not approve:
                how = code(f"{services.command} reject {rid} <reason>")
                return message("A rejection needs a reason", [section(f"Reject with: {how}")])
            return decide(request_id, approve=True, reason="", r=request, plan_hash=shown or None)

        def answer() -> Message:
            return {**job(), "replace_original": False}

        services.worker.submit(answer, reply=responder(url), what="request-button")

    def approve_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        clicked(ack, body, client, approve=True)

    def reject_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        clicked(ack, body, client, approve=False)

    app.action(APPROVE_ACTION_ID)(approve_clicked)
    app.action(REJECT_ACTION_ID)(reject_clicked)
