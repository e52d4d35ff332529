"""Plan notifications: turn lifecycle transitions into outbox rows, in the caller's
transaction (the same one that recorded the scan), so a crash loses neither the state
change nor its message.

Rules (issue #5 "post transitions, not states"):
- new, reopened, escalated (severity up or an expiry tier crossed) -> an alert, for
  warning and critical findings only (info goes to the digest alone); more than
  ``SUMMARY_THRESHOLD`` new ones from one scan -> one summary message instead;
- resolved -> a thread reply under the finding's last alert in that channel (and the
  alert is updated); a finding never alerted about resolves silently;
- resolved and, in the same scan, a new finding on the same resource that is no better
  (cert-expiring -> cert-expired) -> one escalation in the old finding's thread;
- unchanged -> nothing; a finding under an active silence -> nothing;
- a silence that expired on a still-open finding -> one "unsilenced" alert.

Dedupe keys name the transition (the finding_events row, or the silence), so planning
the same transition twice adds nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.core.severity import Severity, tier_rank
from bot.findings.queries import check_title
from bot.findings.service import ScanOutcome
from bot.notify.payloads import FindingNotice, NoticeEvent, ScanSummary, SummaryItem
from bot.notify.routing import Routing
from bot.store.db import Session
from bot.store.models import STATE_OPEN, FindingRow, Silence
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import findings as findings_repo
from bot.store.repos import outbox as outbox_repo
from bot.store.repos import silences as silences_repo

ALERT_SEVERITIES = frozenset({Severity.WARNING, Severity.CRITICAL})
# Expired silences older than this are not announced any more (a bot down for a month
# should not post a month of "silence expired" on return; the digest has the state).
EXPIRED_SILENCE_WINDOW = timedelta(days=2)
# More new findings than this from one scan post as one summary message (a first scan of
# a cluster, or a check added by an upgrade firing on every cluster at once), not as a
# flood Slack would throttle to one message a second.
SUMMARY_THRESHOLD = 10


def _expires_at(row: FindingRow) -> datetime | None:
    value = row.evidence.get("not_after") if isinstance(row.evidence, dict) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def notice_for(
    row: FindingRow,
    *,
    cluster: str,
    event: NoticeEvent,
    at: datetime,
    previous: tuple[Severity, str | None] | None = None,
    follows: int | None = None,
) -> FindingNotice:
    """The payload of a message about ``row`` as it is now."""
    return FindingNotice(
        event=event,
        finding_id=row.id,
        cluster=cluster,
        check_id=row.check_id,
        title=check_title(row.check_id),
        severity=Severity(row.severity),
        tier=row.tier,
        message=row.message,
        resource=row.resource.key,
        at=at,
        expires_at=_expires_at(row),
        previous_severity=previous[0] if previous else None,
        previous_tier=previous[1] if previous else None,
        follows=follows,
    )


def plan_scan(*, session: Session, outcome: ScanOutcome, routing: Routing, at: datetime) -> int:
    """Enqueue the messages of one recorded scan; returns how many rows were added.

    More than ``SUMMARY_THRESHOLD`` new findings from one scan (a cluster's first scan, a
    new check after an upgrade) become one summary message instead of a flood; their
    resolutions are then news for the digest only (no thread to reply in).
    """
    channel = routing.alert_channel_for(outcome.cluster)
    if channel is None or not outcome.events:
        return 0
    active = silences_repo.active(session, now=at, finding_ids=list(outcome.events))
    silenced = {s.finding_id for s in active}
    rows = {
        fid: row
        for fid in sorted(outcome.events)
        if fid not in silenced and (row := findings_repo.get(session, fid)) is not None
    }
    resolved_ids = {r.id for r in outcome.resolved}
    successors = _successors(outcome, rows, resolved_ids)
    added = 0
    news: list[tuple[FindingRow, NoticeEvent, int]] = []
    for finding_id, row in rows.items():
        event_id = outcome.events[finding_id]
        if finding_id in resolved_ids:
            if finding_id not in successors.values():  # continued, not resolved
                added += _plan_resolved(
                    session,
                    row,
                    channel=channel,
                    event_id=event_id,
                    at=at,
                    cluster=outcome.cluster,
                )
            continue
        if Severity(row.severity) not in ALERT_SEVERITIES:
            continue
        event = _event_of(outcome, row)
        follows = successors.get(finding_id)
        if event != "escalated" and follows is None:
            news.append((row, event, event_id))
            continue
        before = rows[follows] if follows is not None else None
        notice = notice_for(
            row,
            cluster=outcome.cluster,
            event="escalated",
            at=at,
            previous=(
                (Severity(before.severity), before.tier)
                if before is not None
                else outcome.previous.get(finding_id)
            ),
            follows=follows,
        )
        added += _enqueue_alert(session, notice, channel=channel, key=f"event:{event_id}", at=at)
    if len(news) > SUMMARY_THRESHOLD:
        return added + _plan_summary(session, news, outcome=outcome, channel=channel, at=at)
    for row, event, event_id in news:
        notice = notice_for(row, cluster=outcome.cluster, event=event, at=at)
        added += _enqueue_alert(session, notice, channel=channel, key=f"event:{event_id}", at=at)
    return added


def _enqueue_alert(
    session: Session, notice: FindingNotice, *, channel: str, key: str, at: datetime
) -> int:
    payload, fid = notice.to_json(), notice.finding_id
    return _enqueue(session, "alert", channel, key, payload, at=at, finding_id=fid)


def _enqueue(
    session: Session,
    kind: str,
    channel: str,
    key: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    finding_id: int | None = None,
) -> int:
    """One outbox row, deduplicated by ``kind:channel:key``; 1 when it is new."""
    return int(
        outbox_repo.enqueue(
            session,
            dedupe_key=f"{kind}:{channel}:{key}",
            channel=channel,
            kind=kind,
            payload=payload,
            now=at,
            finding_id=finding_id,
        )
    )


def _plan_summary(
    session: Session,
    news: list[tuple[FindingRow, NoticeEvent, int]],
    *,
    outcome: ScanOutcome,
    channel: str,
    at: datetime,
) -> int:
    items = sorted(
        (
            SummaryItem(
                finding_id=row.id,
                event=event,
                severity=Severity(row.severity),
                title=check_title(row.check_id),
                resource=row.resource.key,
            )
            for row, event, _ in news
        ),
        key=lambda i: (-i.severity.rank, i.finding_id),
    )
    summary = ScanSummary(cluster=outcome.cluster, at=at, items=tuple(items))
    return _enqueue(
        session, "summary", channel, f"scan:{outcome.scan_id}", summary.to_json(), at=at
    )


def _successors(
    outcome: ScanOutcome, rows: dict[int, FindingRow], resolved_ids: set[int]
) -> dict[int, int]:
    """new finding id -> the finding it continues: one that resolved in the same scan on
    the same resource and was no worse (a certificate moving from cert-expiring to
    cert-expired is one story, told in one thread, not "resolved" plus a stranger)."""
    gone = {rows[i].resource.key: rows[i] for i in sorted(resolved_ids) if i in rows}
    out: dict[int, int] = {}
    for fid, row in rows.items():
        if fid in resolved_ids or outcome.status.get(row.fingerprint) != "new":
            continue
        before = gone.get(row.resource.key)
        if before is not None and _rank(row) >= _rank(before):
            out[fid] = before.id
    return out


def _rank(row: FindingRow) -> tuple[int, int]:
    return Severity(row.severity).rank, tier_rank(row.tier)


def _event_of(outcome: ScanOutcome, row: FindingRow) -> NoticeEvent:
    if outcome.status.get(row.fingerprint) == "escalated":
        return "escalated"
    return "reopened" if row.fingerprint in outcome.reopened else "new"


def _plan_resolved(
    session: Session, row: FindingRow, *, channel: str, event_id: int, at: datetime, cluster: str
) -> int:
    if outbox_repo.last_alert(session, finding_id=row.id, channel=channel) is None:
        return 0  # never announced here: its resolution is news only in the digest
    notice = notice_for(row, cluster=cluster, event="resolved", at=at)
    key = f"event:{event_id}"
    return _enqueue(session, "resolved", channel, key, notice.to_json(), at=at, finding_id=row.id)


def plan_expired_silences(*, session: Session, routing: Routing, now: datetime) -> int:
    """One "unsilenced" alert for each silence that ran out on a still-open finding."""
    added = 0
    names = {c.id: c.name for c in clusters_repo.list_all(session)}
    expired = silences_repo.expired_between(session, after=now - EXPIRED_SILENCE_WINDOW, until=now)
    # Silenced again (a new silence replaced the old one): one query for all of them.
    ids = [s.finding_id for s in expired]
    again = {s.finding_id for s in silences_repo.active(session, now=now, finding_ids=ids)}
    for silence in expired:
        if silence.finding_id not in again:
            added += _plan_unsilenced(session, silence, names=names, routing=routing, now=now)
    return added


def _plan_unsilenced(
    session: Session, silence: Silence, *, names: dict[int, str], routing: Routing, now: datetime
) -> int:
    row = findings_repo.get(session, silence.finding_id)
    if row is None or row.state != STATE_OPEN:
        return 0
    if Severity(row.severity) not in ALERT_SEVERITIES:
        return 0
    cluster = names[row.cluster_id]
    channel = routing.alert_channel_for(cluster)
    if channel is None:
        return 0
    notice = notice_for(row, cluster=cluster, event="unsilenced", at=silence.expires_at)
    return _enqueue_alert(
        session, notice, channel=channel, key=f"silence-expired:{silence.id}", at=now
    )
