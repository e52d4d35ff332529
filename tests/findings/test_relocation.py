"""A certificate finding follows its certificate when only its copies change.

Real pipeline on SQLite and PostgreSQL: manifests source -> builtin checks -> record_scan
-> plan_scan (outbox). Aspects: a copy added in a namespace that sorts earlier (and
removed again) moves the finding: same id, silence kept, nothing posted; the first
location unreadable for one scan posts nothing; a certificate renewed at one location
while another keeps the old one is judged per location (resolved + new, as before); a
resolved finding that held the new location's fingerprint gives it up and stays history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from sqlalchemy import Engine, select

from bot.audit.log import AuditLog
from bot.checks.registry import builtin_checks
from bot.checks.runner import run_checks
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from bot.findings.service import record_scan
from bot.findings.silences import silence
from bot.notify.plan import plan_scan
from bot.notify.routing import Routing
from bot.sources.manifests import read_manifests
from bot.store import db
from bot.store.models import FindingRow, Scan
from bot.store.models_ops import FindingEvent, OutboxRow
from bot.store.repos import silences as silences_repo
from tests.sources import b64, ec_key, make_cert, pem
from tests.store.conftest import BACKENDS, migrated_engine

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ROUTING = Routing(alert_channel="#alerts")
AUDIT = AuditLog()  # no HMAC key: these tests are about the change, not the chain
KEY = ec_key("wild")
WILD = make_cert("wild.example.com", key=KEY, not_after=T0 + timedelta(days=20))
RENEWED = make_cert("wild.example.com", key=KEY, not_after=T0 + timedelta(days=400))
EXPIRING = ("cert-expiring",)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def _secret(namespace: str, cert: x509.Certificate = WILD) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "wildcard-tls", "namespace": namespace},
        "data": {"tls.crt": b64(pem(cert))},
    }


def _webhook(cert: x509.Certificate = WILD) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "rancher.cattle.io"},
        "webhooks": [{"name": "ns", "clientConfig": {"caBundle": b64(pem(cert))}}],
    }


def _snapshot(tmp_path: Path, items: list[dict[str, Any]], hours: int) -> Snapshot:
    path = tmp_path / f"scan-{hours}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return read_manifests([path], cluster="prod", scanned_at=T0 + timedelta(hours=hours))


def _scan(engine: Engine, snap: Snapshot) -> list[str]:
    """Record and plan one scan; return the resource keys of its cert-expiring findings."""
    run = run_checks(snap, builtin_checks())
    at = snap.scanned_at
    with db.session_scope(engine) as session:
        outcome = record_scan(session=session, run=run, started_at=at, finished_at=at)
        plan_scan(session=session, outcome=outcome, routing=ROUTING, at=at)
    return [f.resource.key for f in run.findings if f.check_id in EXPIRING]


def _findings(engine: Engine) -> list[tuple[int, str, str, str]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(FindingRow).order_by(FindingRow.id))
        return [(r.id, r.state, r.resource.key, r.fingerprint) for r in rows]


def _posts(engine: Engine) -> list[tuple[str, int | None]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(OutboxRow).order_by(OutboxRow.id))
        return [(str(r.payload.get("event")), r.finding_id) for r in rows]


def _events(engine: Engine) -> list[tuple[int, str]]:
    with db.session_scope(engine) as s:
        rows = s.scalars(select(FindingEvent).order_by(FindingEvent.id))
        return [(r.finding_id, r.event) for r in rows]


def test_a_copy_sorting_earlier_moves_the_finding_silence_and_all(
    engine: Engine, tmp_path: Path
) -> None:
    two = [_secret("ingress"), _secret("monitoring")]
    three = [_secret("apps"), *two]
    ingress = "Secret/ingress/wildcard-tls#data.tls.crt[0]"
    apps = "Secret/apps/wildcard-tls#data.tls.crt[0]"
    assert _scan(engine, _snapshot(tmp_path, two, 0)) == [ingress]
    ((fid, _, _, first_fp),) = _findings(engine)
    with db.session_scope(engine) as session:
        silence(
            session=session,
            finding_id=fid,
            duration=timedelta(days=7),
            reason="renewal booked",
            owner="U1",
            now=T0,
            audit=AUDIT,
        )
    assert _posts(engine) == [("new", fid)]

    assert _scan(engine, _snapshot(tmp_path, three, 6)) == [apps]
    ((same, state, where, fp),) = _findings(engine)
    assert (same, state, where) == (fid, "open", apps) and fp != first_fp
    assert _scan(engine, _snapshot(tmp_path, three, 12)) == [apps]
    assert _scan(engine, _snapshot(tmp_path, two, 18)) == [ingress]  # the copy is gone again
    assert _findings(engine) == [(fid, "open", ingress, first_fp)]

    assert _posts(engine) == [("new", fid)]
    assert _events(engine) == [(fid, "new"), (fid, "silenced")]
    with db.session_scope(engine) as session:
        (kept,) = silences_repo.active(session, now=T0 + timedelta(hours=18), finding_ids=[fid])
        assert kept.reason == "renewal booked"
        counts = [s.counts.get("moved", 0) for s in session.scalars(select(Scan).order_by(Scan.id))]
    assert counts == [0, 1, 0, 1]


def test_first_location_unreadable_for_one_scan_posts_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    secret = "Secret/cattle-system/wildcard-tls#data.tls.crt[0]"
    webhook = (
        "ValidatingWebhookConfiguration//rancher.cattle.io#webhooks[ns].clientConfig.caBundle[0]"
    )
    items = [_secret("cattle-system"), _webhook()]
    assert _scan(engine, _snapshot(tmp_path, items, 0)) == [secret]
    ((fid, _, _, _),) = _findings(engine)

    snap = _snapshot(tmp_path, items, 6)
    failed = replace(
        snap,
        coverage=tuple(
            CoverageItem("secrets", CoverageStatus.ERROR, "500 InternalError")
            if c.subject == "secrets"
            else c
            for c in snap.coverage
        ),
        certificates=tuple(c for c in snap.certificates if c.location.kind != "Secret"),
    )
    assert _scan(engine, failed) == [webhook]
    assert [(i, s, k) for i, s, k, _ in _findings(engine)] == [(fid, "open", webhook)]
    assert _scan(engine, _snapshot(tmp_path, items, 12)) == [secret]
    assert [(i, s, k) for i, s, k, _ in _findings(engine)] == [(fid, "open", secret)]
    assert _posts(engine) == [("new", fid)]
    assert _events(engine) == [(fid, "new")]


def test_renewed_at_one_location_each_location_is_judged_on_its_own(
    engine: Engine, tmp_path: Path
) -> None:
    ingress = "Secret/ingress/wildcard-tls#data.tls.crt[0]"
    monitoring = "Secret/monitoring/wildcard-tls#data.tls.crt[0]"
    before = [_secret("ingress"), _secret("monitoring")]
    assert _scan(engine, _snapshot(tmp_path, before, 0)) == [ingress]
    after = [_secret("ingress", RENEWED), _secret("monitoring")]
    assert _scan(engine, _snapshot(tmp_path, after, 6)) == [monitoring]
    rows = [(i, s, k) for i, s, k, _ in _findings(engine)]
    assert rows == [(1, "resolved", ingress), (2, "open", monitoring)]
    assert _posts(engine) == [("new", 1), ("resolved", 1), ("new", 2)]


def test_a_resolved_finding_gives_its_fingerprint_to_one_that_moves_there(
    engine: Engine, tmp_path: Path
) -> None:
    old = make_cert("old.example.com", key=ec_key("old"), not_after=T0 + timedelta(days=10))
    healthy = make_cert("old.example.com", key=ec_key("old"), not_after=T0 + timedelta(days=900))
    apps = "Secret/apps/wildcard-tls#data.tls.crt[0]"
    ingress = "Secret/ingress/wildcard-tls#data.tls.crt[0]"
    assert _scan(engine, _snapshot(tmp_path, [_secret("apps", old)], 0)) == [apps]
    assert _scan(engine, _snapshot(tmp_path, [_secret("apps", healthy)], 6)) == []
    assert _scan(engine, _snapshot(tmp_path, [_secret("ingress")], 12)) == [ingress]
    ((_, _, _, apps_fp), (moving, _, _, _)) = _findings(engine)
    posted = _posts(engine)

    # The wildcard is copied over the apps Secret: same certificate, earlier location.
    assert _scan(engine, _snapshot(tmp_path, [_secret("apps"), _secret("ingress")], 18)) == [apps]
    assert _findings(engine) == [
        (1, "resolved", apps, "retired:1"),
        (moving, "open", apps, apps_fp),
    ]
    assert _posts(engine) == posted
