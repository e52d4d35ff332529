"""Alembic environment: runs the store's migrations (online, or as SQL with ``--sql``).

Two ways in:
- ``bot.store.db.upgrade`` passes its own connection in ``config.attributes["connection"]``
  (already in a transaction, advisory-locked on PostgreSQL, SQLite FKs off);
- the developer ``alembic`` CLI (repo alembic.ini): the URL is ``SECBOT_DATABASE_URL`` if
  set, else ``sqlalchemy.url`` from the ini, and the connection is prepared the same way.

``render_as_batch`` makes autogenerate emit batch operations, which SQLite needs for
ALTER and which are plain ALTERs on PostgreSQL.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from bot.store.db import make_engine, migration_connection
from bot.store.models import Base

config = context.config
target_metadata = Base.metadata

# disable_existing_loggers=False: the default would silence every logger created before
# this point (reference/libraries.md §5.2 pitfall 1). Programmatic runs skip it entirely.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = os.environ.get("SECBOT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set SECBOT_DATABASE_URL or sqlalchemy.url in alembic.ini")
    return url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit the migration SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the shared connection, or on one made from the URL."""
    shared = config.attributes.get("connection")
    if shared is not None:
        _configure(shared)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with migration_connection(engine) as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
