"""Silence and unsilence findings: a silence always has a reason and an expiry.

The caller owns the transaction (``session`` keyword-only; nothing here commits). Rules:
a silence lasts more than zero and at most 90 days, a critical finding at most 7 (a
critical problem must come back soon); a resolved finding cannot be silenced; a new
silence replaces the one in force (which is marked removed by the new owner). Changes to
one finding's silences are serialised by locking the finding row (PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers anyway). The reason is stored with any
``user:password@`` masked: people paste URLs. Every change is audited ("silence.add",
"silence.remove") in the same transaction, so it commits with its audit record or not at
all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.audit.log import AuditLog
from bot.core.severity import Severity
from bot.errors import UserError
from bot.findings.queries import MAX_ID, require_cluster_id
from bot.findings.service import mask_credentials
from bot.findings.views import SilenceView, short_id
from bot.store.db import Session
from bot.store.models import STATE_RESOLVED, Cluster, FindingRow, Silence
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import events as events_repo
from bot.store.repos import findings as findings_repo
from bot.store.repos import silences as silences_repo

MAX_SILENCE = timedelta(days=90)
MAX_CRITICAL_SILENCE = timedelta(days=7)
MAX_REASON = 500


def _finding(session: Session, finding_id: int) -> FindingRow:
    row = findings_repo.get_for_update(session, finding_id) if 1 <= finding_id <= MAX_ID else None
    if row is None:
        raise UserError(f"no finding {short_id(finding_id)}; `/harvester findings` lists them")
    return row


def _view(row: Silence, cluster: str) -> SilenceView:
    return SilenceView(
        id=row.id,
        finding_id=row.finding_id,
        cluster=cluster,
        reason=row.reason,
        owner=row.owner,
        created_at=row.created_at,
        expires_at=row.expires_at,
        removed_at=row.removed_at,
    )


def _cluster_name(session: Session, cluster_id: int) -> str:
    cluster = session.get(Cluster, cluster_id)
    assert cluster is not None  # silences.cluster_id is a foreign key
    return cluster.name


def _validate(row: FindingRow, *, duration: timedelta, reason: str) -> None:
    fid = short_id(row.id)
    if row.state == STATE_RESOLVED:
        raise UserError(f"{fid} is resolved; there is nothing to silence")
    if not reason:
        raise UserError(f"a silence needs a reason: silence {fid} 7d <reason>")
    if len(reason) > MAX_REASON:
        raise UserError(f"the reason is too long ({len(reason)} characters, at most {MAX_REASON})")
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise UserError("a silence lasts more than 0 and at most 90 days, e.g. 7d")
    if Severity(row.severity) is Severity.CRITICAL and duration > MAX_CRITICAL_SILENCE:
        raise UserError("critical findings can be silenced for at most 7 days")


def silence(
    *,
    session: Session,
    finding_id: int,
    duration: timedelta,
    reason: str,
    owner: str,
    now: datetime,
    audit: AuditLog,
) -> SilenceView:
    """Silence a finding until ``now + duration``; UserError (one line) when not allowed."""
    if not owner:
        raise ValueError("owner (a Slack user id) is required")
    row = _finding(session, finding_id)
    clean = mask_credentials(" ".join(reason.split()))
    _validate(row, duration=duration, reason=clean)
    replaced = silences_repo.active(session, now=now, finding_ids=[row.id])
    for old in replaced:
        silences_repo.remove(old, at=now, by=owner)
    added = silences_repo.add(
        session,
        cluster_id=row.cluster_id,
        finding_id=row.id,
        reason=clean,
        owner=owner,
        created_at=now,
        expires_at=now + duration,
    )
    events_repo.add(session, row=row, event="silenced", at=now, actor=owner)
    cluster = _cluster_name(session, row.cluster_id)
    audit.record(
        session,
        actor=owner,
        action="silence.add",
        subject=short_id(row.id),
        payload={
            "finding": short_id(row.id),
            "cluster": cluster,
            "silence": added.id,
            "expires_at": added.expires_at,
            "reason": clean,  # masked above
            "replaced": [old.id for old in replaced],
        },
        at=now,
    )
    return _view(added, cluster)


def unsilence(
    *, session: Session, finding_id: int, owner: str, now: datetime, audit: AuditLog
) -> bool:
    """End the silence in force on a finding; False if there was none (nothing changes,
    so nothing is audited).

    UserError for an unknown F-id (same message as ``silence``).
    """
    row = _finding(session, finding_id)
    active = silences_repo.active(session, now=now, finding_ids=[row.id])
    for old in active:
        silences_repo.remove(old, at=now, by=owner)
    if active:
        events_repo.add(session, row=row, event="unsilenced", at=now, actor=owner)
        audit.record(
            session,
            actor=owner,
            action="silence.remove",
            subject=short_id(row.id),
            payload={
                "finding": short_id(row.id),
                "cluster": _cluster_name(session, row.cluster_id),
                "silences": [old.id for old in active],
            },
            at=now,
        )
    return bool(active)


def active_silences(*, session: Session, cluster: str | None, now: datetime) -> list[SilenceView]:
    """Silences in force at ``now`` (of one cluster or all), soonest expiry first."""
    cluster_id = None if cluster is None else require_cluster_id(session=session, name=cluster)
    names = {c.id: c.name for c in clusters_repo.list_all(session)}
    rows = silences_repo.active(session, now=now, cluster_id=cluster_id)
    return [_view(r, names[r.cluster_id]) for r in rows]


def record_expiries(*, session: Session, now: datetime, window: timedelta) -> int:
    """Write the "unsilenced" history event of each silence that ran out in the last
    ``window`` on a still-open finding (once: at its expiry time, by "secbot:expired"),
    so the digest lists expiries with the silences people ended by hand."""
    added = 0
    for row in silences_repo.expired_between(session, after=now - window, until=now):
        finding = findings_repo.get(session, row.finding_id)
        if finding is None or finding.state == STATE_RESOLVED:
            continue
        last = events_repo.latest(session, finding_id=finding.id, event="unsilenced")
        if last is not None and last.at >= row.expires_at:
            continue
        events_repo.add(
            session, row=finding, event="unsilenced", at=row.expires_at, actor="secbot:expired"
        )
        added += 1
    return added
