"""Read queries for Slack on SQLite and PostgreSQL: finding lists in the right order with
silences hidden, one finding in detail, cluster statuses, the certificate inventory, and
short ids (worked examples plus properties).

Scans are real: TLS Secrets with generated certificates in a manifest file, read by the
manifests source, judged by the built-in checks and recorded by record_scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from bot.audit.log import AuditLog
from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.errors import UserError
from bot.findings import queries, silences
from bot.findings.queries import parse_short_id
from bot.findings.service import ScanOutcome, record_failed_scan, record_scan
from bot.findings.views import CertView
from bot.sources.manifests import read_manifests
from bot.store import db
from tests.sources import NOW, at, b64, ec_key, key_pem, make_cert, pem
from tests.store.conftest import BACKENDS, migrated_engine

CHECKS = [get_check(c) for c in ("cert-expired", "cert-expiring", "http-proxy-credentials")]
WEB, API, OLD, FAR = "web-tls", "api-tls", "old-tls", "far-tls"
KUBEVIRT = "kubevirt-virt-handler-certs"

AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _secret(name: str, cn: str, days: float, ns: str = "default") -> dict[str, object]:
    key = ec_key(cn)
    cert = make_cert(cn, key=key, not_after=at(days))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": ns},
        "data": {"tls.crt": b64(pem(cert)), "tls.key": b64(key_pem(key))},
    }


def _cert_view(cn: str, days: float, name: str, finding_id: int | None) -> CertView:
    serial = format(make_cert(cn, key=ec_key(cn), not_after=at(days)).serial_number, "X")
    return CertView("prod", f"CN={cn}", f"CN={cn}", serial, at(days), _key(name), finding_id)


def _key(name: str, ns: str = "default") -> str:
    return ResourceRef("Secret", name, ns, "data.tls.crt[0]").key


def _scan(
    engine: Engine,
    tmp_path: Path,
    secrets: list[dict[str, object]],
    *,
    cluster: str = "prod",
    hours: float = 0,
    source: str = "manifests",
) -> ScanOutcome:
    path = tmp_path / f"{cluster}-{hours}-{source}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": secrets}))
    started = NOW + timedelta(hours=hours)
    snap = replace(read_manifests([path], cluster=cluster, scanned_at=started), source=source)
    with db.session_scope(engine) as s:
        return record_scan(
            session=s, run=run_checks(snap, CHECKS), started_at=started, finished_at=started
        )


def _prod(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """prod: web 5 days (critical), api 60 days (info), old expired 3 days ago (critical),
    far 300 days (no finding), KubeVirt's 1 day (renews itself: no finding, not listed)."""
    out = _scan(
        engine,
        tmp_path,
        [
            _secret(WEB, "web.example", 5),
            _secret(API, "api.example", 60),
            _secret(OLD, "old.example", -3),
            _secret(FAR, "far.example", 300),
            _secret(KUBEVIRT, "kubevirt.io:system:node:harv1", 1, ns="harvester-system"),
        ],
    )
    with db.session_scope(engine) as s:
        by_location = {
            v.resource.name: v.id for v in queries.list_findings(session=s, now=NOW, limit=100)
        }
    assert set(out.ids.values()) == set(by_location.values())
    return by_location


def test_list_findings_worst_and_soonest_first_with_views(engine: Engine, tmp_path: Path) -> None:
    ids = _prod(engine, tmp_path)
    with db.session_scope(engine) as s:
        views = queries.list_findings(session=s, now=NOW)
    assert [(v.resource.name, v.check_id, v.severity, v.tier) for v in views] == [
        (OLD, "cert-expired", Severity.CRITICAL, "expired"),
        (WEB, "cert-expiring", Severity.CRITICAL, "7d"),
        (API, "cert-expiring", Severity.INFO, "90d"),
    ]
    web = views[1]
    assert web.id == ids[WEB] and web.short_id == f"F-{ids[WEB]}"
    assert (web.cluster, web.state, web.first_seen, web.last_seen) == ("prod", "open", NOW, NOW)
    assert web.title == "Certificate expires soon" and web.remediation is None
    assert web.resource == ResourceRef("Secret", WEB, "default", "data.tls.crt[0]")
    assert web.evidence["subject"] == "CN=web.example" and web.evidence["days_left"] == 5
    assert web.evidence["also_at"] == ()  # JSON lists come back as tuples
    assert (web.silenced_until, web.silence_reason) == (None, None)


def test_list_findings_filters_and_hides_silenced(engine: Engine, tmp_path: Path) -> None:
    ids = _prod(engine, tmp_path)
    _scan(engine, tmp_path, [_secret(WEB, "edge.example", 20)], cluster="edge")
    with db.session_scope(engine) as s:
        silences.silence(
            session=s,
            finding_id=ids[OLD],
            duration=timedelta(days=2),
            reason="replacing it tonight",
            owner="U1",
            now=NOW,
            audit=AUDIT,
        )
    with db.session_scope(engine) as s:

        def names(**kw: object) -> list[tuple[str, str]]:
            views = queries.list_findings(session=s, now=NOW, **kw)  # type: ignore[arg-type]
            return [(v.cluster, v.resource.name) for v in views]

        assert names() == [("prod", WEB), ("edge", WEB), ("prod", API)]
        assert names(cluster="edge") == [("edge", WEB)]
        assert names(min_severity=Severity.CRITICAL) == [("prod", WEB)]
        assert names(min_severity=Severity.WARNING, limit=1) == [("prod", WEB)]
        assert names(include_silenced=True, cluster="prod") == [
            ("prod", OLD),
            ("prod", WEB),
            ("prod", API),
        ]
        shown = queries.list_findings(session=s, now=NOW, include_silenced=True)[0]
        assert shown.silenced_until == NOW + timedelta(days=2)
        assert shown.silence_reason == "replacing it tonight"
        # Two days later the silence has run out: the finding is back on the list.
        later = queries.list_findings(session=s, now=NOW + timedelta(days=2), cluster="prod")
        assert [v.resource.name for v in later] == [OLD, WEB, API]
        with pytest.raises(UserError) as err:
            queries.list_findings(session=s, now=NOW, cluster="nope")
        assert str(err.value) == "no cluster 'nope' in the store; known: edge, prod"


def test_get_finding_open_resolved_and_missing(engine: Engine, tmp_path: Path) -> None:
    ids = _prod(engine, tmp_path)
    # The renewed web certificate resolves its finding; the F-id stays readable.
    _scan(
        engine,
        tmp_path,
        [_secret(WEB, "web.example", 400), _secret(OLD, "old.example", -3)],
        hours=1,
    )
    with db.session_scope(engine) as s:
        web = queries.get_finding(session=s, finding_id=ids[WEB], now=NOW)
        assert web is not None and (web.state, web.last_seen) == ("resolved", NOW)
        old = queries.get_finding(session=s, finding_id=ids[OLD], now=NOW)
        assert old is not None and (old.state, old.title) == ("open", "Certificate has expired")
        assert queries.get_finding(session=s, finding_id=999_999, now=NOW) is None
        assert queries.get_finding(session=s, finding_id=2**40, now=NOW) is None


def test_expiring_certs_from_the_inventory_soonest_first(engine: Engine, tmp_path: Path) -> None:
    ids = _prod(engine, tmp_path)
    with db.session_scope(engine) as s:
        certs = queries.expiring_certs(session=s, cluster="prod", within_days=90, now=NOW)
        assert certs == [
            _cert_view("old.example", -3, OLD, ids[OLD]),
            _cert_view("web.example", 5, WEB, ids[WEB]),
            _cert_view("api.example", 60, API, ids[API]),
        ]
        assert [c.location for c in queries.expiring_certs(
            session=s, cluster=None, within_days=365, now=NOW)] == [
            _key(OLD), _key(WEB), _key(API), _key(FAR)]  # fmt: skip
        # Days later KubeVirt's certificate has expired (no scan renewed it): now it shows.
        later = NOW + timedelta(days=2)
        soon = queries.expiring_certs(session=s, cluster="prod", within_days=0, now=later)
        assert [c.location for c in soon] == [_key(OLD), _key(KUBEVIRT, "harvester-system")]
        assert soon[1].finding_id is None
        with pytest.raises(UserError, match="0 days or more"):
            queries.expiring_certs(session=s, cluster="prod", within_days=-1, now=NOW)


def test_inventory_per_source_newest_location_wins_and_duplicates_fold(
    engine: Engine, tmp_path: Path
) -> None:
    _scan(engine, tmp_path, [_secret(WEB, "web.example", 5), _secret(API, "api.example", 60)])
    # A later live scan sees the web Secret renewed and the api certificate copied elsewhere.
    _scan(
        engine,
        tmp_path,
        [_secret(WEB, "web.example", 400), _secret("api-copy", "api.example", 60, ns="zz")],
        hours=1,
        source="live",
    )
    with db.session_scope(engine) as s:
        certs = queries.expiring_certs(session=s, cluster="prod", within_days=500, now=NOW)
        found = {(v.resource.key, v.id) for v in queries.list_findings(session=s, now=NOW)}
    # web: the live row (newer scan) replaces the manifests row at the same location; the
    # manifests finding stays open (only a manifests scan may resolve it), so it is named.
    # api: one certificate seen at two places, shown once, first where a finding is.
    assert [(c.location, c.not_after) for c in certs] == [(_key(API), at(60)), (_key(WEB), at(400))]
    assert {(c.location, c.finding_id) for c in certs} <= found


def test_cluster_statuses(engine: Engine, tmp_path: Path) -> None:
    ids = _prod(engine, tmp_path)
    with db.session_scope(engine) as s:
        silences.silence(
            session=s, finding_id=ids[API], duration=timedelta(days=7), reason="ok", owner="U1",
            now=NOW, audit=AUDIT,
        )  # fmt: skip
    _scan(engine, tmp_path, [_secret(WEB, "edge.example", 20)], cluster="edge")
    with db.session_scope(engine) as s:
        record_failed_scan(
            session=s,
            cluster="edge",
            source="live",
            origin="context edge",
            started_at=NOW + timedelta(hours=1),
            finished_at=NOW + timedelta(hours=1),
            error="cannot reach https://10.0.0.9:6443: connection refused",
        )
    with db.session_scope(engine) as s:
        statuses = queries.cluster_statuses(session=s, now=NOW)
        one = queries.cluster_statuses(session=s, now=NOW, cluster="prod")
    edge, prod = statuses
    assert one == [prod]
    assert (prod.name, prod.last_scan_at, prod.last_source, prod.last_error) == (
        "prod",
        NOW,
        "manifests",
        None,
    )
    assert prod.counts == {"critical": 2, "warning": 0, "info": 0}
    assert (prod.silenced, prod.unknown, prod.pending_approvals) == (1, 1, 0)
    assert prod.next_expiry is not None
    assert (prod.next_expiry.location, prod.next_expiry.finding_id) == (_key(OLD), ids[OLD])
    # edge: the latest scan failed; counts and certificates stay from the scan before.
    assert (edge.name, edge.last_source, edge.unknown) == ("edge", "live", 0)
    assert edge.last_error == "cannot reach https://10.0.0.9:6443: connection refused"
    assert edge.last_scan_at == NOW + timedelta(hours=1)
    assert edge.counts == {"critical": 0, "warning": 1, "info": 0}
    assert edge.next_expiry is not None and edge.next_expiry.not_after == at(20)


def test_a_cluster_with_nothing_yet_and_an_unknown_one(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        assert queries.cluster_statuses(session=s, now=NOW) == []
        assert queries.cluster_names(session=s) == []
        with pytest.raises(UserError) as err:
            queries.cluster_statuses(session=s, now=NOW, cluster="prod")
        assert str(err.value) == "no cluster 'prod' in the store; none has been scanned yet"


@pytest.mark.parametrize(
    ("text", "value"),
    [("F-123", 123), ("f-123", 123), ("123", 123), ("  F-7 ", 7), ("F-2147483647", 2**31 - 1)],
)
def test_parse_short_id_accepts(text: str, value: int) -> None:
    assert parse_short_id(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "F-", "F123", "F--1", "-1", "0", "F-0", "F-2147483648", "1_000", "+5", "١٢٣", "F-1x"],
)
def test_parse_short_id_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a finding id; they look like F-123"):
        parse_short_id(text)


@given(st.integers(min_value=1, max_value=2**31 - 1), st.sampled_from(["F-", "f-", ""]))
def test_parse_short_id_round_trips(value: int, prefix: str) -> None:
    assert parse_short_id(f"{prefix}{value}") == value


@given(st.text(max_size=30))
def test_parse_short_id_returns_a_valid_id_or_raises_value_error(text: str) -> None:
    try:
        value = parse_short_id(text)
    except ValueError:
        return
    assert 1 <= value <= 2**31 - 1
    assert text.strip().lstrip("Ff").lstrip("-").lstrip("0") == str(value)
