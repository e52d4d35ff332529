"""What secbot posts, as data: finding notices and the daily digest.

The outbox stores these as JSON (``to_json``) and the dispatcher rebuilds them
(``from_json``) and hands them to a ``Renderer`` (bot.notify.sinks) that turns them into
a message: Block Kit for Slack (bot/slack/blocks/alerts.py, digest.py), the same text on
the console. Rendering at send time keeps the store free of presentation and lets the
original alert be re-rendered as "resolved" when its finding goes away.

Everything in here is non-secret by contract: messages and evidence come from
bot.core.finding (masked by the checks), the rest are ids, names, severities and dates.
Times are aware UTC; renderers show them in the configured time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from bot.core.severity import Severity

NoticeEvent = Literal["new", "reopened", "escalated", "resolved", "unsilenced"]
NOTICE_EVENTS: tuple[NoticeEvent, ...] = ("new", "reopened", "escalated", "resolved", "unsilenced")


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"naive time {value!r} in a payload")
    return parsed


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


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
        return cast(dict[str, Any], _jsonable(asdict(self)))

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
            at=_time(doc["at"]),
            expires_at=_opt_time(doc.get("expires_at")),
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
        return cast(dict[str, Any], _jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ScanSummary:
        return cls(
            cluster=str(doc["cluster"]),
            at=_time(doc["at"]),
            items=tuple(_load(SummaryItem, d) for d in doc.get("items", ())),
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
        return cast(dict[str, Any], _jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RequestNotice:
        if doc.get("event") not in REQUEST_EVENTS:
            raise ValueError(f"unknown request event {doc.get('event')!r}")
        return _load(cls, doc)


@dataclass(frozen=True, slots=True)
class DigestChange:
    """One line of "what changed": a finding event since the last digest."""

    event: str  # new | reopened | escalated | resolved | silenced | unsilenced
    finding_id: int
    cluster: str
    check_id: str
    title: str
    severity: Severity
    tier: str | None
    at: datetime
    actor: str | None = None  # Slack user id (silenced / unsilenced)


@dataclass(frozen=True, slots=True)
class DigestSilence:
    """A silence that ends within the look-ahead window (3 days)."""

    finding_id: int
    cluster: str
    check_id: str
    owner: str
    expires_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class DigestCert:
    """A certificate expiring within 30 days (or expired), from the inventory."""

    cluster: str
    subject: str
    location: str
    not_after: datetime
    finding_id: int | None = None


@dataclass(frozen=True, slots=True)
class DigestRotation:
    """An open ``credential-rotation-overdue`` finding."""

    finding_id: int
    cluster: str
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class DigestCredential:
    """A Harvester cloud credential in Rancher that expires within 30 days, has expired,
    or names a token that is gone (issue #8); from the open findings about it."""

    finding_id: int
    cluster: str
    name: str
    state: str  # expiring | expired | missing
    expires_at: datetime | None = None
    guest_clusters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestRemediation:
    """A remediation executed since the last digest (filled once remediation exists)."""

    request_id: str
    cluster: str
    action: str
    result: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Digest:
    """One channel's daily digest: changes since ``since``, then what needs attention.

    Lists are complete (the composer does not cut); renderers fit them into Slack's
    limits and summarise the rest with counts. ``open_counts`` is the channel's open,
    unsilenced findings by severity value.
    """

    channel: str
    day: str  # the local date the digest is for, ISO (2026-03-29)
    since: datetime
    now: datetime
    clusters: tuple[str, ...]
    changes: tuple[DigestChange, ...] = ()
    silences_expiring: tuple[DigestSilence, ...] = ()
    remediations: tuple[DigestRemediation, ...] = ()
    certs: tuple[DigestCert, ...] = ()  # soonest first
    credentials: tuple[DigestCredential, ...] = ()
    rotations: tuple[DigestRotation, ...] = ()
    open_counts: Mapping[str, int] = field(default_factory=dict)
    until: datetime | None = None  # end of the "what changed" window (None: ``now``)
    critical_days: int = 14  # SECBOT_EXPIRY_CRITICAL_DAYS, to label the certificates

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], _jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Digest:
        return cls(
            channel=str(doc["channel"]),
            day=str(doc["day"]),
            since=_time(doc["since"]),
            now=_time(doc["now"]),
            clusters=tuple(str(c) for c in doc["clusters"]),
            changes=tuple(_load(DigestChange, d) for d in doc.get("changes", ())),
            silences_expiring=tuple(
                _load(DigestSilence, d) for d in doc.get("silences_expiring", ())
            ),
            remediations=tuple(_load(DigestRemediation, d) for d in doc.get("remediations", ())),
            certs=tuple(_load(DigestCert, d) for d in doc.get("certs", ())),
            credentials=tuple(_load(DigestCredential, d) for d in doc.get("credentials", ())),
            rotations=tuple(_load(DigestRotation, d) for d in doc.get("rotations", ())),
            open_counts={str(k): int(v) for k, v in doc.get("open_counts", {}).items()},
            until=_opt_time(doc.get("until")),
            critical_days=int(doc.get("critical_days", 14)),
        )


_T = TypeVar("_T")
_TIMES = {"at", "expires_at", "not_after", "since", "now", "until"}


def _load(kind: type[_T], doc: Mapping[str, Any]) -> _T:
    """A flat payload dataclass from JSON: times parsed, severities typed."""
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        if f.name not in doc:
            continue
        value = doc[f.name]
        if f.name in _TIMES and value is not None:
            value = _time(value)
        elif f.name == "severity":
            value = Severity(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return kind(**values)
