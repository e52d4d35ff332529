"""The certificate inventory: what certificates each source last saw in each cluster.

``replace`` swaps the inventory of one (cluster, source) for a scan's, inside the
caller's transaction, so readers see either the old or the new set, never a mix.
Entries are facts about certificates (subjects, serials, fingerprints, dates, where they
were found): never PEM, never keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import CertInventoryRow, Scan


class CertEntry(NamedTuple):
    """One certificate to store (a row without ids)."""

    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    location_key: str
    is_ca: bool
    auto_renews: bool


def replace(
    session: Session, *, cluster_id: int, source: str, scan_id: int, entries: Iterable[CertEntry]
) -> int:
    """Make ``entries`` the inventory of (cluster, source); returns how many were stored."""
    session.execute(
        delete(CertInventoryRow).where(
            CertInventoryRow.cluster_id == cluster_id, CertInventoryRow.source == source
        )
    )
    rows = [
        CertInventoryRow(cluster_id=cluster_id, source=source, scan_id=scan_id, **e._asdict())
        for e in entries
    ]
    session.add_all(rows)
    session.flush()
    return len(rows)


class InventoryItem(NamedTuple):
    """An inventory row as plain columns (listings read thousands; ORM objects cost)."""

    cluster_id: int
    scan_id: int
    sha256: str
    subject: str
    issuer: str
    serial: str
    not_after: datetime
    location_key: str
    auto_renews: bool
    scan_started_at: datetime
    source: str = ""  # the scan source kind: live, bundle, manifests, pki


def current(session: Session, *, cluster_ids: Iterable[int] | None = None) -> list[InventoryItem]:
    """Inventory rows (of some clusters, or all) with the start time of the scan that saw
    them, soonest expiry first."""
    row = CertInventoryRow
    query = select(
        row.cluster_id,
        row.scan_id,
        row.sha256,
        row.subject,
        row.issuer,
        row.serial,
        row.not_after,
        row.location_key,
        row.auto_renews,
        Scan.started_at,
        row.source,
    ).join(Scan, Scan.id == row.scan_id)
    if cluster_ids is not None:
        query = query.where(row.cluster_id.in_(list(cluster_ids)))
    query = query.order_by(row.not_after, row.id)
    return [InventoryItem._make(values) for values in session.execute(query)]
