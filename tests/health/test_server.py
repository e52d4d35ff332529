"""Health and metrics over HTTP: liveness, readiness (database gone -> 503), and the
Prometheus series after a scan of the sample bundle."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.core.policy import CheckPolicy
from bot.health.server import HealthServer
from bot.scan import ScanRequest, scan
from bot.store.db import make_engine
from tests.store.conftest import migrated_engine
from tests.test_cli import SAMPLE


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine("sqlite", tmp_path) as eng:
        yield eng


def _get(server: HealthServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_ready_and_metrics_after_a_scan(engine: Engine) -> None:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    scan(ScanRequest(bundles=(SAMPLE[0],)), now=now, policy=CheckPolicy(), engine=engine)
    server = HealthServer(engine=engine, host="127.0.0.1", port=0).start()
    try:
        assert _get(server, "/healthz") == (200, "ok\n")
        assert _get(server, "/readyz") == (200, "ready\n")
        assert _get(server, "/nope")[0] == 404
        status, text = _get(server, "/metrics")
    finally:
        server.stop()
    assert status == 200
    lines = text.splitlines()
    names = {line.split("{")[0].split(" ")[0] for line in lines if not line.startswith("#")}
    assert names == {
        "secbot_certificate_not_after_seconds",
        "secbot_open_findings",
        "secbot_last_successful_scan_timestamp_seconds",
        "secbot_scan_duration_seconds",
        "secbot_outbox_messages",
        "secbot_remediation_requests",
    }
    cluster = next(x for x in lines if x.startswith("secbot_last_successful_scan_timestamp"))
    assert cluster.endswith(" 1768478400")  # 2026-01-15T12:00:00Z, every digit
    assert any(
        x.startswith(
            'secbot_open_findings{cluster="harvester-3f9c2a17",check="cert-expired",'
            'severity="critical"}'
        )
        for x in lines
    )
    assert any('source="bundle"' in x for x in lines if x.startswith("secbot_certificate_not"))
    assert 'secbot_remediation_requests{state="pending"} 0' in lines


def test_not_ready_without_the_database(tmp_path: Path) -> None:
    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    server = HealthServer(engine=gone, host="127.0.0.1", port=0).start()
    try:
        assert _get(server, "/healthz") == (200, "ok\n")
        assert _get(server, "/readyz") == (503, "database unreachable\n")
        status, text = _get(server, "/metrics")
        assert status == 500 and text.startswith("error ")
    finally:
        server.stop()
        gone.dispose()
