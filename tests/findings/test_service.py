"""record_scan on SQLite and PostgreSQL: the lifecycle over successive scans, reopening,
sources and UNKNOWN checks that must not resolve, all-or-nothing writes, no secrets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from bot.checks.runner import CheckRun
from bot.core.finding import Finding, Unknown
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.findings import service
from bot.findings.service import ResolvedFinding, ScanOutcome, record_failed_scan, record_scan
from bot.store import db
from bot.store.models import Cluster, FindingRow, Scan
from bot.store.repos import findings as findings_repo
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
W, C, INFO = Severity.WARNING, Severity.CRITICAL, Severity.INFO
CHECKS = frozenset({"cert-expiry", "http-proxy-noproxy", "ssl-ciphers", "auto-rotate-off"})


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _f(check: str, name: str, severity: Severity = W, tier: str | None = None) -> Finding:
    return Finding(
        check_id=check,
        cluster="prod",
        resource=ResourceRef("Setting", name, "", "value"),
        severity=severity,
        message=f"{check}: {name} is {severity.value}",
        evidence={"setting": name, "days": 21, "ips": ("10.0.0.1", "10.0.0.2")},
        tier=tier,
    )


def _run(
    findings: Iterable[Finding],
    *,
    source: str = "bundle",
    evaluated: frozenset[str] = CHECKS,
    unknowns: tuple[Unknown, ...] = (),
) -> CheckRun:
    read = (CoverageItem("settings", CoverageStatus.READ),)
    snapshot = Snapshot("prod", source, "/tmp/bundle.zip", T0, coverage=read)
    return CheckRun(snapshot, tuple(findings), unknowns, evaluated)


def _record_failure(session: db.Session, *, origin: str, error: str, at: datetime) -> int:
    return record_failed_scan(
        session=session,
        cluster="prod",
        source="live",
        origin=origin,
        started_at=at,
        finished_at=at,
        error=error,
    )


def _record(engine: Engine, run: CheckRun, hours: int) -> ScanOutcome:
    started = T0 + timedelta(hours=hours)
    with db.session_scope(engine) as s:
        return record_scan(
            session=s, run=run, started_at=started, finished_at=started + timedelta(seconds=4)
        )


def _rows(engine: Engine) -> dict[str, FindingRow]:
    with db.session_scope(engine) as s:
        return {r.fingerprint: r for r in s.scalars(select(FindingRow))}


def _scan_ids(engine: Engine) -> list[int]:
    with db.session_scope(engine) as s:
        return [sc.id for sc in s.scalars(select(Scan).order_by(Scan.id))]


def _summary(row: FindingRow) -> tuple[Any, ...]:
    return (row.state, row.severity, row.tier, row.first_seen, row.last_seen, row.resolved_at)


def _hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


A = _f("ssl-ciphers", "ssl-parameters")
B = _f("http-proxy-noproxy", "http-proxy", W)
E = _f("auto-rotate-off", "auto-rotate-rke2-certs")
X = _f("cert-expiry", "ssl-certificates", W, "30d")


def test_first_scan_stores_everything_as_new(engine: Engine) -> None:
    out = _record(engine, _run([A, B], unknowns=(Unknown("cert-hostname", "prod", "no certs"),)), 0)
    assert out.status == {A.fingerprint: "new", B.fingerprint: "new"}
    assert out.resolved == () and out.reopened == frozenset()
    rows = _rows(engine)
    assert out.ids == {fp: row.id for fp, row in rows.items()}
    a = rows[A.fingerprint]
    assert (a.check_id, a.resource, a.source) == ("ssl-ciphers", A.resource, "bundle")
    assert a.resource_name == "ssl-parameters" and a.resource_field == "value"
    assert a.message == "ssl-ciphers: ssl-parameters is warning"
    assert (a.first_scan_id, a.last_scan_id) == (out.scan_id, out.scan_id)
    assert a.evidence == {"setting": "ssl-parameters", "days": 21, "ips": ["10.0.0.1", "10.0.0.2"]}
    assert _summary(a) == ("open", "warning", None, T0, T0, None)
    with db.session_scope(engine) as s:
        scan = s.get(Scan, out.scan_id)
        assert scan is not None
        assert (scan.source, scan.origin, scan.error) == ("bundle", "/tmp/bundle.zip", None)
        assert (scan.started_at, scan.finished_at) == (T0, T0 + timedelta(seconds=4))
        assert scan.coverage == [{"subject": "settings", "status": "read", "detail": ""}]
        assert scan.unknowns == [{"check": "cert-hostname", "reason": "no certs"}]
        zero = dict.fromkeys(("info", "critical", "escalated", "unchanged", "reopened"), 0)
        assert scan.counts == dict(zero, findings=2, warning=2, new=2, resolved=0, unknown=1)


def test_same_input_again_is_unchanged_and_adds_no_rows(engine: Engine) -> None:
    first = _record(engine, _run([A, B]), 0)
    second = _record(engine, _run([A, B]), 1)
    assert second.status == {A.fingerprint: "unchanged", B.fingerprint: "unchanged"}
    assert second.ids == first.ids and second.resolved == ()
    rows = _rows(engine)
    assert {fp: r.id for fp, r in rows.items()} == first.ids
    assert _summary(rows[A.fingerprint]) == ("open", "warning", None, T0, _hours(1), None)
    a = rows[A.fingerprint]
    assert (a.first_scan_id, a.last_scan_id) == (first.scan_id, second.scan_id)
    assert _scan_ids(engine) == [first.scan_id, second.scan_id]


def test_changed_input_marks_new_escalated_unchanged_and_resolved(engine: Engine) -> None:
    milder = _f("cert-expiry", "api-server", C, "7d")
    first = _record(engine, _run([A, B, E, X, milder]), 0)
    b_worse = _f("http-proxy-noproxy", "http-proxy", C)
    x_closer = _f("cert-expiry", "ssl-certificates", W, "14d")
    m_better = _f("cert-expiry", "api-server", W, "30d")
    fresh = _f("ssl-ciphers", "ssl-certificates", INFO)
    out = _record(engine, _run([A, b_worse, x_closer, m_better, fresh]), 1)
    assert out.status == {
        A.fingerprint: "unchanged",
        b_worse.fingerprint: "escalated",
        x_closer.fingerprint: "escalated",
        m_better.fingerprint: "unchanged",
        fresh.fingerprint: "new",
    }
    e_id = first.ids[E.fingerprint]
    key = "Setting//auto-rotate-rke2-certs#value"
    assert out.resolved == (ResolvedFinding(e_id, E.fingerprint, "auto-rotate-off", key, W),)
    rows = _rows(engine)
    assert _summary(rows[E.fingerprint]) == ("resolved", "warning", None, T0, T0, _hours(1))
    assert _summary(rows[B.fingerprint]) == ("open", "critical", None, T0, _hours(1), None)
    assert _summary(rows[X.fingerprint]) == ("open", "warning", "14d", T0, _hours(1), None)
    # A downgrade is not news, but the row shows the current severity and tier.
    assert _summary(rows[m_better.fingerprint]) == ("open", "warning", "30d", T0, _hours(1), None)
    assert rows[fresh.fingerprint].first_seen == _hours(1)
    assert out.ids[fresh.fingerprint] not in first.ids.values()


def test_a_check_that_answered_unknown_resolves_nothing(engine: Engine) -> None:
    _record(engine, _run([A, X]), 0)
    unknown = Unknown("cert-expiry", "prod", "needs certificates: missing")
    out = _record(engine, _run([A], evaluated=CHECKS - {"cert-expiry"}, unknowns=(unknown,)), 1)
    assert out.resolved == ()
    assert _summary(_rows(engine)[X.fingerprint]) == ("open", "warning", "30d", T0, T0, None)


def test_a_source_that_did_not_report_a_finding_does_not_resolve_it(engine: Engine) -> None:
    _record(engine, _run([A, X], source="bundle"), 0)
    out = _record(engine, _run([], source="pki"), 1)
    assert out.status == {} and out.resolved == ()
    assert {r.state for r in _rows(engine).values()} == {"open"}
    # The source that saw them does resolve them.
    out = _record(engine, _run([X], source="bundle"), 2)
    assert [r.fingerprint for r in out.resolved] == [A.fingerprint]
    # X was last seen by the bundle; once a live scan sees it, only live may resolve it.
    _record(engine, _run([X], source="live"), 3)
    assert _record(engine, _run([], source="bundle"), 4).resolved == ()
    assert _rows(engine)[X.fingerprint].state == "open"


def test_a_resolved_finding_that_reappears_is_new_again_with_the_same_id(engine: Engine) -> None:
    first = _record(engine, _run([A, B]), 0)
    _record(engine, _run([B]), 1)
    out = _record(engine, _run([A, B]), 2)
    assert out.status == {A.fingerprint: "new", B.fingerprint: "unchanged"}
    assert out.reopened == frozenset({A.fingerprint})
    assert out.ids == first.ids
    row = _rows(engine)[A.fingerprint]
    assert _summary(row) == ("open", "warning", None, T0, _hours(2), None)
    with db.session_scope(engine) as s:
        scan = s.get(Scan, out.scan_id)
        assert scan is not None and (scan.counts["new"], scan.counts["reopened"]) == (1, 1)


def test_duplicate_reports_of_one_resource_become_one_row(engine: Engine) -> None:
    worst = _f("cert-expiry", "ssl-certificates", C, "7d")
    out = _record(engine, _run([X, worst, X]), 0)
    assert out.status == {X.fingerprint: "new"}
    assert _summary(_rows(engine)[X.fingerprint]) == ("open", "critical", "7d", T0, T0, None)


def test_a_failure_mid_scan_writes_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_insert = findings_repo.insert

    def insert_then_fail(*args: Any, **kwargs: Any) -> FindingRow:
        calls.append("insert")
        if len(calls) == 2:
            raise OSError("disk full")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(findings_repo, "insert", insert_then_fail)
    with pytest.raises(OSError, match="disk full"):
        _record(engine, _run([A, B, X]), 0)
    assert calls == ["insert", "insert"]
    with db.session_scope(engine) as s:
        for model in (Cluster, Scan, FindingRow):
            assert list(s.scalars(select(model))) == []


def test_a_failure_in_a_later_scan_leaves_the_previous_state(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _record(engine, _run([A, B]), 0)
    before = {fp: _summary(r) for fp, r in _rows(engine).items()}

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection lost")

    monkeypatch.setattr(findings_repo, "resolve", fail)
    with pytest.raises(OSError):
        _record(engine, _run([_f("http-proxy-noproxy", "http-proxy", C), X]), 1)
    assert {fp: _summary(r) for fp, r in _rows(engine).items()} == before
    assert _scan_ids(engine) == [first.scan_id]


def test_a_failed_source_is_recorded_and_changes_no_finding(engine: Engine) -> None:
    _record(engine, _run([A]), 0)
    with db.session_scope(engine) as s:
        error = "cannot reach https://10.0.0.1:6443: connection refused"
        scan_id = _record_failure(s, origin="context admin@prod", error=error, at=_hours(1))
    with db.session_scope(engine) as s:
        scan = s.get(Scan, scan_id)
        assert scan is not None
        assert (scan.source, scan.error, scan.coverage, scan.counts) == ("live", error, [], {})
        assert (scan.origin, scan.started_at) == ("context admin@prod", _hours(1))
    assert _summary(_rows(engine)[A.fingerprint]) == ("open", "warning", None, T0, T0, None)


def test_no_credentials_reach_the_store(engine: Engine) -> None:
    canary = "Canary-pw-4417"
    proxy = f"http://proxyuser:{canary}@proxy.example:3128"
    run = CheckRun(
        Snapshot(
            cluster="prod",
            source="live",
            origin=f"kubeconfig via {proxy}",
            scanned_at=T0,
            coverage=(CoverageItem("settings", CoverageStatus.PARTIAL, f"proxy {proxy} said 407"),),
        ),
        (A,),
        (Unknown("http-proxy-noproxy", "prod", f"cannot parse {proxy}/x"),),
        CHECKS,
    )
    with db.session_scope(engine) as s:
        record_scan(session=s, run=run, started_at=T0, finished_at=T0)
        _record_failure(s, origin=proxy, error=f"ProxyError: {proxy}", at=T0)
    dump: list[str] = []
    with engine.connect() as conn:
        for table in ("clusters", "scans", "findings"):
            dump.extend(map(str, conn.execute(text(f"SELECT * FROM {table}")).all()))
    assert dump and not [line for line in dump if canary in line]
    assert any("http://proxyuser:****@proxy.example:3128" in line for line in dump)
    # Only userinfo with a password is masked; ports and plain users stay readable.
    assert service.mask_credentials("https://10.0.0.1:6443: refused, ftp://anon@h, x://u:p@h") == (
        "https://10.0.0.1:6443: refused, ftp://anon@h, x://u:****@h"
    )


def test_inputs_are_validated(engine: Engine) -> None:
    stranger = Finding("ssl-ciphers", "other", ResourceRef("Setting", "x"), W, "m")
    with db.session_scope(engine) as s:
        with pytest.raises(ValueError, match="other clusters"):
            record_scan(session=s, run=_run([stranger]), started_at=T0, finished_at=T0)
        with pytest.raises(ValueError, match="timezone-aware"):
            record_scan(session=s, run=_run([A]), started_at=datetime(2026, 1, 1), finished_at=T0)
        with pytest.raises(ValueError, match="unknown source kind 'usb'"):
            record_scan(session=s, run=_run([A], source="usb"), started_at=T0, finished_at=T0)
