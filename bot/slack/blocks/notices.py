"""Short answers: acks, confirmations, denials, usage errors, internal errors.

Each is a whole message (``{"text", "blocks"}``); ``text`` doubles as the ack text where
a listener acks with a string. Denials explain the rule, usage errors give the usage
line of that subcommand, an unknown subcommand gets the help, an internal error gets an
error id that is also in the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.findings.views import SilenceView, short_id
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    escape,
    message,
    one_line,
    plural,
    section,
    user_ref,
)
from bot.slack.blocks.help import USAGE, help_message, usage_line
from bot.slack.blocks.timefmt import format_absolute, format_when

_RULE = "state-changing commands need you on SECBOT_OPERATORS"


def denied_message(subcommand: str, *, user_id: str, command: str = DEFAULT_COMMAND) -> Message:
    """Ephemeral: who may do this, and the id to add to the allow list."""
    text = (
        f":no_entry: {code(f'{command} {subcommand}')} changes something, and "
        "state-changing commands need you on `SECBOT_OPERATORS` (Slack user ids, or user "
        "groups you are in; display names do not count).\n"
        f"Your user id is {code(user_id)}: ask whoever runs me to add it. "
        "Read commands (`status`, `findings`, `certs`, `show`, …) work for everyone."
    )
    return message(f"Not allowed: {_RULE}.", [section(text)])


def usage_message(
    subcommand: str, *, command: str = DEFAULT_COMMAND, problem: str | None = None
) -> Message:
    """Bad arguments: what was wrong (``problem``, raw text) and the usage line."""
    line = usage_line(subcommand, command=command)
    text = f"Usage: {code(line)}"
    if problem:
        text = f":warning: {escape(one_line(problem, 500))}\n{text}"
    hint = f"All commands: {code(command + ' help')}"
    return message(f"Usage: {line}", [section(text), context(hint)])


def unknown_subcommand_message(
    word: str, *, command: str = DEFAULT_COMMAND, remediation_enabled: bool = False
) -> Message:
    """The help, introduced by what was not understood."""
    intro = (
        f"I don't know {code(one_line(word, 100))}. Here is what I can do:"
        if word
        else "Here is what I can do:"
    )
    return help_message(command=command, remediation_enabled=remediation_enabled, intro=intro)


def not_enabled_message(subcommand: str, *, command: str = DEFAULT_COMMAND) -> Message:
    """``fix`` / ``approve`` / ``reject`` / ``requests`` while remediation is off."""
    known = subcommand if subcommand in USAGE else "that"
    text = (
        f":construction: {code(f'{command} {known}')}: remediation is not enabled on this bot "
        "(whoever runs it sets `SECBOT_APPROVERS` to turn it on). Findings still say what "
        "to change; apply it by hand and the next scan resolves them."
    )
    return message("Remediation is not enabled.", [section(text)])


def error_message(error_id: str) -> Message:
    """An unexpected failure: the id lets whoever runs the bot find it in the log."""
    text = (
        f":boom: Something went wrong on my side. Error id {code(error_id)}: the log "
        "has the details; please pass the id on to whoever runs me."
    )
    return message(f"Internal error {error_id}", [section(text)])


def user_error_message(problem: str) -> Message:
    """A ``UserError`` from a service, shown as is (escaped)."""
    return message(problem, [section(f":warning: {escape(one_line(problem, 2000))}")])


def scan_ack_message(clusters: Sequence[str], *, everything: bool = False) -> Message:
    """Right after ``scan``: what is being scanned; the result follows here."""
    if everything:
        what = f"all {plural(len(clusters), 'cluster')}" if clusters else "all clusters"
    else:
        what = ", ".join(f"*{escape(c)}*" for c in clusters[:20]) or "nothing"
        if len(clusters) > 20:
            what += f" and {len(clusters) - 20} more"
    text = f":mag: Scanning {what}… I'll post the result here."
    raw = "all clusters" if everything else ", ".join(clusters[:20])
    return message(f"Scanning {raw}…", [section(text)])


def silenced_message(silence: SilenceView, *, now: datetime, tz: tzinfo) -> Message:
    """Confirms a silence: which finding, until when (relative and exact), who, why."""
    fid = short_id(silence.finding_id)
    until = format_when(silence.expires_at, now=now, tz=tz)
    exact = format_absolute(silence.expires_at, tz=tz)
    text = (
        f":zzz: {code(fid)} on *{escape(silence.cluster)}* is silenced until {until} "
        f"({escape(exact)}), by {user_ref(silence.owner)}.\n"
        f"Reason: {escape(one_line(silence.reason, 1000))}"
    )
    return message(f"{fid} silenced until {exact}", [section(text)])


def unsilenced_message(finding_id: int, *, removed: bool) -> Message:
    """``unsilence``: done, or there was no active silence."""
    fid = short_id(finding_id)
    if removed:
        return message(f"{fid} unsilenced", [section(f":bell: {code(fid)} is no longer silenced.")])
    return message(
        f"{fid} was not silenced", [section(f"{code(fid)} had no active silence; nothing changed.")]
    )


def rotated_message(
    *, cluster: str, node: str, kind: str, by: str, now: datetime, tz: tzinfo
) -> Message:
    """Confirms ``rotated``: the age of that credential now counts from ``now``."""
    nodes = "every node" if node == "all" else f"node *{escape(node)}*"
    when = f"{format_when(now, now=now, tz=tz)} ({escape(format_absolute(now, tz=tz))})"
    text = (
        f":key: Recorded: {code(kind)} rotated on {nodes} of *{escape(cluster)}* by "
        f"{user_ref(by)}, {when}."
        "\n`credential-rotation-overdue` counts its age from now on."
    )
    return message(f"Recorded: {kind} rotated on {node} of {cluster}", [section(text)])
