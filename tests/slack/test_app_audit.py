"""The audit trail through the real app: silences, unsilences, rotations and denied
commands each leave one sealed record, in order; ``audit [F-123|n]`` shows them to
anyone; the chain verifies; secrets in a reason reach neither Slack nor the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.audit.chain import record_hmac
from bot.audit.log import AuditLog, verify
from bot.store.db import make_engine, session_scope
from bot.store.models_audit import AuditEvent
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    GROUP_MEMBER,
    OPERATOR,
    OUTSIDER,
    Bot,
    Fleet,
    make_bot,
    services_for,
    settings_for,
    text_of,
)
from tests.slack.test_app import finding_ids, scanned

KEY = "audit-key-for-tests-0123456789abcdef"
STRANGER = "UNOTIN1"  # not an operator; long enough to be shown as a mention
CANARY = "CANARY-reason-pass-9154"


@pytest.fixture
def store_bot(slack: FakeSlackAPI, fleet: Fleet, any_engine: Engine) -> Iterator[Bot]:
    yield from make_bot(slack, fleet, any_engine, audit=AuditLog(hmac_key=KEY.encode()))


def records(engine: Engine) -> list[tuple[int, str, str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        return [(r.seq, r.actor, r.action, r.subject, r.payload) for r in rows]


def test_the_key_comes_from_the_settings(slack: FakeSlackAPI, fleet: Fleet, engine: Engine) -> None:
    keyed = services_for(settings_for(slack, fleet, audit_hmac_key=KEY), engine)
    plain = services_for(settings_for(slack, fleet), engine)
    try:
        assert (keyed.audit, plain.audit) == (AuditLog(hmac_key=KEY.encode()), AuditLog())
    finally:
        keyed.worker.shutdown()
        plain.worker.shutdown()


def test_every_change_and_denial_is_audited_and_shown(store_bot: Bot) -> None:
    bot = store_bot
    scanned(bot)
    api = finding_ids(bot)["api"]
    reason = f"proxy http://ops:{CANARY}@proxy.example:3128 down, INC-42"
    bot.reply(f"silence {api} 7d {reason}", user=OPERATOR)
    bot.reply(f"unsilence {api}", user=OPERATOR)
    bot.reply(f"unsilence {api}", user=OPERATOR)  # nothing to end: nothing audited
    bot.reply("rotated password all prod", user=OPERATOR)
    denied = bot.ack("silence F-1 7d because", user=STRANGER)
    assert "changes something" in text_of(denied)

    masked = "proxy http://ops:****@proxy.example:3128 down, INC-42"
    got = records(bot.services.engine)
    assert [(seq, actor, action, subject) for seq, actor, action, subject, _ in got] == [
        (1, OPERATOR, "silence.add", api),
        (2, OPERATOR, "silence.remove", api),
        (3, OPERATOR, "rotation.record", "cluster:prod/node:all"),
        (4, STRANGER, "command.denied", "command:silence"),
    ]
    add, remove, rotation, denial = (payload for *_, payload in got)
    assert add["reason"] == masked
    assert (add["finding"], add["cluster"], add["replaced"]) == (api, "prod", [])
    assert add["expires_at"] == "2026-06-08T00:00:00.000000Z"  # NOW + 7 days, in UTC
    assert remove == {"finding": api, "cluster": "prod", "silences": [add["silence"]]}
    assert rotation == {
        "cluster": "prod",
        "node": "all",
        "kind": "password",
        "rotated_at": "2026-06-01T00:00:00.000000Z",
    }
    assert denial == {"command": "/harvester silence", "user": STRANGER, "why": "not an operator"}
    result = verify(bot.services.engine, hmac_key=KEY.encode())
    assert (result.ok, result.count, result.hmac_checked) == (True, 4, True)
    with session_scope(bot.services.engine) as session:
        first = session.scalars(select(AuditEvent).where(AuditEvent.seq == 1)).one()
        assert first.hmac == record_hmac(KEY.encode(), first.hash)

    # Anyone may read the trail (it is a read command).
    shown = bot.reply("audit", user=OUTSIDER)
    text = text_of(shown)
    assert shown["text"] == "Audit log: 4 records, newest #4"
    order = [text.index(f"`#{n}` ") for n in (4, 3, 2, 1)]
    assert order == sorted(order)
    assert f"<@{STRANGER}> · *command.denied* `command:silence`" in text
    assert f"<@{OPERATOR}> · *silence.add* `{api}`" in text
    assert "reason: proxy http://ops:****@proxy.example:3128 down, INC-42" in text
    assert "2026-06-01 02:00 CEST" in text  # NOW in Europe/Berlin

    of_api = text_of(bot.reply(f"audit {api}"))
    assert "*silence.add*" in of_api and "*silence.remove*" in of_api
    assert "rotation.record" not in of_api and "command.denied" not in of_api
    newest = bot.reply("audit 1")
    assert newest["text"] == "Audit log: 1 record, newest #4"
    assert "`/harvester audit 100` shows up to 100." in text_of(newest)
    assert "no finding id" not in text_of(bot.reply("audit F-999"))
    assert "No audit records of `F-999` yet." in text_of(bot.reply("audit F-999"))
    usage = text_of(bot.ack("audit 500"))
    assert "show 1 to 100 records, not 500" in usage
    assert "Usage: `/harvester audit [F-123|R-7|n]`" in usage

    for call in bot.slack.calls:
        assert CANARY not in str(call.params)
    assert CANARY not in repr(records(bot.services.engine))


def test_a_failed_group_lookup_is_audited_as_a_denial(
    store_bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = store_bot
    bot.slack.fail("usergroups.users.list", 500)
    with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
        answer = bot.ack("scan all", user=GROUP_MEMBER)
    assert "could not check your user-group membership" in answer["text"]
    assert [(a, s, p) for _, _, a, s, p in records(bot.services.engine)] == [
        (
            "command.denied",
            "command:scan",
            {"command": "/harvester scan", "user": GROUP_MEMBER, "why": "user-group lookup failed"},
        )
    ]


def test_a_denial_is_still_refused_when_it_cannot_be_audited(
    slack: FakeSlackAPI, fleet: Fleet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database without the schema: the audit write fails like a database that is down.
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        for bot in make_bot(slack, fleet, engine):
            with caplog.at_level(logging.WARNING, logger="bot.slack.auth"):
                answer = bot.ack("rotated password all prod", user=OUTSIDER)
            assert "changes something" in text_of(answer)
            assert [r.levelname for r in caplog.records] == ["WARNING", "ERROR"]
            logged = caplog.records[1].getMessage()
            assert logged.startswith(f"could not audit the denial of rotated to user {OUTSIDER}: ")
            assert "cannot use the database at sqlite:///" in logged
    finally:
        engine.dispose()
