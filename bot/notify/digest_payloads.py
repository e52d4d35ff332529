"""The daily digest as data (``Digest`` and its parts), and the JSON helpers every payload
in bot.notify.payloads shares.

The digest composer (bot.notify.digest) builds a ``Digest`` per channel; the outbox stores
it as JSON (``to_json``) under kind ``digest`` and the dispatcher rebuilds it
(``from_json``) for the renderer (bot/slack/blocks/digest.py, the console). The stored
shape is the dataclasses' fields, as ``asdict`` gives them.

The helpers (``_time``, ``_opt_time``, ``_jsonable``, ``_load``) live here, not in
bot.notify.payloads, because this is the lower of the two modules: payloads imports from
here (and re-exports the digest names for importers not yet moved), never the reverse,
so there is no import cycle.

Non-secret by contract, like every payload: ids, names, severities, dates and the
checks' masked messages. Times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar, cast

from bot.core.severity import Severity


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
