"""`secbot db upgrade|status`: the schema, migrated by Alembic.

``db upgrade`` is made for an init container (or a Job) in front of every replica: it is
idempotent (at head it changes nothing and says so) and prints the revision it ended at.
On PostgreSQL concurrent runs are serialised by an advisory lock (bot.store.lock): the
others log "waiting for another migration" and wait up to ``--lock-timeout``, then exit 2
with one line saying what to do. On SQLite the file has a single writer and concurrent
runs queue for a few seconds at most; run a single replica on a SQLite file.
"""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--db", "db_url", help="Database URL (default: SECBOT_DATABASE_URL).")
@click.option(
    "--lock-timeout",
    default="300s",
    show_default=True,
    help="PostgreSQL: how long to wait while another replica migrates (e.g. 90s, 10m).",
)
def db_upgrade(db_url: str | None, lock_timeout: str) -> None:
    """Create or migrate the schema to the newest revision (safe to run again)."""
    from bot import wiring
    from bot.core.durations import parse_duration
    from bot.errors import UserError
    from bot.store.db import make_engine, upgrade

    try:
        wait = parse_duration(lock_timeout).total_seconds()
    except ValueError as e:
        raise UserError(f"--lock-timeout: {e}") from None
    settings = wiring.settings_for_command()
    engine = make_engine(db_url or settings.database_url.get_secret_value())
    try:
        before, after = upgrade(engine, lock_timeout=wait)
    finally:
        engine.dispose()
    done = "already current" if before == after else f"upgraded from {before or 'none'}"
    click.echo(f"database schema at {after} (head; {done})")


@db.command("status")
@click.option("--db", "db_url", help="Database URL (default: SECBOT_DATABASE_URL).")
def db_status(db_url: str | None) -> None:
    """Show the schema revision and whether it is current."""
    from bot import wiring
    from bot.store.db import make_engine, schema_status

    settings = wiring.settings_for_command()
    current, head = schema_status(make_engine(db_url or settings.database_url.get_secret_value()))
    state = "current" if current == head else "behind: run `secbot db upgrade`"
    click.echo(f"revision {current or 'none'}, head {head} ({state})")
