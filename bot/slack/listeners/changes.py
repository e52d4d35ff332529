"""The state-changing subcommands: scan, silence, unsilence, rotated.

Only operators get here (the command's middleware checks first). Each change runs in
one transaction (``session_scope``) through a bot.findings service, which validates it
(a silence needs a reason and an expiry; critical ones at most 7 days), writes its audit
record through ``services.audit`` in the same transaction, and raises a UserError the
person sees when something is wrong: nothing is written then.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.snapshot import CoverageStatus
from bot.findings.queries import cluster_statuses
from bot.findings.rotations import record_rotation
from bot.findings.silences import silence as silence_finding
from bot.findings.silences import unsilence as unsilence_finding
from bot.kube.client import KubeTarget
from bot.scan import ScanReport
from bot.slack.blocks.notices import (
    rotated_message,
    scan_ack_message,
    silenced_message,
    unsilenced_message,
)
from bot.slack.blocks.status import ScanLine, scan_result_message
from bot.slack.command_types import Rotated, Scan, Silence, Unsilence, UsageError
from bot.slack.listeners.outcome import Later, Request
from bot.slack.worker import Message
from bot.store.db import session_scope

_FAILED = (CoverageStatus.ERROR, CoverageStatus.FORBIDDEN)


def target_named(
    name: str | None, targets: Sequence[KubeTarget], *, subcommand: str, command: str
) -> KubeTarget:
    """The configured cluster ``name``; without a name, the only one (UsageError else)."""
    names = ", ".join(t.name for t in targets) or "none"
    if name is None:
        if len(targets) == 1:
            return targets[0]
        raise UsageError(
            subcommand,
            f"name the cluster: {len(targets)} are configured ({names})",
            command=command,
        )
    for target in targets:
        if target.name == name:
            return target
    raise UsageError(
        subcommand, f"unknown cluster {name!r}; known clusters: {names}", command=command
    )


def scan(command: Scan, r: Request) -> Later:
    """Ack "Scanning …" now; scan on the worker, record, answer with the summary."""
    s = r.services
    targets = s.load_targets()
    if command.cluster is not None:
        targets = [target_named(command.cluster, targets, subcommand="scan", command=s.command)]

    def job() -> Message:
        report = s.scan_runner(targets)
        return scan_result_message(scan_lines(report, r), command=s.command)

    names = [t.name for t in targets]
    return Later(job, ack=scan_ack_message(names, everything=command.cluster is None))


def scan_lines(report: ScanReport, r: Request) -> list[ScanLine]:
    """Per cluster: open (unsilenced) findings now, new and resolved ones, or its error."""
    with session_scope(r.services.engine) as session:
        counts = {c.name: c.counts for c in cluster_statuses(session=session, now=r.now)}
    lines = []
    for scanned in report.scans:
        snapshot, outcome = scanned.run.snapshot, scanned.outcome
        api = snapshot.coverage_of("api")
        lines.append(
            ScanLine(
                cluster=snapshot.cluster,
                counts=counts.get(snapshot.cluster, {}),
                new=sum(1 for v in outcome.status.values() if v == "new") if outcome else 0,
                resolved=len(outcome.resolved) if outcome else 0,
                error=api.detail if api.status in _FAILED else None,
            )
        )
    return lines


def silence(command: Silence, r: Request) -> Message:
    s = r.services
    with session_scope(s.engine) as session:
        view = silence_finding(
            session=session,
            finding_id=command.finding_id,
            duration=command.duration,
            reason=command.reason,
            owner=r.user,
            now=r.now,
            audit=s.audit,
        )
    return silenced_message(view, now=r.now, tz=s.tz)


def unsilence(command: Unsilence, r: Request) -> Message:
    s = r.services
    with session_scope(s.engine) as session:
        removed = unsilence_finding(
            session=session, finding_id=command.finding_id, owner=r.user, now=r.now, audit=s.audit
        )
    return unsilenced_message(command.finding_id, removed=removed)


def rotated(command: Rotated, r: Request) -> Message:
    s = r.services
    cluster = (
        command.cluster
        or target_named(None, s.load_targets(), subcommand="rotated", command=s.command).name
    )
    with session_scope(s.engine) as session:
        record_rotation(
            session=session,
            cluster=cluster,
            node=command.node,
            kind=command.kind,
            by=r.user,
            now=r.now,
            audit=s.audit,
        )
    return rotated_message(
        cluster=cluster, node=command.node, kind=command.kind, by=r.user, now=r.now, tz=s.tz
    )
