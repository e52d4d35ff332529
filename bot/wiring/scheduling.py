"""Composition of the notification pipeline and the scheduler (part of the composition
root, bot.wiring): the renderer and sink, the outbox dispatcher, the job table with what
each job does, leader election, and the scheduler service of ``secbot serve``.

Every builder takes the clock, so tests drive the same composition with a fake clock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.wiring import (
    approval_channel,
    configured_targets,
    executor,
    notify_routing,
    policy_or_fail,
    process_holder,
    scan_runner,
    utcnow,
)

if TYPE_CHECKING:
    from bot.kube.client import KubeClient, KubeTarget
    from bot.notify.dispatcher import Dispatcher
    from bot.notify.sinks import Renderer, Sink
    from bot.scheduler.jobs import JobSpec
    from bot.scheduler.service import SchedulerService
    from bot.slack.services import ScanRunner
    from bot.store.db import Engine


def renderer(settings: Settings) -> Renderer:
    from zoneinfo import ZoneInfo

    from bot.slack.blocks.render import SlackRenderer

    return SlackRenderer(tz=ZoneInfo(settings.timezone), command=settings.slash_command)


def sink(settings: Settings, *, engine: Engine) -> Sink:
    """Slack when SLACK_BOT_TOKEN is set, else the console (announced once).

    The console marks what it prints as sent, so on a shared (PostgreSQL) database it is
    only used when asked for (SECBOT_CONSOLE=true): a replica whose Slack secret failed to
    mount must not swallow the alerts and digests meant for Slack.
    """
    from bot.errors import UserError

    if settings.slack_bot_token is None:
        if engine.dialect.name != "sqlite" and not settings.console:
            raise UserError(
                "SLACK_BOT_TOKEN is not set, and printing messages instead of posting "
                f"them would mark them sent in the shared {engine.dialect.name} database; "
                "set the Slack tokens, or SECBOT_CONSOLE=true to print on purpose"
            )
        from bot.notify.console import ConsoleSink

        console = ConsoleSink(sys.stdout)
        console.announce()
        return console
    from bot.slack.sink import slack_sink

    return slack_sink(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )


def dispatcher(
    settings: Settings,
    *,
    engine: Engine,
    sink: Sink,
    clock: Callable[[], datetime] = utcnow,
) -> Dispatcher:
    from bot.notify.dispatcher import Dispatcher, Policy

    return Dispatcher(
        engine=engine,
        sink=sink,
        renderer=renderer(settings),
        clock=clock,
        policy=Policy(max_attempts=settings.outbox_max_attempts),
    )


def scheduler_jobs(
    settings: Settings,
    *,
    engine: Engine,
    targets: list[KubeTarget],
    dispatch: Dispatcher | None,
    runner: ScanRunner | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[JobSpec]:
    """The job table from the settings and the clusters; ``dispatch`` None (``scheduler
    list``) builds the table without anything that could post."""
    from zoneinfo import ZoneInfo

    from bot.audit.log import AuditLog
    from bot.errors import UserError
    from bot.findings.silences import record_expiries
    from bot.notify.digest import plan_digests
    from bot.notify.plan import EXPIRED_SILENCE_WINDOW, plan_expired_silences
    from bot.remediation import flow
    from bot.scheduler.jobs import JobActions, build_jobs
    from bot.scheduler.runner import current_slot
    from bot.store.db import session_scope

    route = notify_routing(settings, targets)
    audit = AuditLog(hmac_key=settings.audit_hmac_key_bytes)
    scans = runner or scan_runner(settings, engine=engine, routing=route)
    by_name = {t.name: t for t in targets}
    tz = ZoneInfo(settings.timezone)
    policy = policy_or_fail(settings)  # the digest labels certificates as the checks do

    def scan(name: str) -> None:
        scans([by_name[name]])

    def digest(fire: datetime) -> None:
        day = fire.astimezone(tz).date().isoformat()
        manual = (current_slot() or "").startswith("manual:")
        with session_scope(engine) as session:
            plan_digests(
                session=session,
                routing=route,
                clusters=list(by_name),
                day=day,
                now=clock(),
                manual=manual,
                policy=policy,
            )
        send()

    def send() -> None:
        if dispatch is None:
            raise UserError("nothing is sent from here; `secbot serve` sends the outbox")
        dispatch.run_once()

    # Built once: the expiry job runs every minute.
    runs = executor(settings, engine=engine, runner=scans) if settings.approver_ids else None

    def expire(now: datetime) -> None:
        from bot.store.repos import claims
        from bot.store.repos import outbox as outbox_repo

        with session_scope(engine) as session:
            record_expiries(session=session, now=now, window=EXPIRED_SILENCE_WINDOW)
            plan_expired_silences(session=session, routing=route, now=now)
            # Claims older than any slot that can still come due are history; old
            # digests (each a full certificate list) only cost space. Alerts stay: they
            # are the threads later follow-ups reply in.
            claims.prune(session, before=now - timedelta(days=30))
            outbox_repo.prune(session, kind="digest", before=now - timedelta(days=90))
        if runs is not None:  # remediation is on
            # Pending requests past their time end; an execution whose process died is
            # verified, never rerun; an approved one whose run was lost is run if its
            # approval is still within the request TTL, else it expires.
            flow.expire(engine=engine, now=now, audit=audit, channel=approval_channel(settings))
            runs.recover()  # executions whose process stopped heartbeating
            runs.run_approved()

    actions = JobActions(scan=scan, digest=digest, dispatch=send, expire=expire)
    return build_jobs(settings=settings, targets=targets, actions=actions)


def scheduler_service(
    settings: Settings,
    *,
    engine: Engine,
    sink: Sink,
    say: Callable[[str], None],
    runner: ScanRunner | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SchedulerService:
    """The scheduler of ``secbot serve``: jobs, claims, leader election, heartbeats."""
    from bot.scheduler.leader import choose_gate
    from bot.scheduler.runner import JobRunner
    from bot.scheduler.service import SchedulerService

    targets = configured_targets(settings)
    jobs = scheduler_jobs(
        settings,
        engine=engine,
        targets=targets,
        dispatch=dispatcher(settings, engine=engine, sink=sink, clock=clock),
        runner=runner,
        clock=clock,
    )
    holder = process_holder()
    lease_target = _lease_target(settings, targets)
    gate = choose_gate(
        settings,
        engine,
        holder=holder,
        connect_lease=_lease_connect(lease_target) if lease_target is not None else None,
    )
    return SchedulerService(
        jobs=jobs,
        runner=JobRunner(engine, clock, holder, jobs),
        gate=gate,
        engine=engine,
        clock=clock,
        holder=holder,
        say=say,
        workers=settings.scan_concurrency,
    )


def _lease_connect(target: KubeTarget) -> Callable[[], KubeClient]:
    """A client for the Lease with short timeouts: a renewal must finish well within the
    lease, or a slow API server costs the leadership while we wait."""
    from functools import partial

    from bot.kube.client import KubeClient
    from bot.kube.lease import LEASE_TIMEOUTS

    return partial(KubeClient.connect, target, timeouts=LEASE_TIMEOUTS)


def _lease_target(settings: Settings, targets: list[KubeTarget]) -> KubeTarget | None:
    """Where the Kubernetes Lease lives: the named clusters-file entry, else in-cluster."""
    from bot.errors import UserError
    from bot.kube.client import KubeTarget

    if settings.leader != "kubernetes":
        return None
    if settings.leader_cluster is None:
        return KubeTarget(name="in-cluster", in_cluster=True)
    for target in targets:
        if target.name == settings.leader_cluster:
            return target
    raise UserError(
        f"SECBOT_LEADER_CLUSTER {settings.leader_cluster!r} is not in the clusters file"
    )


def recover_at_start(settings: Settings, *, engine: Engine, runner: ScanRunner | None) -> None:
    """Remediations a crash left executing: on SQLite (one replica) all of them at once;
    on PostgreSQL the leader's minute job takes those whose process stopped heartbeating."""
    if not settings.approver_ids or engine.dialect.name != "sqlite":
        return
    route = notify_routing(settings)
    scans = runner or scan_runner(settings, engine=engine, routing=route)
    executor(settings, engine=engine, runner=scans).recover(sole_process=True)
