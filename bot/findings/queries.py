"""Read-only queries behind the Slack commands and the App Home: views, never ORM rows.

Keyword-only functions over a session the caller opened (``session_scope``); nothing
here writes. ``now`` is passed in (UTC, aware) because whether a silence is still in force
depends on it. A named cluster the store does not know is a UserError that lists the
known ones; ``cluster=None`` means every cluster.

Choices worth knowing:
- ``ClusterStatus.unknown`` and ``last_error`` come from the cluster's latest scan of any
  source, the same scan ``last_scan_at`` / ``last_source`` describe (a failed scan has
  no UNKNOWN list: its error says why nothing was decided).
- Certificates come from the current inventory of every source of a cluster. Where two
  sources saw the same location, the newer scan wins (a renewed Secret replaces what an
  older bundle showed); the same certificate seen at several places is shown once, at
  the place a finding is about, else its first location. Certificates that renew
  themselves by design (KubeVirt's) are shown only once expired, like the checks do.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache

from bot.checks.registry import get_check
from bot.core.finding import JSONScalar
from bot.core.severity import Severity, tier_rank
from bot.errors import UserError
from bot.findings.views import CertView, ClusterStatus, FindingView
from bot.store.db import Session
from bot.store.models import Cluster, FindingRow, Silence
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import findings as findings_repo
from bot.store.repos import inventory as inventory_repo
from bot.store.repos import scans as scans_repo
from bot.store.repos import silences as silences_repo
from bot.store.repos.findings import OpenBrief
from bot.store.repos.inventory import InventoryItem

_SHORT_ID = re.compile(r"(?:[Ff]-)?([0-9]{1,10})")
MAX_ID = 2**31 - 1  # findings.id is a 32-bit INTEGER on PostgreSQL
# The checks whose finding is "the" finding about a certificate's expiry.
_EXPIRY_CHECKS = ("cert-expired", "cert-expiring")
_NEVER = datetime.max.replace(tzinfo=UTC)


def parse_short_id(text: str) -> int:
    """``F-123`` / ``f-123`` / ``123`` -> 123; ValueError for anything else."""
    m = _SHORT_ID.fullmatch(text.strip())
    value = int(m.group(1)) if m else 0
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{text[:40]!r} is not a finding id; they look like F-123")
    return value


def cluster_names(*, session: Session) -> list[str]:
    """Every cluster the store knows (has scanned), by name."""
    return [c.name for c in clusters_repo.list_all(session)]


def require_cluster_id(*, session: Session, name: str) -> int:
    """The id of cluster ``name``; UserError naming the known clusters if there is none."""
    found = clusters_repo.get_by_name(session, name)
    if found is not None:
        return found.id
    known = cluster_names(session=session)
    listed = f"known: {', '.join(known)}" if known else "none has been scanned yet"
    raise UserError(f"no cluster {name[:100]!r} in the store; {listed}")


@cache
def _check_meta(check_id: str) -> tuple[str, str | None]:
    try:
        check = get_check(check_id)
    except KeyError:  # a check that no longer exists: its stored findings still show
        return check_id, None
    return check.title, check.remediation


def check_title(check_id: str) -> str:
    """The title of a check (its id when the check no longer exists)."""
    return _check_meta(check_id)[0]


def _evidence(raw: Mapping[str, object]) -> dict[str, JSONScalar | tuple[JSONScalar, ...]]:
    out: dict[str, JSONScalar | tuple[JSONScalar, ...]] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            out[key] = tuple(v for v in value if v is None or isinstance(v, str | int | float))
        elif value is None or isinstance(value, str | int | float):
            out[key] = value
    return out


def _view(row: FindingRow, *, cluster: str, silence: Silence | None) -> FindingView:
    title, remediation = _check_meta(row.check_id)
    return FindingView(
        id=row.id,
        cluster=cluster,
        check_id=row.check_id,
        title=title,
        severity=Severity(row.severity),
        state=row.state,
        resource=row.resource,
        message=row.message,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        evidence=_evidence(row.evidence),
        tier=row.tier,
        silenced_until=silence.expires_at if silence else None,
        silence_reason=silence.reason if silence else None,
        remediation=remediation,
    )


def _expires(view: FindingView) -> datetime:
    # Certificate findings carry not_after in their evidence: the sooner, the higher.
    value = view.evidence.get("not_after")
    if not isinstance(value, str):
        return _NEVER
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _NEVER
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _worst_first(view: FindingView) -> tuple[int, int, datetime, str, int]:
    return (-view.severity.rank, -tier_rank(view.tier), _expires(view), view.cluster, view.id)


def _silences(
    session: Session,
    *,
    now: datetime,
    cluster_id: int | None = None,
    finding_ids: Iterable[int] | None = None,
) -> dict[int, Silence]:
    # Active silences are few, so they are fetched per cluster (not by a long IN list).
    # Ordered by expiry, so the longest-running silence of a finding wins.
    active = silences_repo.active(session, now=now, cluster_id=cluster_id, finding_ids=finding_ids)
    return {s.finding_id: s for s in active}


def list_findings(
    *,
    session: Session,
    now: datetime,
    cluster: str | None = None,
    min_severity: Severity | None = None,
    include_silenced: bool = False,
    limit: int = 500,
) -> list[FindingView]:
    """Open findings, worst first (severity, expiry tier, soonest notAfter, then F-id)."""
    cluster_id = None if cluster is None else require_cluster_id(session=session, name=cluster)
    names = {c.id: c.name for c in clusters_repo.list_all(session)}
    rows = findings_repo.list_open(session, cluster_id=cluster_id)
    if min_severity is not None:
        rows = [r for r in rows if Severity(r.severity).rank >= min_severity.rank]
    silenced = _silences(session, now=now, cluster_id=cluster_id)
    views = [
        _view(r, cluster=names[r.cluster_id], silence=silenced.get(r.id))
        for r in rows
        if include_silenced or r.id not in silenced
    ]
    return sorted(views, key=_worst_first)[: max(limit, 0)]


def get_finding(*, session: Session, finding_id: int, now: datetime) -> FindingView | None:
    """One finding (open or resolved) with its silence in force at ``now``, or None."""
    if not 1 <= finding_id <= MAX_ID:
        return None
    row = findings_repo.get(session, finding_id)
    if row is None:
        return None
    cluster = session.get(Cluster, row.cluster_id)
    assert cluster is not None  # findings.cluster_id is a foreign key
    silence = _silences(session, now=now, finding_ids=[row.id]).get(row.id)
    return _view(row, cluster=cluster.name, silence=silence)


def _finding_per_location(rows: Iterable[OpenBrief]) -> dict[tuple[int, str], int]:
    def preference(r: OpenBrief) -> tuple[bool, int, int]:
        return (r.check_id not in _EXPIRY_CHECKS, -Severity(r.severity).rank, r.id)

    best: dict[tuple[int, str], OpenBrief] = {}
    for r in rows:
        key = (r.cluster_id, r.resource.key)
        if key not in best or preference(r) < preference(best[key]):
            best[key] = r
    return {key: r.id for key, r in best.items()}


def _open_rows(session: Session, cluster_ids: list[int] | None) -> list[OpenBrief]:
    return findings_repo.open_briefs(session, cluster_ids=cluster_ids)


def _inventory(
    session: Session,
    *,
    cluster_ids: list[int] | None,
    names: Mapping[int, str],
    open_rows: list[OpenBrief],
    now: datetime,
) -> list[CertView]:
    """The current certificates of some clusters, deduplicated, soonest expiry first."""
    newest: dict[tuple[int, str], tuple[InventoryItem, tuple[datetime, int]]] = {}
    for row in inventory_repo.current(session, cluster_ids=cluster_ids):
        key, seen = (row.cluster_id, row.location_key), (row.scan_started_at, row.scan_id)
        if key not in newest or seen > newest[key][1]:
            newest[key] = (row, seen)
    about = _finding_per_location(open_rows)
    chosen: dict[tuple[int, str], CertView] = {}
    for row, _ in sorted(newest.values(), key=lambda item: item[0].location_key):
        if row.auto_renews and row.not_after > now:
            continue
        view = CertView(
            cluster=names[row.cluster_id],
            subject=row.subject,
            issuer=row.issuer,
            serial=row.serial,
            not_after=row.not_after,
            location=row.location_key,
            finding_id=about.get((row.cluster_id, row.location_key)),
        )
        kept = chosen.get((row.cluster_id, row.sha256))
        if kept is None or (kept.finding_id is None and view.finding_id is not None):
            chosen[(row.cluster_id, row.sha256)] = view
    return sorted(chosen.values(), key=lambda v: (v.not_after, v.cluster, v.location))


def _scope(session: Session, cluster: str | None) -> tuple[list[int] | None, dict[int, str]]:
    names = {c.id: c.name for c in clusters_repo.list_all(session)}
    if cluster is None:
        return None, names
    cluster_id = require_cluster_id(session=session, name=cluster)
    return [cluster_id], {cluster_id: names[cluster_id]}


def expiring_certs(
    *,
    session: Session,
    cluster: str | None,
    within_days: int,
    now: datetime,
    limit: int = 500,
    open_rows: list[OpenBrief] | None = None,
    among: Collection[str] | None = None,
) -> list[CertView]:
    """Certificates that expire within ``within_days`` of ``now`` (expired ones included),
    soonest first, from the current inventory: every certificate, not only findings.
    ``open_rows``: the open findings in scope, when the caller has them already;
    ``among``: only these clusters (by name; with ``cluster`` None)."""
    if within_days < 0:
        raise UserError("the window must be 0 days or more, e.g. --within 30d")
    cluster_ids, names = _scope(session, cluster)
    if among is not None:
        names = {i: n for i, n in names.items() if n in among}
        cluster_ids = list(names)
    until = now + timedelta(days=within_days)
    if open_rows is None:
        open_rows = _open_rows(session, cluster_ids)
    certs = _inventory(session, cluster_ids=cluster_ids, names=names, open_rows=open_rows, now=now)
    return [c for c in certs if c.not_after <= until][: max(limit, 0)]


def cluster_statuses(
    *, session: Session, now: datetime, cluster: str | None = None
) -> list[ClusterStatus]:
    """Every cluster (or one) at a glance, by name; see the module docstring."""
    cluster_ids, names = _scope(session, cluster)
    latest = scans_repo.latest_per_cluster(session, cluster_ids=cluster_ids)
    open_rows = _open_rows(session, cluster_ids)
    silenced = _silences(session, now=now, cluster_id=cluster_ids[0] if cluster_ids else None)
    next_expiry: dict[str, CertView] = {}
    certs = _inventory(session, cluster_ids=cluster_ids, names=names, open_rows=open_rows, now=now)
    for cert in certs:
        next_expiry.setdefault(cert.cluster, cert)
    out = []
    for cluster_id, name in sorted(names.items(), key=lambda item: item[1]):
        mine = [r for r in open_rows if r.cluster_id == cluster_id]
        counts = dict.fromkeys((s.value for s in Severity), 0)
        for r in mine:
            if r.id not in silenced:
                counts[r.severity] += 1
        scan = latest.get(cluster_id)
        out.append(
            ClusterStatus(
                name=name,
                last_scan_at=scan.started_at if scan else None,
                last_source=scan.source if scan else None,
                last_error=scan.error if scan else None,
                counts=counts,
                unknown=len(scan.unknowns) if scan else 0,
                silenced=sum(1 for r in mine if r.id in silenced),
                next_expiry=next_expiry.get(name),
            )
        )
    return out
