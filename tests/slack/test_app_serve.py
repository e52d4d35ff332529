"""`secbot serve` as a real process: console mode without Slack credentials, HTTP mode
against the fake Slack Web API, a clean exit on SIGTERM/SIGINT, and refused half-configs."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner

from bot.cli_serve import serve
from bot.errors import UserError
from bot.notify.console import BANNER
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import FORM_TYPE, signed, slash_command
from tests.slack.conftest import SECRET, Fleet, text_of

REPO = Path(__file__).resolve().parents[2]


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


class Serving:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        for stream, into in ((proc.stdout, self.stdout), (proc.stderr, self.stderr)):
            assert stream is not None
            threading.Thread(target=_lines, args=(stream, into), daemon=True).start()

    def wait_line(self, lines: queue.Queue[str], needle: str, timeout: float = 30) -> str:
        seen = []
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"{needle!r} not printed; saw {seen}") from None
            seen.append(line)
            if needle in line:
                return line

    def stop(self, sig: signal.Signals) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        rest_out = "".join(iter_queue(self.stdout))
        rest_err = "".join(iter_queue(self.stderr))
        return code, rest_out, rest_err


def iter_queue(lines: queue.Queue[str]) -> Iterator[str]:
    while True:
        try:
            yield lines.get(timeout=0.5)
        except queue.Empty:
            return


@contextmanager
def serving(env: dict[str, str], tmp_path: Path) -> Iterator[Serving]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SECBOT_", "SLACK_"))}
    base |= {
        "PYTHONPATH": str(REPO),
        "SECBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SECBOT_LOG_LEVEL": "WARNING",
        "SECBOT_HEALTH_PORT": "0",  # parallel tests would fight over the default port
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli_serve import serve; serve()"],
        env=base | env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Serving(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_mode_says_so_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    with serving({}, tmp_path) as bot:
        assert bot.wait_line(bot.stdout, "Slack is not configured") == BANNER + "\n"
        code, out, err = bot.stop(signal.SIGTERM)
    assert code == 0
    assert "Slack is not configured" not in out  # once
    assert "secbot: stopped" in err


def test_console_mode_runs_the_scheduler_and_prints_the_outbox(tmp_path: Path) -> None:
    # A scan recorded before serve starts left alerts in the outbox; serve's outbox job
    # sends them through the console sink within its first ticks, each once.
    env = {"SECBOT_ALERT_CHANNEL": "#alerts", "SECBOT_OUTBOX_INTERVAL_SECONDS": "1"}
    sample = sorted((REPO / "examples").glob("supportbundle_*.zip"))[0]
    scan = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; main(sys.argv[1:])",
            "scan",
            "--bundle",
            str(sample),
            "--format",
            "json",
        ],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            **env,
            "SECBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert scan.returncode == 0, scan.stderr
    with serving(env, tmp_path) as bot:
        assert "leader: running jobs" in bot.wait_line(bot.stderr, "leader")
        first = bot.wait_line(bot.stdout, "[console] would post to #alerts: ")
        assert first.startswith("[console] would post to #alerts: CRITICAL new on ")
        code, out, err = bot.stop(signal.SIGTERM)
    assert code == 0 and "secbot: stopped" in err
    posted = 1 + out.count("[console] would post to #alerts: ")
    assert posted == len(
        [
            f
            for f in json.loads(scan.stdout)["clusters"][0]["findings"]
            if f["severity"] in ("critical", "warning")
        ]
    )


def test_serve_answers_health_ready_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    with serving({"SECBOT_HEALTH_PORT": str(port)}, tmp_path) as bot:
        line = bot.wait_line(bot.stderr, "health and metrics")
        assert line.strip() == (
            f"secbot: health and metrics on :{port} (/healthz, /readyz, /metrics)"
        )
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:
            assert answer.read() == b"ok\n"
        with urllib.request.urlopen(base + "/readyz", timeout=10) as answer:
            assert answer.read() == b"database: ok\nslack: off\n"
        with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert b'secbot_outbox_messages{state="dead"} 0' in answer.read()
        code, _out, _err = bot.stop(signal.SIGTERM)
    assert code == 0


def test_http_mode_answers_signed_commands_and_stops_on_sigint(
    tmp_path: Path, slack: FakeSlackAPI, fleet: Fleet
) -> None:
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "SECBOT_HTTP_PORT": str(port),
        "SECBOT_CLUSTERS_FILE": str(fleet.clusters_file),
    }
    with serving(env, tmp_path) as bot:
        line = bot.wait_line(bot.stderr, "listening on")
        assert (
            line.strip() == f"secbot: listening on http://0.0.0.0:{port}/slack/events (HTTP mode)"
        )
        body = slash_command("clusters")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/slack/events",
            data=body.encode(),
            headers=signed(body, secret=SECRET, content_type=FORM_TYPE),
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert "*prod* · " in text_of(json.loads(answer.read()))
        code, _out, err = bot.stop(signal.SIGINT)
    assert code == 0 and "secbot: stopped" in err
    # The command was answered by its ack alone; the scheduler's catch-up scan may have
    # posted prod's alerts to its own channel meanwhile (timing), nothing else.
    assert [c.method for c in slack.calls if c.method != "chat.postMessage"] == ["auth.test"]
    assert {c.params["channel"] for c in slack.calls_to("chat.postMessage")} <= {"#ops-prod"}
    assert slack.token not in err


def test_a_bot_token_alone_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SECBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(serve, [], standalone_mode=False)
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == (
        "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
        "SLACK_SIGNING_SECRET (HTTP mode) is; set one of them"
    )
