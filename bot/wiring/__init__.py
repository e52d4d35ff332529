"""The one composition root: turns Settings into the objects a command needs.

Everything heavy (database engine, Kubernetes clients, the Slack services, and in
``bot.wiring.scheduling`` the notification pipeline and the scheduler) is built here, on
demand, never at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from bot.config import Settings, load_settings
from bot.core.policy import CheckPolicy
from bot.sources.limits import Limits, MiB

if TYPE_CHECKING:
    from pathlib import Path

    from bot.kube.client import KubeClient, KubeTarget, Timeouts
    from bot.notify.routing import Routing
    from bot.remediation.executor import Executor
    from bot.slack.services import RemediationServices, ScanRunner, SlackServices
    from bot.sources.tlsprobe import ProbeOptions
    from bot.store.db import Engine


def settings_for_command(**overrides: object) -> Settings:
    """Load settings (UserError on bad values) and send logs to stderr at their level.
    A .env that could not be read was skipped: said at DEBUG, now that logging is set up."""
    import logging

    from bot.logctx import configure

    settings = load_settings(**overrides)
    configure(settings.log_level, settings.log_format)
    if settings.env_file_skipped:
        logging.getLogger("bot.config").debug("settings: %s", settings.env_file_skipped)
    return settings


def check_policy(settings: Settings) -> CheckPolicy:
    """Thresholds for the checks; a UserError-worthy mistake raises ValueError."""
    return CheckPolicy(
        expiry_critical_days=settings.expiry_critical_days,
        expiry_warning_days=settings.expiry_warning_days,
        expiry_info_days=settings.expiry_info_days,
        auto_rotate_min_hours=settings.auto_rotate_min_hours,
        auto_rotate_max_hours=settings.auto_rotate_max_hours,
        rotation_max_age_days=settings.rotation_max_age_days,
    )


def input_limits(settings: Settings) -> Limits:
    return Limits(
        max_file_bytes=settings.max_file_mb * MiB, max_total_bytes=settings.max_bundle_mb * MiB
    )


def open_store(settings: Settings, *, url: str | None = None) -> Engine:
    """Engine for the configured database, with the schema at head (or a UserError)."""
    from bot.store.db import ensure_schema, make_engine

    engine = make_engine(url or settings.database_url.get_secret_value())
    ensure_schema(engine, auto_upgrade=settings.auto_migrate)
    return engine


def kube_timeouts(settings: Settings) -> Timeouts:
    from bot.kube.client import Timeouts

    return Timeouts(
        connect=settings.kube_connect_timeout,
        read=settings.kube_read_timeout,
        retries=settings.kube_retries,
    )


def probe_options(settings: Settings, *, enabled: bool = True) -> ProbeOptions:
    from bot.sources.tlsprobe import ProbeOptions

    return ProbeOptions(enabled=enabled and settings.probe_enabled, timeout=settings.probe_timeout)


def select_targets(
    settings: Settings, *, names: tuple[str, ...], everything: bool, clusters_file: Path | None
) -> list[KubeTarget]:
    """The clusters to scan: those named, or all of the clusters file (UserError otherwise)."""
    from bot.errors import UserError
    from bot.kube.client import load_targets

    targets = load_targets(clusters_file or settings.clusters_file)
    if everything:
        return targets
    by_name = {t.name: t for t in targets}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise UserError(f"unknown cluster {unknown[0]!r}; known clusters: {known}")
    return [by_name[n] for n in names]


def utcnow() -> datetime:
    return datetime.now(UTC)


def configured_targets(settings: Settings) -> list[KubeTarget]:
    """The clusters file's clusters; none when there is no clusters file (``serve`` then
    schedules no scans: bundles and manifests are scanned from the CLI)."""
    from bot.kube.client import load_targets

    return load_targets(settings.clusters_file) if settings.clusters_file else []


def notify_routing(settings: Settings, targets: list[KubeTarget] | None = None) -> Routing:
    """Alert and digest channels: the settings, and per-cluster overrides of ``targets``
    (default: the clusters file's, when there is one)."""
    from bot.notify.routing import Routing

    chosen = configured_targets(settings) if targets is None else targets
    return Routing(
        alert_channel=settings.alert_channel,
        digest_channel=settings.digest_channel,
        per_cluster={t.name: t.slack_channel for t in chosen if t.slack_channel},
    )


def policy_or_fail(settings: Settings) -> CheckPolicy:
    """``check_policy``, with thresholds out of order as one UserError line."""
    from bot.errors import UserError

    try:
        return check_policy(settings)
    except ValueError as e:
        raise UserError(f"{e}; fix SECBOT_EXPIRY_*_DAYS") from None


def connect_kube(settings: Settings) -> Callable[[KubeTarget], KubeClient]:
    from functools import partial

    from bot.kube.client import KubeClient

    return partial(KubeClient.connect, timeouts=kube_timeouts(settings))


def scan_runner(settings: Settings, *, engine: Engine, routing: Routing) -> ScanRunner:
    """Live scans that record each cluster and plan its notifications."""
    from bot.slack.services import fleet_scanner

    return fleet_scanner(
        policy=policy_or_fail(settings),
        connect=connect_kube(settings),
        probe=probe_options(settings),
        concurrency=settings.scan_concurrency,
        engine=engine,
        clock=utcnow,
        routing=routing,
        agent_namespace=settings.agent_namespace,
    )


def slack_services(
    settings: Settings, *, engine: Engine, routing: Routing | None = None
) -> SlackServices:
    """Everything the Slack listeners call: store, clock, live scans, kube access, policy."""
    from bot.slack.services import build_services

    runner = scan_runner(settings, engine=engine, routing=routing or notify_routing(settings))
    return build_services(
        settings,
        engine=engine,
        clock=utcnow,
        scan_runner=runner,
        connect=connect_kube(settings),
        policy=policy_or_fail(settings),
        remediation=remediation_services(settings, engine=engine, runner=runner),
    )


@cache
def process_holder() -> str:
    """This process's one identity: scheduler heartbeats, claims, leases and the
    remediation executor all use it, so recovery can tell live work from orphans.
    Cached: every caller in the process gets the same one."""
    from bot.scheduler.service import make_holder

    return make_holder()


def approval_channel(settings: Settings) -> str | None:
    return settings.approval_channel or settings.alert_channel


def executor(settings: Settings, *, engine: Engine, runner: ScanRunner) -> Executor:
    """Runs approved remediations; re-scans with ``runner`` to verify."""
    from bot.audit.log import AuditLog
    from bot.kube.client import load_targets
    from bot.remediation import flow
    from bot.remediation.executor import Executor

    return Executor(
        engine=engine,
        connect=connect_kube(settings),
        targets=lambda: load_targets(settings.clusters_file),
        rescan=lambda target: runner([target]),
        clock=utcnow,
        audit=AuditLog(hmac_key=settings.audit_hmac_key_bytes),
        announce=flow.announce_finish(approval_channel(settings)),
        holder=process_holder(),
    )


def remediation_services(
    settings: Settings, *, engine: Engine, runner: ScanRunner
) -> RemediationServices | None:
    """fix / approve / reject, when SECBOT_APPROVERS is set."""
    if not settings.approver_ids:
        return None
    from bot.slack.auth import Operators
    from bot.slack.services import RemediationServices

    return RemediationServices(
        approvers=Operators(settings.approver_ids),
        channel=approval_channel(settings),
        executor=executor(settings, engine=engine, runner=runner),
        ttl=settings.remediation_ttl_delta,
    )
