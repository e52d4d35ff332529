"""What the Slack listeners may use: one dataclass, built by the composition root.

``SlackServices`` bundles the engine, the clock, the way to scan and to reach clusters,
the worker pool, the operator list and the audit log (with its HMAC key, if any).
Listeners receive it through ``register(app, services)`` and never build any of these
themselves, so a test can hand in a fake clock, an engine on a fresh database or a scan
runner over fake clusters.

``build_services`` is what ``bot.wiring`` (or ``secbot serve``) calls; ``fleet_scanner``
turns ``bot.fleet.scan_fleet`` into the ``ScanRunner`` the ``scan`` command needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.audit.log import AuditLog
from bot.checks.base import Check
from bot.config import Settings
from bot.core.policy import CheckPolicy
from bot.fleet import Connect, scan_fleet
from bot.kube.client import KubeClient, KubeTarget, load_targets
from bot.notify.routing import Routing
from bot.remediation.executor import Executor
from bot.scan import ScanReport
from bot.slack.auth import Operators
from bot.slack.worker import Worker
from bot.sources.live_agent import DEFAULT_AGENT_NAMESPACE
from bot.sources.tlsprobe import ProbeOptions
from bot.store.db import Engine

ScanRunner = Callable[[Sequence[KubeTarget]], ScanReport]
TargetsLoader = Callable[[], list[KubeTarget]]


@dataclass(frozen=True)
class RemediationServices:
    """What fix / approve / reject need; present only when SECBOT_APPROVERS is set."""

    approvers: Operators  # SECBOT_APPROVERS: user ids and user groups
    channel: str | None  # SECBOT_APPROVAL_CHANNEL (default: the alert channel)
    executor: Executor
    ttl: timedelta = timedelta(hours=1)  # SECBOT_REMEDIATION_TTL


@dataclass(frozen=True)
class SlackServices:
    """Everything a listener needs; nothing in here is created at import time."""

    engine: Engine
    clock: Callable[[], datetime]  # aware UTC "now"
    scan_runner: ScanRunner  # scans these targets live and records them in the store
    load_targets: TargetsLoader  # the configured clusters (UserError when none)
    connect: Callable[[KubeTarget], KubeClient]  # for live reads (get setting)
    worker: Worker
    operators: Operators
    audit: AuditLog  # every change (and every denial) is recorded through it
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    policy: CheckPolicy = field(
        default_factory=CheckPolicy
    )  # expiry thresholds, to colour certificate lists
    command: str = "/harvester"
    remediation: RemediationServices | None = None

    @property
    def remediation_enabled(self) -> bool:
        return self.remediation is not None


def fleet_scanner(
    *,
    policy: CheckPolicy,
    connect: Connect,
    probe: ProbeOptions,
    concurrency: int,
    engine: Engine,
    clock: Callable[[], datetime],
    checks: Sequence[Check] | None = None,
    routing: Routing | None = None,
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE,
) -> ScanRunner:
    """A ScanRunner over ``bot.fleet.scan_fleet`` that records every cluster in the store
    (and plans its notifications when ``routing`` is given)."""

    def run(targets: Sequence[KubeTarget]) -> ScanReport:
        return scan_fleet(
            targets,
            now=clock(),
            policy=policy,
            connect=connect,
            probe=probe,
            concurrency=concurrency,
            checks=checks,
            engine=engine,
            clock=clock,
            routing=routing,
            agent_namespace=agent_namespace,
        )

    return run


def build_services(
    settings: Settings,
    *,
    engine: Engine,
    clock: Callable[[], datetime],
    scan_runner: ScanRunner,
    connect: Callable[[KubeTarget], KubeClient],
    policy: CheckPolicy | None = None,
    targets: TargetsLoader | None = None,
    worker: Worker | None = None,
    remediation: RemediationServices | None = None,
) -> SlackServices:
    """SlackServices from settings; the worker pool is new unless one is given."""
    clusters_file = settings.clusters_file
    return SlackServices(
        remediation=remediation,
        engine=engine,
        clock=clock,
        scan_runner=scan_runner,
        load_targets=targets or (lambda: load_targets(clusters_file)),
        connect=connect,
        worker=worker or Worker(threads=settings.worker_threads),
        operators=Operators(settings.operator_ids),
        audit=AuditLog(hmac_key=settings.audit_hmac_key_bytes),
        tz=ZoneInfo(settings.timezone),
        policy=policy or CheckPolicy(),
        command=settings.slash_command,
    )
