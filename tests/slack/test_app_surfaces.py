"""The other ways in: the Fix button, the App Home tab, the WSGI adapter and a real HTTP
server, Bolt's production mode (listeners on its executor), Socket Mode payloads, and the
console sink used when Slack is not configured."""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from slack_bolt import BoltRequest
from sqlalchemy import Engine

from bot.errors import UserError
from bot.notify.console import BANNER, ConsoleSink
from bot.slack.app import build_app
from bot.slack.blocks.common import DEFAULT_COMMAND
from bot.slack.runtime import http_server, serve_socket_mode, wsgi_app
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    FORM_TYPE,
    app_home_opened,
    block_action,
    call_wsgi,
    signed,
    signed_request,
    slash_command,
    wsgi_environ,
)
from tests.slack.conftest import (
    OPERATOR,
    SECRET,
    Bot,
    Fleet,
    services_for,
    settings_for,
    text_of,
)
from tests.slack.test_app_audit import records

REPO = Path(__file__).resolve().parents[2]


def test_fix_button_says_remediation_is_not_enabled(bot: Bot) -> None:
    body = block_action(
        "finding-fix", "F-1", user=OPERATOR, response_url=bot.slack.response_url("fix")
    )
    response = bot.app.dispatch(signed_request(body, secret=SECRET))
    assert response.status == 200
    (posted,) = bot.posted(key="fix")
    assert posted.params["replace_original"] is False  # the finding message stays
    assert posted.params["response_type"] == "ephemeral"
    assert "remediation is not enabled on this bot" in text_of(posted.params)


def test_fix_button_refuses_a_non_operator_first_as_the_slash_command_does(
    bot: Bot, engine: Engine
) -> None:
    """Remediation off or not, a non-operator is refused and audited rather than told it
    is off, exactly like ``/harvester fix``."""
    assert "SECBOT_OPERATORS" in text_of(bot.ack("fix F-1", user="U1"))
    body = block_action("finding-fix", "F-1", user="U1", response_url=bot.slack.response_url("x"))
    assert bot.app.dispatch(signed_request(body, secret=SECRET)).status == 200
    (posted,) = bot.posted(key="x")
    assert "not enabled" not in text_of(posted.params)
    assert "SECBOT_OPERATORS" in text_of(posted.params)
    denials = [r[1:4] for r in records(engine)]
    assert denials == [("U1", "command.denied", "command:fix")] * 2


def test_app_home_publishes_the_fleet(bot: Bot) -> None:
    response = bot.app.dispatch(signed_request(app_home_opened("U1"), secret=SECRET))
    assert response.status == 200
    (empty,) = bot.slack.wait_for("views.publish")
    assert empty.params["user_id"] == "U1"
    assert "No cluster has been scanned yet." in text_of(empty.params["view"])

    bot.ack("scan all", user=OPERATOR)
    bot.posted()
    bot.app.dispatch(signed_request(app_home_opened("U2"), secret=SECRET))
    published = bot.slack.wait_for("views.publish", count=2)[1]
    view = published.params["view"]
    assert (published.params["user_id"], view["type"]) == ("U2", "home")
    assert view["blocks"][0]["text"]["text"] == "Harvester fleet"
    assert "*prod*" in text_of(view) and "*lab*" in text_of(view)

    bot.app.dispatch(signed_request(app_home_opened("U1", tab="messages"), secret=SECRET))
    assert len(bot.slack.calls_to("views.publish")) == 2  # the Messages tab gets no view


def test_wsgi_adapter_serves_commands_and_health(bot: Bot) -> None:
    application = wsgi_app(bot.app)
    body = slash_command("help")
    result = call_wsgi(
        application, wsgi_environ(body, signed(body, secret=SECRET, content_type=FORM_TYPE))
    )
    assert result.status == 200
    assert json.loads(result.body)["blocks"][0]["text"]["text"] == "Harvester security bot"
    forged = call_wsgi(
        application, wsgi_environ(body, signed(body, secret="x", content_type=FORM_TYPE))
    )
    assert forged.status == 401
    health = call_wsgi(application, wsgi_environ("", {}, path="/healthz", method="GET"))
    assert (health.status, health.body) == (200, "ok\n")
    other = call_wsgi(application, wsgi_environ("", {}, path="/", method="GET"))
    assert other.status == 404
    huge = wsgi_environ("x", {"content-type": FORM_TYPE})
    huge["CONTENT_LENGTH"] = str(50 * 1024 * 1024)
    assert call_wsgi(application, huge).status == 413


def test_real_http_server(bot: Bot) -> None:
    server = http_server(bot.app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = slash_command("clusters")
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_port}/slack/events",
            data=body.encode(),
            headers=signed(body, secret=SECRET, content_type=FORM_TYPE),
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
            assert "*prod* · " in text_of(json.loads(answer.read()))
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def production_bot(slack: FakeSlackAPI, fleet: Fleet, engine: Engine) -> Iterator[Bot]:
    """Bolt's default: listeners run on its executor and the ack is awaited."""
    settings = settings_for(slack, fleet)
    services = services_for(settings, engine)
    app = build_app(settings=settings, services=services)
    slack.clear()
    try:
        yield Bot(app, slack, services)
    finally:
        services.worker.shutdown(wait=True)


def test_production_mode_acks_and_answers(production_bot: Bot) -> None:
    bot = production_bot
    assert bot.reply("status")["text"] == "No cluster has been scanned yet."
    assert bot.ack("show nope")["text"].startswith("Usage: /harvester show F-123")
    response = bot.command("certs")
    assert (response.status, response.body) == (200, "")
    assert bot.posted()[0].params["text"] == "No certificate expires within 30 days."


def test_socket_mode_payloads_need_no_signature(bot: Bot) -> None:
    body = dict(
        command="/harvester",
        text="help",
        user_id="U1",
        channel_id="C1",
        team_id="T1",
        response_url=bot.slack.response_url("sm"),
    )
    response = bot.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    assert response.status == 200
    assert "Harvester security bot" in text_of(json.loads(response.body))


def test_bad_bot_token_fails_at_build_time(
    slack: FakeSlackAPI, fleet: Fleet, engine: Engine
) -> None:
    settings = settings_for(slack, fleet, SLACK_BOT_TOKEN="xoxb-wrong")
    services = services_for(settings, engine)
    try:
        with pytest.raises(UserError, match="Slack did not accept SLACK_BOT_TOKEN"):
            build_app(settings=settings, services=services)
    finally:
        services.worker.shutdown()
    assert "xoxb-wrong" not in str([c.params for c in slack.calls])


def test_console_sink_announces_once_and_prints_messages() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out)
    sink.announce()
    sink.announce()
    sink.post(
        channel="#ops",
        message={
            "text": "1 new finding",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "*prod*\nweb expires"}}
            ],
        },
    )
    assert out.getvalue() == (
        f"{BANNER}\n"
        "[console] would post to #ops: 1 new finding\n"
        "[console]     *prod*\n"
        "[console]     web expires\n"
    )


def test_manifest_matches_the_app() -> None:
    """deploy/slack-app-manifest.yaml asks for what the app uses, and nothing more."""
    manifest = yaml.safe_load((REPO / "deploy" / "slack-app-manifest.yaml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    (command,) = features["slash_commands"]
    assert command["command"] == DEFAULT_COMMAND and command["usage_hint"].startswith("help | ")
    assert len(command["usage_hint"]) <= 1000
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "chat:write",
        "commands",
        "usergroups:read",
        "users:read",
    ]
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True
    assert len(manifest["display_information"]["description"]) <= 139


def test_socket_mode_reports_a_refused_app_token(bot: Bot) -> None:
    """The fake Web API has no apps.connections.open: Slack's answer becomes one line."""
    with pytest.raises(UserError) as refused:
        serve_socket_mode(bot.app, app_token="xapp-test", stop=threading.Event(), ready=print)
    assert str(refused.value) == "Slack refused SLACK_APP_TOKEN (Socket Mode): unknown_method"
    (call,) = [c for c in bot.slack.calls if c.method == "apps.connections.open"]
    assert call.headers["authorization"] == "Bearer xapp-test"
