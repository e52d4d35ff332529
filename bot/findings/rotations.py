"""Record that a node credential was rotated, and read the records back for the checks.

The credentials are those security-best-practices.md asks operators to change from time to
time: the password of user ``rancher`` and its SSH keys (per node) and the HTTP proxy
credentials. secbot cannot see them (they are secrets, and they live on the nodes), so a
person says when they rotated one (``/harvester rotated password NODE|all``); the check
``credential-rotation-overdue`` compares those dates with the policy. Only the date, the
node, the kind and who said so are stored: never the credential. Each record is audited
("rotation.record") in the same transaction.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.audit.log import AuditLog
from bot.core.snapshot import (
    CREDENTIAL_KINDS,
    RotationRecord,
    Snapshot,
)
from bot.errors import UserError
from bot.findings.queries import require_cluster_id
from bot.store.db import Session
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import rotations as rotations_repo

__all__ = [
    "ALL_NODES",
    "CREDENTIAL_KINDS",
    "load_rotations",
    "record_rotation",
    "rotations_for",
]

ALL_NODES = "all"
# A Kubernetes node name (RFC 1123 subdomain), lower-case.
_NODE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def record_rotation(
    *,
    session: Session,
    cluster: str,
    node: str,
    kind: str,
    by: str,
    now: datetime,
    audit: AuditLog,
) -> None:
    """Record that ``kind`` was rotated on ``node`` (or on every node: "all") at ``now``.

    UserError for an unknown kind, a malformed node name or a cluster the store does not
    know (the message lists the known ones).
    """
    if kind not in CREDENTIAL_KINDS:
        raise UserError(
            f"unknown credential {kind[:40]!r}; use one of: {', '.join(CREDENTIAL_KINDS)}"
        )
    if node != ALL_NODES and not _NODE.fullmatch(node):
        raise UserError(f"{node[:60]!r} is not a node name; give a node name or `all`")
    if not by:
        raise ValueError("by (a Slack user id) is required")
    cluster_id = require_cluster_id(session=session, name=cluster)
    rotations_repo.add(
        session, cluster_id=cluster_id, node=node, kind=kind, rotated_at=now, recorded_by=by
    )
    audit.record(
        session,
        actor=by,
        action="rotation.record",
        subject=f"cluster:{cluster}/node:{node}",
        payload={"cluster": cluster, "node": node, "kind": kind, "rotated_at": now},
        at=now,
    )


def rotations_for(*, session: Session, cluster: str) -> tuple[RotationRecord, ...]:
    """The latest rotation per (node, kind) of a cluster, sorted by kind then node; empty
    for a cluster the store does not know yet (nothing was recorded for it)."""
    found = clusters_repo.get_by_name(session, cluster)
    if found is None:
        return ()
    rows = rotations_repo.latest(session, cluster_id=found.id)
    return tuple(RotationRecord(node=n, kind=k, rotated_at=at) for n, k, at in rows)


def load_rotations(*, session: Session, snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with the cluster's recorded credential rotations and coverage
    ``rotations`` READ (a cluster the store does not know yet has none recorded)."""
    return snapshot.with_rotations(rotations_for(session=session, cluster=snapshot.cluster))
