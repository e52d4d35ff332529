"""The ``secbot`` command line.

Only click is imported at module level so that ``secbot --help`` and ``secbot checks
list`` start fast; each command imports what it needs. Errors meant for the user
(``UserError``) print one line and exit 2; anything else prints an error id, logs the
traceback, and exits 3.

Exit codes: 0 clean (or below --fail-on), 1 findings at or above --fail-on, 2 bad input
or usage, 3 internal error.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot.cli_agent import agent
from bot.cli_audit import audit
from bot.cli_checks import checks
from bot.cli_clusters import clusters
from bot.cli_db import db
from bot.cli_remediation import remediation
from bot.cli_scheduler import digest, scheduler
from bot.cli_serve import serve

log = logging.getLogger("secbot")

EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


def _fail(message: str) -> None:
    click.echo(f"secbot: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harvester-secbot", prog_name="secbot")
def cli() -> None:
    """secbot keeps Harvester HCI clusters safe: certificate expiry and settings drift."""


_PATH = click.Path(path_type=Path)


@cli.command()
@click.option(
    "--bundle",
    "bundles",
    multiple=True,
    type=_PATH,
    help="Harvester support bundle (.zip or unpacked folder). Repeatable.",
)
@click.option(
    "--manifests",
    multiple=True,
    type=_PATH,
    help="kubectl get -o yaml|json output: file or folder. Repeatable.",
)
@click.option(
    "--pki",
    multiple=True,
    type=_PATH,
    help="Folder of certificate files, e.g. /var/lib/rancher/rke2/server/tls. Repeatable.",
)
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    help="Scan this live cluster of the clusters file. Repeatable.",
)
@click.option(
    "--all", "all_clusters", is_flag=True, help="Scan every cluster of the clusters file."
)
@click.option("--clusters-file", type=_PATH, help="Clusters file (default: SECBOT_CLUSTERS_FILE).")
@click.option("--no-probe", is_flag=True, help="Do not TLS-probe live endpoints.")
@click.option("--cluster-name", help="Name the cluster (default: from the bundle or folder).")
@click.option("--check", "check_ids", multiple=True, help="Run only this check id. Repeatable.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif"]),
    default="table",
    show_default=True,
)
@click.option("--output", "-o", type=_PATH, help="Write the report here instead of stdout.")
@click.option(
    "--fail-on",
    type=click.Choice(["none", "info", "warning", "critical"]),
    default="none",
    show_default=True,
    help="Exit 1 when a finding at or above this severity exists.",
)
@click.option("--db", "db_url", help="Database URL (default: SECBOT_DATABASE_URL or ./secbot.db).")
@click.option("--no-store", is_flag=True, help="Do not record the scan in the database.")
@click.option("--at", "at", hidden=True, help="Scan as of this ISO time (reproducible demos).")
def scan(
    bundles: tuple[Path, ...],
    manifests: tuple[Path, ...],
    pki: tuple[Path, ...],
    clusters: tuple[str, ...],
    all_clusters: bool,
    clusters_file: Path | None,
    no_probe: bool,
    cluster_name: str | None,
    check_ids: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str,
    db_url: str | None,
    no_store: bool,
    at: str | None,
) -> None:
    """Scan live clusters, support bundles, manifests or PKI folders; report findings."""
    from bot import wiring
    from bot.scan import ScanReport, ScanRequest
    from bot.scan import scan as run_scan

    settings = wiring.settings_for_command()
    now = _parse_at(at) if at else datetime.now(UTC)
    if output is not None:
        from bot.output.emit import check_output

        check_output(output)
    request = ScanRequest(
        bundles=bundles,
        manifests=manifests,
        pki=pki,
        cluster_name=cluster_name,
        check_ids=check_ids,
    )
    try:
        policy = wiring.check_policy(settings)
    except ValueError as e:
        _fail(f"{e}; fix SECBOT_EXPIRY_*_DAYS")
    live = bool(clusters or all_clusters)
    if request.empty and not live:
        _fail("nothing to scan: give --cluster/--all, --bundle, --manifests or --pki")
    targets = (
        wiring.select_targets(
            settings, names=clusters, everything=all_clusters, clusters_file=clusters_file
        )
        if live
        else []
    )
    engine = None if no_store else wiring.open_store(settings, url=db_url)
    routing = None if engine is None else _routing(settings, targets)
    progress = _progress() if fmt == "table" and sys.stderr.isatty() else None
    report = ScanReport()
    if not request.empty:
        report = run_scan(
            request,
            now=now,
            policy=policy,
            limits=wiring.input_limits(settings),
            engine=engine,
            progress=progress,
            routing=routing,
        )
    if targets:
        from functools import partial

        from bot.fleet import scan_fleet
        from bot.kube.client import KubeClient
        from bot.scan import select_checks

        fleet = scan_fleet(
            targets,
            now=now,
            policy=policy,
            connect=partial(KubeClient.connect, timeouts=wiring.kube_timeouts(settings)),
            probe=wiring.probe_options(settings, enabled=not no_probe),
            concurrency=settings.scan_concurrency,
            processes=settings.scan_processes,
            checks=select_checks(check_ids),
            engine=engine,
            progress=progress,
            routing=routing,
            agent_namespace=settings.agent_namespace,
        )
        report.scans.extend(fleet.scans)
    from bot.output.emit import emit

    emit(report, fmt=fmt, output=output, generated_at=now)
    if fail_on != "none":
        from bot.core.severity import Severity

        threshold = Severity(fail_on).rank
        if any(f.severity.rank >= threshold for s in report.scans for f in s.run.findings):
            sys.exit(EXIT_FINDINGS)


def _parse_at(text: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--at {text!r} is not an ISO time like 2026-06-01T00:00:00Z")
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _progress() -> Any:
    def say(message: str) -> None:
        click.echo(f"secbot: {message} ...", err=True)

    return say


def _routing(settings: Any, targets: list[Any]) -> Any:
    """Where the transitions this scan records are announced (``secbot serve`` sends
    them): live targets' own channels; for offline inputs, the clusters file's when it
    loads (a broken one must not stop a bundle scan), else the alert channel alone."""
    from bot import wiring
    from bot.errors import UserError

    if not targets:
        try:
            targets = wiring.configured_targets(settings)
        except UserError:
            targets = []
    return wiring.notify_routing(settings, targets)


cli.add_command(checks)
cli.add_command(clusters)
cli.add_command(serve)
cli.add_command(db)
cli.add_command(scheduler)
cli.add_command(digest)
cli.add_command(audit)
cli.add_command(remediation)
cli.add_command(agent)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``secbot`` console script."""
    from bot.errors import UserError

    try:
        cli.main(args=argv, prog_name="secbot", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as e:
        e.show()
        sys.exit(EXIT_USAGE)
    except UserError as e:
        click.echo(f"secbot: error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # boundary: one line for the user; the traceback only when debugging
        import uuid

        error_id = uuid.uuid4().hex[:8]
        log.error("internal error %s", error_id, exc_info=log.isEnabledFor(logging.DEBUG))
        click.echo(
            f"secbot: internal error {error_id}; rerun with SECBOT_LOG_LEVEL=DEBUG for details",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
