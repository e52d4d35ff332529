"""record_scan on SQLite and PostgreSQL: the lifecycle over successive scans, reopening,
sources and UNKNOWN checks that must not resolve, all-or-nothing writes, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select, text

from bot.audit.log import AuditLog
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, run_checks
from bot.core.finding import Finding, Unknown
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.findings import service
from bot.findings.rotations import load_rotations, record_rotation
from bot.findings.service import (
    ResolvedFinding,
    ScanOutcome,
    record_failed_scan,
    record_scan,
)
from bot.findings.silences import silence
from bot.sources.manifests import read_manifests
from bot.store import db
from bot.store.models import CertInventoryRow, Cluster, FindingRow, Scan
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import findings as findings_repo
from tests.sources import b64, ec_key, key_pem, make_cert, pem
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
W, C, INFO = Severity.WARNING, Severity.CRITICAL, Severity.INFO
CHECKS = frozenset({"cert-expiry", "http-proxy-noproxy", "ssl-ciphers", "auto-rotate-off"})

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


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
        "https://10.0.0.1:6443: refused, ftp://****@h, x://u:****@h"
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


# --- the certificate inventory -------------------------------------------------------------


def _tls_secret(name: str, chain: str, key: str = "", ns: str = "default") -> dict[str, object]:
    data = {"tls.crt": b64(chain)} | ({"tls.key": b64(key)} if key else {})
    meta = {"name": name, "namespace": ns}
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "metadata": meta,
            "data": data}  # fmt: skip


def _manifests_snapshot(tmp_path: Path, items: list[dict[str, object]], name: str) -> Snapshot:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return read_manifests([path], cluster="prod", scanned_at=T0)


def _inventory(engine: Engine) -> list[tuple[Any, ...]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(CertInventoryRow).order_by(CertInventoryRow.location_key))
        return [
            (r.source, r.scan_id, r.location_key, r.subject, r.not_after, r.is_ca, r.auto_renews)
            for r in rows
        ]


def _record_snapshot(engine: Engine, snap: Snapshot, hours: int = 0) -> ScanOutcome:
    return _record(engine, CheckRun(snap, (), (), frozenset()), hours)


def test_record_scan_writes_each_distinct_certificate_once(engine: Engine, tmp_path: Path) -> None:
    ca_key, web_key = ec_key("inv-ca"), ec_key("inv-web")
    ca = make_cert("inv-ca", key=ca_key, not_after=T0 + timedelta(days=3650), ca=True)
    web = make_cert(
        "web.example", key=web_key, not_after=T0 + timedelta(days=20), issuer=(ca.subject, ca_key)
    )
    renewed = make_cert(
        "web.example", key=web_key, not_after=T0 + timedelta(days=400), issuer=(ca.subject, ca_key)
    )
    virt_key = ec_key("kubevirt")
    virt = make_cert("kubevirt.io:system:client", key=virt_key, not_after=T0 + timedelta(days=1))
    snap = _manifests_snapshot(
        tmp_path,
        [
            _tls_secret("web-tls", pem(web, ca), key_pem(web_key)),
            # Renewed with the same key into another Secret. The old Secret still holds
            # (and whatever mounts it still serves) the old certificate: it is in use, so
            # it is judged and listed too. Only a copy that is just a file on disk (RKE2's
            # prev/ folder) is dropped for its successor (bot.checks._certs).
            _tls_secret("web-new", pem(renewed, ca), ns="zz"),
            _tls_secret("kubevirt-handler", pem(virt), ns="harvester-system"),
        ],
        "inv",
    )
    out = _record_snapshot(engine, snap)
    facts = {c.location.key: c for c in snap.certificates}
    web_at = "Secret/default/web-tls#data.tls.crt[0]"
    ca_at = "Secret/default/web-tls#data.tls.crt[1]"  # first of its two places, by key
    new_at = "Secret/zz/web-new#data.tls.crt[0]"
    virt_at = "Secret/harvester-system/kubevirt-handler#data.tls.crt[0]"
    assert _inventory(engine) == [
        ("manifests", out.scan_id, web_at, "CN=web.example", T0 + timedelta(days=20), False,
         False),
        ("manifests", out.scan_id, ca_at, "CN=inv-ca", ca.not_valid_after_utc, True, False),
        ("manifests", out.scan_id, virt_at, "CN=kubevirt.io:system:client",
         T0 + timedelta(days=1), False, True),
        ("manifests", out.scan_id, new_at, "CN=web.example", T0 + timedelta(days=400), False,
         False),
    ]  # fmt: skip
    with db.session_scope(engine) as s:
        row = s.scalars(
            select(CertInventoryRow).where(CertInventoryRow.location_key == new_at)
        ).one()
        fact = facts[new_at]
        assert (row.sha256, row.serial, row.issuer, row.not_before) == (
            fact.sha256,
            fact.serial,
            "CN=inv-ca",
            fact.not_before,
        )


def test_inventory_is_replaced_per_source_and_kept_when_not_readable(
    engine: Engine, tmp_path: Path
) -> None:
    def secret_with(cn: str, days: int) -> dict[str, object]:
        cert = make_cert(cn, key=ec_key(cn), not_after=T0 + timedelta(days=days))
        return _tls_secret(cn, pem(cert))

    a = _manifests_snapshot(tmp_path, [secret_with("a", 10), secret_with("b", 20)], "ab")
    _record_snapshot(engine, a)
    live = replace(_manifests_snapshot(tmp_path, [secret_with("c", 30)], "c"), source="live")
    live_scan = _record_snapshot(engine, live, 1).scan_id
    again = _record_snapshot(engine, _manifests_snapshot(tmp_path, [secret_with("b", 20)], "b"), 2)

    def names() -> list[tuple[str, str, int]]:
        return [(src, key.split("/")[2][:1], scan) for src, scan, key, *_ in _inventory(engine)]

    assert names() == [("manifests", "b", again.scan_id), ("live", "c", live_scan)]
    # A scan that could read no certificate source (no Secrets, webhooks, PKI...) and a
    # failed scan leave the inventory as it was: not looking is not "no certificates".
    _record_snapshot(engine, Snapshot("prod", "manifests", "nodes.yaml", T0), 3)
    with db.session_scope(engine) as s:
        _record_failure(s, origin="ctx", error="refused", at=_hours(4))
    assert names() == [("manifests", "b", again.scan_id), ("live", "c", live_scan)]


def test_no_secret_reaches_the_new_tables(engine: Engine, tmp_path: Path) -> None:
    # Mirrors tests/test_canary.py: a private key in ssl-certificates and in a TLS Secret,
    # a proxy password in http-proxy; scanned with every check, then silenced and rotated.
    key = ec_key("canary-ui")
    cert = make_cert("ui.example", key=key, not_after=T0 + timedelta(days=5), dns=("ui.example",))
    password = "CanaryProxyPw-5e1f"
    proxy = f"http://canaryuser:{password}@proxy.corp.example:3128"
    setting = {"apiVersion": "harvesterhci.io/v1beta1", "kind": "Setting"}
    snap = _manifests_snapshot(
        tmp_path,
        [
            setting | {"metadata": {"name": "ssl-certificates"}, "value": json.dumps(
                {"publicCertificate": pem(cert), "privateKey": key_pem(key), "ca": ""})},
            setting | {"metadata": {"name": "http-proxy"}, "value": json.dumps(
                {"httpProxy": proxy, "noProxy": "10.0.0.0/8"})},
            _tls_secret("ui-tls", pem(cert), key_pem(key)),
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "harv1"}, "status": {}},
        ],
        "canary",
    )  # fmt: skip
    with db.session_scope(engine) as s:
        clusters_repo.get_or_create(s, name="prod", now=T0)
        record_rotation(
            session=s, cluster="prod", node="all", kind="password", by="U1", now=T0, audit=AUDIT
        )
    with db.session_scope(engine) as s:
        snap = load_rotations(session=s, snapshot=snap)
        out = record_scan(
            session=s, run=run_checks(snap, builtin_checks()), started_at=T0, finished_at=T0
        )
    with db.session_scope(engine) as s:
        for finding_id in out.ids.values():
            silence(session=s, finding_id=finding_id, duration=timedelta(days=1),
                    reason=f"proxy {proxy} rotates soon", owner="U1", now=T0,
                    audit=AUDIT)  # fmt: skip
    body = [ln for ln in key_pem(key).splitlines() if ln and not ln.startswith("-----")]
    canaries = [password, b64(key_pem(key)), *body]
    dump: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in ("silences", "credential_rotations", "cert_inventory", "findings", "scans"):
            dump[table] = [str(r) for r in conn.execute(text(f"SELECT * FROM {table}")).all()]
    assert all(dump.values()), dump  # every table has rows, so the check below means something
    checks = {r.check_id for r in _rows(engine).values()}
    assert {"http-proxy-credentials", "cert-expiring", "credential-rotation-overdue"} <= checks
    everything = "\n".join(line for rows in dump.values() for line in rows)
    assert [c for c in canaries if c in everything] == []
    assert "http://canaryuser:****@proxy.corp.example:3128" in everything
