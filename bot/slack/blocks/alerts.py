"""Alerts: one finding's transition as a channel message, and its "resolved" follow-ups.

``alert_message`` is the top-level post for a new, reopened, escalated or unsilenced
finding. Its first line says how bad (emoji *and* word) and what happened; then the
finding (F-id, title, check id, resource, message) and, for certificates, the expiry as
relative and absolute date. Relative dates count from ``notice.at`` (the scan that saw
it), not from whenever someone reads the message: the message is rendered once. A
context line gives the two commands people need next (``show`` and ``silence``).

When the finding resolves, the dispatcher replies in the alert's thread
(``resolved_reply``) and re-renders the alert itself (``resolved_original``): the same
finding, headed by ":white_check_mark: Resolved …" with the severity emoji gone, so a
scrolling reader no longer sees it as urgent.

The fallback ``text`` is what notifications, screen readers and the console show, so it
stands alone: "CRITICAL new on prod-a: F-12 Certificate expires soon".
"""

from __future__ import annotations

from datetime import tzinfo

from bot.core.severity import Severity
from bot.findings.views import short_id
from bot.notify.payloads import FindingNotice
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    escape,
    message,
    one_line,
    section,
    severity_label,
    truncate,
)
from bot.slack.blocks.timefmt import format_absolute, format_expiry

# Lengths of user-controlled parts, cut before they are put together, so the section
# stays well within 3,000 characters and the message is what gets cut, not the header.
_CLUSTER = 100
_TITLE = 200
_CHECK = 100
_RESOURCE = 300
_MESSAGE = 1500

# The line under the severity: "*Escalated* on *prod-a*: was warning, 30d → now …".
_EVENT_TEXT = {
    "new": "*New finding*",
    "reopened": "*Reopened*",
    "escalated": "*Escalated*",
    "unsilenced": "*Silence expired, still open*",
    "resolved": "*Resolved*",
}
# The fallback's verb: "CRITICAL <verb> on prod-a: …".
_EVENT_WORD = {
    "new": "new",
    "reopened": "reopened",
    "escalated": "escalated",
    "unsilenced": "silence expired",
    "resolved": "resolved",
}


def _cluster(notice: FindingNotice) -> str:
    return escape(one_line(notice.cluster, _CLUSTER))


def _state(severity: Severity, tier: str | None) -> str:
    """A severity and, when the finding has one, its expiry tier: "warning, 30d" (raw)."""
    return f"{severity.value}, {one_line(tier, 20)}" if tier else severity.value


def _before(notice: FindingNotice) -> str:
    return _state(notice.previous_severity or notice.severity, notice.previous_tier)


def escalation_text(notice: FindingNotice) -> str:
    """Raw "was warning, 30d → now critical, 14d"; an unchanged severity is repeated."""
    return f"was {_before(notice)} → now {_state(notice.severity, notice.tier)}"


def _event_line(notice: FindingNotice) -> str:
    """What happened, and where (mrkdwn)."""
    line = f"{_EVENT_TEXT[notice.event]} on *{_cluster(notice)}*"
    if notice.event == "escalated":
        return f"{line}: {escape(escalation_text(notice))}"
    if notice.event == "reopened":
        return f"{line}: it had resolved and is back"
    return line


def _finding_lines(notice: FindingNotice) -> list[str]:
    """F-id, title and check id; the resource; the message (escaped, then cut)."""
    title = escape(one_line(notice.title, _TITLE))
    check = code(one_line(notice.check_id, _CHECK))
    lines = [
        f"{code(short_id(notice.finding_id))} *{title}* ({check})",
        code(one_line(notice.resource, _RESOURCE)),
    ]
    # One line: a newline in scanned text (a CN) must not start a forged line of its own.
    text = " ".join(notice.message.split())
    return [*lines, truncate(escape(text), _MESSAGE)] if text else lines


def expiry_line(notice: FindingNotice, *, tz: tzinfo) -> str | None:
    """For a certificate: ":hourglass_flowing_sand: Certificate expires in 6 days, Dec 04 ·
    2026-12-04 14:05 CET" (":x: Certificate expired …" once past)."""
    if notice.expires_at is None:
        return None
    relative = format_expiry(notice.expires_at, now=notice.at, tz=tz)
    exact = format_absolute(notice.expires_at, tz=tz)
    emoji = ":x:" if notice.expires_at <= notice.at else ":hourglass_flowing_sand:"
    return f"{emoji} Certificate {relative} · {exact}"


def _fallback(notice: FindingNotice, *, label: str) -> str:
    return (
        f"{label} {_EVENT_WORD[notice.event]} on {notice.cluster}: "
        f"{short_id(notice.finding_id)} {notice.title}"
    )


def alert_message(notice: FindingNotice, *, tz: tzinfo, command: str = DEFAULT_COMMAND) -> Message:
    """The top-level post for a new, reopened, escalated or unsilenced finding.

    A ``resolved`` notice has no alert of its own; it is rendered as ``resolved_reply``
    (for a resolution whose original alert was never posted).
    """
    if notice.event == "resolved":
        return resolved_reply(notice, tz=tz)
    lines = [f"{severity_label(notice.severity)} · {_event_line(notice)}"]
    lines += _finding_lines(notice)
    expiry = expiry_line(notice, tz=tz)
    if expiry:
        lines.append(expiry)
    fid = short_id(notice.finding_id)
    hint = (
        f"{code(f'{command} show {fid}')} for details · "
        f"{code(f'{command} silence {fid} 7d <reason>')} to silence it · "
        f"scanned {escape(format_absolute(notice.at, tz=tz))}"
    )
    fallback = _fallback(notice, label=notice.severity.value.upper())
    if notice.event == "escalated":
        fallback += f" (was {_before(notice)})"
    return message(fallback, [section("\n".join(lines)), context(hint)])


def resolved_reply(notice: FindingNotice, *, tz: tzinfo) -> Message:
    """The reply in the alert's thread: resolved, when, and what it was."""
    when = escape(format_absolute(notice.at, tz=tz))
    title = escape(one_line(notice.title, _TITLE))
    text = (
        f":white_check_mark: *Resolved* on *{_cluster(notice)}*: "
        f"{code(short_id(notice.finding_id))} *{title}*\n"
        f"The scan of {when} no longer finds it on "
        f"{code(one_line(notice.resource, _RESOURCE))}."
    )
    fallback = (
        f"RESOLVED on {notice.cluster}: {short_id(notice.finding_id)} {notice.title} "
        f"(was {notice.severity.value})"
    )
    return message(fallback, [section(text)])


def resolved_original(
    original: FindingNotice,
    resolved: FindingNotice,
    *,
    tz: tzinfo,
    command: str = DEFAULT_COMMAND,
) -> Message:
    """``original``'s alert once ``resolved``: headed "Resolved <when>", without the
    severity emoji (no longer urgent) and without the silence hint (nothing to silence).
    """
    when = escape(format_absolute(resolved.at, tz=tz))
    was = f"Posted as {original.severity.value} · {_event_line(original)}"
    lines = [f":white_check_mark: *Resolved* {when}", was, *_finding_lines(original)]
    fid = short_id(original.finding_id)
    hint = f"{code(f'{command} show {fid}')} for its history"
    fallback = (
        f"RESOLVED on {original.cluster}: {fid} {original.title} (was {original.severity.value})"
    )
    return message(fallback, [section("\n".join(lines)), context(hint)])
