"""bot.store.db.ping, the readiness query, on SQLite and PostgreSQL.

Aspects: it never queues behind a writer (SQLite: another connection holding the write
lock with BEGIN EXCLUSIVE, for real); on PostgreSQL it bounds its statement with a
``SET LOCAL statement_timeout`` that stays inside its own transaction (the pooled
connection comes back without it), and the pool's connections carry TCP keepalives so a
half-open connection is noticed in seconds; a URL's own libpq options win.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.store.db import PSYCOPG_CONNECT_ARGS, make_engine, ping
from tests.store.conftest import migrated_engine


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("sqlite", tmp_path) as eng:
        yield eng


def test_ping_does_not_wait_for_a_writer_on_sqlite(sqlite: Engine) -> None:
    engine = sqlite
    writer = sqlite3.connect(engine.url.database or "", isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # holds the write lock (busy_timeout is 5 s)
        started = time.monotonic()
        assert ping(engine) is True
        assert time.monotonic() - started < 2
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def pg_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database (skipped without SECBOT_TEST_DATABASE_URL)."""
    with migrated_engine(request.param, tmp_path) as engine:
        engine.dispose()  # start with an empty pool: the ping's connection is the only one
        yield engine


def test_ping_bounds_its_statement_only_in_its_transaction(pg_engine: Engine) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(pg_engine, "before_cursor_execute", record)
    assert ping(pg_engine) is True
    event.remove(pg_engine, "before_cursor_execute", record)
    assert statements[-2:] == ["SET LOCAL statement_timeout = 2000", "SELECT 1"]
    with pg_engine.connect() as conn:  # the same pooled connection, back without the bound
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"


def test_pool_connections_notice_a_dead_peer(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    assert {k: params.get(k) for k in PSYCOPG_CONNECT_ARGS} == {
        "connect_timeout": "10",
        "keepalives": "1",
        "keepalives_idle": "10",
        "keepalives_interval": "5",
        "keepalives_count": "3",
        "tcp_user_timeout": "25000",
    }
    # What the URL says itself wins over the defaults.
    url = pg_engine.url.update_query_dict({"connect_timeout": "3"})
    mine = make_engine(url.render_as_string(hide_password=False))
    try:
        with mine.connect() as conn:
            params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
        assert (params["connect_timeout"], params["keepalives"]) == ("3", "1")
    finally:
        mine.dispose()
