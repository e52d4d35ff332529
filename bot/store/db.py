"""Engine, unit of work and schema migrations: the store's plumbing.

Everything here takes the engine explicitly; nothing is created at import time.

- ``make_engine`` applies the SQLite pragmas (foreign keys, WAL, busy timeout) in a connect
  hook that works on Python 3.11, and makes pysqlite leave transaction control to
  SQLAlchemy (``BEGIN IMMEDIATE``), so SELECTs and DDL run inside real transactions,
  SAVEPOINTs work and concurrent writers queue (reference/libraries.md §5.3).
- ``session_scope`` is the one place that commits: repositories never do.
- ``upgrade`` runs ``alembic upgrade head`` on the app's engine, serialised by an advisory
  lock on PostgreSQL (§5.2 pitfall 2), with SQLite foreign keys switched off for the
  migration connection (§5.2 pitfall 3) and without touching logging configuration.

Other packages must not import sqlalchemy; they use the names re-exported here.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import UserError

__all__ = [
    "Engine",
    "Session",
    "alembic_config",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "masked_url",
    "migration_connection",
    "schema_status",
    "session_scope",
    "upgrade",
]

log = logging.getLogger(__name__)

SCRIPT_LOCATION = "bot:migrations"
# Key of the PostgreSQL advisory lock that serialises concurrent `upgrade head` runs
# (several replicas starting at once). Any constant works if nothing else uses it.
MIGRATION_LOCK_KEY = 0x5EC_B07_DB


def masked_url(url: str | URL) -> str:
    """Render a database URL with its password replaced (safe for messages and logs)."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """Build an engine for ``url`` (SQLite file/memory or PostgreSQL via psycopg)."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        # The text is not echoed: a malformed URL may still carry a password.
        raise UserError(
            "the database URL is not a valid SQLAlchemy URL; use e.g. "
            "sqlite:////var/lib/secbot/secbot.db or postgresql+psycopg://user@host:5432/db"
        ) from e
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if is_sqlite:
        with unavailable(parsed, files=True):
            _make_sqlite_parent(parsed)
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        if parsed.get_driver_name() == "psycopg":
            kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as e:
        raise UserError(f"no database driver for {masked_url(parsed)}") from e
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


@contextmanager
def unavailable(url: str | URL, *, files: bool = False) -> Iterator[None]:
    """Turn "the database cannot be used" (down, read-only, not a database; with ``files``
    also a folder that cannot be made) into one UserError line naming the database
    (password masked). Logic errors, and OSErrors of the caller's own work, pass through."""
    try:
        yield
    except OperationalError as e:
        raise UserError(f"cannot use the database at {masked_url(url)}: {_first_line(e)}") from e
    except OSError as e:
        if not files:
            raise
        raise UserError(f"cannot use the database at {masked_url(url)}: {_first_line(e)}") from e
    except DatabaseError as e:
        if type(e) is not DatabaseError:  # IntegrityError & co. are the caller's business
            raise
        raise UserError(f"cannot use the database at {masked_url(url)}: {_first_line(e)}") from e


def _first_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__)[:200]


def _make_sqlite_parent(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level=None stops pysqlite from issuing its own BEGIN/COMMIT (it skips
    # them for SELECT and DDL); _sqlite_on_begin emits BEGIN instead. Pragmas run here,
    # outside any transaction, where they take effect (foreign_keys is a no-op inside one).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        _ensure_wal(cursor)
    finally:
        cursor.close()


def _ensure_wal(cursor: sqlite3.Cursor) -> None:
    # WAL is persistent in the file, so only the first connection switches. The switch
    # needs an exclusive lock and SQLite refuses it at once, bypassing busy_timeout, when
    # several processes open a new file together: retry briefly, then give up.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(conn: Connection) -> None:
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    if options.get("secbot_read_only"):
        # A read-only unit (read_scope): a deferred BEGIN lets WAL readers run beside the
        # writer instead of queueing behind every scan's write lock.
        conn.exec_driver_sql("BEGIN")
        return
    # IMMEDIATE takes the write lock up front. With a deferred BEGIN, a transaction that
    # reads and then writes (record_scan) fails at once with "database is locked" when
    # another thread committed in between (WAL snapshot conflicts skip busy_timeout);
    # this way it waits for up to busy_timeout instead. Transactions here are short.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session; commit when the block succeeds, roll back when it raises."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with unavailable(engine.url), factory() as session, session.begin():
        yield session


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """Like session_scope, for units that only read (Slack queries, App Home).

    On SQLite it begins a deferred transaction, so readers never wait for a writer; on
    PostgreSQL it is an ordinary transaction. Writing in it is a bug (it would fail on
    SQLite under contention).
    """
    with session_scope(engine.execution_options(secbot_read_only=True)) as session:
        yield session


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
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate tables; referring FKs would block that. The pragma
            # must change before the transaction starts, so it goes to the raw connection.
            _raw_sqlite(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    # Released at commit; a second replica waits here, then finds the
                    # schema at head and does nothing.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left dangling foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                _raw_sqlite(conn, "PRAGMA foreign_keys=ON")


def _raw_sqlite(conn: Connection, sql: str) -> None:
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest).

    Safe across processes (advisory lock on PostgreSQL); not across threads of one
    process, because Alembic keeps module-global state: call it once, at startup.
    """
    cfg = alembic_config()
    with unavailable(engine.url), migration_connection(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("database %s upgraded to %s", masked_url(engine.url), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``base`` drops everything)."""
    cfg = alembic_config()
    with migration_connection(engine) as conn:
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


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Make sure the schema is at head: upgrade it if allowed, else raise UserError."""
    current, head = schema_status(engine)
    if current == head:
        return
    where = masked_url(engine.url)
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is not None and current not in known:
        raise UserError(
            f"database at {where} is at revision {current}, which this version of secbot "
            f"does not know (it needs {head}); upgrade secbot"
        )
    if not auto_upgrade:
        raise UserError(
            f"database at {where} is at revision {current or 'none'}, the code needs {head}; "
            "run `secbot db upgrade`"
        )
    upgrade(engine)


def ping(engine: Engine) -> bool:
    """Does the database answer ``SELECT 1`` now? (Readiness; never raises.)"""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception:  # boundary: any failure means "not ready"
        return False
    return True
