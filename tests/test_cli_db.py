"""`secbot db upgrade` as an init container runs it: idempotent, prints where it ended, exit 2
with one line on a bad --lock-timeout, a schema it does not know, or (PostgreSQL) a
migration lock held past --lock-timeout; exit 0 once the lock is free."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store import db
from tests.store.conftest import BACKENDS, fresh_database
from tests.store.test_db_upgrade import holding_the_lock
from tests.test_cli import run


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as found:
        yield found


def test_upgrade_twice_changes_nothing_the_second_time(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head = db.head_revision()
    assert run(["db", "upgrade", "--db", url], capsys) == (
        0,
        f"database schema at {head} (head; upgraded from none)\n",
        "",
    )
    assert run(["db", "upgrade", "--db", url], capsys) == (
        0,
        f"database schema at {head} (head; already current)\n",
        "",
    )
    code, out, _ = run(["db", "status", "--db", url], capsys)
    assert (code, out) == (0, f"revision {head}, head {head} (current)\n")


def test_a_schema_from_a_newer_secbot_is_refused(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["db", "upgrade", "--db", url], capsys)[0] == 0
    engine = db.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    code, out, err = run(["db", "upgrade", "--db", url], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("secbot: error: database at ")
    assert err.endswith(
        f"is at revision 9999, which this version of secbot does not know (it needs "
        f"{db.head_revision()}); upgrade secbot\n"
    )


@pytest.mark.parametrize("value", ["300", "soon", "0s", "-5m"])
def test_a_bad_lock_timeout_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, out, err = run(
        ["db", "upgrade", "--db", f"sqlite:///{tmp_path}/x.db", "--lock-timeout", value], capsys
    )
    assert (code, out) == (2, "")
    assert err.startswith("secbot: error: --lock-timeout: ") and err.count("\n") == 1
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


@pytest.mark.postgres
def test_a_held_lock_times_out_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database("postgres", tmp_path) as pg:
        with holding_the_lock(pg):
            code, out, err = run(["db", "upgrade", "--db", pg, "--lock-timeout", "1s"], capsys)
        assert (code, out) == (2, "")
        last = err.splitlines()[-1]
        assert last.startswith("secbot: error: gave up after 1s waiting for another migration (")
        assert last.endswith("then run `secbot db upgrade` again (or wait longer: --lock-timeout)")
        assert "Traceback" not in err
        assert run(["db", "upgrade", "--db", pg, "--lock-timeout", "1s"], capsys)[0] == 0
