"""Database fixtures: every store test runs on SQLite and on PostgreSQL.

``engine`` yields an engine on a fresh database that the real Alembic migrations brought
to head (never ``metadata.create_all``, so the migrations are tested on both dialects);
``empty_url`` yields the URL of a fresh, empty database.

PostgreSQL: ``SECBOT_TEST_DATABASE_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) names a server and a database to
connect to; each test gets its own ``secbot_t_<random>`` database, dropped afterwards.
Unset, the PostgreSQL cases are skipped (locally) or fail (when ``CI`` is set); set but
unreachable, they fail: a missing server must never look like a pass.

The context managers are plain functions so tests in other folders (tests/findings)
can build the same fixtures.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError

from bot.store.db import make_engine, masked_url, upgrade

PG_ENV = "SECBOT_TEST_DATABASE_URL"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_ENV} is not set; in CI the store tests must run on PostgreSQL")
    pytest.skip(f"{PG_ENV} is not set")


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database of ``backend``; remove it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'secbot.db'}"
        return
    server = _pg_server_url()
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"secbot_t_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as e:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {masked_url(server)} is unreachable: {e.orig}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def migrated_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """Yield an engine on a fresh database migrated to head."""
    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with fresh_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(backend, tmp_path) as eng:
        yield eng
