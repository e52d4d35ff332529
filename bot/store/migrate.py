"""Schema migrations: ``alembic upgrade`` of the packaged migrations (bot/migrations).

``upgrade`` runs ``alembic upgrade head``: on PostgreSQL under the migration lock
(bot.store.lock: session-level advisory lock, waits with a log line and a timeout), so
replicas starting together do not race (reference/libraries.md §5.2 pitfall 2); on SQLite
inside ``BEGIN IMMEDIATE`` (the file has one writer; run one replica on it), foreign keys
switched off for the migration (§5.2 pitfall 3); never touching logging configuration. At
head it does nothing, so it is safe to run on every start. bot.store.db re-exports these
names; other packages use them from there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from bot.errors import UserError
from bot.store.db import masked_url, unavailable

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "bot:migrations"
# Key of the PostgreSQL advisory lock that serialises concurrent `upgrade head` runs
# (several replicas starting at once). Any constant works if nothing else uses it.
MIGRATION_LOCK_KEY = 0x5EC_B07_DB
MIGRATION_LOCK_TIMEOUT = 300.0  # seconds a migration waits for another one to finish


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations that never configures logging."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.set_main_option("path_separator", "os")
    # There is no ini file, so env.py has nothing to hand to logging.config.fileConfig;
    # the flag keeps it that way should one ever be set (fileConfig would reconfigure
    # the app's logging).
    cfg.attributes["configure_logging"] = False
    return cfg


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a transaction that is safe to run migrations on."""
    with engine.connect() as conn, _migrating(conn):
        yield conn


@contextmanager
def _migrating(conn: Connection) -> Iterator[None]:
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations recreate tables; referring FKs would block that. The pragma
        # must change before the transaction starts, so it goes to the raw connection.
        _raw_sqlite(conn, "PRAGMA foreign_keys=OFF")
    try:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Released at commit: serialises the developer `alembic` CLI too. Free when
                # this session holds the migration lock already (re-entrant).
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            yield
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _raw_sqlite(conn, "PRAGMA foreign_keys=ON")


@contextmanager
def _migration(engine: Engine, lock_timeout: float) -> Iterator[Connection]:
    """A migration connection; on PostgreSQL the migration lock's own (see bot.store.lock)."""
    if engine.dialect.name != "postgresql":
        with migration_connection(engine) as conn:
            yield conn
        return
    from bot.store.lock import migration_lock  # lock builds on this module

    with migration_lock(engine, timeout=lock_timeout) as conn, _migrating(conn):
        yield conn


def _raw_sqlite(conn: Connection, sql: str) -> None:
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql)


def upgrade(
    engine: Engine, revision: str = "head", *, lock_timeout: float = MIGRATION_LOCK_TIMEOUT
) -> tuple[str | None, str | None]:
    """Migrate the database to ``revision`` (default: the newest); return the revisions
    before and after (the same when there was nothing to do).

    Safe across processes: on PostgreSQL it waits up to ``lock_timeout`` seconds for
    another migration, then raises UserError. Not safe across threads of one process,
    because Alembic keeps module-global state: call it once, at startup. A database at a
    revision this code does not know (a newer secbot migrated it) is refused, untouched.
    """
    cfg = alembic_config()
    with unavailable(engine.url), _migration(engine, lock_timeout) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        _refuse_unknown(before, engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    log.info("database %s at %s (was %s)", masked_url(engine.url), after, before)
    return before, after


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` drops everything)."""
    cfg = alembic_config()
    with _migration(engine, MIGRATION_LOCK_TIMEOUT) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def head_revision() -> str:
    """The revision the code needs (raises if the migration graph has several heads)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations folder holds no revision")
    return head


def schema_status(engine: Engine) -> tuple[str | None, str]:
    """Return (revision the database is at or None when empty, revision the code needs)."""
    with unavailable(engine.url), engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head_revision()


def _refuse_unknown(current: str | None, engine: Engine) -> None:
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        raise UserError(
            f"database at {masked_url(engine.url)} is at revision {current}, which this "
            f"version of secbot does not know (it needs {head_revision()}); upgrade secbot"
        )


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema is at head: upgrade it if allowed, else raise UserError."""
    current, head = schema_status(engine)
    if current == head:
        return
    _refuse_unknown(current, engine)
    if not auto_upgrade:
        raise UserError(
            f"database at {masked_url(engine.url)} is at revision {current or 'none'}, the "
            f"code needs {head}; run `secbot db upgrade`"
        )
    upgrade(engine)
