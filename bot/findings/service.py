"""Record a scan in the store and apply the findings lifecycle.

Keyword-only functions that take the session explicitly; the caller owns the
transaction (``with session_scope(engine) as session: record_scan(...)``), so a scan is
written completely or not at all. Call them after all reading is done: nothing here
touches a cluster or a file. A certificate finding that moved (bot.findings.lifecycle)
keeps its row, which takes the new fingerprint and resource.

Times: a finding's first_seen / last_seen / resolved_at are the ``started_at`` of the
scan that saw (or stopped seeing) it, so they line up with the scans table. Its
finding_events are stamped ``finished_at`` (when the change is recorded): a fleet scan
shares one start time for minutes of results, and the digest's "since the last digest"
window must not miss a change committed after it was composed.

The certificate inventory (every distinct certificate, not only those with findings) is
replaced per (cluster, source) in the same transaction, judged like the certificate
checks judge them (``bot.checks._certs.judged``), so an inventory row's location is the
resource of any finding about that certificate. A scan that could read no certificate
source at all keeps the previous inventory: not being able to look is not "no
certificates".(bot.findings.rotations gives a snapshot the recorded credential
rotations before the checks run.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from bot.checks import _certs
from bot.checks.runner import CheckRun
from bot.core.finding import Finding
from bot.core.masking import mask_text
from bot.core.severity import Severity
from bot.core.snapshot import Snapshot
from bot.findings import lifecycle
from bot.findings.lifecycle import Changes
from bot.store.db import Session
from bot.store.models import SOURCE_KINDS, STATE_OPEN, STATE_RESOLVED, FindingRow, Scan
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import events as events_repo
from bot.store.repos import findings as findings_repo
from bot.store.repos import inventory as inventory_repo
from bot.store.repos import scans as scans_repo
from bot.store.repos import silences as silences_repo

Status = Literal["new", "escalated", "unchanged"]


class ResolvedFinding(NamedTuple):
    """A finding this scan resolved, as notify needs it."""

    id: int
    fingerprint: str
    check_id: str
    resource_key: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """What ``record_scan`` wrote: the scan id and each finding's transition."""

    scan_id: int
    status: Mapping[str, Status]  # fingerprint -> new | escalated | unchanged
    resolved: tuple[ResolvedFinding, ...]
    ids: Mapping[str, int]  # fingerprint -> finding id (F-<id>)
    reopened: frozenset[str] = field(default_factory=frozenset)  # subset of the "new" ones
    # finding id -> the finding_events row of its transition in this scan (new, reopened,
    # escalated, resolved); notification dedupe keys name these rows.
    events: Mapping[int, int] = field(default_factory=dict)
    cluster: str = ""
    # finding id -> (severity, tier) before this scan, for the escalated ones
    previous: Mapping[int, tuple[Severity, str | None]] = field(default_factory=dict)


# The store's text columns (origin, coverage details, reasons) go through the one masker:
# a proxy or database URL (scheme://user:password@host) in them must not reach the store.
mask_credentials = mask_text


def _validate(*, source: str, started_at: datetime, finished_at: datetime) -> None:
    if source not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind {source!r}; expected one of {SOURCE_KINDS}")
    for name, value in (("started_at", started_at), ("finished_at", finished_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if finished_at < started_at:
        raise ValueError("finished_at is before started_at")


def _open_state(row: FindingRow) -> lifecycle.OpenState:
    return lifecycle.OpenState(
        severity=Severity(row.severity),
        tier=row.tier,
        source=row.source,
        check_id=row.check_id,
        resource=row.resource,
        sha256=lifecycle.certificate_of(row.evidence),
    )


def _counts(run: CheckRun, changes: Changes) -> dict[str, int]:
    current = (*changes.new, *changes.escalated, *changes.unchanged)
    by_severity = Counter(f.severity.value for f in current)
    return {
        "findings": len(current),
        **{sev.value: by_severity.get(sev.value, 0) for sev in Severity},
        "new": len(changes.new),
        "escalated": len(changes.escalated),
        "unchanged": len(changes.unchanged),
        "reopened": len(changes.reopened),
        "resolved": len(changes.resolved),
        "unknown": len(run.unknowns),
        **({"moved": len(changes.moved)} if changes.moved else {}),
    }


def record_scan(
    *, session: Session, run: CheckRun, started_at: datetime, finished_at: datetime
) -> ScanOutcome:
    """Store a finished scan and move every finding of its cluster along its lifecycle."""
    snap = run.snapshot
    _validate(source=snap.source, started_at=started_at, finished_at=finished_at)
    strangers = sorted({f.cluster for f in run.findings} - {snap.cluster})
    if strangers:
        raise ValueError(f"findings of other clusters {strangers} in a scan of {snap.cluster!r}")

    cluster = clusters_repo.get_or_create(session, name=snap.cluster, now=started_at)
    clusters_repo.lock(session, cluster)
    newest = scans_repo.latest(session, cluster_id=cluster.id, source=snap.source)
    if newest is not None and newest.error is None and newest.started_at > started_at:
        # An older scan finishing after a newer one was recorded (a scheduled scan and a
        # /harvester scan overlapping): history, but the newer one decided every finding.
        scan = _add_scan(session, cluster.id, run, started_at, finished_at, {"superseded": 1})
        return ScanOutcome(scan_id=scan.id, status={}, resolved=(), ids={}, cluster=snap.cluster)
    rows = {r.fingerprint: r for r in findings_repo.for_cluster(session, cluster_id=cluster.id)}
    changes = lifecycle.classify(
        open_before={fp: _open_state(r) for fp, r in rows.items() if r.state == STATE_OPEN},
        resolved_before={fp for fp, r in rows.items() if r.state == STATE_RESOLVED},
        current=run.findings,
        source=snap.source,
        evaluated=run.evaluated,
        visible=lifecycle.visible_in(snap),
        certs_at=lifecycle.certificates_at(snap),
    )
    scan = _add_scan(session, cluster.id, run, started_at, finished_at, _counts(run, changes))

    _write_inventory(session, cluster_id=cluster.id, scan_id=scan.id, snapshot=snap)

    status: dict[str, Status] = {}
    ids: dict[str, int] = {}
    events: dict[int, int] = {}
    previous: dict[int, tuple[Severity, str | None]] = {}
    groups: tuple[tuple[Status, tuple[Finding, ...]], ...] = (
        ("new", changes.new),
        ("escalated", changes.escalated),
        ("unchanged", changes.unchanged),
    )
    for label, group in groups:
        for finding in group:
            fp = finding.fingerprint
            row = rows.get(fp)
            if fp in changes.moved:  # same certificate, new location: same row (lifecycle)
                row = findings_repo.relocate(
                    session, rows[changes.moved[fp]], finding=finding, holder=row
                )
            if row is None:
                row = findings_repo.insert(
                    session,
                    cluster_id=cluster.id,
                    finding=finding,
                    source=snap.source,
                    scan_id=scan.id,
                    seen_at=started_at,
                )
            else:
                if label == "escalated":
                    previous[row.id] = (Severity(row.severity), row.tier)
                findings_repo.refresh(
                    row, finding=finding, source=snap.source, scan_id=scan.id, seen_at=started_at
                )
            status[fp] = label
            ids[fp] = row.id
            if label != "unchanged":
                event = "reopened" if fp in changes.reopened else label
                events[row.id] = events_repo.add(session, row=row, event=event, at=finished_at).id

    _end_silences(session, changes=changes, ids=ids, at=started_at)

    resolved: list[ResolvedFinding] = []
    for fp in changes.resolved:
        row = rows[fp]
        findings_repo.resolve(row, at=started_at)
        events[row.id] = events_repo.add(session, row=row, event="resolved", at=finished_at).id
        resolved.append(
            ResolvedFinding(row.id, fp, row.check_id, row.resource.key, Severity(row.severity))
        )
    session.flush()
    return ScanOutcome(
        scan_id=scan.id,
        status=status,
        resolved=tuple(resolved),
        ids=ids,
        reopened=changes.reopened,
        events=events,
        cluster=snap.cluster,
        previous=previous,
    )


def _add_scan(
    session: Session,
    cluster_id: int,
    run: CheckRun,
    started_at: datetime,
    finished_at: datetime,
    counts: dict[str, int],
) -> Scan:
    snap = run.snapshot
    return scans_repo.add(
        session,
        cluster_id=cluster_id,
        source=snap.source,
        origin=mask_credentials(snap.origin),
        started_at=started_at,
        finished_at=finished_at,
        coverage=[
            {"subject": c.subject, "status": c.status.value, "detail": mask_credentials(c.detail)}
            for c in snap.coverage
        ],
        unknowns=[
            {"check": u.check_id, "reason": mask_credentials(u.reason)} for u in run.unknowns
        ],
        counts=counts,
    )


def _end_silences(session: Session, *, changes: Changes, ids: dict[str, int], at: datetime) -> None:
    """A silence covers the finding as it was: escalation or reopening ends it.

    Otherwise a warning silenced for 60 days would hide it after it turned critical,
    past the 7-day cap on silencing critical findings.
    """
    news = [ids[f.fingerprint] for f in changes.escalated]
    news += [ids[fp] for fp in changes.reopened if fp in ids]
    if not news:
        return
    for row in silences_repo.active(session, now=at, finding_ids=news):
        silences_repo.remove(row, at=at, by="secbot:escalated")


def _write_inventory(
    session: Session, *, cluster_id: int, scan_id: int, snapshot: Snapshot
) -> None:
    if not any(snapshot.covers(subject) for subject in _certs.CERT_SOURCES):
        return
    entries = [
        inventory_repo.CertEntry(
            sha256=item.cert.sha256,
            subject=item.cert.subject,
            issuer=item.cert.issuer,
            serial=item.cert.serial,
            not_before=item.cert.not_before,
            not_after=item.cert.not_after,
            location_key=item.cert.location.key,
            is_ca=item.cert.is_ca,
            auto_renews=_certs.rotates_by_design(item),
        )
        for item in _certs.judged(snapshot.certificates)
    ]
    inventory_repo.replace(
        session, cluster_id=cluster_id, source=snapshot.source, scan_id=scan_id, entries=entries
    )


def record_failed_scan(
    *,
    session: Session,
    cluster: str,
    source: str,
    origin: str,
    started_at: datetime,
    finished_at: datetime,
    error: str,
) -> int:
    """Store a scan whose source failed; findings are left exactly as they were."""
    _validate(source=source, started_at=started_at, finished_at=finished_at)
    row = clusters_repo.get_or_create(session, name=cluster, now=started_at)
    scan = scans_repo.add(
        session,
        cluster_id=row.id,
        source=source,
        origin=mask_credentials(origin),
        started_at=started_at,
        finished_at=finished_at,
        error=mask_credentials(error) or "failed",
    )
    return scan.id
