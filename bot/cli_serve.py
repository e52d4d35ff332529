"""`secbot serve`: the long-running bot: the Slack app and the scheduler in one process.

Modes, chosen from the settings:

* ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN``: Socket Mode (no public ingress needed);
* ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET``: HTTP mode on ``SECBOT_HTTP_PORT``,
  path ``/slack/events``, every request signature-checked;
* no ``SLACK_BOT_TOKEN``: Slack is not configured; serve says so once and prints what it
  would post (console sink), and keeps running for the scheduler.

In every mode the scheduler (bot.scheduler) runs the jobs: scans of the clusters file's
clusters, the daily digest, the outbox dispatcher, silence expiry; with several replicas
only the leader runs them. SIGINT and SIGTERM stop it cleanly: scheduler jobs finished,
connections closed, running Slack jobs finished, queued ones dropped, the database
engine disposed. Slack libraries are imported only in bot.slack; this module composes.

With SECBOT_HEALTH_PORT set, ``/readyz`` has a ``slack`` line: "off" without a bot token,
"starting" until the app is built, then bot.slack.readiness's probe of the mode in use
(Socket Mode: connected or not; HTTP mode: set once the listener is bound).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.health.server import HealthServer
    from bot.slack.services import ScanRunner
    from bot.store.db import Engine


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM (previous handlers restored afterwards)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signals can only be caught in the main thread (embedded use)
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(message: str) -> None:
    click.echo(f"secbot: {message}", err=True)


@contextmanager
def _scheduler(
    settings: Settings,
    *,
    engine: Engine,
    runner: ScanRunner | None = None,
    then: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """The scheduler's jobs run while the block does (only the leader's, with several
    replicas); what a crash left executing is recovered before it starts. On the way out
    it stops (running jobs finish), then ``then`` runs: the Slack mode's worker pool
    shuts down after the scheduler, and not at all when the scheduler never started."""
    from bot.wiring import scheduling

    scheduling.recover_at_start(settings, engine=engine, runner=runner)
    scheduler = scheduling.scheduler_service(
        settings,
        engine=engine,
        sink=scheduling.sink(settings, engine=engine),
        say=_say,
        runner=runner,
    )
    scheduler.start()
    try:
        yield
    finally:
        scheduler.stop()
        then()


@click.command()
@click.option("--db", "db_url", help="Database URL (default: SECBOT_DATABASE_URL).")
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP mode: listen address.")
@click.option("--port", type=int, help="HTTP mode: port (default: SECBOT_HTTP_PORT, 3000).")
def serve(db_url: str | None, host: str, port: int | None) -> None:
    """Run the Slack bot until SIGINT/SIGTERM (Socket Mode, HTTP mode, or console only)."""
    from bot import wiring
    from bot.errors import UserError

    settings = wiring.settings_for_command()
    if settings.slack_bot_token is not None and not (
        settings.slack_app_token or settings.slack_signing_secret
    ):
        raise UserError(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
            "SLACK_SIGNING_SECRET (HTTP mode) is; set one of them"
        )
    engine = wiring.open_store(settings, url=db_url)
    health = _health(settings, engine)
    try:
        with _stop_on_signals() as stop:
            if settings.slack_bot_token is None:
                with _scheduler(settings, engine=engine):
                    while not stop.wait(0.5):
                        pass
            else:
                _run_slack(settings, engine=engine, host=host, port=port, stop=stop, health=health)
        _say("stopped")
    finally:
        if health is not None:
            health.stop()
        engine.dispose()


def _health(settings: Settings, engine: Engine) -> HealthServer | None:
    """/healthz, /readyz, /metrics on SECBOT_HEALTH_PORT (0: none)."""
    if not settings.health_port:
        return None
    from bot.errors import UserError
    from bot.health.server import HealthServer, constant

    # Until the Slack connection is up (bot.slack.readiness takes over), /readyz says so.
    slack = (
        constant(True, "off") if settings.slack_bot_token is None else constant(False, "starting")
    )
    try:
        server = HealthServer(
            engine=engine, host="0.0.0.0", port=settings.health_port, checks={"slack": slack}
        ).start()
    except OSError as e:
        raise UserError(
            f"cannot listen on SECBOT_HEALTH_PORT {settings.health_port}: {e.strerror}; "
            "choose another port or 0 to turn the endpoints off"
        ) from None
    _say(f"health and metrics on :{server.port} (/healthz, /readyz, /metrics)")
    return server


def _run_slack(
    settings: Settings,
    *,
    engine: Engine,
    host: str,
    port: int | None,
    stop: threading.Event,
    health: HealthServer | None,
) -> None:
    from bot import wiring
    from bot.slack import readiness
    from bot.slack.app import build_app
    from bot.slack.runtime import serve_http, serve_socket_mode

    def watch(probe: readiness.Probe) -> None:
        if health is not None:
            health.set_check("slack", probe)

    services = wiring.slack_services(settings, engine=engine)
    with _scheduler(
        settings,
        engine=engine,
        runner=services.scan_runner,
        then=lambda: services.worker.shutdown(wait=True),
    ):
        app = build_app(settings=settings, services=services)
        if settings.slack_app_token is not None:
            token = settings.slack_app_token.get_secret_value()
            serve_socket_mode(
                app,
                app_token=token,
                stop=stop,
                ready=lambda how: _say(f"connected ({how})"),
                watch=lambda client: watch(readiness.SocketModeProbe(client)),
            )
        else:

            def listening(url: str) -> None:
                # Ready only once Slack's events can arrive: the listener is bound.
                watch(readiness.http_mode_probe(app))
                _say(f"listening on {url} (HTTP mode)")

            serve_http(
                app,
                host=host,
                port=port if port is not None else settings.http_port,
                stop=stop,
                ready=listening,
            )
