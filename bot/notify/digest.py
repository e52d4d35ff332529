"""The daily digest: compose it from the store, and plan one per channel per day.

``compose_digest`` gathers, for the clusters of one channel: what changed since the last
digest (finding events: new, reopened, escalated, resolved, silenced, unsilenced),
silences ending within 3 days, then every certificate expiring within 30 days (soonest
first, from the certificate inventory, so healthy-but-expiring ones count too), then the
overdue credential rotations, and the open counts. It does not cut: renderers fit the
lists into Slack's limits and summarise the rest.

``plan_digests`` is what the 09:00 job runs: one outbox row per channel, keyed by channel
and local day, so a second scheduler (or a re-run) adds nothing. "Since" is the time of
the channel's previous digest (a day before when there was none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.core.policy import CheckPolicy
from bot.core.severity import Severity
from bot.findings.queries import check_title, expiring_certs
from bot.notify.digest_payloads import (
    Digest,
    DigestCert,
    DigestChange,
    DigestCredential,
    DigestRotation,
    DigestSilence,
)
from bot.notify.routing import Routing
from bot.store.db import Session
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import events as events_repo
from bot.store.repos import findings as findings_repo
from bot.store.repos import outbox as outbox_repo
from bot.store.repos import silences as silences_repo
from bot.store.repos.findings import OpenBrief

# A fixed window, not the policy's warning days: it is the inventory's "expires within
# 30 days" (README, the digest's `certs --within 30d` hint; the cloud credentials share
# it), certificates no finding flags included. Each is labelled with the severity the
# policy gives it, so under SECBOT_EXPIRY_WARNING_DAYS=21 a 25-day one is listed as info.
CERT_DAYS = 30
DEFAULT_POLICY = CheckPolicy()  # frozen: safe to share as a default
SILENCE_LOOKAHEAD = timedelta(days=3)
ROTATION_CHECK = "credential-rotation-overdue"
CREDENTIAL_CHECKS = {
    "cloud-credential-token-missing": "missing",
    "cloud-credential-expired": "expired",
    "cloud-credential-expiring": "expiring",
}
MAX_CERTS = 100_000
# Changes of the last two minutes wait for the next digest: a scan recording right now
# may commit a moment after the digest is composed, and would fall between two windows.
SETTLE = timedelta(minutes=2)
# A cluster not scanned for this long (renamed, removed) is left out of the digest.
FORGET_AFTER = timedelta(days=7)


def compose_digest(
    *,
    session: Session,
    channel: str,
    clusters: Sequence[str],
    since: datetime,
    now: datetime,
    day: str,
    until: datetime | None = None,
    policy: CheckPolicy = DEFAULT_POLICY,
) -> Digest:
    """The digest of ``clusters`` for ``channel`` (see module docstring); changes in
    ``(since, until]`` (``until`` default: ``now``). ``policy``'s expiry thresholds go
    into the digest, so its certificates are labelled as the checks label them."""
    end = until or now
    known = {c.name: c.id for c in clusters_repo.list_all(session)}
    ids = sorted(known[name] for name in clusters if name in known)
    names = {cid: name for name, cid in known.items()}
    open_rows = findings_repo.open_briefs(session, cluster_ids=ids) if ids else []
    silenced = {s.finding_id for s in silences_repo.active(session, now=now) if s.cluster_id in ids}
    expiring = silences_repo.expiring(
        session, now=now, until=now + SILENCE_LOOKAHEAD, cluster_ids=ids
    )
    checks = findings_repo.check_ids(session, [s.finding_id for s in expiring])
    return Digest(
        channel=channel,
        day=day,
        since=since,
        now=now,
        clusters=tuple(sorted(clusters)),
        changes=_changes(session, ids=ids, names=names, since=since, now=end),
        silences_expiring=tuple(
            DigestSilence(
                finding_id=s.finding_id,
                cluster=names[s.cluster_id],
                check_id=checks.get(s.finding_id, "?"),
                owner=s.owner,
                expires_at=s.expires_at,
                reason=s.reason,
            )
            for s in expiring
        ),
        certs=_certs(session, clusters=set(clusters), now=now, open_rows=open_rows) if ids else (),
        credentials=_credentials(session, ids=ids, names=names, now=now),
        rotations=tuple(
            DigestRotation(
                finding_id=r.id,
                cluster=names[r.cluster_id],
                severity=Severity(r.severity),
                message=r.message,
            )
            for r in findings_repo.open_of_check(session, check_id=ROTATION_CHECK, cluster_ids=ids)
        ),
        open_counts=_counts(open_rows, silenced),
        until=until,
        critical_days=policy.expiry_critical_days,
        warning_days=policy.expiry_warning_days,
        info_days=policy.expiry_info_days,
    )


def _changes(
    session: Session, *, ids: list[int], names: dict[int, str], since: datetime, now: datetime
) -> tuple[DigestChange, ...]:
    if not ids:
        return ()
    events = events_repo.since(session, after=since, until=now, cluster_ids=ids)
    checks = findings_repo.check_ids(session, [e.finding_id for e in events])
    out = []
    for event in events:
        check_id = checks.get(event.finding_id, "?")
        out.append(
            DigestChange(
                event=event.event,
                finding_id=event.finding_id,
                cluster=names[event.cluster_id],
                check_id=check_id,
                title=check_title(check_id),
                severity=Severity(event.severity),
                tier=event.tier,
                at=event.at,
                actor=event.actor,
            )
        )
    return tuple(out)


def _certs(
    session: Session, *, clusters: set[str], now: datetime, open_rows: list[OpenBrief]
) -> tuple[DigestCert, ...]:
    views = expiring_certs(
        session=session,
        cluster=None,
        within_days=CERT_DAYS,
        now=now,
        limit=MAX_CERTS,
        open_rows=open_rows,
        among=clusters,
    )
    return tuple(
        DigestCert(
            cluster=v.cluster,
            subject=v.subject,
            location=v.location,
            not_after=v.not_after,
            finding_id=v.finding_id,
        )
        for v in views
    )


def _credentials(
    session: Session, *, ids: list[int], names: dict[int, str], now: datetime
) -> tuple[DigestCredential, ...]:
    """Cloud credentials that need renewing, from their open findings: gone or expired
    first, then the soonest to expire (within 30 days)."""
    out = []
    for check_id, state in CREDENTIAL_CHECKS.items():
        for row in findings_repo.open_of_check(session, check_id=check_id, cluster_ids=ids):
            evidence = row.evidence if isinstance(row.evidence, dict) else {}
            raw = evidence.get("expires_at")
            expires = datetime.fromisoformat(raw) if isinstance(raw, str) else None
            if state == "expiring" and (expires is None or expires > now + timedelta(CERT_DAYS)):
                continue
            users = evidence.get("guest_clusters")
            out.append(
                DigestCredential(
                    finding_id=row.id,
                    cluster=names[row.cluster_id],
                    name=str(evidence.get("credential") or row.resource_name),
                    state=state,
                    expires_at=expires,
                    guest_clusters=tuple(str(u) for u in users) if isinstance(users, list) else (),
                )
            )
    rank = {"missing": 0, "expired": 1, "expiring": 2}
    far = now + timedelta(days=3650)
    out.sort(key=lambda c: (rank[c.state], c.expires_at or far, c.cluster, c.name))
    return tuple(out)


def _counts(rows: Sequence[OpenBrief], silenced: set[int]) -> dict[str, int]:
    found = Counter(r.severity for r in rows if r.id not in silenced)
    return {s.value: found.get(s.value, 0) for s in Severity}


def window_start(session: Session, *, channel: str, now: datetime) -> datetime:
    """Where this channel's "what changed" starts: where its previous digest's ended."""
    previous = outbox_repo.last_of_kind(session, kind="digest", channel=channel)
    if previous is None:
        return now - timedelta(days=1) - SETTLE
    until = previous.payload.get("until") if isinstance(previous.payload, dict) else None
    return datetime.fromisoformat(until) if isinstance(until, str) else previous.created_at


def recent_clusters(session: Session, *, now: datetime) -> list[str]:
    """Clusters the store scanned lately, besides the configured ones (CLI bundle scans
    of clusters serve does not scan): a cluster renamed or removed from the clusters file
    drops out of the digest once it has not been scanned for FORGET_AFTER."""
    return clusters_repo.scanned_since(session, now - FORGET_AFTER)


def plan_digests(
    *,
    session: Session,
    routing: Routing,
    clusters: Sequence[str],
    day: str,
    now: datetime,
    manual: bool = False,
    policy: CheckPolicy = DEFAULT_POLICY,
) -> list[Digest]:
    """Compose and enqueue the digest of every channel for ``day``; returns the new ones
    (a channel whose digest for ``day`` is already in the outbox is skipped). A ``manual``
    digest (``secbot scheduler run digest``) has a key of its own, so the scheduled one
    still goes out that day."""
    planned = []
    known = recent_clusters(session, now=now)
    for channel, names in routing.digest_channels([*clusters, *known]).items():
        key = f"digest:{channel}:{day}" + (f":manual:{now.isoformat()}" if manual else "")
        if outbox_repo.exists(session, key):
            continue
        until = now - SETTLE
        digest = compose_digest(
            session=session,
            channel=channel,
            clusters=names,
            since=window_start(session, channel=channel, now=now),
            now=now,
            day=day,
            until=until,
            policy=policy,
        )
        if outbox_repo.enqueue(
            session,
            dedupe_key=key,
            channel=channel,
            kind="digest",
            payload=digest.to_json(),
            now=now,
        ):
            planned.append(digest)
    return planned
