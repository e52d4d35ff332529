"""The daily digest as data: ``Digest`` and its parts.

The digest composer (bot.notify.digest) builds a ``Digest`` per channel; the outbox stores
it as JSON (``to_json``) under kind ``digest`` and the dispatcher rebuilds it
(``from_json``) for the renderer (bot/slack/blocks/digest.py, the console). The stored
shape is the dataclasses' fields, as ``asdict`` gives them (bot.notify.payload_json).
A digest waits in the outbox until it is sent, so a row written by an older version must
still load: a field added later has a default, and ``from_json`` uses it when the field
is missing.

Non-secret by contract, like every payload: ids, names, severities, dates and the
checks' masked messages. Times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from bot.core.policy import CheckPolicy
from bot.core.severity import Severity
from bot.notify.payload_json import jsonable, load, parse_opt_time, parse_time

# The expiry thresholds a digest carries default to CheckPolicy's: a digest queued before
# they were carried (no warning_days / info_days in its JSON) renders as it was planned
# under the default policy.
_DEFAULT_POLICY = CheckPolicy()


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
    unsilenced findings by severity value. ``critical_days``, ``warning_days`` and
    ``info_days`` are the expiry thresholds it was composed under (SECBOT_EXPIRY_*_DAYS),
    so the certificates are labelled as ``cert-expiring`` labels them (``expiry_policy``).
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
    critical_days: int = _DEFAULT_POLICY.expiry_critical_days
    warning_days: int = _DEFAULT_POLICY.expiry_warning_days
    info_days: int = _DEFAULT_POLICY.expiry_info_days

    @property
    def expiry_policy(self) -> CheckPolicy:
        """The thresholds as a policy (for ``expiry_severity``; the rest: defaults)."""
        return CheckPolicy(
            expiry_critical_days=self.critical_days,
            expiry_warning_days=self.warning_days,
            expiry_info_days=self.info_days,
        )

    def to_json(self) -> dict[str, Any]:
        return cast(dict[str, Any], jsonable(asdict(self)))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Digest:
        return cls(
            channel=str(doc["channel"]),
            day=str(doc["day"]),
            since=parse_time(doc["since"]),
            now=parse_time(doc["now"]),
            clusters=tuple(str(c) for c in doc["clusters"]),
            changes=tuple(load(DigestChange, d) for d in doc.get("changes", ())),
            silences_expiring=tuple(
                load(DigestSilence, d) for d in doc.get("silences_expiring", ())
            ),
            remediations=tuple(load(DigestRemediation, d) for d in doc.get("remediations", ())),
            certs=tuple(load(DigestCert, d) for d in doc.get("certs", ())),
            credentials=tuple(load(DigestCredential, d) for d in doc.get("credentials", ())),
            rotations=tuple(load(DigestRotation, d) for d in doc.get("rotations", ())),
            open_counts={str(k): int(v) for k, v in doc.get("open_counts", {}).items()},
            until=parse_opt_time(doc.get("until")),
            **_thresholds(doc),
        )


def _thresholds(doc: Mapping[str, Any]) -> dict[str, int]:
    """The expiry thresholds of a stored digest. Rows queued before they were carried hold
    ``critical_days`` at most: the others are the defaults, raised to stay in order (a
    critical threshold of 45 once labelled every listed certificate critical, and still
    does), so such a row always renders."""
    default = _DEFAULT_POLICY
    critical = int(doc.get("critical_days", default.expiry_critical_days))
    warning = int(doc.get("warning_days", max(critical, default.expiry_warning_days)))
    info = int(doc.get("info_days", max(warning, default.expiry_info_days)))
    return {"critical_days": critical, "warning_days": warning, "info_days": info}
