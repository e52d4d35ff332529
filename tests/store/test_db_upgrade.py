"""`upgrade` as init containers use it: idempotent, reports where it ended, refuses a schema it
does not know, and on PostgreSQL takes the migration lock (session-level advisory lock on a
dedicated connection): concurrent upgrades wait for each other and end with one
alembic_version row at head; a lock held too long is a UserError naming the holder; the lock
never outlives the upgrade. Real PostgreSQL (SECBOT_TEST_DATABASE_URL) and SQLite.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text

from bot.errors import UserError
from bot.store import db
from tests.store.conftest import fresh_database

REPO = Path(__file__).resolve().parents[2]
_KEY = {"lo": db.MIGRATION_LOCK_KEY & 0xFFFFFFFF, "hi": db.MIGRATION_LOCK_KEY >> 32}
_LOCKS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
    "AND classid = :hi AND objid = :lo AND granted = :granted AND database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (the lock tests have no SQLite side)."""
    with fresh_database("postgres", tmp_path) as url:
        yield url


def _versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _migration_locks(url: str, *, granted: bool) -> int:
    probe = create_engine(url)
    try:
        with probe.connect() as conn:
            return int(conn.execute(text(_LOCKS), {**_KEY, "granted": granted}).scalar_one())
    finally:
        probe.dispose()


@contextmanager
def holding_the_lock(url: str) -> Iterator[Connection]:
    """Another session (a replica's migration, say) holds the migration lock."""
    other = create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"application_name": "other-replica"}
    )
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": db.MIGRATION_LOCK_KEY})
            yield conn
    finally:
        other.dispose()


def _wait_for(condition: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not seen in {timeout}s: {condition}"
        time.sleep(0.05)


def test_upgrade_is_idempotent_and_says_where_it_ended(empty_url: str) -> None:
    engine = db.make_engine(empty_url)
    try:
        head = db.head_revision()
        assert db.upgrade(engine) == (None, head)
        assert db.upgrade(engine) == (head, head)
        assert _versions(engine) == [head]
    finally:
        engine.dispose()


def test_upgrade_refuses_a_schema_it_does_not_know(backend: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UserError, match=r"is at revision 9999, which this version of secbot"):
        db.upgrade(engine)
    assert _versions(engine) == ["9999"]  # untouched
    if backend == "postgres":
        assert _migration_locks(engine.url.render_as_string(False), granted=True) == 0


@pytest.mark.postgres
def test_the_migration_runs_under_the_lock_and_frees_it(pg_url: str) -> None:
    engine = db.make_engine(pg_url)
    held: list[int] = []

    def on_statement(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        # At Alembic's first CREATE TABLE: does this very session hold the migration lock?
        if statement.lstrip().upper().startswith("CREATE TABLE") and not held:
            mine = f"{_LOCKS} AND pid = pg_backend_pid()"
            held.append(conn.execute(text(mine), {**_KEY, "granted": True}).scalar_one())

    event.listen(Engine, "before_cursor_execute", on_statement)  # every engine, the lock's too
    try:
        db.upgrade(engine)
    finally:
        event.remove(Engine, "before_cursor_execute", on_statement)
        engine.dispose()
    assert held == [1]
    assert _migration_locks(pg_url, granted=True) == 0


@pytest.mark.postgres
def test_a_held_lock_makes_upgrade_wait_then_give_up(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.store.lock")
    url = make_url(pg_url).set(password="canary-pw-5150")  # trust auth ignores it
    engine = db.make_engine(url.render_as_string(hide_password=False))
    try:
        with holding_the_lock(pg_url) as holder:
            pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
            started = time.monotonic()
            with pytest.raises(UserError) as gave_up:
                db.upgrade(engine, lock_timeout=1.0)
            waited = time.monotonic() - started
        message = str(gave_up.value)
        assert message.startswith(
            f"gave up after 1s waiting for another migration (pid {pid} (other-replica) holds "
            f"PostgreSQL advisory lock {db.MIGRATION_LOCK_KEY} on "
        )
        assert message.endswith(
            "); let it finish or stop it, then run `secbot db upgrade` again "
            "(or wait longer: --lock-timeout)"
        )
        assert 0.9 <= waited < 10
        (waiting,) = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
        assert waiting.startswith(
            f"waiting for another migration to finish (pid {pid} (other-replica) holds "
        )
        assert waiting.endswith("; waiting up to 1s")
        assert "canary-pw-5150" not in message + caplog.text
        assert "alembic_version" not in inspect(engine).get_table_names()
        assert _migration_locks(pg_url, granted=False) == 0  # nobody left waiting
        assert db.upgrade(engine) == (None, db.head_revision())  # free now: goes through
    finally:
        engine.dispose()


_CLI = "import sys; from bot.cli import main; main(sys.argv[1:])"


@pytest.mark.postgres
def test_concurrent_cli_upgrades_take_turns(pg_url: str) -> None:
    # Two init containers start while a third migration holds the lock: both wait (seen in
    # pg_locks), then run one after the other; the second finds the schema at head.
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SECBOT_DATABASE_URL": pg_url,
        "SECBOT_LOG_LEVEL": "WARNING",
    }
    with holding_the_lock(pg_url):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CLI, "db", "upgrade"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            _wait_for(
                "two upgrades waiting for the lock",
                lambda: _migration_locks(pg_url, granted=False) == 2,
            )
        except AssertionError:
            for p in procs:
                p.kill()
            raise
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    head = db.head_revision()
    assert sorted(out for out, _ in results) == [
        f"database schema at {head} (head; already current)\n",
        f"database schema at {head} (head; upgraded from none)\n",
    ]
    for _, err in results:
        assert "waiting for another migration to finish (pid " in err
    engine = db.make_engine(pg_url)
    try:
        assert _versions(engine) == [head]
    finally:
        engine.dispose()
    assert _migration_locks(pg_url, granted=True) == 0
