"""Remediation requests in the approval channel, and in command replies.

``request_message`` is the approval message of R-<id>: what would change (the plan's lines,
secrets already masked), risk and the approvals needed, who asked, until when, and the
Approve / Reject buttons (their value is only the request id: the state lives in the
store). Once the request is decided the same message is re-rendered with the outcome in
place of the buttons, so an old message cannot be clicked again. ``request_reply`` is
every later event, as a reply in that message's thread. ``requests_message`` lists
requests for ``/harvester requests``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from bot.notify.payloads import RequestNotice
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    actions,
    button,
    code,
    context,
    escape,
    in_code_block,
    message,
    one_line,
    pack_lines,
    section,
    user_ref,
)
from bot.slack.blocks.timefmt import format_absolute

APPROVE_ACTION_ID = "request-approve"
REJECT_ACTION_ID = "request-reject"
_OUTCOME = {
    "done": ":white_check_mark: *Done*",
    "failed": ":x: *Failed*",
    "drifted": ":warning: *Not applied: the cluster changed*",
    "rejected": ":no_entry_sign: *Rejected*",
    "expired": ":hourglass: *Expired*",
    "unknown": ":grey_question: *Outcome unknown*",
    "approved": ":ballot_box_with_check: *Approved*",
    "vote": ":ballot_box_with_check: *Approval recorded*",
}


def _rid(notice: RequestNotice) -> str:
    return f"R-{notice.request_id}"


def _head(notice: RequestNotice, *, tz: tzinfo) -> str:
    need = (
        "1 approval" if notice.approvals_required == 1 else f"{notice.approvals_required} approvals"
    )
    return (
        f":wrench: {code(_rid(notice))} *{escape(one_line(notice.title, 150))}* on "
        f"*{escape(one_line(notice.cluster, 100))}* for {code(notice.finding_id)}\n"
        f"{escape(notice.risk)} risk · needs {need} · asked by {user_ref(notice.requester)} · "
        f"expires {escape(format_absolute(notice.expires_at, tz=tz))}"
    )


def _event_text(notice: RequestNotice, *, tz: tzinfo) -> str:
    text = _OUTCOME.get(notice.event, notice.event)
    if notice.actor:
        text += f" by {user_ref(notice.actor)}"
    text += f" · {escape(format_absolute(notice.at, tz=tz))}"
    if notice.detail:
        text += f"\n{escape(one_line(notice.detail, 1000))}"
    return text


def request_message(
    planned: RequestNotice,
    outcome: RequestNotice | None = None,
    *,
    tz: tzinfo,
    command: str = DEFAULT_COMMAND,
    buttons: bool = True,
) -> Message:
    """The approval message; with ``outcome``, the buttons give way to it. Without
    ``buttons`` (the requester's own copy) it is the plan alone."""
    # Plan lines quote live values (a setting's current value): nothing in them may
    # close the code block and write outside it, in the message approvers decide on.
    plan = [in_code_block(one_line(line, 500)) for line in planned.lines] or ["(no plan lines)"]
    blocks = [section(_head(planned, tz=tz))]
    blocks += [section(f"```{chunk}```") for chunk, _ in pack_lines(plan, 2990)[:5]]
    rid = _rid(planned)
    if outcome is None and not buttons:
        fallback = f"{rid} waits for approval: {planned.title} on {planned.cluster}"
    elif outcome is None:
        # The Approve value binds the click to the plan shown: R-7:<hash prefix>.
        bound = f"{rid}:{planned.plan_hash[:16]}" if planned.plan_hash else rid
        blocks.append(
            actions(
                button("Approve", action_id=APPROVE_ACTION_ID, value=bound, style="primary"),
                button("Reject", action_id=REJECT_ACTION_ID, value=rid, style="danger"),
            )
        )
        hint = (
            f"Only `SECBOT_APPROVERS`, never the requester. {code(f'{command} approve {rid}')} · "
            f"{code(f'{command} reject {rid} <reason>')}"
        )
        blocks.append(context(hint))
        fallback = f"{rid} waits for approval: {planned.title} on {planned.cluster}"
    else:
        blocks.append(section(_event_text(outcome, tz=tz)))
        fallback = f"{rid} {outcome.event}: {planned.title} on {planned.cluster}"
    return message(fallback, blocks)


def request_reply(update: RequestNotice, *, tz: tzinfo) -> Message:
    """One event of a request, for its thread."""
    text = f"{code(_rid(update))} {_event_text(update, tz=tz)}"
    return message(f"{_rid(update)} {update.event}", [section(text)])


def requests_message(
    notices: Sequence[RequestNotice], *, tz: tzinfo, command: str = DEFAULT_COMMAND
) -> Message:
    """``/harvester requests``: one line each, newest first."""
    if not notices:
        return message("No remediation requests.", [section("No remediation requests.")])
    lines = [
        f"{code(_rid(n))} *{escape(n.event)}* · {escape(one_line(n.title, 100))} on "
        f"*{escape(one_line(n.cluster, 60))}* · {code(n.finding_id)} · "
        f"{user_ref(n.requester)} · {escape(format_absolute(n.at, tz=tz))}"
        for n in notices
    ]
    blocks = [section(chunk) for chunk, _ in pack_lines(lines)[:45]]
    blocks.append(
        context(f"{code(f'{command} approve R-7')} · {code(f'{command} reject R-7 <reason>')}")
    )
    return message(f"{len(notices)} remediation request(s)", blocks)
