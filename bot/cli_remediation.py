"""`secbot remediation plan|list|show`: remediation from a terminal.

``plan F-123`` prints what ``/harvester fix F-123`` would ask approval for: the action, its
risk and the approvals it needs, the object and the resourceVersion it is planned
against, the change (secrets masked), the preconditions that hold, the notes, and the
server's dry-run answer (a webhook refusal shows here). Nothing is stored or changed.
``list`` shows the requests (``--pending``: those still moving), ``show R-7`` one request
with its votes and outcome. Approving and executing happen in Slack, by two people.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.remediation.request_views import RequestView

_DB_HELP = "Database URL (default: SECBOT_DATABASE_URL)."
_REQUEST = re.compile(r"(?:[Rr]-)?([0-9]{1,9})")


@click.group()
def remediation() -> None:
    """Plan fixes and look at remediation requests."""


def request_lines(view: RequestView) -> list[str]:
    votes = ", ".join(view.approvals) or "none"
    lines = [
        f"{view.short_id} {view.state}: {view.action} for F-{view.finding_id}, asked by "
        f"{view.requester} {view.created_at:%Y-%m-%d %H:%M}Z, expires "
        f"{view.expires_at:%Y-%m-%d %H:%M}Z",
        f"approvals {len(view.approvals)}/{view.approvals_required}: {votes}",
    ]
    if view.reason:
        lines.append(f"reason: {view.reason}")
    if view.result:
        lines += [f"{k}: {v}" for k, v in view.result.items() if k != "reason"]
    return lines


@remediation.command("plan")
@click.argument("finding")
@click.option("--action", "action_id", help="Catalog action id (default: the check's own).")
@click.option(
    "--manifests",
    "manifests",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Plan offline against the objects of these files (kubectl get … -o yaml).",
)
@click.option("--db", "db_url", help=_DB_HELP)
def remediation_plan(
    finding: str, action_id: str | None, manifests: tuple[Path, ...], db_url: str | None
) -> None:
    """Plan the fix of FINDING (F-123) on its live cluster, or offline from --manifests;
    nothing is changed."""
    from bot import wiring
    from bot.errors import UserError
    from bot.findings.queries import parse_short_id
    from bot.remediation.service import plan_fix
    from bot.remediation.text import plan_lines

    settings = wiring.settings_for_command()
    try:
        finding_id = parse_short_id(finding)
    except ValueError as e:
        raise UserError(str(e)) from None
    engine = wiring.open_store(settings, url=db_url)
    try:
        if manifests:
            from bot.remediation.offline import read_objects
            from bot.remediation.service import plan_fix_offline

            plan = plan_fix_offline(
                engine=engine,
                finding_id=finding_id,
                action_id=action_id,
                objects=read_objects(manifests),
                now=datetime.now(UTC),
            )
        else:
            plan = plan_fix(
                engine=engine,
                finding_id=finding_id,
                action_id=action_id,
                targets=wiring.configured_targets(settings),
                connect=wiring.connect_kube(settings),
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    for line in plan_lines(plan):
        click.echo(line)


@remediation.command("list")
@click.option("--pending", is_flag=True, help="Only requests still pending, approved or running.")
@click.option("--db", "db_url", help=_DB_HELP)
def remediation_list(pending: bool, db_url: str | None) -> None:
    """The newest remediation requests."""
    from bot import wiring
    from bot.remediation import request_views
    from bot.store.db import read_scope

    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        with read_scope(engine) as session:
            views = request_views.listing(session=session, pending_only=pending, limit=50)
    finally:
        engine.dispose()
    if not views:
        click.echo("no remediation requests" + (" pending" if pending else ""))
    for view in views:
        click.echo(request_lines(view)[0])


@remediation.command("show")
@click.argument("request")
@click.option("--db", "db_url", help=_DB_HELP)
def remediation_show(request: str, db_url: str | None) -> None:
    """One request (R-7): state, votes, plan, outcome."""
    from bot import wiring
    from bot.errors import UserError
    from bot.remediation import request_views
    from bot.store.db import read_scope

    match = _REQUEST.fullmatch(request.strip())
    if match is None:
        raise UserError(f"{request[:40]!r} is not a request id; they look like R-7")
    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        with read_scope(engine) as session:
            view = request_views.get(session=session, request_id=int(match.group(1)))
    finally:
        engine.dispose()
    if view is None:
        raise UserError(f"R-{match.group(1)} does not exist")
    from bot.remediation.text import plan_lines

    for line in [*request_lines(view), *plan_lines(view.plan)]:
        click.echo(line)
