"""What secbot posts, as data: finding notices, scan summaries and remediation requests.

The outbox stores these as JSON (``to_json``) and the dispatcher rebuilds them
(``from_json``) and hands them to a ``Renderer`` (bot.notify.sinks) that turns them into
a message: Block Kit for Slack (bot/slack/blocks/alerts.py, digest.py), the same text on
the console. Rendering at send time keeps the store free of presentation and lets the
original alert be re-rendered as "resolved" when its finding goes away. The daily digest
(``Digest`` and its parts) is in bot.notify.digest_payloads; the JSON helpers both
modules share are in bot.notify.payload_json.

Everything in here is non-secret by contract: messages and evidence come from
bot.core.finding (masked by the checks), the rest are ids, names, severities and dates.
Times are aware UTC; renderers show them in the configured time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, cast

from bot.core.severity import Severity
from bot.notify.payload_json import jsonable, load, parse_opt_time, parse_time

NoticeEvent = Literal["new", "reopened", "escalated", "resolved", "unsilenced"]
NOTICE_EVENTS: tuple[NoticeEvent, ...] = ("new", "reopened", "escalated", "resolved", "unsilenced")


@dataclass(frozen=True, slots=True)
class FindingNotice:
    """A finding's transition worth a message (warning and critical only).

    ``event``: new (first sighting), reopened (resolved before, back now), escalated
    (severity or expiry tier went up; ``previous`` says from what), resolved, unsilenced
    (its silence expired and it is still open). ``at`` is the scan (or expiry) time.
    """

    event: NoticeEvent
    finding_id: int
    cluster: str
    check_id: str
    title: str
    severity: Severity
    tier: str | None
    message: str
    resource: str  # ResourceRef key
    at: datetime
    expires_at: datetime | None = None  # certificate not_after, when the finding has one
    previous_severity: Severity | None = None
    previous_tier: str | None = None
    # The finding this one continues on the same resource (cert-expiring resolved and
    # cert-expired new in one scan): its alert's thread is this one's.
    follows: int | None = None

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FindingNotice:
        event = str(doc["event"])
        if event not in NOTICE_EVENTS:
            raise ValueError(f"unknown notice event {event!r}")
        prev = doc.get("previous_severity")
        return cls(
            event=event,
            finding_id=int(doc["finding_id"]),
            cluster=str(doc["cluster"]),
            check_id=str(doc["check_id"]),
            title=str(doc["title"]),
            severity=Severity(doc["severity"]),
            tier=doc.get("tier"),
            message=str(doc["message"]),
            resource=str(doc["resource"]),
            at=parse_time(doc["at"]),
            expires_at=parse_opt_time(doc.get("expires_at")),
            previous_severity=Severity(prev) if prev else None,
            previous_tier=doc.get("previous_tier"),
            follows=int(doc["follows"]) if doc.get("follows") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class SummaryItem:
    """One finding in a scan summary."""

    finding_id: int
    event: str  # new | reopened
    severity: Severity
    title: str
    resource: str


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """Many new findings from one scan of one cluster, as one message instead of a flood:
    a cluster's first scan, or a new check reporting on every cluster after an upgrade.
    ``items`` are worst first; escalations are never folded in here."""

    cluster: str
    at: datetime
    items: tuple[SummaryItem, ...]

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ScanSummary:
        return cls(
            cluster=str(doc["cluster"]),
            at=parse_time(doc["at"]),
            items=tuple(load(SummaryItem, d) for d in doc.get("items", ())),
        )


REQUEST_EVENTS = (
    "planned",
    "vote",
    "approved",
    "rejected",
    "expired",
    "done",
    "failed",
    "drifted",
    "unknown",
)
REQUEST_FINAL = frozenset({"rejected", "expired", "done", "failed", "drifted", "unknown"})


@dataclass(frozen=True, slots=True)
class RequestNotice:
    """A remediation request (R-<id>) as the approval channel sees it: ``planned`` is the
    message with the Approve / Reject buttons; later events are replies in its thread,
    and a final one (done, failed, drifted, rejected, expired, unknown) replaces the
    buttons with the outcome. ``lines`` are the plan as text, secrets already masked."""

    request_id: int
    event: str
    action: str
    title: str
    cluster: str
    finding_id: str  # "F-12"
    risk: str
    approvals_required: int
    requester: str
    at: datetime
    expires_at: datetime
    lines: tuple[str, ...] = ()
    actor: str | None = None  # who approved / rejected
    detail: str | None = None  # the reason, or the outcome in words
    plan_hash: str = ""  # what an Approve click is bound to

    @property
    def final(self) -> bool:
        return self.event in REQUEST_FINAL

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RequestNotice:
        if doc.get("event") not in REQUEST_EVENTS:
            raise ValueError(f"unknown request event {doc.get('event')!r}")
        return load(cls, doc)
