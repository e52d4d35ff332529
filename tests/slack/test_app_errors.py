"""When things go wrong: an internal error gets an id that is also in the log (before the
ack and on the worker), Slack's 429 and 500 are retried so a message goes out exactly once,
and a full worker says so instead of queueing forever."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import pytest
from sqlalchemy import Engine

from bot.kube.client import KubeTarget
from bot.scan import ScanReport
from bot.slack.worker import Worker
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import OPERATOR, Bot, Fleet, make_bot, text_of


def boom(*_args: Any) -> NoReturn:
    raise RuntimeError("kaboom: a bug")


@pytest.fixture
def broken_bot(slack: FakeSlackAPI, fleet: Fleet, engine: Engine) -> Iterator[Bot]:
    yield from make_bot(slack, fleet, engine, load_targets=boom, scan_runner=boom)


def logged_error(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    (record,) = [r for r in caplog.records if error_id in r.getMessage()]
    return record


def test_internal_error_before_the_ack_shows_an_id_that_is_logged(
    broken_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = broken_bot.command("clusters")
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_type"] == "ephemeral"
    error_id = re.fullmatch(r"Internal error ([0-9a-f]{8})", answer["text"])[1]  # type: ignore[index]
    assert f"Error id `{error_id}`" in text_of(answer)
    record = logged_error(caplog, error_id)
    assert record.getMessage() == f"internal error {error_id} in command clusters from user U1"
    assert record.exc_info is not None and "kaboom: a bug" in caplog.text  # the traceback


def test_internal_error_on_the_worker_shows_an_id_that_is_logged(
    slack: FakeSlackAPI, fleet: Fleet, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    for bot in make_bot(slack, fleet, engine, scan_runner=boom):
        with caplog.at_level(logging.ERROR):
            assert bot.ack("scan all", user=OPERATOR)["text"] == "Scanning all clusters…"
            answer = bot.posted()[0].params
        error_id = re.fullmatch(r"Internal error ([0-9a-f]{8})", answer["text"])[1]  # type: ignore[index]
        record = logged_error(caplog, error_id)
        assert record.getMessage() == f"internal error {error_id} in scan"
        assert record.exc_info is not None


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1), (500, None), (503, None)])
def test_response_url_is_retried_and_the_answer_goes_out_once(
    bot: Bot, status: int, retry_after: int | None
) -> None:
    bot.slack.fail("response", status, retry_after=retry_after)
    answer = bot.reply("certs")
    assert answer["text"] == "No certificate expires within 30 days."
    attempts = [c for c in bot.slack.calls if c.path == f"/response/{bot.last_key}"]
    assert [c.status for c in attempts] == [status, 200]
    if status == 429:
        assert attempts[1].at - attempts[0].at >= 1.0  # Retry-After was honoured
    assert len(bot.posted()) == 1


def test_web_api_calls_are_retried_and_post_once(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", 429, retry_after=1)
    bot.slack.fail("chat.postMessage", 500)
    answer = bot.app.client.chat_postMessage(channel="C1", text="digest")
    assert answer["ok"] is True
    assert [c.status for c in bot.slack.calls if c.method == "chat.postMessage"] == [429, 500, 200]
    assert [m["text"] for m in bot.slack.messages.values()] == ["digest"]


def test_a_full_worker_says_busy(slack: FakeSlackAPI, fleet: Fleet, engine: Engine) -> None:
    release = threading.Event()

    def slow_scan(targets: Sequence[KubeTarget]) -> ScanReport:
        release.wait(10)
        return ScanReport()

    worker = Worker(threads=1, max_pending=1)
    for bot in make_bot(slack, fleet, engine, scan_runner=slow_scan, worker=worker):
        assert bot.ack("scan all", user=OPERATOR)["text"] == "Scanning all clusters…"
        busy = bot.ack("certs")
        assert "I am busy with 1 other requests; try again in a minute." in text_of(busy)
        release.set()
        assert bot.posted(key="r1")[0].params["text"].startswith("Scan finished: 0 clusters")
        while worker.pending:  # the job ends just after its answer went out
            time.sleep(0.01)
        assert bot.reply("certs")["text"] == "No certificate expires within 30 days."
