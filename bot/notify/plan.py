"""Plan notifications: turn lifecycle transitions into outbox rows, in the caller's
transaction (the same one that recorded the scan), so a crash loses neither the state
change nor its message.

Rules (issue #5 "post transitions, not states"):
- new, reopened, escalated (severity up or an expiry tier crossed) -> an alert, for
  warning and critical findings only (info goes to the digest alone); more than
  ``SUMMARY_THRESHOLD`` new ones from one scan -> one summary message instead;
- resolved -> a thread reply under the finding's last alert in that channel (and the
  alert is updated); a finding never alerted about resolves silently;
- unchanged -> nothing; a finding under an active silence -> nothing;
- a silence that expired on a still-open finding -> one "unsilenced" alert.

Dedupe keys name the transition (the finding_events row, or the silence), so planning
the same transition twice adds nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.severity import Severity
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
    resolved_ids = {r.id for r in outcome.resolved}
    added = 0
    news: list[tuple[FindingRow, NoticeEvent, int]] = []
    for finding_id, event_id in sorted(outcome.events.items()):
        if finding_id in silenced:
            continue
        row = findings_repo.get(session, finding_id)
        if row is None:  # pragma: no cover - the scan just wrote it
            continue
        if finding_id in resolved_ids:
            added += _plan_resolved(
                session, row, channel=channel, event_id=event_id, at=at, cluster=outcome.cluster
            )
            continue
        if Severity(row.severity) not in ALERT_SEVERITIES:
            continue
        event = _event_of(outcome, row)
        if event != "escalated":
            news.append((row, event, event_id))
            continue
        notice = notice_for(
            row,
            cluster=outcome.cluster,
            event=event,
            at=at,
            previous=outcome.previous.get(finding_id),
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
    return int(
        outbox_repo.enqueue(
            session,
            dedupe_key=f"alert:{channel}:{key}",
            channel=channel,
            kind="alert",
            payload=notice.to_json(),
            now=at,
            finding_id=notice.finding_id,
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
    return int(
        outbox_repo.enqueue(
            session,
            dedupe_key=f"summary:{channel}:scan:{outcome.scan_id}",
            channel=channel,
            kind="summary",
            payload=summary.to_json(),
            now=at,
        )
    )


def _event_of(outcome: ScanOutcome, row: FindingRow) -> NoticeEvent:
    if outcome.status.get(row.fingerprint) == "escalated":
        return "escalated"
    return "reopened" if row.fingerprint in outcome.reopened else "new"


def _plan_resolved(
    session: Session, row: FindingRow, *, channel: str, event_id: int, at: datetime, cluster: str
) -> int:
    if outbox_repo.thread_root(session, finding_id=row.id, channel=channel) is None:
        return 0  # never announced here: its resolution is news only in the digest
    notice = notice_for(row, cluster=cluster, event="resolved", at=at)
    return int(
        outbox_repo.enqueue(
            session,
            dedupe_key=f"resolved:{channel}:event:{event_id}",
            channel=channel,
            kind="resolved",
            payload=notice.to_json(),
            now=at,
            finding_id=row.id,
        )
    )


def plan_expired_silences(*, session: Session, routing: Routing, now: datetime) -> int:
    """One "unsilenced" alert for each silence that ran out on a still-open finding."""
    added = 0
    names = {c.id: c.name for c in clusters_repo.list_all(session)}
    for silence in silences_repo.expired_between(
        session, after=now - EXPIRED_SILENCE_WINDOW, until=now
    ):
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
    if silences_repo.active(session, now=now, finding_ids=[row.id]):
        return 0  # silenced again (a new silence replaced the old one)
    cluster = names[row.cluster_id]
    channel = routing.alert_channel_for(cluster)
    if channel is None:
        return 0
    notice = notice_for(row, cluster=cluster, event="unsilenced", at=silence.expires_at)
    return _enqueue_alert(
        session, notice, channel=channel, key=f"silence-expired:{silence.id}", at=now
    )
