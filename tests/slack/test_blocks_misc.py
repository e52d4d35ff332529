"""``certs``, ``clusters``, ``get setting``, ``help`` and the short notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.findings.views import CertView, SilenceView
from bot.slack.blocks import notices
from bot.slack.blocks.certs import certs_message
from bot.slack.blocks.clusters import ClusterLine, clusters_message
from bot.slack.blocks.help import USAGE, help_message, usage_line
from bot.slack.blocks.settings import setting_message
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
HOSTILE = "<!channel> <http://evil|click> &amp;"
ESCAPED = "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;"


def cert(days: float, **kw: Any) -> CertView:
    values: dict[str, Any] = {
        "cluster": "prod",
        "subject": "CN=kube-apiserver",
        "issuer": "CN=rke2-server-ca",
        "serial": "0a1b",
        "not_after": NOW + timedelta(days=days),
        "location": "File//server/tls/serving-kube-apiserver.crt",
    }
    return CertView(**(values | kw))


def _text(block: dict[str, Any]) -> str:
    return str(block["text"]["text"] if "text" in block else block["elements"][0]["text"])


def test_certs_soonest_first_with_severity_and_dates() -> None:
    certs = [cert(20, subject="CN=b"), cert(-2, subject="CN=a", finding_id=7), cert(6.5)]
    msg = certs_message(certs, now=NOW, tz=TZ, within_days=30)
    assert_valid_message(msg)
    assert (
        _text(msg["blocks"][1])
        == "3 certificates expire within 30 days · :red_circle: 1 already expired"
    )
    assert [_text(b) for b in msg["blocks"][2:]] == [
        ":red_circle: *Critical* · *expired 2 days ago, Nov 26*\n"
        "CN=a — issued by CN=rke2-server-ca · serial `0a1b`\n"
        "*prod* · `File//server/tls/serving-kube-apiserver.crt` · `F-7`",
        ":red_circle: *Critical* · *expires in 7 days, Dec 05*\n"
        "CN=kube-apiserver — issued by CN=rke2-server-ca · serial `0a1b`\n"
        "*prod* · `File//server/tls/serving-kube-apiserver.crt`",
        ":large_orange_circle: *Warning* · *expires in 20 days, Dec 18*\n"
        "CN=b — issued by CN=rke2-server-ca · serial `0a1b`\n"
        "*prod* · `File//server/tls/serving-kube-apiserver.crt`",
    ]
    assert msg["text"] == (
        "3 certificates expire within 30 days; first: CN=a (prod) expired 2 days ago, Nov 26"
    )


def test_certs_beyond_the_policy_are_fine_and_none_is_a_clear_answer() -> None:
    msg = certs_message([cert(200)], now=NOW, tz=TZ, within_days=365, cluster="prod")
    assert _text(msg["blocks"][2]).startswith(":large_green_circle: *Fine* · *expires in 200 days")
    assert _text(msg["blocks"][1]) == "1 certificate expires within 365 days in *prod*"
    empty = certs_message([], now=NOW, tz=TZ, within_days=30, cluster="prod")
    assert_valid_message(empty)
    assert _text(empty["blocks"][0]) == (
        ":white_check_mark: No certificate expires within 30 days in *prod*."
    )


def test_certs_overflow_suggests_a_shorter_window() -> None:
    certs = [cert(1 + i / 10) for i in range(40)] + [cert(20) for _ in range(60)]
    msg = certs_message(certs, now=NOW, tz=TZ, within_days=30, cluster="prod")
    assert_valid_message(msg)
    assert len(msg["blocks"]) == 50
    assert _text(msg["blocks"][-1]) == "53 more — use `/harvester certs prod --within 14d`"
    many = certs_message([cert(0.5)] * 80, now=NOW, tz=TZ, within_days=30)
    assert _text(many["blocks"][-1]) == "33 more — use `/harvester certs CLUSTER --within 1d`"


def test_clusters() -> None:
    lines = [
        ClusterLine("prod", "kubeconfig context prod", {"site": "ber", "env": "prod"}, "C0123ABC"),
        ClusterLine("lab", "in-cluster service account"),
        ClusterLine(HOSTILE, HOSTILE, {HOSTILE: HOSTILE}, HOSTILE),
    ]
    msg = clusters_message(lines)
    assert_valid_message(msg)
    texts = [_text(b) for b in msg["blocks"]]
    assert texts[1] == "3 clusters configured"
    assert texts[3] == "*lab* · in-cluster service account\nposts to the default channel"
    assert texts[4] == (
        "*prod* · kubeconfig context prod · `env=prod` `site=ber`\nposts to <#C0123ABC>"
    )
    assert texts[2] == (f"*{ESCAPED}* · {ESCAPED} · `{ESCAPED}={ESCAPED}`\nposts to #{ESCAPED}")
    assert clusters_message([])["blocks"][0]["text"]["text"].startswith("No clusters configured.")


def test_setting_value_in_a_code_block() -> None:
    msg = setting_message(
        cluster="prod",
        name="http-proxy",
        value='{"httpProxy":"http://user:****@proxy:3128","noProxy":"a<b>"}',
    )
    assert_valid_message(msg)
    assert _text(msg["blocks"][1]) == "`http-proxy` on *prod* · value"
    assert _text(msg["blocks"][2]) == (
        '```\n{\n  "httpProxy": "http://user:****@proxy:3128",\n  "noProxy": "a&lt;b&gt;"\n}\n```'
    )


def test_setting_default_empty_and_cut() -> None:
    msg = setting_message(cluster="c", name="ssl-parameters", value=None, default="TLSv1.2 ```x")
    assert _text(msg["blocks"][1]) == "`ssl-parameters` on *c* · default (value is empty)"
    assert _text(msg["blocks"][2]) == "```\nTLSv1.2 \u02cb\u02cb\u02cbx\n```"  # no backtick left
    unset = setting_message(cluster="c", name="x", value="", default=None)
    assert _text(unset["blocks"][1]) == "`x` on *c* has no value and no default."
    big = setting_message(cluster="c", name="additional-ca", value="A" * 64 + "\n" + "B" * 10_000)
    assert_valid_message(big)
    block = _text(big["blocks"][2])
    assert len(block) <= 3000 and block.endswith("…\n```")
    assert _text(big["blocks"][3]) == "Cut to fit Slack: the value has 10,065 characters."


def test_help_lists_every_subcommand_with_its_usage_line() -> None:
    msg = help_message(command="/secbot")
    assert_valid_message(msg)
    text = all_text(msg)
    for sub in USAGE:
        assert f"`{usage_line(sub, command='/secbot')}`" in text
    assert "*Remediation* — _not enabled yet_" in text
    assert usage_line("certs") == "/harvester certs [cluster] [--within 30d]"
    assert "not enabled" not in all_text(help_message(remediation_enabled=True))


def test_denied_explains_the_rule() -> None:
    msg = notices.denied_message("scan", user_id="U012AB")
    assert_valid_message(msg)
    assert msg["text"] == "Not allowed: state-changing commands need you on SECBOT_OPERATORS."
    assert "state-changing commands need you on `SECBOT_OPERATORS`" in all_text(msg)
    assert "Your user id is `U012AB`" in all_text(msg)


def test_usage_error_gives_the_usage_line() -> None:
    msg = notices.usage_message("silence", problem="duration <7x> is not like 7d")
    assert_valid_message(msg)
    assert _text(msg["blocks"][0]) == (
        ":warning: duration &lt;7x&gt; is not like 7d\n"
        "Usage: `/harvester silence F-123 7d reason...`"
    )


def test_unknown_subcommand_gets_help() -> None:
    msg = notices.unknown_subcommand_message(HOSTILE)
    assert_valid_message(msg)
    assert _text(msg["blocks"][1]) == f"I don't know `{ESCAPED}`. Here is what I can do:"
    assert "`/harvester rotated " in all_text(msg)


def test_other_notices() -> None:
    silence = SilenceView(
        id=1,
        finding_id=123,
        cluster="prod",
        reason=HOSTILE,
        owner="U1AB",
        created_at=NOW,
        expires_at=NOW + timedelta(days=7),
    )
    cases = {
        "not_enabled": notices.not_enabled_message("fix"),
        "error": notices.error_message("e-7f3a"),
        "user_error": notices.user_error_message(f"unknown cluster {HOSTILE}"),
        "ack": notices.scan_ack_message(["prod", HOSTILE]),
        "ack_all": notices.scan_ack_message(["a", "b"], everything=True),
        "silenced": notices.silenced_message(silence, now=NOW, tz=TZ),
        "unsilenced": notices.unsilenced_message(123, removed=True),
        "not_silenced": notices.unsilenced_message(123, removed=False),
        "rotated": notices.rotated_message(
            cluster="prod", node="all", kind="ssh-keys", by="U1AB", now=NOW, tz=TZ
        ),
    }
    for msg in cases.values():
        assert_valid_message(msg)
    first = {name: _text(msg["blocks"][0]) for name, msg in cases.items()}
    assert first["not_enabled"].startswith(
        ":construction: `/harvester fix`: remediation is not enabled on this bot (whoever "
        "runs it sets `SECBOT_APPROVERS` to turn it on)."
    )
    assert first["error"] == (
        ":boom: Something went wrong on my side. Error id `e-7f3a`: the log has the "
        "details; please pass the id on to whoever runs me."
    )
    assert first["user_error"] == f":warning: unknown cluster {ESCAPED}"
    assert first["ack"] == f":mag: Scanning *prod*, *{ESCAPED}*… I'll post the result here."
    assert first["ack_all"] == ":mag: Scanning all 2 clusters… I'll post the result here."
    assert first["silenced"] == (
        ":zzz: `F-123` on *prod* is silenced until in 7 days, Dec 05 (2026-12-05 14:05 CET), "
        f"by <@U1AB>.\nReason: {ESCAPED}"
    )
    assert first["unsilenced"] == ":bell: `F-123` is no longer silenced."
    assert first["not_silenced"] == "`F-123` had no active silence; nothing changed."
    assert first["rotated"] == (
        ":key: Recorded: `ssh-keys` rotated on every node of *prod* by <@U1AB>, today, 14:05 "
        "(2026-11-28 14:05 CET).\n`credential-rotation-overdue` counts its age from now on."
    )


@pytest.mark.parametrize("sub", sorted(USAGE))
def test_every_usage_message_is_valid(sub: str) -> None:
    assert_valid_message(notices.usage_message(sub, problem=HOSTILE))
