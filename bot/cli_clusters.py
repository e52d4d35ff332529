"""`secbot clusters list|check`: the clusters file, and whether each cluster is ready to scan."""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_PROBLEMS = 1


@click.group()
def clusters() -> None:
    """List the configured clusters and check access to them."""


_FILE = click.option(
    "--clusters-file",
    type=click.Path(path_type=Path),
    help="Clusters file (default: SECBOT_CLUSTERS_FILE, else the current kubeconfig context).",
)


@clusters.command("list")
@_FILE
def clusters_list(clusters_file: Path | None) -> None:
    """Print every cluster: name, how secbot connects, labels, Slack channel."""
    from bot import wiring
    from bot.fleet import describe
    from bot.kube.client import load_targets

    settings = wiring.settings_for_command()
    targets = load_targets(clusters_file or settings.clusters_file)
    width = max((len(t.name) for t in targets), default=4)
    for t in targets:
        labels = ",".join(f"{k}={v}" for k, v in sorted(t.labels.items())) or "-"
        channel = t.slack_channel or "-"
        click.echo(f"{t.name:<{width}}  {describe(t)}  labels={labels}  channel={channel}")


@clusters.command("check")
@click.argument("names", nargs=-1)
@_FILE
def clusters_check(names: tuple[str, ...], clusters_file: Path | None) -> None:
    """Check reachability, versions and the permissions a scan needs (exit 1 on problems)."""
    from bot import wiring
    from bot.clusters import check_cluster

    settings = wiring.settings_for_command()
    targets = wiring.select_targets(
        settings, names=names, everything=not names, clusters_file=clusters_file
    )
    problems = 0
    for target in targets:
        result = check_cluster(
            target,
            timeouts=wiring.kube_timeouts(settings),
            agent_namespace=settings.agent_namespace,
        )
        if not result.reachable:
            problems += 1
            click.echo(f"{target.name}: UNREACHABLE - {result.error}")
            continue
        version = result.harvester_version or "unknown Harvester version"
        click.echo(f"{target.name}: ok ({result.host}, {result.kubernetes_version}, {version})")
        for perm, granted in result.permissions:
            mark = "yes" if granted else "NO "
            click.echo(f"  {mark}  {perm}  - {perm.why}")
        if result.missing:
            problems += 1
            click.echo(
                f"  {len(result.missing)} permission(s) missing: the scan reports them as "
                "source-forbidden and those checks as UNKNOWN"
            )
    if problems:
        sys.exit(EXIT_PROBLEMS)
