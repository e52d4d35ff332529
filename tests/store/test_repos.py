"""Engine, unit of work and repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.errors import UserError
from bot.store import db
from bot.store.models import Cluster, FindingRow, Scan
from bot.store.repos import clusters, findings, scans

BERLIN = timezone(timedelta(hours=2))
T0 = datetime(2026, 11, 28, 11, 30, 15, 123456, tzinfo=BERLIN)  # 09:30:15.123456 UTC
T1 = T0 + timedelta(hours=1)

SECRET_REF = ResourceRef("Secret", "tls-ingress", "cattle-system", "data.tls.crt")


def _finding(severity: Severity = Severity.WARNING, tier: str | None = "30d") -> Finding:
    return Finding(
        check_id="cert-expiry",
        cluster="prod",
        resource=SECRET_REF,
        severity=severity,
        message="certificate expires in 21 days",
        evidence={"serial": "0x1f", "not_after": "2026-12-19T00:00:00Z", "sans": ("a", "b")},
        tier=tier,
    )


def _cluster_and_scan(engine: Engine) -> tuple[int, int]:
    with db.session_scope(engine) as s:
        cluster = clusters.get_or_create(s, name="prod", now=T0)
        scan = scans.add(
            s, cluster_id=cluster.id, source="bundle", origin="b.zip", started_at=T0, finished_at=T1
        )
        return cluster.id, scan.id


def test_sqlite_engine_pragmas_and_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "secbot.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert path.is_file()
    finally:
        engine.dispose()


def test_make_engine_rejects_a_bad_url_without_echoing_it() -> None:
    with pytest.raises(UserError) as raised:
        db.make_engine("postgres ql://admin:hunter2@db")
    assert str(raised.value).startswith("the database URL is not a valid SQLAlchemy URL; use e.g. ")
    with pytest.raises(UserError) as raised:
        db.make_engine("nosuchdb+driver://admin:hunter2@db/x")
    assert str(raised.value) == "no database driver for nosuchdb+driver://admin:***@db/x"


def test_masked_url_hides_the_password() -> None:
    got = db.masked_url("postgresql+psycopg://secbot:s3cret@pg.example:5432/secbot")
    assert got == "postgresql+psycopg://secbot:***@pg.example:5432/secbot"


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    cluster_id, scan_id = _cluster_and_scan(engine)
    with db.session_scope(engine) as s:
        row = findings.insert(
            s,
            cluster_id=cluster_id,
            finding=_finding(),
            source="bundle",
            scan_id=scan_id,
            seen_at=T0,
        )
        finding_id = row.id
    with db.session_scope(engine) as s:
        cluster = s.get(Cluster, cluster_id)
        scan = s.get(Scan, scan_id)
        stored = s.get(FindingRow, finding_id)
        assert cluster is not None and scan is not None and stored is not None
        values = [cluster.created_at, scan.started_at, scan.finished_at, stored.first_seen]
        assert values == [T0, T0, T1, T0]
        assert [v.tzinfo for v in values] == [UTC, UTC, UTC, UTC]
        assert stored.first_seen.isoformat() == "2026-11-28T09:30:15.123456+00:00"
        assert stored.resolved_at is None


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError) as raised, db.session_scope(engine) as s:
        clusters.get_or_create(s, name="prod", now=datetime(2026, 11, 28, 9, 0))
    assert isinstance(raised.value.orig, ValueError)


def test_session_scope_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        clusters.get_or_create(s, name="kept", now=T0)
    with pytest.raises(RuntimeError), db.session_scope(engine) as s:
        clusters.get_or_create(s, name="dropped", now=T0)
        s.flush()
        raise RuntimeError("boom")
    with db.session_scope(engine) as s:
        assert [c.name for c in clusters.list_all(s)] == ["kept"]


def test_clusters_get_or_create_is_idempotent(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        first = clusters.get_or_create(s, name="b-cluster", now=T0)
        again = clusters.get_or_create(s, name="b-cluster", now=T1)
        clusters.get_or_create(s, name="a-cluster", now=T1)
        assert again.id == first.id
    with db.session_scope(engine) as s:
        assert [c.name for c in clusters.list_all(s)] == ["a-cluster", "b-cluster"]
        found = clusters.get_by_name(s, "b-cluster")
        assert found is not None and found.created_at == T0
        assert clusters.get_by_name(s, "nope") is None


def test_scans_round_trip_and_latest(engine: Engine) -> None:
    cluster_id, first_id = _cluster_and_scan(engine)
    with db.session_scope(engine) as s:
        second = scans.add(
            s,
            cluster_id=cluster_id,
            source="pki",
            origin="/var/lib/rancher/rke2/server/tls",
            started_at=T1,
            finished_at=T1 + timedelta(seconds=3),
            coverage=[{"subject": "certificates", "status": "read", "detail": ""}],
            unknowns=[{"check": "http-proxy-noproxy", "reason": "needs settings: missing"}],
            counts={"findings": 0},
            error=None,
        )
        second_id = second.id
    with db.session_scope(engine) as s:
        latest = scans.latest(s, cluster_id=cluster_id)
        assert latest is not None and latest.id == second_id
        assert latest.coverage == [{"subject": "certificates", "status": "read", "detail": ""}]
        assert latest.unknowns == [
            {"check": "http-proxy-noproxy", "reason": "needs settings: missing"}
        ]
        assert latest.counts == {"findings": 0}
        bundle = scans.latest(s, cluster_id=cluster_id, source="bundle")
        assert bundle is not None and bundle.id == first_id
        assert [x.id for x in scans.for_cluster(s, cluster_id=cluster_id)] == [second_id, first_id]
        got = scans.get(s, first_id)
        assert got is not None and (got.coverage, got.unknowns, got.counts) == ([], [], {})


def test_findings_insert_refresh_resolve(engine: Engine) -> None:
    cluster_id, scan_id = _cluster_and_scan(engine)
    fp = _finding().fingerprint
    with db.session_scope(engine) as s:
        row = findings.insert(
            s,
            cluster_id=cluster_id,
            finding=_finding(),
            source="bundle",
            scan_id=scan_id,
            seen_at=T0,
        )
        finding_id = row.id
    with db.session_scope(engine) as s:
        row2 = findings.get_by_fingerprint(s, cluster_id=cluster_id, fingerprint=fp)
        assert row2 is not None and row2.id == finding_id
        assert (row2.check_id, row2.resource, row2.severity, row2.tier, row2.state) == (
            "cert-expiry",
            SECRET_REF,
            "warning",
            "30d",
            "open",
        )
        assert row2.evidence == {
            "serial": "0x1f",
            "not_after": "2026-12-19T00:00:00Z",
            "sans": ["a", "b"],
        }
        findings.resolve(row2, at=T1)
    with db.session_scope(engine) as s:
        assert findings.list_open(s) == []
        [resolved] = findings.for_cluster(s, cluster_id=cluster_id, state="resolved")
        assert (resolved.state, resolved.resolved_at, resolved.last_seen) == ("resolved", T1, T0)
        findings.refresh(
            resolved,
            finding=_finding(Severity.CRITICAL, "14d"),
            source="live",
            scan_id=scan_id,
            seen_at=T1,
        )
    with db.session_scope(engine) as s:
        again = findings.get(s, finding_id)
        assert again is not None
        assert (again.state, again.resolved_at, again.severity, again.tier, again.source) == (
            "open",
            None,
            "critical",
            "14d",
            "live",
        )
        assert (again.first_seen, again.last_seen) == (T0, T1)
        assert [r.id for r in findings.list_open(s, cluster_id=cluster_id)] == [finding_id]
        assert findings.get(s, finding_id + 1000) is None


def test_one_row_per_fingerprint_and_cluster(engine: Engine) -> None:
    cluster_id, scan_id = _cluster_and_scan(engine)
    with pytest.raises(IntegrityError), db.session_scope(engine) as s:
        for _ in range(2):
            findings.insert(
                s,
                cluster_id=cluster_id,
                finding=_finding(),
                source="bundle",
                scan_id=scan_id,
                seen_at=T0,
            )
    with db.session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(FindingRow)) == 0


def test_foreign_keys_and_check_constraints_are_enforced(engine: Engine) -> None:
    cluster_id, _ = _cluster_and_scan(engine)
    with pytest.raises(IntegrityError), db.session_scope(engine) as s:
        scans.add(
            s,
            cluster_id=cluster_id + 99,
            source="bundle",
            origin="x",
            started_at=T0,
            finished_at=T0,
        )
    with pytest.raises(IntegrityError), db.session_scope(engine) as s:
        scans.add(
            s, cluster_id=cluster_id, source="floppy", origin="x", started_at=T0, finished_at=T0
        )


def test_failed_get_or_create_race_keeps_the_transaction_usable(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another writer created the cluster between our look-up and our insert: the savepoint
    # absorbs the unique violation and the existing row is returned.
    with db.session_scope(engine) as other:
        clusters.get_or_create(other, name="raced", now=T0)
    original = clusters.get_by_name
    misses = [True]

    def first_lookup_misses(session: db.Session, name: str) -> Cluster | None:
        if misses:
            misses.pop()
            return None
        return original(session, name)

    monkeypatch.setattr(clusters, "get_by_name", first_lookup_misses)
    with db.session_scope(engine) as s:
        got = clusters.get_or_create(s, name="raced", now=T1)
        assert got.name == "raced" and got.created_at == T0
        clusters.get_or_create(s, name="after", now=T1)
    with db.session_scope(engine) as s:
        assert [c.name for c in clusters.list_all(s)] == ["after", "raced"]


def test_concurrent_read_then_write_transactions_queue_instead_of_failing(engine: Engine) -> None:
    # The shape of record_scan: read, then write. On SQLite a deferred BEGIN would fail
    # all but one thread with "database is locked"; they must wait their turn instead.
    errors: list[BaseException] = []

    def scan(name: str) -> None:
        try:
            with db.session_scope(engine) as s:
                clusters.list_all(s)
                time.sleep(0.2)
                clusters.get_or_create(s, name=name, now=T0)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=scan, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    with db.session_scope(engine) as s:
        assert [c.name for c in clusters.list_all(s)] == ["c0", "c1", "c2", "c3"]


def test_read_scope_reads_beside_a_writer(tmp_path: Path) -> None:
    """SQLite: a read-only unit does not wait for a writer holding the write lock."""
    import threading
    import time as _time

    from bot.store.db import read_scope, session_scope

    engine = db.make_engine(f"sqlite:///{tmp_path}/r.db")
    db.upgrade(engine)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with session_scope(engine) as session:
            session.execute(text("SELECT 1"))
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    assert holding.wait(5)
    start = _time.monotonic()
    with read_scope(engine) as session:
        assert session.execute(text("SELECT count(*) FROM clusters")).scalar_one() == 0
    waited = _time.monotonic() - start
    release.set()
    thread.join(5)
    assert waited < 1.0  # a BEGIN IMMEDIATE here would have waited for busy_timeout (5 s)
