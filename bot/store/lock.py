"""PostgreSQL advisory locks, session-level, each on a dedicated connection: the scheduler's
leader lock (``AdvisoryLock``) and the lock that serialises migrations (``migration_lock``).

``pg_try_advisory_lock`` is held until ``pg_advisory_unlock`` or the end of the session
and survives COMMIT/ROLLBACK (reference/libraries.md §2.6), so it must live on a
connection of its own that no pool hands to anyone else: a NullPool engine in AUTOCOMMIT
(an idle session, never "idle in transaction"), with TCP keepalives so a dead server is
noticed in seconds, not hours. Behind PgBouncer in transaction mode this cannot work;
point secbot at PostgreSQL directly.

``still_held`` is the health check: ``SELECT 1`` on that connection. The lock can only
vanish with its session, so a failed check (server restarted, backend terminated, network
gone) means leadership is lost: the connection is dropped and the caller must step down.
A different replica may already hold the lock by then.

SQLite has no such lock and needs none (one replica per file): ``AdvisoryLock`` refuses
a non-PostgreSQL engine with a UserError.

``migration_lock`` is what makes ``secbot db upgrade`` safe in the init containers of
several replicas starting together: the first takes the lock and migrates, the others log
"waiting for another migration" and wait (up to a timeout, then a UserError that says
what to do), then find the schema at head and do nothing. The migration runs on the lock's
own connection (db.upgrade), whose session may take the same key again (advisory locks are
re-entrant per session: db.migration_connection's transaction lock then costs nothing).
The lock goes at the end: unlocked, and the connection closed, which would free it anyway.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.errors import UserError
from bot.store.db import PSYCOPG_CONNECT_ARGS, masked_url
from bot.store.migrate import MIGRATION_LOCK_KEY

log = logging.getLogger(__name__)

# Key of the scheduler's leader lock; must differ from db.MIGRATION_LOCK_KEY.
LEADER_LOCK_KEY = 0x5EC_B07_1EAD

# libpq options: the pool's (notice a dead peer within about 25 s instead of the kernel's
# 2 hours) plus the server's side of the same: a replica that vanished (node lost,
# partition) loses its session, and with it the lock, within about 25 s.
_PSYCOPG_ARGS: dict[str, Any] = {
    **PSYCOPG_CONNECT_ARGS,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
}


class AdvisoryLock:
    """One PostgreSQL advisory lock held on its own connection (not thread-hopping safe
    beyond the internal mutex: use it from one leader loop)."""

    def __init__(self, engine: Engine, *, key: int = LEADER_LOCK_KEY) -> None:
        if engine.dialect.name != "postgresql":
            raise UserError(
                f"the PostgreSQL leader lock needs a PostgreSQL database, not "
                f"{engine.dialect.name}; use SECBOT_LEADER=none or auto with SQLite"
            )
        self._url = engine.url
        self._driver = engine.dialect.driver
        self.key = key
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._held = False
        self._mutex = threading.Lock()

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key} on {masked_url(self._url)}"

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        """Take the lock if it is free (never waits); True while this process holds it."""
        with self._mutex:
            if self._held:
                return self._check()
            try:
                conn = self._conn if self._conn is not None else self._connect()
                got = conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar_one()
            except SQLAlchemyError as e:
                log.warning("leader lock: %s: %s", self.describe(), _one_line(e))
                self._drop()
                return False
            self._held = bool(got)
            return self._held

    def still_held(self) -> bool:
        """Health check of the lock's connection; False (and dropped) when it is gone."""
        with self._mutex:
            return self._check()

    def release(self) -> None:
        """Unlock (if held) and close the connection; safe to call twice."""
        with self._mutex:
            if self._held and self._conn is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._drop()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def _check(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar_one()
        except SQLAlchemyError as e:
            log.warning("leader lock lost: %s: %s", self.describe(), _one_line(e))
            self._drop()
            return False
        return True

    def _connect(self) -> Connection:
        if self._engine is None:
            self._engine = _dedicated(
                self._url, self._driver, "secbot-leader-lock", autocommit=True
            )
        self._conn = self._engine.connect()
        return self._conn

    def _drop(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()  # closing the session frees the lock server-side
            self._conn = None


def _one_line(e: BaseException) -> str:
    orig = getattr(e, "orig", None) or e
    lines = str(orig).strip().splitlines()
    return (lines[0] if lines else type(orig).__name__)[:200]


def _dedicated(url: Any, driver: str, name: str, *, autocommit: bool) -> Engine:
    """An engine whose every connection is its own session (NullPool: the lock's session
    must never serve anyone else), named ``name`` in pg_stat_activity."""
    args = dict(_PSYCOPG_ARGS, application_name=name) if driver == "psycopg" else {}
    return create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT" if autocommit else "READ COMMITTED",
        connect_args=args,
    )


@contextlib.contextmanager
def migration_lock(engine: Engine, *, timeout: float) -> Iterator[Connection]:
    """Hold the migration lock for the block, waiting up to ``timeout`` seconds for it;
    yield its connection (PostgreSQL only) to run the migration on."""
    dedicated = _dedicated(engine.url, engine.dialect.driver, "secbot-migration", autocommit=False)
    try:
        with dedicated.connect() as conn:
            _acquire(conn, timeout=timeout, where=masked_url(engine.url))
            try:
                yield conn
            finally:
                with contextlib.suppress(SQLAlchemyError):  # gone: the session took it along
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    conn.commit()
    finally:
        dedicated.dispose()


def _acquire(conn: Connection, *, timeout: float, where: str) -> None:
    key = {"k": MIGRATION_LOCK_KEY}
    got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar_one()
    conn.commit()
    if got:
        return
    holder = _holder(conn)
    log.warning(
        "waiting for another migration to finish (%s holds PostgreSQL advisory lock %d on %s); "
        "waiting up to %gs",
        holder,
        MIGRATION_LOCK_KEY,
        where,
        timeout,
    )
    try:
        # lock_timeout bounds the wait server-side; local to this transaction, so the
        # migration's own statements run without it.
        conn.execute(text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": _ms(timeout)})
        conn.execute(text("SELECT pg_advisory_lock(:k)"), key)
        conn.commit()
    except OperationalError as e:
        conn.rollback()
        if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise UserError(
            f"gave up after {timeout:g}s waiting for another migration ({holder} holds "
            f"PostgreSQL advisory lock {MIGRATION_LOCK_KEY} on {where}); let it finish or stop "
            "it, then run `secbot db upgrade` again (or wait longer: --lock-timeout)"
        ) from None
    log.info("the other migration is done; going on")


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))  # 0 would mean "wait forever"


def _holder(conn: Connection) -> str:
    """Who holds the migration lock: "pid 4242 (secbot-migration)", or "another session"."""
    row = conn.execute(
        text(
            "SELECT l.pid, a.application_name FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = :hi AND l.objid = :lo AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"hi": MIGRATION_LOCK_KEY >> 32, "lo": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
    ).first()
    conn.commit()
    if row is None:  # released in between: the wait will be short
        return "another session"
    return f"pid {row[0]}" + (f" ({row[1]})" if row[1] else "")
