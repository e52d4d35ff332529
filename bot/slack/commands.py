"""The slash-command text -> a typed ``Command``: the one parser of what people type.

Pure: no Slack, no store, no clock; the Command types live in ``command_types``.
``parse`` returns a Command, or raises ``UsageError`` (a ``UserError`` carrying the
subcommand's usage line from ``blocks.help.USAGE``); it raises nothing else, whatever
the text (tests/slack/test_commands_parse.py throws arbitrary text at it). An unknown
subcommand is not an error: it returns ``Help`` naming the word, so the person sees
every subcommand instead of one usage line.

This module finds the subcommand, bounds the text and hands the rest to that
subcommand's parser in ``command_args`` (``PARSERS`` below), which checks the arguments:
it unescapes Slack's entities in free text and checks names against their shapes.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.slack import command_args
from bot.slack.blocks.common import DEFAULT_COMMAND
from bot.slack.blocks.help import REMEDIATION, USAGE
from bot.slack.command_args import Args, unescape
from bot.slack.command_types import Clusters, Command, Help, Remediation, UsageError

__all__ = ["MAX_TEXT", "PARSERS", "parse", "subcommand_of", "unescape"]

MAX_TEXT = 4000  # Slack itself sends at most 4,000 characters of command text

# Each subcommand's argument parser: its words (in ``Args``) and the whole text, for the
# free-text reasons whose spacing survives.
PARSERS: dict[str, Callable[[Args, str], Command]] = {
    "help": lambda _args, _text: Help(),
    "clusters": command_args.no_args(Clusters),
    "status": command_args.status,
    "scan": command_args.scan,
    "certs": command_args.certs,
    "findings": command_args.findings,
    "show": command_args.show_finding,
    "silence": command_args.silence,
    "unsilence": command_args.unsilence,
    "rotated": command_args.rotated,
    "get": command_args.get,
    "audit": command_args.audit,
    "fix": command_args.fix,
    "approve": command_args.approve,
    "reject": command_args.reject,
    "requests": command_args.requests,
}


def _first_words(text: str) -> list[str]:
    # One slice for the gate and the parser: if they read different text, whitespace
    # padding could show the gate "help" and the parser "scan".
    return text[: MAX_TEXT + 1].split()


def subcommand_of(text: str) -> str:
    """The subcommand word of ``text`` ("help" when empty or unknown): for authorisation."""
    words = _first_words(text)
    word = words[0].lower() if words else "help"
    return word if word in USAGE else "help"


def parse(text: str, *, command: str = DEFAULT_COMMAND, remediation: bool = False) -> Command:
    """Parse the text after the slash command; UsageError for bad arguments. Without
    ``remediation`` (no approvers configured) fix/approve/reject/requests parse to
    ``Remediation``, answered "not enabled"."""
    words = _first_words(text)
    if not words:
        return Help()
    name = words[0].lower()
    if name not in USAGE:
        return Help(unknown=unescape(words[0])[:40])
    size = len(text.strip())
    if size > MAX_TEXT:
        raise UsageError(
            name,
            f"the text is too long ({size:,} characters; at most {MAX_TEXT:,})",
            command=command,
        )
    if name in REMEDIATION and not remediation:
        return Remediation(name)
    args = Args(name, words[1:], command=command)
    return PARSERS[name](args, text)
