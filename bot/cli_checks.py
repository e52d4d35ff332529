"""`secbot checks list|explain`: the check catalogue, read from the registry.

Made to start fast (bench/startup.py times ``secbot checks list``): only click is
imported at module level, the registry when a command runs. An unknown check id is a
``UserError``, which the ``secbot`` entry point prints as one line and exits 2.
"""

from __future__ import annotations

import click


@click.group()
def checks() -> None:
    """List and explain the checks."""


@checks.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def checks_list(fmt: str) -> None:
    """Print every check: id, default severity, title."""
    from bot.checks.registry import builtin_checks

    items = builtin_checks()
    if fmt == "json":
        import json

        click.echo(
            json.dumps(
                [
                    {
                        "id": c.id,
                        "severity": c.severity.value,
                        "title": c.title,
                        "tags": list(c.tags),
                        "remediation": c.remediation,
                    }
                    for c in items
                ],
                indent=2,
            )
        )
        return
    width = max((len(c.id) for c in items), default=0)
    for c in items:
        click.echo(f"{c.id:<{width}}  {c.severity.value:<8}  {c.title}")


@checks.command("explain")
@click.argument("check_id")
def checks_explain(check_id: str) -> None:
    """Explain one check: rationale, a bad and a good example, sources."""
    from bot.checks.registry import get_check
    from bot.errors import UserError

    try:
        check = get_check(check_id)
    except KeyError:
        raise UserError(
            f"unknown check id {check_id!r}; `secbot checks list` shows the ids"
        ) from None
    click.echo(f"{check.id}: {check.title}")
    click.echo(
        f"severity: {check.severity.value}   tags: {', '.join(check.tags) or '-'}"
        f"   remediation: {check.remediation or 'none (manual)'}"
    )
    click.echo("")
    click.echo(check.doc())
