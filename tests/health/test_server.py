"""Health and metrics over HTTP: liveness, readiness (one line per check: the database, and
Slack through the real probes against the fake Slack; any check failing -> 503), and the
Prometheus series after a scan of the sample bundle."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from sqlalchemy import Engine

from bot.core.policy import CheckPolicy
from bot.health.server import Check, HealthServer, constant
from bot.scan import ScanRequest, scan
from bot.slack.readiness import AuthTestProbe, SocketModeProbe, probe_client
from bot.store.db import make_engine
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketModeSlack
from tests.slack.test_readiness import Clock
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
        assert _get(server, "/readyz") == (200, "database: ok\n")
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
        assert _get(server, "/readyz") == (503, "database: unreachable\n")
        status, text = _get(server, "/metrics")
        assert status == 500 and text.startswith("error ")
    finally:
        server.stop()
        gone.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


@contextmanager
def serving(engine: Engine, **checks: Check) -> Iterator[HealthServer]:
    server = HealthServer(engine=engine, host="127.0.0.1", port=0, checks=checks).start()
    try:
        yield server
    finally:
        server.stop()


def _auth_tests(fake: FakeSlackAPI) -> int:
    return len([c for c in fake.calls if c.method == "auth.test"])


def test_ready_with_the_database_and_a_valid_slack_token(
    engine: Engine, slack: FakeSlackAPI
) -> None:
    clock = Clock()
    probe = AuthTestProbe(
        probe_client(WebClient(token=slack.token, base_url=slack.url)), clock=clock
    )
    with serving(engine, slack=probe) as server:
        assert _get(server, "/readyz") == (200, "database: ok\nslack: ok (http mode)\n")
        # A probe every 10 s within the 60 s window: Slack is asked once.
        for _ in range(5):
            clock.advance(10)
            assert _get(server, "/readyz")[0] == 200
        assert _auth_tests(slack) == 1
        clock.advance(10)
        assert _get(server, "/readyz")[0] == 200
        assert _auth_tests(slack) == 2


def test_not_ready_when_slack_rejects_the_token(engine: Engine, slack: FakeSlackAPI) -> None:
    canary = "xoxb-CANARY-health-8812"
    client = probe_client(WebClient(token=canary, base_url=slack.url))
    with serving(engine, slack=AuthTestProbe(client, clock=Clock())) as server:
        status, body = _get(server, "/readyz")
    assert (status, body) == (503, "database: ok\nslack: token rejected (invalid_auth)\n")
    assert canary not in body


def test_not_ready_while_socket_mode_is_disconnected(engine: Engine) -> None:
    with FakeSocketModeSlack() as fake:
        web = WebClient(token=fake.token, base_url=fake.url)
        client = SocketModeClient(app_token=fake.app_token, web_client=web, ping_interval=0.5)
        try:
            with serving(engine, slack=SocketModeProbe(client)) as server:
                assert _get(server, "/readyz") == (
                    503,
                    "database: ok\nslack: socket mode disconnected\n",
                )
                client.connect()
                assert _get(server, "/readyz") == (200, "database: ok\nslack: ok (socket mode)\n")
                fake.socket.refuse = True
                fake.socket.close_all()  # Slack drops us and will not take us back for now
                fake.socket.wait_live(0)
                _until(lambda: _get(server, "/readyz")[0] == 503)
                assert _get(server, "/readyz") == (
                    503,
                    "database: ok\nslack: socket mode disconnected\n",
                )
        finally:
            client.close()


def test_console_mode_is_ready_with_slack_off(engine: Engine) -> None:
    with serving(engine, slack=constant(True, "off")) as server:
        assert _get(server, "/readyz") == (200, "database: ok\nslack: off\n")
        server.set_check("slack", constant(False, "starting"))  # checks change at run time
        assert _get(server, "/readyz") == (503, "database: ok\nslack: starting\n")


def test_every_failing_check_is_listed_without_its_message(tmp_path: Path) -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("secret-ish detail xoxb-CANARY-broken")

    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    try:
        with serving(gone, slack=broken, other=lambda: (True, "two\nlines")) as server:
            status, body = _get(server, "/readyz")
    finally:
        gone.dispose()
    assert (status, body) == (
        503,
        "database: unreachable\nslack: check failed (RuntimeError)\nother: two lines\n",
    )


@pytest.mark.parametrize("name", ["", "database", "a:b", "a\nb"])
def test_check_names_are_single_words(engine: Engine, name: str) -> None:
    server = HealthServer(engine=engine, host="127.0.0.1", port=0)
    try:
        with pytest.raises(ValueError, match="bad readiness check name"):
            server.set_check(name, constant(True, "ok"))
    finally:
        server.stop()


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
