"""SlackSink: the real WebClient against the fake Slack Web API; every failure in the bot's
terms, one HTTP call per attempt (the dispatcher owns retries), never the token in an error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.core.severity import Severity
from bot.errors import BotError, PermanentError, TemporaryError
from bot.notify.digest_payloads import Digest, DigestCert
from bot.notify.sinks import Posted, Sink
from bot.slack.blocks.render import SlackRenderer
from bot.slack.sink import SlackSink, slack_sink
from tests.fakes.slack_api import FakeSlackAPI

TOKEN = "xoxb-CANARY-sink-token-5521"
TS1, TS2 = "1700000000.000100", "1700000000.000200"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hi", "verbatim": True}}
MESSAGE = {"text": "CRITICAL new on prod-a: F-12 Certificate expires soon", "blocks": [SECTION]}


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sink(slack: FakeSlackAPI) -> SlackSink:
    return slack_sink(token=TOKEN, base_url=slack.url)


def failure(call: object, kind: type[BotError]) -> BotError:
    with pytest.raises(kind) as e:
        call()  # type: ignore[operator]
    assert TOKEN not in str(e.value) and TOKEN not in repr(e.value.args)
    return e.value


def test_post_returns_the_channel_id_and_ts(slack: FakeSlackAPI, sink: SlackSink) -> None:
    typed: Sink = sink
    assert typed.post(channel="#general", message=MESSAGE) == Posted(channel_id="C1", ts=TS1)
    [call] = slack.calls
    assert call.params == {
        "channel": "#general",
        "text": MESSAGE["text"],
        "blocks": [SECTION],
        "unfurl_links": False,
        "unfurl_media": False,
    }
    assert call.headers["authorization"] == f"Bearer {TOKEN}"


def test_reply_in_thread_then_update(slack: FakeSlackAPI, sink: SlackSink) -> None:
    first = sink.post(channel="C1", message=MESSAGE)
    reply = {"text": "RESOLVED on prod-a: F-12", "blocks": [SECTION]}
    assert sink.post(channel="C1", message=reply, thread_ts=first.ts) == Posted("C1", TS2)
    assert slack.calls[1].params["thread_ts"] == TS1
    assert slack.messages[("C1", TS2)]["thread_ts"] == TS1
    assert "thread_ts" not in slack.calls[0].params  # no thread: not sent at all
    resolved = {"text": "RESOLVED", "blocks": [SECTION]}
    sink.update(channel_id=first.channel_id, ts=first.ts, message=resolved)
    [update] = slack.calls_to("chat.update")
    assert update.params == {"channel": "C1", "ts": TS1, "text": "RESOLVED", "blocks": [SECTION]}
    assert slack.messages[("C1", TS1)]["text"] == "RESOLVED"


def test_429_is_temporary_with_retry_after_and_exactly_one_call(
    slack: FakeSlackAPI, sink: SlackSink
) -> None:
    slack.fail("chat.postMessage", 429, retry_after=7)
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), TemporaryError)
    assert isinstance(error, TemporaryError) and error.delay == 7.0
    assert str(error) == "Slack chat.postMessage: rate limited, retry in 7s"
    assert [c.status for c in slack.calls] == [429]  # no hidden retry, no sleep


def test_429_with_retry_after_zero_waits_at_least_a_second(
    slack: FakeSlackAPI, sink: SlackSink
) -> None:
    slack.fail("chat.update", 429, retry_after=0)
    error = failure(lambda: sink.update(channel_id="C1", ts=TS1, message=MESSAGE), TemporaryError)
    assert isinstance(error, TemporaryError) and error.delay == 1.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_temporary(slack: FakeSlackAPI, sink: SlackSink, status: int) -> None:
    slack.fail("chat.postMessage", status)
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), TemporaryError)
    assert isinstance(error, TemporaryError) and error.delay == 30.0
    code = {500: "internal_error", 503: "service_unavailable"}[status]
    assert str(error) == f"Slack chat.postMessage: HTTP {status} ({code}), retrying later"
    assert len(slack.calls) == 1


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (
            "channel_not_found",
            "channel_not_found: check the channel name or id in the configuration",
        ),
        ("not_in_channel", "not_in_channel: invite the bot to the channel"),
        ("is_archived", "is_archived: the channel is archived"),
        ("invalid_blocks", "invalid_blocks"),
        ("msg_too_long", "msg_too_long"),
        ("restricted_action", "restricted_action"),
        ("account_inactive", "account_inactive"),
    ],
)
def test_errors_retrying_cannot_fix_are_permanent(
    slack: FakeSlackAPI, sink: SlackSink, code: str, text: str
) -> None:
    slack.fail("chat.postMessage", 200, error=code)
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), PermanentError)
    assert str(error) == f"Slack chat.postMessage: {text}"
    assert len(slack.calls) == 1


def test_bad_token_and_missing_message_are_permanent(slack: FakeSlackAPI) -> None:
    wrong = slack_sink(token=TOKEN + "-wrong", base_url=slack.url)
    error = failure(lambda: wrong.post(channel="C1", message=MESSAGE), PermanentError)
    assert str(error) == "Slack chat.postMessage: invalid_auth: check SLACK_BOT_TOKEN"
    assert TOKEN + "-wrong" not in str(error)
    sink = slack_sink(token=TOKEN, base_url=slack.url)
    gone = failure(lambda: sink.update(channel_id="C1", ts=TS1, message=MESSAGE), PermanentError)
    assert str(gone) == "Slack chat.update: message_not_found"


@pytest.mark.parametrize("code", ["ratelimited", "some_new_error", "internal_error"])
def test_ratelimited_and_unknown_codes_are_temporary(
    slack: FakeSlackAPI, sink: SlackSink, code: str
) -> None:
    slack.fail("chat.postMessage", 200, error=code)
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), TemporaryError)
    assert isinstance(error, TemporaryError)
    assert error.delay == (1.0 if code == "ratelimited" else 60.0)


def fast_sink(base_url: str) -> SlackSink:
    """``slack_sink``'s retry policy without the SDK's backoff wait between attempts."""
    retry = ConnectionErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
    )
    return SlackSink(WebClient(token=TOKEN, base_url=base_url, retry_handlers=[retry]))


def test_slack_sink_retries_only_dropped_connections(slack: FakeSlackAPI, sink: SlackSink) -> None:
    [handler] = sink.client.retry_handlers
    assert (type(handler), handler.max_retry_count) == (ConnectionErrorRetryHandler, 1)
    assert (sink.client.base_url, sink.client.timeout) == (slack.url, 10)
    slack.fail("chat.postMessage", 0)  # dropped unanswered; the SDK reconnects once
    assert sink.post(channel="C1", message=MESSAGE) == Posted("C1", TS1)
    assert [c.status for c in slack.calls] == [0, 200]


def test_a_connection_dropped_twice_is_temporary(slack: FakeSlackAPI) -> None:
    slack.fail("chat.postMessage", 0, times=2)
    sink = fast_sink(slack.url)
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), TemporaryError)
    assert isinstance(error, TemporaryError) and error.delay == 30.0
    assert str(error).startswith("Slack chat.postMessage: RemoteDisconnected")
    assert [c.status for c in slack.calls] == [0, 0]


def test_a_refused_connection_is_temporary() -> None:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = fast_sink(f"http://127.0.0.1:{port}/api/")
    error = failure(lambda: sink.post(channel="C1", message=MESSAGE), TemporaryError)
    assert str(error).startswith("Slack chat.postMessage: URLError")


def test_a_client_that_sleeps_on_429_is_refused(slack: FakeSlackAPI) -> None:
    client = WebClient(token=TOKEN, base_url=slack.url)
    assert SlackSink(client).client is client  # the SDK's default handlers are fine
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    with pytest.raises(ValueError, match="RateLimitErrorRetryHandler"):
        SlackSink(client)


def test_a_full_rendered_digest_is_accepted_by_slack(slack: FakeSlackAPI, sink: SlackSink) -> None:
    now = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    certs = tuple(
        DigestCert(
            cluster=f"c{i % 40}", subject=f"CN=s{i}", location=f"Secret/x/s{i}", not_after=now
        )
        for i in range(2000)
    )
    digest = Digest(
        channel="#general",
        day="2026-03-29",
        since=now,
        now=now,
        clusters=("c0",),
        certs=certs,
        open_counts={Severity.CRITICAL.value: 2000},
    )
    message = SlackRenderer(ZoneInfo("Europe/Berlin"), "/harvester").digest(digest)
    assert sink.post(channel="#general", message=message) == Posted("C1", TS1)
    assert slack.messages[("C1", TS1)]["blocks"] == message["blocks"]
