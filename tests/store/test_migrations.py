"""Migrations: one head, no drift from the models, up and down on SQLite and PostgreSQL,
safe to run concurrently, and the schema gate that tells users to upgrade."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, make_url, text

from bot.errors import UserError
from bot.store import db
from bot.store.models import Base
from bot.store.repos import clusters

REPO = Path(__file__).resolve().parents[2]
TABLES_0001 = {"alembic_version", "clusters", "scans", "findings"}
TABLES_0002 = TABLES_0001 | {"silences", "credential_rotations", "cert_inventory"}
TABLES_0003 = TABLES_0002 | {"finding_events", "outbox", "job_claims", "scheduler_instances"}
TABLES_0004 = TABLES_0003 | {"audit_events"}
TABLES = TABLES_0004 | {"remediation_requests", "approvals"}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_single_head_and_date_prefixed_files() -> None:
    script = ScriptDirectory.from_config(db.alembic_config())
    heads = script.get_heads()
    assert heads == [db.head_revision()]
    for rev in script.walk_revisions():
        name = Path(rev.path).name
        assert re.fullmatch(rf"\d{{4}}_\d{{2}}_\d{{2}}_{re.escape(rev.revision)}_\w+\.py", name)


def test_upgrade_empty_database_then_autogenerate_finds_no_drift(empty_url: str) -> None:
    engine = db.make_engine(empty_url)
    try:
        assert db.schema_status(engine) == (None, db.head_revision())
        db.upgrade(engine)
        assert db.schema_status(engine) == (db.head_revision(), db.head_revision())
        assert _tables(engine) == TABLES
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    db.downgrade(engine, "base")
    assert _tables(engine) == {"alembic_version"}
    assert db.schema_status(engine)[0] is None
    db.upgrade(engine)
    assert _tables(engine) == TABLES


def test_downgrade_one_step_keeps_the_data_of_the_older_schema(engine: Engine) -> None:
    # 0002 to 0005 only add tables: going back drops them and leaves existing rows alone.
    with db.session_scope(engine) as session:
        clusters.get_or_create(session, name="prod", now=datetime(2026, 11, 28, tzinfo=UTC))
    db.downgrade(engine, "0004")
    assert _tables(engine) == TABLES_0004
    db.downgrade(engine, "0003")
    assert _tables(engine) == TABLES_0003
    db.downgrade(engine, "0002")
    assert _tables(engine) == TABLES_0002
    db.downgrade(engine, "0001")
    assert _tables(engine) == TABLES_0001
    assert db.schema_status(engine)[0] == "0001"
    db.upgrade(engine)
    assert _tables(engine) == TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM clusters")).scalars().all() == ["prod"]


def test_migration_connection_is_prepared_and_restored(backend: str, empty_url: str) -> None:
    # SQLite: FKs off while migrating (batch table copies), back on afterwards.
    # PostgreSQL: the advisory lock that serialises replicas is held while migrating.
    engine = db.make_engine(empty_url)
    lock_held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND objid = :key AND pid = pg_backend_pid()"
    )
    try:
        with db.migration_connection(engine) as conn:
            if backend == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
            else:
                assert conn.execute(lock_held, {"key": db.MIGRATION_LOCK_KEY}).scalar() == 1
        with engine.connect() as conn:
            if backend == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            else:
                assert conn.execute(lock_held, {"key": db.MIGRATION_LOCK_KEY}).scalar() == 0
    finally:
        engine.dispose()


def test_developer_cli_upgrades_and_check_finds_no_drift(empty_url: str) -> None:
    env = {**os.environ, "SECBOT_DATABASE_URL": empty_url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini")]
    up = subprocess.run([*alembic, "upgrade", "head"], cwd=REPO, env=env, capture_output=True)
    assert up.returncode == 0, up.stderr.decode()
    check = subprocess.run([*alembic, "check"], cwd=REPO, env=env, capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    assert b"No new upgrade operations detected." in check.stdout + check.stderr


def test_cli_run_does_not_disable_existing_loggers(tmp_path: Path) -> None:
    # fileConfig's default would disable loggers created before it; run in a child
    # process because the ini's logging setup would otherwise reconfigure pytest's.
    script = (
        "import logging, sys\n"
        "from alembic.config import main\n"
        "canary = logging.getLogger('bot.canary')\n"
        f"main(argv=['-c', {str(REPO / 'alembic.ini')!r}, 'upgrade', 'head'])\n"
        "sys.exit(3 if canary.disabled else 0)\n"
    )
    env = {**os.environ, "SECBOT_DATABASE_URL": f"sqlite:///{tmp_path}/log.db"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


_REPLICA = """
import sys, time
from bot.store import db
engine = db.make_engine(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
db.upgrade(engine)
"""


def test_concurrent_upgrades_from_several_replicas_do_not_race(empty_url: str) -> None:
    # Separate processes, like replicas (or a CLI run next to `secbot serve`) starting
    # together. Without the advisory lock (PostgreSQL) or BEGIN IMMEDIATE (SQLite) all
    # but one fail on creating alembic_version (checked by hand).
    start_at = str(time.time() + 2.0)
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, empty_url, start_at], cwd=REPO, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in replicas]
    assert [p.returncode for p in replicas] == [0, 0, 0], errors
    engine = db.make_engine(empty_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
            assert list(versions) == [db.head_revision()]
    finally:
        engine.dispose()


def test_ensure_schema_refuses_an_old_schema_without_leaking_the_password(
    backend: str, empty_url: str
) -> None:
    url = make_url(empty_url)
    if backend == "postgres":
        # trust auth ignores it, so the password only has to stay out of the message.
        url = url.set(password="canary-pw-7731")
    engine = db.make_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(UserError) as raised:
            db.ensure_schema(engine, auto_upgrade=False)
        where = url.render_as_string(hide_password=True)
        assert str(raised.value) == (
            f"database at {where} is at revision none, the code needs "
            f"{db.head_revision()}; run `secbot db upgrade`"
        )
        assert "canary-pw-7731" not in str(raised.value)
        assert _tables(engine) == set()
    finally:
        engine.dispose()


def test_ensure_schema_upgrades_when_allowed(empty_url: str) -> None:
    engine = db.make_engine(empty_url)
    try:
        db.ensure_schema(engine, auto_upgrade=True)
        assert db.schema_status(engine) == (db.head_revision(), db.head_revision())
        db.ensure_schema(engine, auto_upgrade=False)  # at head: no error
    finally:
        engine.dispose()


def test_ensure_schema_refuses_a_newer_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    for auto_upgrade in (False, True):
        with pytest.raises(UserError, match=r"is at revision 9999, which this version"):
            db.ensure_schema(engine, auto_upgrade=auto_upgrade)
