"""The subcommands, their usage lines, and the ``help`` message.

``USAGE`` is the single source of the usage lines: the command parser answers bad
arguments with ``usage_line(subcommand)`` and ``help`` lists them all. The lines carry no
slash-command name, because that name is configurable (``SECBOT_SLASH_COMMAND``).
"""

from __future__ import annotations

from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    header,
    message,
    section,
)

USAGE: dict[str, str] = {
    "help": "help",
    "clusters": "clusters",
    "status": "status [cluster]",
    "scan": "scan [cluster|all]",
    "certs": "certs [cluster] [--within 30d]",
    "findings": "findings [cluster] [--severity warning]",
    "show": "show F-123",
    "silence": "silence F-123 7d reason...",
    "unsilence": "unsilence F-123",
    "rotated": "rotated password|ssh-keys|proxy-credentials NODE|all [cluster]",
    "get": "get setting NAME [cluster]",
    "fix": "fix F-123 [action]",
    "approve": "approve R-7",
    "reject": "reject R-7 reason...",
    "requests": "requests [pending]",
    "audit": "audit [F-123|R-7|n]",
}

DESCRIPTION: dict[str, str] = {
    "help": "this list",
    "clusters": "the clusters I watch, how I reach them, where I post",
    "status": "last scan, open findings by severity, next certificate to expire, scan errors",
    "scan": "scan now (one cluster or all) and post the result here",
    "certs": "certificates that expire within the window (default 30d), soonest first",
    "findings": "open findings, worst first; --severity sets the minimum",
    "show": "one finding: details, why it matters, evidence, the fix offered",
    "silence": "hide a finding until the duration ends (a reason is required; critical: 7d max)",
    "unsilence": "end a silence now",
    "rotated": "record that a credential was rotated on a node (or all nodes)",
    "get": "the live value of a Harvester setting, secrets masked",
    "fix": "plan the remediation a finding offers",
    "approve": "approve someone else's remediation plan",
    "reject": "reject a remediation plan, with a reason",
    "requests": "remediation requests, newest first; pending: those still open",
    "audit": "the newest audit records (20, or n up to 100); F-123: that finding's",
}

# Commands that change state: only users on SECBOT_OPERATORS may run them.
# (approve / reject are for SECBOT_APPROVERS instead; the remediation service checks.)
STATE_CHANGING = frozenset({"scan", "silence", "unsilence", "rotated", "fix"})
# Remediation (enabled by SECBOT_APPROVERS; until then they answer "not enabled").
REMEDIATION = ("fix", "approve", "reject", "requests")
_READ = ("help", "clusters", "status", "certs", "findings", "show", "get", "audit")
_CHANGE = ("scan", "silence", "unsilence", "rotated")


def usage_line(subcommand: str, *, command: str = DEFAULT_COMMAND) -> str:
    """The raw usage line, e.g. "/harvester status [cluster]"; KeyError if unknown."""
    return f"{command} {USAGE[subcommand]}"


def _lines(names: tuple[str, ...], command: str) -> str:
    return "\n".join(f"{code(usage_line(n, command=command))} — {DESCRIPTION[n]}" for n in names)


def help_message(
    *, command: str = DEFAULT_COMMAND, remediation_enabled: bool = False, intro: str | None = None
) -> Message:
    """Every subcommand with its usage line; ``intro`` (mrkdwn, already escaped) on top."""
    remediation_note = "" if remediation_enabled else " — _not enabled yet_"
    blocks = [header("Harvester security bot")]
    if intro:
        blocks.append(section(intro))
    blocks += [
        section("*Look* (anyone)\n" + _lines(_READ, command)),
        section("*Change* :lock: (only users on `SECBOT_OPERATORS`)\n" + _lines(_CHANGE, command)),
        section(
            f"*Remediation*{remediation_note} (fix: operators; approve/reject: "
            "`SECBOT_APPROVERS`, never your own)\n" + _lines(REMEDIATION, command)
        ),
        context(
            "Durations: `30d`, `12h`. Severities: `critical`, `warning`, `info`. "
            "Finding ids look like `F-123`. Without a cluster, commands cover every cluster."
        ),
    ]
    fallback = f"{command} subcommands: " + ", ".join(USAGE)
    return message(fallback, blocks)
