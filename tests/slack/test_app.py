"""Every slash command through the real app: signed requests dispatched like Slack sends
them, answers read from the ack and from the fake Slack's response_url log.

The store is filled by the ``scan`` command itself: a live scan of two fake clusters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from bot.findings.rotations import rotations_for
from bot.store.db import session_scope
from bot.store.models import Scan, Silence
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import (
    CANARIES,
    OPERATOR,
    Bot,
    Fleet,
    make_bot,
    text_of,
)


@pytest.fixture
def store_bot(slack: FakeSlackAPI, fleet: Fleet, any_engine: Engine) -> Iterator[Bot]:
    yield from make_bot(slack, fleet, any_engine)


def scanned(bot: Bot) -> dict[str, object]:
    """Scan both clusters as an operator; the worker's summary message."""
    ack = bot.ack("scan all", user=OPERATOR)
    assert ack["text"] == "Scanning all clusters…"
    assert text_of(ack).endswith(":mag: Scanning all 2 clusters… I'll post the result here.")
    return bot.posted()[0].params


def finding_ids(bot: Bot, text: str = "findings") -> dict[str, str]:
    """Last part of each listed finding's resource name -> its F-id."""
    ids = {}
    for block in bot.reply(text)["blocks"]:
        found = re.match(r"`(F-\d+)`.*\n\*\w+\* · \w+ (\S+)", block.get("text", {}).get("text", ""))
        if found:
            ids[found[2].split("/")[-1]] = found[1]
    return ids


def test_help_unknown_and_empty(bot: Bot) -> None:
    for text in ("help", "", "HELP"):
        answer = bot.ack(text)
        assert answer["blocks"][0]["text"]["text"] == "Harvester security bot"
        assert "`/harvester scan [cluster|all]` — scan now" in text_of(answer)
    unknown = bot.ack("frobnicate now")
    assert "I don't know `frobnicate`. Here is what I can do:" in text_of(unknown)
    assert bot.slack.calls == []  # fast answers ride on the ack: no extra request


def test_clusters_lists_the_clusters_file(bot: Bot) -> None:
    answer = text_of(bot.ack("clusters"))
    assert "*lab* · " in answer and "*prod* · " in answer
    assert "`env=prod`\nposts to #ops-prod" in answer


def test_scan_then_every_read_command(store_bot: Bot) -> None:
    bot = store_bot
    summary = scanned(bot)
    assert summary["response_type"] == "ephemeral"
    assert summary["text"].startswith("Scan finished: 2 clusters, ")
    with session_scope(bot.services.engine) as session:
        assert session.scalar(select(func.count()).select_from(Scan)) == 2

    status = text_of(bot.reply("status"))
    assert "*prod*" in status and "*lab*" in status
    one = bot.reply("status prod")
    assert one["text"].startswith("Status of prod: ")

    ids = finding_ids(bot, "findings prod")
    # "prod": credential-rotation-overdue on the cluster itself (no rotation recorded yet)
    assert set(ids) == {
        "web",
        "api",
        "http-proxy",
        "containerd-registry",
        "auto-rotate-rke2-certs",
        "prod",
    }
    listing = text_of(bot.reply("findings"))
    critical = text_of(bot.reply("findings --severity critical"))
    assert ids["web"] in critical and ids["api"] not in critical
    assert ids["api"] in listing

    certs = text_of(bot.reply("certs prod --within 30d"))
    assert "web.prod.example" in certs and "api.prod.example" in certs
    assert "ui.prod.example" not in certs  # 200 days: outside the window
    assert certs.index("web.prod.example") < certs.index("api.prod.example")  # soonest first
    wide = text_of(bot.reply("certs --within 400d"))
    assert "lab.example" in wide

    detail = bot.reply(f"show {ids['web']}")
    assert detail["blocks"][0]["text"]["text"].startswith(f"{ids['web']}: ")
    assert "prod" in text_of(detail)

    gone = bot.reply("show F-99999")
    assert "no finding F-99999" in text_of(gone)
    unknown = text_of(bot.reply("findings nowhere"))
    assert "no cluster 'nowhere' in the store; known: lab, prod" in unknown
    for call in bot.slack.calls:
        for canary in CANARIES:
            assert canary not in str(call.params)


def test_silence_and_unsilence(store_bot: Bot) -> None:
    bot = store_bot
    scanned(bot)
    ids = finding_ids(bot)
    api = ids["api"]
    done = text_of(bot.reply(f"silence {api} 7d renewal booked, INC-42", user=OPERATOR))
    assert f":zzz: `{api}` on *prod* is silenced until " in done
    assert "Reason: renewal booked, INC-42" in done
    assert api not in text_of(bot.reply("findings"))
    with session_scope(bot.services.engine) as session:
        rows = session.scalars(select(Silence)).all()
        assert [(r.owner, r.reason) for r in rows] == [(OPERATOR, "renewal booked, INC-42")]

    assert f"`{api}` is no longer silenced." in text_of(
        bot.reply(f"unsilence {api}", user=OPERATOR)
    )
    assert "had no active silence" in text_of(bot.reply(f"unsilence {api}", user=OPERATOR))
    assert api in text_of(bot.reply("findings"))


def test_critical_finding_cannot_be_silenced_for_long(store_bot: Bot) -> None:
    bot = store_bot
    scanned(bot)
    web = finding_ids(bot)["web"]
    refused = text_of(bot.reply(f"silence {web} 8d later", user=OPERATOR))
    assert ":warning: critical findings can be silenced for at most 7 days" in refused
    with session_scope(bot.services.engine) as session:
        assert session.scalar(select(func.count()).select_from(Silence)) == 0


def test_rotated_records_and_needs_a_cluster_when_there_are_several(store_bot: Bot) -> None:
    bot = store_bot
    scanned(bot)
    done = text_of(bot.reply("rotated password all prod", user=OPERATOR))
    assert f"Recorded: `password` rotated on every node of *prod* by <@{OPERATOR}>" in done
    with session_scope(bot.services.engine) as session:
        records = rotations_for(session=session, cluster="prod")
    assert [(r.node, r.kind) for r in records] == [("all", "password")]
    ambiguous = text_of(bot.reply("rotated ssh-keys node-0", user=OPERATOR))
    assert "name the cluster: 2 are configured (prod, lab)" in ambiguous
    assert "Usage: `/harvester rotated password|ssh-keys|proxy-credentials NODE|all [cluster]`" in (
        ambiguous
    )


def test_get_setting_masks_every_secret(bot: Bot) -> None:
    proxy = text_of(bot.reply("get setting http-proxy prod"))
    assert "http://proxyuser:****@proxy.example:3128" in proxy
    assert '"noProxy": "localhost,127.0.0.1,10.0.0.10"' in proxy
    registry = text_of(bot.reply("get setting containerd-registry prod"))
    assert '"Username": "bot"' in registry and '"Password": "****"' in registry
    certs = text_of(bot.reply("get setting ssl-certificates prod"))
    assert '"privateKey": "****"' in certs and "BEGIN CERTIFICATE" in certs
    missing = text_of(bot.reply("get setting no-such-thing prod"))
    assert "prod has no setting 'no-such-thing'" in missing
    several = text_of(bot.ack("get setting http-proxy"))
    assert "name the cluster: 2 are configured" in several
    for call in bot.slack.calls:
        for canary in CANARIES:
            assert canary not in str(call.params)


def test_remediation_is_not_enabled_yet(bot: Bot) -> None:
    for text in ("fix F-1", "approve R-1", "reject R-1 no"):
        answer = text_of(bot.ack(text, user=OPERATOR))
        assert "remediation is not enabled on this bot" in answer


def test_scan_of_an_unknown_cluster_lists_the_known_ones(bot: Bot) -> None:
    answer = bot.ack("scan nowhere", user=OPERATOR)
    assert answer["response_type"] == "ephemeral"
    text = text_of(answer)
    assert "unknown cluster 'nowhere'; known clusters: prod, lab" in text
    assert "Usage: `/harvester scan [cluster|all]`" in text
    assert bot.slack.calls == []


def test_bad_arguments_get_the_usage_line(bot: Bot) -> None:
    answer = bot.ack("certs --within soon")
    assert "Usage: `/harvester certs [cluster] [--within 30d]`" in text_of(answer)
    assert "'soon' is not a duration like 7d, 12h or 2w" in text_of(answer)
