"""Argument checking of the slash command: the words after a subcommand -> its Command.

``commands.parse`` finds the subcommand and calls its parser here (the table is
``commands.PARSERS``) with an ``Args`` of the words after it and the whole text (for the
free-text reasons, whose spacing survives). Each parser checks its arguments with
``Args`` and returns that subcommand's Command or raises its ``UsageError``, nothing else.

Slack sends the text with ``&``, ``<`` and ``>`` escaped as entities; free text (a
silence or rejection reason) is unescaped here and escaped again by the builders, so it
is stored as the person typed it. Names (clusters, nodes, settings) are checked against
the shapes they can have, so nothing odd travels further than the parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import timedelta

from bot.core.severity import Severity
from bot.core.snapshot import CREDENTIAL_KINDS
from bot.slack.command_types import (
    DEFAULT_WITHIN_DAYS,
    MAX_AUDIT_RECORDS,
    Approve,
    Audit,
    Certs,
    Command,
    Findings,
    Fix,
    GetSetting,
    Reject,
    Requests,
    Rotated,
    Scan,
    Show,
    Silence,
    Status,
    Unsilence,
    UsageError,
)

MAX_REASON = 500
MAX_DURATION = timedelta(days=3650)  # the services apply their own, tighter limits
_REQUEST = re.compile(r"(?:[Rr]-?)?([0-9]{1,9})")
_ACTION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

_CLUSTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,62}")  # as bot.kube.targets
_DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_FINDING = re.compile(r"(?:[Ff]-?)?([0-9]{1,12})")
_DURATION = re.compile(r"([0-9]{1,6})([hdwHDW])")
_DAYS = re.compile(r"[0-9]{1,6}")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` (``&amp;`` last, as Slack does)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class Args:
    """The words after the subcommand, with helpers that raise this subcommand's usage."""

    def __init__(self, name: str, words: Sequence[str], *, command: str) -> None:
        self.name = name
        self.words = list(words)
        self.command = command

    def fail(self, problem: str) -> UsageError:
        return UsageError(self.name, problem, command=self.command)

    def split(self, options: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        """Positional words and ``--option value`` / ``--option=value`` pairs."""
        positional: list[str] = []
        found: dict[str, str] = {}
        words = iter(self.words)
        for word in words:
            if not word.startswith("--"):
                positional.append(word)
                continue
            key, eq, value = word.partition("=")
            key = key.lower()
            if key not in options:
                allowed = ", ".join(options) or "none"
                raise self.fail(f"unknown option {_show(key)} (options: {allowed})")
            if key in found:
                raise self.fail(f"{key} given twice")
            if not eq:
                value = next(words, "")
            if not value:
                raise self.fail(f"{key} needs a value")
            found[key] = value
        return positional, found

    def at_most(self, positional: list[str], count: int) -> list[str | None]:
        """Exactly ``count`` slots; missing ones are None; more words are an error."""
        if len(positional) > count:
            raise self.fail(f"unexpected {_show(positional[count])}")
        return [*positional, *([None] * (count - len(positional)))]

    def cluster(self, word: str | None) -> str | None:
        if word is None:
            return None
        if not _CLUSTER.fullmatch(word):
            raise self.fail(f"{_show(word)} is not a cluster name")
        return word

    def finding(self, word: str | None) -> int:
        if word is None:
            raise self.fail("which finding? Give its id, like F-123")
        match = _FINDING.fullmatch(word)
        if match is None:
            raise self.fail(f"{_show(word)} is not a finding id like F-123")
        return int(match.group(1))

    def duration(self, word: str | None) -> timedelta:
        if word is None:
            raise self.fail("for how long? Give a duration like 7d, 12h or 2w")
        match = _DURATION.fullmatch(word)
        if match is None:
            raise self.fail(f"{_show(word)} is not a duration like 7d, 12h or 2w")
        value = int(match.group(1)) * _UNITS[match.group(2).lower()]
        if value <= timedelta(0):
            raise self.fail("the duration must be longer than zero")
        if value > MAX_DURATION:
            raise self.fail(f"{_show(word)} is longer than ten years")
        return value

    def days(self, word: str) -> int:
        """``30d``, ``2w``, ``36h`` (rounded up to whole days) or a bare ``30``."""
        if _DAYS.fullmatch(word):
            word += "d"
        days = math.ceil(self.duration(word) / timedelta(days=1))
        return max(days, 1)

    def dns_name(self, word: str | None, what: str) -> str:
        if word is None:
            raise self.fail(f"which {what}?")
        if len(word) > 253 or not _DNS_NAME.fullmatch(word):
            raise self.fail(f"{_show(word)} is not a {what} name")
        return word


def _show(word: str) -> str:
    """A word of the user's text, cut short and quoted, for an error message."""
    word = unescape(word)
    return repr(word if len(word) <= 40 else word[:39] + "…")


def no_args(cls: Callable[[], Command]) -> Callable[[Args, str], Command]:
    def parse_none(args: Args, _text: str) -> Command:
        args.at_most(args.split(())[0], 0)
        return cls()

    return parse_none


def status(args: Args, _text: str) -> Command:
    (cluster,) = args.at_most(args.split(())[0], 1)
    return Status(cluster=args.cluster(cluster))


def scan(args: Args, _text: str) -> Command:
    (target,) = args.at_most(args.split(())[0], 1)
    if target is None or target.lower() == "all":
        return Scan()
    return Scan(cluster=args.cluster(target))


def certs(args: Args, _text: str) -> Command:
    positional, options = args.split(("--within",))
    (cluster,) = args.at_most(positional, 1)
    within = args.days(options["--within"]) if "--within" in options else DEFAULT_WITHIN_DAYS
    return Certs(cluster=args.cluster(cluster), within_days=within)


def findings(args: Args, _text: str) -> Command:
    positional, options = args.split(("--severity",))
    (cluster,) = args.at_most(positional, 1)
    severity = None
    if "--severity" in options:
        try:
            severity = Severity.parse(options["--severity"])
        except ValueError:
            choices = ", ".join(s.value for s in Severity)
            raise args.fail(
                f"{_show(options['--severity'])} is not a severity ({choices})"
            ) from None
    return Findings(cluster=args.cluster(cluster), severity=severity)


def show_finding(args: Args, _text: str) -> Command:
    (finding,) = args.at_most(args.words, 1)
    return Show(finding_id=args.finding(finding))


def unsilence(args: Args, _text: str) -> Command:
    (finding,) = args.at_most(args.words, 1)
    return Unsilence(finding_id=args.finding(finding))


def silence(args: Args, text: str) -> Command:
    # The reason is free text: taken from the original text so its spacing survives.
    parts = text.split(maxsplit=3)
    finding = args.finding(parts[1] if len(parts) > 1 else None)
    duration = args.duration(parts[2] if len(parts) > 2 else None)
    reason = _reason(args, parts[3] if len(parts) > 3 else None, "a silence")
    return Silence(finding_id=finding, duration=duration, reason=reason)


def _reason(args: Args, text: str | None, what: str) -> str:
    """Free text as typed (unescaped, one line, printable), required and bounded."""
    reason = " ".join(unescape(text).split()) if text is not None else ""
    reason = "".join(c for c in reason if c.isprintable())
    if not reason:
        raise args.fail(f"{what} needs a reason")
    if len(reason) > MAX_REASON:
        raise args.fail(f"the reason is too long ({len(reason)} characters; at most {MAX_REASON})")
    return reason


def rotated(args: Args, _text: str) -> Command:
    kind, node, cluster = args.at_most(args.words, 3)
    if kind is None or kind.lower() not in CREDENTIAL_KINDS:
        problem = f"{_show(kind)} is not a credential kind" if kind else "which credential?"
        raise args.fail(f"{problem} (one of: {', '.join(CREDENTIAL_KINDS)})")
    if node is None:
        raise args.fail("which node? Give a node name or all")
    node_name = "all" if node.lower() == "all" else args.dns_name(node, "node")
    return Rotated(kind=kind.lower(), node=node_name, cluster=args.cluster(cluster))


def get(args: Args, _text: str) -> Command:
    what, name, cluster = args.at_most(args.words, 3)
    if what is None or what.lower() != "setting":
        raise args.fail("only `get setting NAME` is supported")
    return GetSetting(name=args.dns_name(name, "setting"), cluster=args.cluster(cluster))


def _request_id(args: Args, word: str | None) -> int:
    if word is None:
        raise args.fail("which request? Give its id, like R-7")
    match = _REQUEST.fullmatch(word)
    if match is None or int(match.group(1)) < 1:
        raise args.fail(f"{_show(word)} is not a request id like R-7")
    return int(match.group(1))


def fix(args: Args, _text: str) -> Command:
    finding, action = args.at_most(args.words, 2)
    if action is not None and not _ACTION.fullmatch(action):
        raise args.fail(f"{_show(action)} is not a remediation id like enable-auto-rotate")
    return Fix(finding_id=args.finding(finding), action=action)


def approve(args: Args, _text: str) -> Command:
    (request,) = args.at_most(args.words, 1)
    return Approve(request_id=_request_id(args, request))


def reject(args: Args, text: str) -> Command:
    parts = text.split(maxsplit=2)
    request_id = _request_id(args, parts[1] if len(parts) > 1 else None)
    reason = _reason(args, parts[2] if len(parts) > 2 else None, "a rejection")
    return Reject(request_id=request_id, reason=reason)


def requests(args: Args, _text: str) -> Command:
    (word,) = args.at_most(args.words, 1)
    if word is not None and word.lower() != "pending":
        raise args.fail(f"{_show(word)}: only `requests pending` filters")
    return Requests(pending=word is not None)


def audit(args: Args, _text: str) -> Command:
    # A bare number is how many records; a finding needs its "F": `audit 12` is a count.
    (word,) = args.at_most(args.split(())[0], 1)
    if word is None:
        return Audit()
    if _DAYS.fullmatch(word):  # up to six digits
        if not 1 <= int(word) <= MAX_AUDIT_RECORDS:
            raise args.fail(f"show 1 to {MAX_AUDIT_RECORDS} records, not {int(word)}")
        return Audit(limit=int(word))
    if word[:1] in ("R", "r"):
        return Audit(subject=f"R-{_request_id(args, word)}")
    if word[:1] not in ("F", "f"):
        raise args.fail(
            f"{_show(word)} is not a finding id like F-123, a request id like R-7 or a "
            "number of records"
        )
    return Audit(subject=f"F-{args.finding(word)}")
