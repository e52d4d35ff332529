"""Tests of the fake Slack Web API and the request builders, driven by the real slack_sdk and Bolt.

The WebClient, WebhookClient, retry handlers, App and WSGI adapter are the real ones, so the fake
is checked against what the SDK actually sends and expects. Answers are compared whole.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request.internals import parse_body
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    FORM_TYPE,
    JSON_TYPE,
    app_home_opened,
    block_action,
    call_wsgi,
    signed,
    signed_request,
    slash_command,
    wsgi_environ,
)

SECRET = "test-signing-secret"
TS1, TS2, TS3 = "1700000000.000100", "1700000000.000200", "1700000000.000300"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
HOME = {"type": "home", "blocks": [SECTION]}


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlackAPI) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.url)


def raw_post(url: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """A POST the SDK would never send (it moves JSON tokens into the header, for one)."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def error_of(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as e:
        call()
    return e.value


def test_auth_test(slack: FakeSlackAPI, client: WebClient) -> None:
    assert client.auth_test().data == {
        "ok": True,
        "url": "https://secbot-test.slack.com/",
        "team": "Secbot Test",
        "user": "secbot",
        "team_id": "T1",
        "user_id": "UBOT",
        "bot_id": "B1",
        "is_enterprise_install": False,
    }
    [call] = slack.calls
    assert (call.method, call.params, call.status, call.path) == (
        "auth.test",
        {},
        200,
        "/api/auth.test",
    )
    assert call.headers["authorization"] == "Bearer xoxb-test"


def test_post_message_then_update(slack: FakeSlackAPI, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="hello")
    message = {"type": "message", "user": "UBOT", "bot_id": "B1", "app_id": "A1", "team": "T1"}
    assert first.data == {
        "ok": True,
        "channel": "C1",
        "ts": TS1,
        "message": message | {"ts": TS1, "text": "hello"},
    }
    dm = client.chat_postMessage(channel="U2", text="fallback", blocks=[SECTION])
    assert (dm["channel"], dm["ts"], dm["message"]["blocks"]) == ("D2", TS2, [SECTION])
    updated = client.chat_update(channel="C1", ts=TS1, text="edited")
    assert updated.data == {
        "ok": True,
        "channel": "C1",
        "ts": TS1,
        "text": "edited",
        "message": message | {"ts": TS1, "text": "edited", "edited": {"user": "UBOT", "ts": TS3}},
    }
    assert [c.params for c in slack.calls_to("chat.postMessage")] == [
        {"channel": "C1", "text": "hello"},
        {"channel": "U2", "text": "fallback", "blocks": [SECTION]},
    ]
    assert slack.calls_to("chat.update")[0].params == {"channel": "C1", "ts": TS1, "text": "edited"}
    err = error_of(lambda: client.chat_update(channel="C1", ts="1.000001", text="x"))
    assert err.response.data == {"ok": False, "error": "message_not_found"}
    with pytest.warns(UserWarning, match="`text` argument is missing"):  # the SDK warns too
        assert (
            error_of(lambda: client.chat_postMessage(channel="C1")).response["error"] == "no_text"
        )


def test_ephemeral_views_and_lookups(slack: FakeSlackAPI, client: WebClient) -> None:
    eph = client.chat_postEphemeral(channel="C1", user="U2", text="denied")
    assert eph.data == {"ok": True, "message_ts": TS1}
    view = client.views_publish(user_id="U1", view=HOME)["view"]
    assert {k: view[k] for k in ("type", "blocks", "team_id")} == HOME | {"team_id": "T1"}
    assert view["id"].startswith("V")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"}, "blocks": []}
    assert client.views_open(trigger_id="t1", view=modal)["view"]["title"] == modal["title"]
    slack.groups["S1"] = ["U1", "U2"]
    assert client.users_info(user="U1")["user"] == {
        "id": "U1",
        "name": "alice",
        "real_name": "Alice",
    }
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    channel = client.conversations_info(channel="C1")["channel"]
    assert channel == {"id": "C1", "name": "general", "is_member": True}
    assert slack.calls_to("users.info")[0].params == {"user": "U1"}  # sent as a query string
    assert error_of(lambda: client.users_info(user="U9")).response["error"] == "user_not_found"
    missing = error_of(lambda: client.usergroups_users_list(usergroup="S9"))
    assert missing.response["error"] == "no_such_subteam"
    gone = error_of(lambda: client.conversations_info(channel="C9"))
    assert gone.response["error"] == "channel_not_found"
    bad = error_of(lambda: client.views_publish(user_id="U1", view={"type": "modal", "blocks": []}))
    assert bad.response["error"] == "invalid_arguments"


@pytest.mark.parametrize(
    ("kind", "blocks", "error", "message"),
    [
        (
            "message",
            [SECTION] * 51,
            "invalid_blocks",
            "must be less than 51 items [json-pointer:/blocks]",
        ),
        (
            "message",
            [SECTION, {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            "invalid_blocks",
            "must be less than 3001 characters [json-pointer:/blocks/1/text/text]",
        ),
        (
            "home",
            [SECTION] * 101,
            "invalid_arguments",
            "must be less than 101 items [json-pointer:/view/blocks]",
        ),
    ],
)
def test_block_kit_limits(
    client: WebClient, kind: str, blocks: list[dict[str, Any]], error: str, message: str
) -> None:
    if kind == "message":
        ok = client.chat_postMessage(channel="C1", text="t", blocks=[SECTION] * 50)
        err = error_of(lambda: client.chat_postMessage(channel="C1", text="t", blocks=blocks))
        assert err.response["errors"] == [message]
    else:
        ok = client.views_publish(user_id="U1", view={"type": "home", "blocks": blocks[:100]})
        err = error_of(
            lambda: client.views_publish(user_id="U1", view={"type": kind, "blocks": blocks})
        )
    assert ok["ok"] is True
    assert err.response["error"] == error
    assert err.response["response_metadata"] == {"messages": [f"[ERROR] {message}"]}


def test_form_body_with_token_field(slack: FakeSlackAPI) -> None:
    anonymous = WebClient(base_url=slack.url)  # no Authorization header at all
    data = {"token": "xoxb-test", "channel": "C1", "text": "t", "blocks": json.dumps([SECTION])}
    assert anonymous.api_call("chat.postMessage", data=data)["ts"] == TS1
    [call] = slack.calls_to("chat.postMessage")
    assert call.params == {"channel": "C1", "text": "t", "blocks": [SECTION]}  # token not kept
    assert call.headers["content-type"] == FORM_TYPE
    assert "authorization" not in call.headers
    # Slack ignores a token inside a JSON body: the header is the only way there.
    answer = raw_post(f"{slack.url}auth.test", b'{"token": "xoxb-test"}', JSON_TYPE)
    assert answer == (200, b'{"ok": false, "error": "not_authed"}')
    assert raw_post(f"{slack.url}auth.test", b"{oops", JSON_TYPE) == (
        200,
        b'{"ok": false, "error": "invalid_json"}',
    )


def test_bad_tokens_and_unknown_methods(slack: FakeSlackAPI) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.url)
    err = error_of(wrong.auth_test)
    assert (err.response.status_code, err.response.data) == (
        200,
        {"ok": False, "error": "invalid_auth"},
    )
    err = error_of(lambda: wrong.api_call("harvester.scan"))  # checked before the token
    assert err.response.status_code == 404
    assert err.response.data == {
        "ok": False,
        "error": "unknown_method",
        "req_method": "harvester.scan",
    }
    assert [c.ok for c in slack.calls] == [False, False]
    assert slack.calls_to("auth.test") == []


def test_429_retry_after_delivers_once(slack: FakeSlackAPI) -> None:
    slack.fail("chat.postMessage", 429, retry_after=1)
    retrying = WebClient(
        token=slack.token,
        base_url=slack.url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    sent = retrying.chat_postMessage(channel="C1", text="report")
    assert sent["ts"] == TS1
    limited, delivered = slack.calls
    assert (limited.status, limited.answer) == (429, {"ok": False, "error": "ratelimited"})
    assert (delivered.status, delivered.answer) == (200, sent.data)
    assert delivered.at - limited.at >= 1.0  # the client waited for Retry-After
    assert [c.params for c in slack.calls_to("chat.postMessage")] == [
        {"channel": "C1", "text": "report"}
    ]


def test_429_without_retry_handler_surfaces_retry_after(
    slack: FakeSlackAPI, client: WebClient
) -> None:
    slack.fail("chat.postMessage", 429, retry_after=7, times=2)
    for _ in range(2):
        err = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
        assert (err.response.status_code, err.response.headers["Retry-After"]) == (429, "7")
        assert err.response.data == {"ok": False, "error": "ratelimited"}
    assert client.chat_postMessage(channel="C1", text="x")["ts"] == TS1  # rules are used up
    assert [c.status for c in slack.calls] == [429, 429, 200]


def test_500_then_server_error_retry(slack: FakeSlackAPI, client: WebClient) -> None:
    slack.fail("chat.postMessage", 500)
    err = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert (err.response.status_code, err.response.data) == (
        500,
        {"ok": False, "error": "internal_error"},
    )
    assert slack.calls_to("chat.postMessage") == []
    slack.fail("chat.postMessage", 500)
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel="C1", text="x")["ts"] == TS1
    assert [c.status for c in slack.calls] == [500, 500, 200]
    assert len(slack.calls_to("chat.postMessage")) == 1


def test_dropped_connection_and_injected_slack_error(
    slack: FakeSlackAPI, client: WebClient
) -> None:
    slack.fail("chat.postMessage", 0)  # the default ConnectionErrorRetryHandler retries once
    slack.fail("chat.postMessage", 200, error="channel_not_found")
    err = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert err.response.data == {"ok": False, "error": "channel_not_found"}
    assert [c.status for c in slack.calls] == [0, 200]
    assert slack.calls_to("chat.postMessage") == []


def test_response_url_via_webhook_client(slack: FakeSlackAPI) -> None:
    hook = WebhookClient(slack.response_url("abc"))
    sent = hook.send(text="done", response_type="ephemeral", replace_original=False)
    assert (sent.status_code, sent.body) == (200, "ok")
    [call] = slack.calls_to("response")
    assert call.params == {"text": "done", "response_type": "ephemeral", "replace_original": False}
    assert call.path == "/response/abc"
    slack.fail("response", 500)
    failed = hook.send(text="again")
    assert (failed.status_code, failed.body) == (500, "internal_error")
    assert raw_post(slack.response_url(), b"{not json", JSON_TYPE) == (400, b"invalid_payload")
    assert len(slack.calls_to("response")) == 1


def test_wait_for_polls_and_times_out(slack: FakeSlackAPI, client: WebClient) -> None:
    threading.Timer(0.2, lambda: client.chat_postMessage(channel="C1", text="late")).start()
    [call] = slack.wait_for("chat.postMessage", timeout=5)
    assert call.params == {"channel": "C1", "text": "late"}
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"views\.publish.*\['chat\.postMessage:200'\]"):
        slack.wait_for("views.publish", timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2


def test_concurrent_posts_get_unique_increasing_ts(slack: FakeSlackAPI, client: WebClient) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda i: client.chat_postMessage(channel="C1", text=str(i)), range(40))
        )
    expected = {f"1700000000.{100 * i:06d}" for i in range(1, 41)}
    assert {a["ts"] for a in answers} == expected
    assert sorted(slack.messages) == sorted(("C1", ts) for ts in expected)
    assert slack.server_errors == []


# -- request builders ---------------------------------------------------------------------------
def test_signed_headers_follow_slacks_algorithm() -> None:
    body = slash_command("scan all")
    digest = hmac.new(SECRET.encode(), f"v0:1700000000:{body}".encode(), hashlib.sha256)
    assert signed(body, secret=SECRET, content_type=FORM_TYPE, timestamp=1700000000) == {
        "content-type": FORM_TYPE,
        "x-slack-signature": "v0=" + digest.hexdigest(),
        "x-slack-request-timestamp": "1700000000",
    }


def test_slash_command_body_is_slacks_raw_form() -> None:
    assert slash_command("certs prod --within 30d", user="U7", response_url="http://h/r") == (
        "token=verification-token-unused&team_id=T1&team_domain=secbot-test&channel_id=C1"
        "&channel_name=general&user_id=U7&user_name=alice&command=%2Fharvester"
        "&text=certs+prod+--within+30d&api_app_id=A1&is_enterprise_install=false"
        "&response_url=http%3A%2F%2Fh%2Fr&trigger_id=1700000000.1.0123456789abcdef0123456789abcdef"
    )


@given(st.text(max_size=300).filter(lambda t: "payload" not in t))
def test_slash_command_text_round_trips_through_bolt(text: str) -> None:
    assert parse_body(slash_command(text), FORM_TYPE)["text"] == text


@pytest.mark.xfail(
    strict=True, reason="bolt parse_body treats any body containing 'payload' as one"
)
def test_bolt_reads_a_command_that_mentions_payload() -> None:
    assert parse_body(slash_command("show payload"), FORM_TYPE)["text"] == "show payload"


def test_block_action_and_home_payloads() -> None:
    action = parse_body(block_action("finding-fix", "F-12", user="U3"), FORM_TYPE)
    assert (action["type"], action["user"]["id"], action["message"]["ts"]) == (
        "block_actions",
        "U3",
        TS1,
    )
    assert {k: action["actions"][0][k] for k in ("action_id", "value", "type")} == {
        "action_id": "finding-fix",
        "value": "F-12",
        "type": "button",
    }
    ephemeral = parse_body(block_action("finding-fix", "F-12", ephemeral=True), FORM_TYPE)
    assert "message" not in ephemeral and ephemeral["container"]["is_ephemeral"] is True
    home = json.loads(app_home_opened("U5"))
    assert (home["type"], home["event"]["type"], home["event"]["user"]) == (
        "event_callback",
        "app_home_opened",
        "U5",
    )


# -- a real Bolt app against the fake -----------------------------------------------------------
@pytest.fixture
def app(slack: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> App:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # App() would read them
    bolt = App(client=WebClient(token=slack.token, base_url=slack.url), signing_secret=SECRET)

    @bolt.command("/harvester")
    def harvester(ack: Any, respond: Any, command: dict[str, str], client: WebClient) -> None:
        ack(f"working on {command['text']}")
        respond(text=f"done: {command['text']}")
        client.chat_postMessage(channel=command["channel_id"], text="scan finished")

    @bolt.action("finding-fix")
    def fix(ack: Any, body: dict[str, Any], respond: Any) -> None:
        ack()
        respond(replace_original=True, text=f"fixing {body['actions'][0]['value']}")

    @bolt.event("app_home_opened")
    def home(event: dict[str, str], client: WebClient) -> None:
        client.views_publish(user_id=event["user"], view=HOME)

    assert [c.method for c in slack.calls] == ["auth.test"]  # made by App() itself
    return bolt


def test_app_runs_a_signed_slash_command(slack: FakeSlackAPI, app: App) -> None:
    body = slash_command("scan all", response_url=slack.response_url())
    answer = app.dispatch(signed_request(body, secret=SECRET))
    assert (answer.status, answer.body) == (200, "working on scan all")
    assert slack.wait_for("response")[0].params == {"text": "done: scan all"}
    # Bolt's per-request client adds the workspace's team_id to every call.
    [posted] = slack.wait_for("chat.postMessage")
    assert posted.params == {"channel": "C1", "text": "scan finished", "team_id": "T1"}


@pytest.mark.parametrize(
    ("secret", "age", "status"),
    [("forged-secret", 0, 401), (SECRET, 301, 401), (SECRET, 299, 200)],
)
def test_app_verifies_signature_and_timestamp(
    slack: FakeSlackAPI, app: App, secret: str, age: int, status: int
) -> None:
    body = slash_command("help", response_url=slack.response_url())
    answer = app.dispatch(signed_request(body, secret=secret, timestamp=int(time.time()) - age))
    assert answer.status == status
    if status == 401:
        assert json.loads(answer.body) == {"error": "invalid request"}
        assert [c.method for c in slack.calls] == ["auth.test"]
    else:  # let the listener finish before the fake closes
        slack.wait_for("chat.postMessage")


def test_app_button_and_home(slack: FakeSlackAPI, app: App) -> None:
    click = block_action("finding-fix", "F-123", response_url=slack.response_url("btn"))
    assert app.dispatch(signed_request(click, secret=SECRET)).status == 200
    [done] = slack.wait_for("response")
    assert (done.path, done.params) == (
        "/response/btn",
        {"replace_original": True, "text": "fixing F-123"},
    )
    assert app.dispatch(signed_request(app_home_opened("U1"), secret=SECRET)).status == 200
    [published] = slack.wait_for("views.publish")
    assert published.params == {"user_id": "U1", "view": HOME, "team_id": "T1"}


def test_wsgi_adapter(slack: FakeSlackAPI, app: App) -> None:
    handler = SlackRequestHandler(app)
    body = slash_command("clusters", response_url=slack.response_url())
    headers = signed(body, secret=SECRET, content_type=FORM_TYPE)
    ok = call_wsgi(handler, wsgi_environ(body, headers))
    assert (ok.status, ok.body) == (200, "working on clusters")
    assert ok.headers["content-type"].startswith("text/plain")
    forged = signed(body, secret="forged", content_type=FORM_TYPE)
    assert call_wsgi(handler, wsgi_environ(body, forged)).status == 401
    assert call_wsgi(handler, wsgi_environ(body, headers, path="/other")).status == 404
    slack.wait_for("chat.postMessage")  # the listener's last step, before the fake closes
