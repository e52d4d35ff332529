"""`secbot serve` as a real process, /readyz in each mode: console (Slack intentionally off),
Socket Mode against the fake Slack's real WebSocket (ready while connected, 503 once Slack
drops us and keeps us out), HTTP mode (the app's own auth.test at start is the check: no
extra call)."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_socket import FakeSocketModeSlack
from tests.slack.conftest import SECRET
from tests.slack.test_app_serve import free_port, serving


def _readyz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _readyz_until(port: int, status: int, timeout: float = 15.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while (got := _readyz(port))[0] != status:
        assert time.monotonic() < deadline, f"/readyz stayed {got}"
        time.sleep(0.1)
    return got


@pytest.fixture
def socket_slack() -> Iterator[FakeSocketModeSlack]:
    with FakeSocketModeSlack(token="xoxb-CANARY-bot-3141", app_token="xapp-CANARY-app-2718") as f:
        yield f


def test_console_mode_is_ready_with_slack_off(tmp_path: Path) -> None:
    port = free_port()
    with serving({"SECBOT_HEALTH_PORT": str(port)}, tmp_path) as bot:
        bot.wait_line(bot.stderr, "health and metrics")
        assert _readyz(port) == (200, "database: ok\nslack: off\n")
        code, _out, _err = bot.stop(signal.SIGTERM)
    assert code == 0


def test_socket_mode_is_ready_only_while_connected(
    tmp_path: Path, socket_slack: FakeSocketModeSlack
) -> None:
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": socket_slack.token,
        "SLACK_APP_TOKEN": socket_slack.app_token,
        "SLACK_API_URL": socket_slack.url,
        "SECBOT_HEALTH_PORT": str(port),
        "SECBOT_LOG_LEVEL": "INFO",  # the SDK's connection log too: no token in it either
    }
    with serving(env, tmp_path) as bot:
        bot.wait_line(bot.stderr, "connected (Socket Mode)")
        assert _readyz(port) == (200, "database: ok\nslack: ok (socket mode)\n")
        socket_slack.socket.refuse = True
        socket_slack.socket.close_all()
        assert _readyz_until(port, 503) == (503, "database: ok\nslack: socket mode disconnected\n")
        # (Back to ready once Slack takes us again: tests/slack/test_readiness.py, with a
        # shorter watchdog than Bolt's 10 s.)
        code, out, err = bot.stop(signal.SIGTERM)
    assert code == 0
    assert "slack not ready: socket mode disconnected" in err
    for token in (socket_slack.token, socket_slack.app_token):
        assert token not in err + out


def test_http_mode_is_ready_on_the_apps_own_token_check(tmp_path: Path) -> None:
    port = free_port()
    with FakeSocketModeSlack() as slack:
        env = {
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack.url,
            "SECBOT_HTTP_PORT": str(free_port()),
            "SECBOT_HEALTH_PORT": str(port),
        }
        with serving(env, tmp_path) as bot:
            bot.wait_line(bot.stderr, "listening on")
            for _ in range(3):
                assert _readyz(port) == (200, "database: ok\nslack: ok (http mode)\n")
            code, _out, _err = bot.stop(signal.SIGINT)
        assert code == 0
        assert [c.method for c in slack.calls] == ["auth.test"]  # Bolt's, at start; cached
