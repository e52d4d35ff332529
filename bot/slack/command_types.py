"""The typed commands the slash-command parser (``bot.slack.commands``) produces.

One frozen, hashable dataclass per subcommand, holding only checked values (a finding's
number, a duration, a severity, names that have the shape of a cluster or node name);
``subcommand`` names the subcommand each one answers (its key in ``blocks.help.USAGE``).
``UsageError`` is the parser's one error: bad arguments, with the usage line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, TypeAlias

from bot.core.severity import Severity
from bot.errors import UserError
from bot.slack.blocks.common import DEFAULT_COMMAND
from bot.slack.blocks.help import usage_line

DEFAULT_WITHIN_DAYS = 30
DEFAULT_AUDIT_RECORDS = 20
MAX_AUDIT_RECORDS = 100


class UsageError(UserError):
    """Bad arguments for one subcommand; ``usage`` is its usage line."""

    def __init__(self, subcommand: str, problem: str, *, command: str = DEFAULT_COMMAND) -> None:
        self.subcommand = subcommand
        self.problem = problem
        self.command = command
        self.usage = usage_line(subcommand, command=command)
        super().__init__(f"{problem}. Usage: {self.usage}")


@dataclass(frozen=True, slots=True)
class Help:
    subcommand: ClassVar[str] = "help"
    unknown: str | None = None  # the word that was not a subcommand, if any


@dataclass(frozen=True, slots=True)
class Clusters:
    subcommand: ClassVar[str] = "clusters"


@dataclass(frozen=True, slots=True)
class Status:
    subcommand: ClassVar[str] = "status"
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    subcommand: ClassVar[str] = "scan"
    cluster: str | None = None  # None: every cluster ("scan" and "scan all")


@dataclass(frozen=True, slots=True)
class Certs:
    subcommand: ClassVar[str] = "certs"
    cluster: str | None = None
    within_days: int = DEFAULT_WITHIN_DAYS


@dataclass(frozen=True, slots=True)
class Findings:
    subcommand: ClassVar[str] = "findings"
    cluster: str | None = None
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Show:
    subcommand: ClassVar[str] = "show"
    finding_id: int


@dataclass(frozen=True, slots=True)
class Silence:
    subcommand: ClassVar[str] = "silence"
    finding_id: int
    duration: timedelta
    reason: str


@dataclass(frozen=True, slots=True)
class Unsilence:
    subcommand: ClassVar[str] = "unsilence"
    finding_id: int


@dataclass(frozen=True, slots=True)
class Rotated:
    subcommand: ClassVar[str] = "rotated"
    kind: str
    node: str  # a node name or "all"
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class GetSetting:
    subcommand: ClassVar[str] = "get"
    name: str
    cluster: str | None = None


@dataclass(frozen=True, slots=True)
class Audit:
    """The newest audit records: ``limit`` of them, of one ``subject`` ("F-12") or all."""

    subcommand: ClassVar[str] = "audit"
    subject: str | None = None
    limit: int = DEFAULT_AUDIT_RECORDS


@dataclass(frozen=True, slots=True)
class Remediation:
    """fix / approve / reject / requests while remediation is off (no SECBOT_APPROVERS):
    answered "not enabled"."""

    subcommand: str


@dataclass(frozen=True, slots=True)
class Fix:
    """Plan the fix of a finding (its check's action, or ``action``) and ask for approval."""

    subcommand: ClassVar[str] = "fix"
    finding_id: int
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Approve:
    subcommand: ClassVar[str] = "approve"
    request_id: int


@dataclass(frozen=True, slots=True)
class Reject:
    subcommand: ClassVar[str] = "reject"
    request_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Requests:
    """Remediation requests, newest first (``pending``: those still moving)."""

    subcommand: ClassVar[str] = "requests"
    pending: bool = False


ReadCommand: TypeAlias = (
    Help | Clusters | Status | Certs | Findings | Show | GetSetting | Audit | Requests
)
ChangeCommand: TypeAlias = (
    Scan | Silence | Unsilence | Rotated | Remediation | Fix | Approve | Reject
)
Command: TypeAlias = ReadCommand | ChangeCommand
