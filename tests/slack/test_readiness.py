"""Slack readiness probes against the fake Slack: the real SocketModeClient connected over a
real WebSocket (tests/fakes/slack_socket.py) and the real WebClient calling auth.test.

HTTP mode: what auth.test answers, how long each answer is kept (a controllable clock; the
requests are counted at the fake), one request for many concurrent probes, no token in any
detail or log line. Socket Mode: ready exactly while the client's connection is open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.errors import UserError
from bot.slack.readiness import (
    AuthTestProbe,
    Probe,
    SocketModeProbe,
    http_mode_probe,
    probe_client,
)
from bot.slack.runtime import serve_socket_mode
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketModeSlack

OK_HTTP = (True, "ok (http mode)")
OK_SOCKET = (True, "ok (socket mode)")
DISCONNECTED = (False, "socket mode disconnected")
CANARY_TOKEN = "xoxb-CANARY-readiness-5521"


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def socket_slack() -> Iterator[FakeSocketModeSlack]:
    with FakeSocketModeSlack() as fake:
        yield fake


def _auth_tests(fake: FakeSlackAPI) -> int:
    """auth.test requests the fake received, failed ones included."""
    return len([c for c in fake.calls if c.method == "auth.test"])


def _client(fake: FakeSlackAPI, token: str | None = None) -> WebClient:
    return probe_client(WebClient(token=token or fake.token, base_url=fake.url))


def _until(probe: Probe, wanted: tuple[bool, str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := probe()) != wanted:
        assert time.monotonic() < deadline, f"probe stayed {got}, wanted {wanted}"
        time.sleep(0.02)


# -- HTTP mode: auth.test ------------------------------------------------------------------------
def test_a_valid_token_is_ready_and_asked_again_only_after_the_window(
    slack: FakeSlackAPI, clock: Clock
) -> None:
    probe = AuthTestProbe(_client(slack), clock=clock, every=60)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 1
    clock.advance(59.9)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 1  # cached: a probe every 10 s is not a call every 10 s
    clock.advance(0.1)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 2
    (call, _) = [c for c in slack.calls if c.method == "auth.test"]
    assert call.headers["authorization"] == f"Bearer {slack.token}"


def test_known_ok_trusts_the_check_the_app_just_made(slack: FakeSlackAPI, clock: Clock) -> None:
    app = App(client=WebClient(token=slack.token, base_url=slack.url), signing_secret="s")
    assert _auth_tests(slack) == 1  # Bolt's own, while building the app
    probe = http_mode_probe(app, clock=clock)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 1
    clock.advance(60)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 2


def test_a_rejected_token_is_not_ready_and_never_shown(
    slack: FakeSlackAPI, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    probe = AuthTestProbe(_client(slack, CANARY_TOKEN), clock=clock, every=60)
    assert probe() == (False, "token rejected (invalid_auth)")
    clock.advance(59)
    assert probe() == (False, "token rejected (invalid_auth)")
    assert _auth_tests(slack) == 1  # settled: kept as long as a success
    assert "slack not ready: token rejected (invalid_auth)" in caplog.messages
    assert CANARY_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (500, "Slack answered auth.test with HTTP 500"),
        (503, "Slack answered auth.test with HTTP 503"),
        (0, "cannot reach Slack (RemoteDisconnected)"),  # connection dropped unanswered
    ],
)
def test_a_transient_failure_is_not_ready_and_retried_sooner(
    slack: FakeSlackAPI, clock: Clock, status: int, detail: str
) -> None:
    slack.fail("auth.test", status)
    probe = AuthTestProbe(_client(slack), clock=clock, every=60, retry_every=10)
    assert probe() == (False, detail)
    assert _auth_tests(slack) == 1  # one attempt: no retry handler sleeps inside a probe
    clock.advance(9)
    assert probe() == (False, detail)
    assert _auth_tests(slack) == 1
    clock.advance(1)
    assert probe() == OK_HTTP
    assert _auth_tests(slack) == 2


def test_rate_limited_waits_for_retry_after(slack: FakeSlackAPI, clock: Clock) -> None:
    slack.fail("auth.test", 429, retry_after=45)
    probe = AuthTestProbe(_client(slack), clock=clock, every=60, retry_every=10)
    assert probe() == (False, "rate limited by Slack (auth.test; retry after 45s)")
    clock.advance(44)
    probe()
    assert _auth_tests(slack) == 1
    clock.advance(1)
    assert probe() == OK_HTTP


def test_slack_unreachable_is_one_line(clock: Clock) -> None:
    with FakeSlackAPI() as gone:
        url = gone.url
    probe = AuthTestProbe(WebClient(token="xoxb-x", base_url=url, retry_handlers=[]), clock=clock)
    assert probe() == (False, "cannot reach Slack (URLError)")


def test_concurrent_probes_share_one_request(clock: Clock) -> None:
    with FakeSlackAPI(latency=0.3) as slow:
        probe = AuthTestProbe(_client(slow), clock=clock)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: probe(), range(8)))
        assert answers == [OK_HTTP] * 8
        assert _auth_tests(slow) == 1


# -- Socket Mode ---------------------------------------------------------------------------------
def test_socket_mode_probe_follows_the_connection(socket_slack: FakeSocketModeSlack) -> None:
    web = WebClient(token=socket_slack.token, base_url=socket_slack.url)
    client = SocketModeClient(app_token=socket_slack.app_token, web_client=web, ping_interval=0.5)
    probe = SocketModeProbe(client)
    try:
        assert probe() == DISCONNECTED  # not connected yet
        client.connect()
        assert probe() == OK_SOCKET
        socket_slack.socket.wait_live(1)
        # Slack closes the connection and refuses new ones for a while: the client keeps
        # trying (its watchdog, every ping interval) and the probe says so meanwhile.
        socket_slack.socket.refuse = True
        socket_slack.socket.close_all()
        _until(probe, DISCONNECTED)
        time.sleep(1.2)  # two watchdog rounds of refused handshakes
        assert probe() == DISCONNECTED
        socket_slack.socket.refuse = False
        _until(probe, OK_SOCKET)
        socket_slack.socket.wait_live(1)
    finally:
        client.close()
    assert probe() == DISCONNECTED
    opens = socket_slack.calls_to("apps.connections.open")
    assert len(opens) >= 3  # the first connection, refused attempts, the one that worked
    assert {c.headers["authorization"] for c in opens} == {f"Bearer {socket_slack.app_token}"}


def _run_serve(
    app: App, token: str, watched: list[Probe]
) -> tuple[threading.Thread, threading.Event, threading.Event, list[BaseException]]:
    stop, ready, errors = threading.Event(), threading.Event(), []

    def run() -> None:
        try:
            serve_socket_mode(
                app,
                app_token=token,
                stop=stop,
                ready=lambda _: ready.set(),
                watch=lambda client: watched.append(SocketModeProbe(client)),
            )
        except BaseException as e:  # handed to the test thread
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, stop, ready, errors


def test_serve_socket_mode_hands_over_the_live_connection(
    socket_slack: FakeSocketModeSlack,
) -> None:
    app = App(client=WebClient(token=socket_slack.token, base_url=socket_slack.url))
    watched: list[Probe] = []
    thread, stop, ready, errors = _run_serve(app, socket_slack.app_token, watched)
    assert ready.wait(10), errors
    (probe,) = watched
    assert probe() == OK_SOCKET
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and errors == []
    assert probe() == DISCONNECTED  # closed on stop
    socket_slack.socket.wait_live(0)


def test_serve_socket_mode_refused_app_token_is_one_line(slack: FakeSlackAPI) -> None:
    # The plain fake has no apps.connections.open: Slack's answer becomes one line.
    app = App(client=WebClient(token=slack.token, base_url=slack.url))
    watched: list[Probe] = []
    thread, _stop, _ready, errors = _run_serve(app, "xapp-test", watched)
    thread.join(10)
    (error,) = errors
    assert isinstance(error, UserError)
    assert str(error) == "Slack refused SLACK_APP_TOKEN (Socket Mode): unknown_method"
    assert [p() for p in watched] == [DISCONNECTED]


def test_the_bot_token_is_refused_for_socket_mode(socket_slack: FakeSocketModeSlack) -> None:
    # The fake is faithful here too: apps.connections.open wants the app-level token.
    app = App(client=WebClient(token=socket_slack.token, base_url=socket_slack.url))
    watched: list[Probe] = []
    thread, _stop, _ready, errors = _run_serve(app, socket_slack.token, watched)
    thread.join(10)
    assert [str(e) for e in errors] == [
        "Slack refused SLACK_APP_TOKEN (Socket Mode): not_allowed_token_type"
    ]
