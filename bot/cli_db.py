"""`secbot db upgrade|status`: the schema, migrated by Alembic."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--db", "db_url", help="Database URL (default: SECBOT_DATABASE_URL).")
def db_upgrade(db_url: str | None) -> None:
    """Create or migrate the schema to the newest revision."""
    from bot import wiring
    from bot.store.db import make_engine, schema_status, upgrade

    settings = wiring.settings_for_command()
    engine = make_engine(db_url or settings.database_url.get_secret_value())
    upgrade(engine)
    current, head = schema_status(engine)
    click.echo(f"database schema at {current} (head {head})")


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
