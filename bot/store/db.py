"""Engine, unit of work and schema migrations: the store's plumbing.

Everything here takes the engine explicitly; nothing is created at import time.

- ``make_engine`` applies the SQLite pragmas (foreign keys, WAL, busy timeout) in a connect
  hook that works on Python 3.11, and makes pysqlite leave transaction control to
  SQLAlchemy (``BEGIN IMMEDIATE``), so SELECTs and DDL run inside real transactions,
  SAVEPOINTs work and concurrent writers queue (reference/libraries.md §5.3).
- ``session_scope`` is the one place that commits: repositories never do.
- ``upgrade``, ``ensure_schema`` and the other migration functions live in
  bot.store.migrate and are re-exported here.

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

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import UserError

__all__ = [
    "MIGRATION_LOCK_KEY",
    "MIGRATION_LOCK_TIMEOUT",
    "PSYCOPG_CONNECT_ARGS",
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

# libpq options of the main pool (bot.store.lock uses the same for its own connections):
# notice a dead peer (a half-open connection) within about 25 s, not the kernel's 2 hours.
# Only client-side settings: a PgBouncer in front would refuse a startup ``options``.
PSYCOPG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,  # ms: unacknowledged writes give up as fast
}
PING_STATEMENT_TIMEOUT_MS = 2000


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
            # What the URL sets itself (?connect_timeout=2) wins over these defaults.
            kwargs["connect_args"] = {
                k: v for k, v in PSYCOPG_CONNECT_ARGS.items() if k not in parsed.query
            }
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


def ping(engine: Engine) -> bool:
    """Does the database answer ``SELECT 1`` now? (Readiness; never raises.)

    It bounds itself where it can: on PostgreSQL the statement may run at most
    ``PING_STATEMENT_TIMEOUT_MS`` (``SET LOCAL``: this transaction only) and a dead peer is
    noticed through the pool's keepalives (``PSYCOPG_CONNECT_ARGS``); on SQLite it is a
    read-only unit (a deferred BEGIN), so it never queues behind a writer's lock. Callers
    still must not call it from many threads at once (bot.health.database: single flight).
    """
    try:
        with engine.execution_options(secbot_read_only=True).connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {PING_STATEMENT_TIMEOUT_MS}")
            conn.exec_driver_sql("SELECT 1")
    except Exception:  # boundary: any failure means "not ready"
        return False
    return True


# The migration functions, under the names callers have always used (db.upgrade...).
from bot.store.migrate import (  # noqa: E402  (migrate builds on the plumbing above)
    MIGRATION_LOCK_KEY,
    MIGRATION_LOCK_TIMEOUT,
    alembic_config,
    downgrade,
    ensure_schema,
    head_revision,
    migration_connection,
    schema_status,
    upgrade,
)
