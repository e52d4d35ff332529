"""What the Slack commands and the CLI call to plan a fix for a stored finding.

``plan_fix`` reads the finding from the store, connects to its cluster (a clusters-file
entry) and asks the planner for the plan with the server's dry-run answer. It holds no
transaction while the cluster answers. Errors are UserErrors with the reason: unknown or
resolved finding, a cluster not in the clusters file, no action for the check, a
precondition that does not hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.errors import UserError
from bot.kube.client import KubeClient, KubeTarget
from bot.kube.errors import KubeError
from bot.remediation.offline import OfflineClient
from bot.remediation.plan import Plan
from bot.remediation.planner import FindingRef, plan_remediation
from bot.store.db import Engine, read_scope
from bot.store.models import STATE_OPEN
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import findings as findings_repo


def finding_ref(*, engine: Engine, finding_id: int) -> FindingRef:
    """The stored finding F-<id> as the planner needs it (UserError if not open)."""
    with read_scope(engine) as session:
        row = findings_repo.get(session, finding_id)
        if row is None:
            raise UserError(f"F-{finding_id} does not exist")
        if row.state != STATE_OPEN:
            raise UserError(f"F-{finding_id} is {row.state}; there is nothing to fix")
        cluster = clusters_repo.get(session, row.cluster_id)
        name = cluster.name if cluster is not None else "?"
        return FindingRef(
            id=f"F-{row.id}",
            cluster=name,
            check_id=row.check_id,
            resource=row.resource.key,
            evidence=dict(row.evidence),
        )


def plan_fix(
    *,
    engine: Engine,
    finding_id: int,
    action_id: str | None,
    targets: Sequence[KubeTarget],
    connect: Callable[[KubeTarget], KubeClient],
    now: datetime,
) -> Plan:
    """The plan for F-<id> on its live cluster, dry run included."""
    ref = finding_ref(engine=engine, finding_id=finding_id)
    target = next((t for t in targets if t.name == ref.cluster), None)
    if target is None:
        raise UserError(
            f"F-{finding_id} is on {ref.cluster!r}, which is not in the clusters file; "
            "fixes are made on live clusters only"
        )
    try:
        client = connect(target)
        try:
            return plan_remediation(client, action_id=action_id, finding=ref, now=now)
        finally:
            client.close()
    except KubeError as e:  # messages of bot.kube never carry credentials
        if isinstance(e, UserError):
            raise
        raise UserError(f"cannot plan the fix on {ref.cluster}: {e}") from None


def plan_fix_offline(
    *,
    engine: Engine,
    finding_id: int,
    action_id: str | None,
    objects: list[dict[str, Any]],
    now: datetime,
) -> Plan:
    """The plan for F-<id> against objects read from files; the dry run is not run."""
    ref = finding_ref(engine=engine, finding_id=finding_id)
    return plan_remediation(
        OfflineClient(objects, cluster=ref.cluster), action_id=action_id, finding=ref, now=now
    )
