"""Who may do what, and what a request must prove: signatures, the replay window, the
operator allow list (users and user groups), and hostile command text (property-based,
through the real WSGI adapter)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from bot.slack.runtime import wsgi_app
from bot.store.db import session_scope
from bot.store.models import CredentialRotation, Scan, Silence
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import (
    FORM_TYPE,
    bolt_request,
    call_wsgi,
    signed,
    signed_request,
    slash_command,
    wsgi_environ,
)
from tests.slack.conftest import (
    GROUP_MEMBER,
    OPERATOR,
    OUTSIDER,
    SECRET,
    Bot,
    Fleet,
    make_bot,
    text_of,
)


@pytest.fixture
def store_bot(slack: FakeSlackAPI, fleet: Fleet, any_engine: Engine) -> Iterator[Bot]:
    yield from make_bot(slack, fleet, any_engine)


def test_forged_signature_is_refused(bot: Bot) -> None:
    body = slash_command("status")
    headers = signed(body, secret="not-the-secret", content_type=FORM_TYPE)
    response = bot.app.dispatch(bolt_request(body, headers))
    assert (response.status, json.loads(response.body)) == (401, {"error": "invalid request"})
    tampered = signed(slash_command("help"), secret=SECRET, content_type=FORM_TYPE)
    assert bot.app.dispatch(bolt_request(body, tampered)).status == 401


def test_stale_timestamp_is_refused(bot: Bot) -> None:
    body = slash_command("help")
    stale = bot.app.dispatch(signed_request(body, secret=SECRET, timestamp=int(time.time()) - 301))
    assert stale.status == 401
    fresh = bot.app.dispatch(signed_request(body, secret=SECRET, timestamp=int(time.time()) - 240))
    assert fresh.status == 200


def counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Scan, Silence, CredentialRotation)
        )


@pytest.mark.parametrize(
    "text",
    ["scan all", "scan prod", "silence F-1 7d because", "unsilence F-1", "rotated password all"],
)
def test_outsiders_are_denied_state_changes(
    store_bot: Bot, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = store_bot
    before = counts(bot.services.engine)
    with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
        answer = bot.ack(text, user=OUTSIDER)
    subcommand = text.split()[0]
    assert answer["response_type"] == "ephemeral"
    shown = text_of(answer)
    assert f"`/harvester {subcommand}` changes something" in shown
    assert "`SECBOT_OPERATORS`" in shown and f"Your user id is `{OUTSIDER}`" in shown
    assert [r.getMessage() for r in caplog.records] == [
        f"denied {subcommand} to user {OUTSIDER}: not an operator"
    ]
    assert "alice" not in caplog.text  # the display name Slack sent is never logged
    assert counts(bot.services.engine) == before
    assert bot.slack.calls_to("response") == []  # nothing ran on the worker either


def test_user_group_members_are_operators_and_the_group_is_cached(bot: Bot) -> None:
    first = bot.reply("rotated password all prod", user=GROUP_MEMBER)
    # Allowed: it reached the service (the store has not scanned prod yet).
    assert "no cluster 'prod' in the store" in text_of(first)
    bot.reply("rotated password all prod", user=GROUP_MEMBER)
    denied = bot.ack("rotated password all prod", user="UNOTIN1")
    assert "changes something" in text_of(denied)
    lookups = bot.slack.calls_to("usergroups.users.list")
    assert [c.params["usergroup"] for c in lookups] == ["SOPS1"]  # one lookup in 5 minutes
    direct = bot.reply("unsilence F-1", user=OPERATOR)
    assert "no finding F-1" in text_of(direct)
    assert len(bot.slack.calls_to("usergroups.users.list")) == 1  # user ids need no lookup


def test_failed_group_lookup_denies_and_says_why(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.slack.fail("usergroups.users.list", 500)
    with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
        answer = bot.ack("scan all", user=GROUP_MEMBER)
    assert "could not check your user-group membership" in answer["text"]
    assert f"denied scan to user {GROUP_MEMBER}: user-group lookup failed" in caplog.text
    assert bot.slack.calls_to("response") == []


words = st.sampled_from(
    [
        "status",
        "help",
        "certs",
        "findings",
        "show",
        "get",
        "setting",
        "payload",
        "--within",
        "--severity",
        "F-1",
        "&amp;",
        "&lt;",
        "<@U1|x>",
        "\u202e",
        "%",
        "+",
        "=",
        "&",
    ]
)
hostile = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(words, st.text(max_size=10)), max_size=12).map(" ".join),
    st.text(min_size=3990, max_size=6000),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=hostile)
def test_hostile_text_gets_an_answer_never_a_500(bot: Bot, text: str) -> None:
    """Read commands with anything after them, as an outsider (state changes are denied),
    through Bolt's WSGI adapter: always a 200 with a message."""
    body = slash_command(text, user=OUTSIDER, response_url=bot.slack.response_url("h"))
    headers = signed(body, secret=SECRET, content_type=FORM_TYPE)
    result = call_wsgi(wsgi_app(bot.app), wsgi_environ(body, headers))
    assert result.status == 200, (text, result.body)
    if result.body:  # slow read commands ack with an empty body and answer later
        answer = json.loads(result.body)
        assert answer["text"]


def test_text_mentioning_payload_reaches_the_command(bot: Bot) -> None:
    body = slash_command("show payload", response_url=bot.slack.response_url("p"))
    headers = signed(body, secret=SECRET, content_type=FORM_TYPE)
    result = call_wsgi(wsgi_app(bot.app), wsgi_environ(body, headers))
    assert result.status == 200
    assert "'payload' is not a finding id like F-123" in result.body
