"""The leader lock on PostgreSQL: a session-level advisory lock on a dedicated connection.

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
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot.errors import UserError
from bot.store.db import masked_url

log = logging.getLogger(__name__)

# Key of the scheduler's leader lock; must differ from db.MIGRATION_LOCK_KEY.
LEADER_LOCK_KEY = 0x5EC_B07_1EAD

# libpq options: notice a dead peer within about 25 s instead of the kernel's 2 hours.
_PSYCOPG_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,  # ms: unacknowledged writes give up as fast
    "application_name": "secbot-leader-lock",
    # The server's side of the same: a replica that vanished (node lost, partition)
    # loses its session, and with it the lock, within about 25 s, not the kernel's 2 h.
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
            self._engine = create_engine(
                self._url,
                poolclass=NullPool,  # the lock's session must never serve anyone else
                isolation_level="AUTOCOMMIT",
                connect_args=dict(_PSYCOPG_ARGS) if self._driver == "psycopg" else {},
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
