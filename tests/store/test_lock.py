"""The PostgreSQL leader lock: one holder at a time, release hands it over, a lost
connection is lost leadership; SQLite is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bot.errors import UserError
from bot.store.db import MIGRATION_LOCK_KEY
from bot.store.lock import LEADER_LOCK_KEY, AdvisoryLock
from tests.store.conftest import migrated_engine


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("postgres", tmp_path) as eng:
        yield eng


def _lock_holders(engine: Engine) -> list[str]:
    """application_name of the sessions holding our advisory lock."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND a.datname = current_database()"
            )
        )
        return [r[0] for r in rows]


@pytest.mark.postgres
def test_one_holder_and_hand_over(pg: Engine) -> None:
    a, b = AdvisoryLock(pg), AdvisoryLock(pg)
    try:
        assert a.try_acquire() is True
        assert b.try_acquire() is False
        assert a.try_acquire() is True  # held: a health check, still ours
        assert (a.held, b.held) == (True, False)
        assert a.still_held() is True and b.still_held() is False
        assert _lock_holders(pg) == ["secbot-leader-lock"]
        a.release()
        assert a.held is False
        assert _lock_holders(pg) == []
        assert b.try_acquire() is True
        assert a.try_acquire() is False
        a.release()  # releasing a lock we do not hold changes nothing
        assert b.still_held() is True
    finally:
        a.release()
        b.release()
    assert _lock_holders(pg) == []


@pytest.mark.postgres
def test_a_lost_connection_is_lost_leadership(pg: Engine) -> None:
    a, b = AdvisoryLock(pg), AdvisoryLock(pg)
    try:
        assert a.try_acquire() is True
        admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'secbot-leader-lock' "
                    "AND datname = current_database()"
                )
            ).all()
        admin.dispose()
        assert killed == [(True,)]
        assert a.still_held() is False
        assert a.held is False
        assert b.try_acquire() is True
        assert a.try_acquire() is False  # reconnects, finds it taken
    finally:
        a.release()
        b.release()


def test_sqlite_has_no_advisory_lock(tmp_path: Path) -> None:
    with (
        migrated_engine("sqlite", tmp_path) as eng,
        pytest.raises(UserError, match="needs a PostgreSQL database, not sqlite"),
    ):
        AdvisoryLock(eng)


def test_leader_key_is_not_the_migration_key() -> None:
    assert LEADER_LOCK_KEY != MIGRATION_LOCK_KEY
    assert 0 < LEADER_LOCK_KEY < 2**63
