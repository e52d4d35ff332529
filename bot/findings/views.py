"""Read models of the store for people: what Slack and the digest show.

Plain frozen dataclasses, filled by bot.findings.queries (and silences / rotations) from
the store and rendered by pure builders (bot/slack/blocks). Nothing here is secret:
evidence is non-secret by contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.finding import JSONScalar
from bot.core.resources import ResourceRef
from bot.core.severity import Severity


def short_id(finding_id: int) -> str:
    """The human id of a finding: ``F-123``."""
    return f"F-{finding_id}"


@dataclass(frozen=True, slots=True)
class FindingView:
    """One finding as a person sees it."""

    id: int
    cluster: str
    check_id: str
    title: str
    severity: Severity
    state: str  # "open" | "resolved"
    resource: ResourceRef
    message: str
    first_seen: datetime
    last_seen: datetime
    evidence: Mapping[str, JSONScalar | tuple[JSONScalar, ...]] = field(default_factory=dict)
    tier: str | None = None
    silenced_until: datetime | None = None
    silence_reason: str | None = None
    remediation: str | None = None  # the catalog action id the check offers

    @property
    def short_id(self) -> str:
        return short_id(self.id)


@dataclass(frozen=True, slots=True)
class CertView:
    """One certificate of a cluster's latest inventory."""

    cluster: str
    subject: str
    issuer: str
    serial: str
    not_after: datetime
    location: str  # a ResourceRef key, e.g. "Secret/cattle-system/tls-ingress#data.tls.crt[0]"
    finding_id: int | None = None  # the open finding about it, if any


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """A cluster at a glance: last scan, open findings by severity, next expiry."""

    name: str
    last_scan_at: datetime | None = None
    last_source: str | None = None
    last_error: str | None = None
    # Open, not silenced findings by severity name ("critical", "warning", "info").
    counts: Mapping[str, int] = field(default_factory=dict)
    unknown: int = 0  # checks that could not decide in the last scan
    silenced: int = 0
    next_expiry: CertView | None = None
    pending_approvals: int = 0


@dataclass(frozen=True, slots=True)
class SilenceView:
    """An active or past silence of one finding."""

    id: int
    finding_id: int
    cluster: str
    reason: str
    owner: str  # Slack user id
    created_at: datetime
    expires_at: datetime
    removed_at: datetime | None = None
