"""`secbot scheduler list|run JOB` and `secbot digest --print`: the scheduler from a terminal.

``scheduler list`` shows the job table ``secbot serve`` runs (built from the same settings
and clusters file), each job's trigger and next run in SECBOT_TIMEZONE, its last claimed
slot and error, the outbox totals (pending / sent / dead letters) and the running
instances. ``scheduler run JOB`` runs one job now, for debugging: as a manual slot, so it
never takes the place of the scheduled one; messages it plans go out through Slack when
SLACK_BOT_TOKEN is set, else they are printed. ``digest --print`` renders today's digest
of every channel without planning or posting anything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.notify.digest_payloads import Digest
    from bot.store.db import Engine

_DB_HELP = "Database URL (default: SECBOT_DATABASE_URL)."


@click.group()
def scheduler() -> None:
    """The job table of `secbot serve`: list it, or run one job now."""


@scheduler.command("list")
@click.option("--db", "db_url", help=_DB_HELP)
def scheduler_list(db_url: str | None) -> None:
    """Jobs, triggers, next runs, last runs; outbox totals; running instances."""
    from zoneinfo import ZoneInfo

    from bot import wiring
    from bot.scheduler.jobs_info import describe_jobs
    from bot.store.db import read_scope
    from bot.store.repos import instances
    from bot.store.repos import outbox as outbox_repo
    from bot.wiring import scheduling

    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    try:
        jobs = scheduling.scheduler_jobs(
            settings, engine=engine, targets=wiring.configured_targets(settings), dispatch=None
        )
        for info in describe_jobs(jobs=jobs, engine=engine, clock=lambda: now):
            nxt = (
                info.next_run.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if info.next_run else "-"
            )
            last = "never"
            if info.last_claimed_at is not None:
                state = (
                    "failed"
                    if info.last_error
                    else ("done" if info.last_finished_at else "running")
                )
                last = f"{info.last_claimed_at.astimezone(tz):%Y-%m-%d %H:%M} {state}"
            click.echo(f"{info.id:<28} next {nxt:<22} last {last:<24} {info.trigger}")
            if info.last_error:
                click.echo(f"{'':<28} error: {info.last_error}")
        with read_scope(engine) as session:
            totals = outbox_repo.counts(session)
            alive = instances.alive(session, since=now - timedelta(minutes=2))
        click.echo(
            f"outbox: {totals['pending']} pending, {totals['sent']} sent, "
            f"{totals['dead']} dead letter(s)"
        )
        for inst in alive:
            role = "leader" if inst.leader else "standby"
            click.echo(
                f"instance {inst.host} pid {inst.pid}: {role}, seen {inst.seen_at:%H:%M:%S}Z"
            )
    finally:
        engine.dispose()


@scheduler.command("run")
@click.argument("job_id", metavar="JOB")
@click.option("--db", "db_url", help=_DB_HELP)
def scheduler_run(job_id: str, db_url: str | None) -> None:
    """Run JOB now (ids from `secbot scheduler list`), e.g. `digest` or `scan:prod`."""
    from bot import wiring
    from bot.errors import UserError
    from bot.scheduler.runner import JobRunner, Outcome
    from bot.wiring import scheduling

    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        sink = scheduling.sink(settings, engine=engine)
        jobs = scheduling.scheduler_jobs(
            settings,
            engine=engine,
            targets=wiring.configured_targets(settings),
            dispatch=scheduling.dispatcher(settings, engine=engine, sink=sink),
        )
        runner = JobRunner(engine, wiring.utcnow, wiring.process_holder(), jobs)
        outcome = runner.run_now(job_id)
        click.echo(f"{job_id}: {outcome.value}", err=True)
        if outcome is Outcome.FAILED:
            raise UserError(f"job {job_id} failed; the log line above has the error id")
    finally:
        engine.dispose()


@click.command()
@click.option("--print", "print_", is_flag=True, default=True, help="Render it (the default).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--channel", help="Only this channel's digest.")
@click.option("--db", "db_url", help=_DB_HELP)
def digest(print_: bool, fmt: str, channel: str | None, db_url: str | None) -> None:
    """Render today's digest of every channel to the terminal; nothing is posted.

    Without a configured channel (SECBOT_ALERT_CHANNEL / SECBOT_DIGEST_CHANNEL), one
    digest of every cluster in the store is shown.
    """
    from bot import wiring
    from bot.wiring import scheduling

    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        digests = _compose(settings, engine, only=channel, now=datetime.now(UTC))
    finally:
        engine.dispose()
    if fmt == "json":
        click.echo(json.dumps({"digests": [d.to_json() for d in digests]}, indent=2))
        return
    from bot.notify.console import render

    renderer = scheduling.renderer(settings)
    for d in digests:
        click.echo(f"== digest for {d.channel} ==")
        for line in render(renderer.digest(d)):
            click.echo(line)


def _compose(
    settings: Settings, engine: Engine, *, only: str | None, now: datetime
) -> list[Digest]:
    from zoneinfo import ZoneInfo

    from bot import wiring
    from bot.errors import UserError
    from bot.notify.digest import compose_digest, recent_clusters, window_start
    from bot.store.db import read_scope

    routing = wiring.notify_routing(settings)
    policy = wiring.policy_or_fail(settings)
    day = now.astimezone(ZoneInfo(settings.timezone)).date().isoformat()
    with read_scope(engine) as session:
        known = recent_clusters(session, now=now)
        channels = routing.digest_channels(known) or {"(no channel configured)": known}
        if only is not None:
            if only not in channels:
                listed = ", ".join(channels) or "none"
                raise UserError(f"no digest goes to {only!r}; channels: {listed}")
            channels = {only: channels[only]}
        out = []
        for name, clusters in channels.items():
            since = window_start(session, channel=name, now=now)
            out.append(
                compose_digest(
                    session=session,
                    channel=name,
                    clusters=clusters,
                    since=since,
                    now=now,
                    day=day,
                    policy=policy,
                )
            )
    return out
