"""Credential rotation: have the node credentials been changed recently enough?

secbot cannot see these credentials (secrets on the nodes); people record rotations with
``/harvester rotated KIND NODE|all`` and the scan loads those records into
``Snapshot.rotations`` (coverage ``rotations``). Without them the check answers UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.masking import contains_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CREDENTIAL_KINDS, RotationRecord, Snapshot

ALL_NODES = "all"
PROXY = "proxy-credentials"
LABELS = {
    "password": "password of user rancher",
    "ssh-keys": "SSH keys of user rancher",
    PROXY: "HTTP proxy credentials",
}
MAX_NAMED = 10  # nodes named in a message; the evidence lists them all


def _latest(records: Sequence[RotationRecord]) -> dict[tuple[str, str], datetime]:
    out: dict[tuple[str, str], datetime] = {}
    for r in records:
        key = (r.node, r.kind)
        if key not in out or r.rotated_at > out[key]:
            out[key] = r.rotated_at
    return out


def _proxy_has_credentials(snap: Snapshot) -> bool | None:
    """Does the effective http-proxy URL carry credentials? None when it cannot be told."""
    if not snap.setting_coverage("http-proxy").usable:
        return None
    effective = s.effective_field(snap.settings.get("http-proxy"))
    if effective is None:
        return False
    try:
        doc = s.decode(effective[1], s.HTTP_PROXY)
    except s.GoJSONError:
        return None
    return any(doc[k] and contains_credentials(str(doc[k])) for k in ("httpProxy", "httpsProxy"))


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


class CredentialRotationOverdue(Check):
    """A node credential was not rotated within the policy, or no rotation was recorded.

    Harvester's security best practices list the credentials an operator provides at
    installation and should change from time to time: the password of the default user
    ``rancher`` (per node: change it on each node, even when all share one password), the
    SSH keys of ``rancher`` (per node) and the HTTP proxy credentials. secbot cannot read
    them, so rotations are recorded by people; one finding per credential kind lists the
    nodes whose last rotation is older than ``rotation_max_age_days`` (180 by default:
    warning) or that have none recorded (info). Proxy credentials count only when the
    http-proxy URL carries them (or a rotation of them was recorded while the setting
    cannot be read). The cluster token is not here: rotating it is unsupported (§3.3).

    Bad: password of rancher last recorded as rotated on 2025-09-01 (scan of 2026-06-01).
    Good: ``/harvester rotated password all`` recorded on 2026-03-01.
    Source: ../shared/reference/security-best-practices.md "User-Provided Credentials on
    Harvester" (password of user rancher, SSH keys, HTTP proxy); reference/harvester.md §3.3.
    """

    id = "credential-rotation-overdue"
    title = "Node credentials not rotated within the policy"
    severity = Severity.WARNING
    tags = ("credentials", "nodes")
    requires = ("rotations", "nodes")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap, max_age = ctx.snapshot, timedelta(days=ctx.policy.rotation_max_age_days)
        latest = _latest(snap.rotations)
        has_proxy = _proxy_has_credentials(snap)
        # Unreadable http-proxy setting: a recorded proxy rotation says there is one.
        proxy = has_proxy or (has_proxy is None and any(k == PROXY for _, k in latest))
        nodes = sorted({n.name for n in snap.nodes})
        for kind in CREDENTIAL_KINDS:
            if kind == PROXY and not proxy:
                continue
            overdue: list[tuple[str, datetime]] = []
            never: list[str] = []
            for node in nodes:
                times = [t for t in (latest.get((node, kind)), latest.get((ALL_NODES, kind))) if t]
                if not times:
                    never.append(node)
                elif snap.scanned_at - max(times) > max_age:
                    overdue.append((node, max(times)))
            if overdue or never:
                yield self._report(ctx, kind=kind, overdue=overdue, never=never)

    def _report(
        self,
        ctx: CheckContext,
        *,
        kind: str,
        overdue: list[tuple[str, datetime]],
        never: list[str],
    ) -> Finding:
        days = ctx.policy.rotation_max_age_days
        parts = []
        if overdue:
            named = [f"{node} (last {at:%Y-%m-%d})" for node, at in overdue]
            parts.append(f"not rotated for more than {days} days on {_names(named)}")
        if never:
            parts.append(f"no rotation recorded on {_names(never)}")
        return self.finding(
            ctx,
            ResourceRef("Cluster", ctx.snapshot.cluster, field=f"credentials.{kind}"),
            f"{LABELS[kind]}: " + "; ".join(parts),
            evidence={
                "kind": kind,
                "max_age_days": days,
                "overdue_nodes": tuple(node for node, _ in overdue),
                "never_recorded_nodes": tuple(never),
                "oldest_rotation": min(at for _, at in overdue).isoformat() if overdue else None,
            },
            severity=Severity.WARNING if overdue else Severity.INFO,
        )


CHECKS: tuple[Check, ...] = (CredentialRotationOverdue(),)
