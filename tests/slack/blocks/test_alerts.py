"""Alerts: exact texts per event, escalation wording, resolved follow-ups, escaping, DST."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.severity import Severity
from bot.notify.payloads import FindingNotice
from bot.notify.sinks import Renderer
from bot.slack.blocks.alerts import alert_message, resolved_original, resolved_reply
from bot.slack.blocks.render import SlackRenderer
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
AT = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)  # 14:05 CET
HOSTILE = "<!channel> <http://evil|click> &amp;"
HINT = (
    "`/harvester show F-12` for details · `/harvester silence F-12 7d &lt;reason&gt;` to "
    "silence it · scanned 2026-11-28 14:05 CET"
)


def notice(**kw: object) -> FindingNotice:
    base = FindingNotice(
        event="new",
        finding_id=12,
        cluster="prod-a",
        check_id="cert-expiring",
        title="Certificate expires soon",
        severity=Severity.CRITICAL,
        tier="7d",
        message="CN=web.prod.example expires in 6 days.",
        resource="Secret/default/web#data.tls.crt[0]",
        at=AT,
        expires_at=datetime(2026, 12, 4, 13, 5, tzinfo=UTC),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def section_text(msg: dict[str, object], index: int = 0) -> str:
    text: str = msg["blocks"][index]["text"]["text"]  # type: ignore[index]
    return text


def context_text(msg: dict[str, object]) -> str:
    text: str = msg["blocks"][-1]["elements"][0]["text"]  # type: ignore[index]
    return text


def test_new_alert_exact() -> None:
    msg = alert_message(notice(), tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "CRITICAL new on prod-a: F-12 Certificate expires soon"
    assert [b["type"] for b in msg["blocks"]] == ["section", "context"]
    assert section_text(msg) == (
        ":red_circle: *Critical* · *New finding* on *prod-a*\n"
        "`F-12` *Certificate expires soon* (`cert-expiring`)\n"
        "`Secret/default/web#data.tls.crt[0]`\n"
        "CN=web.prod.example expires in 6 days.\n"
        ":hourglass_flowing_sand: Certificate expires in 6 days, Dec 04 · 2026-12-04 14:05 CET"
    )
    assert context_text(msg) == HINT


def test_escalated_says_from_what_to_what() -> None:
    msg = alert_message(
        notice(
            event="escalated", tier="14d", previous_severity=Severity.WARNING, previous_tier="30d"
        ),
        tz=TZ,
    )
    assert_valid_message(msg)
    assert section_text(msg).split("\n")[0] == (
        ":red_circle: *Critical* · *Escalated* on *prod-a*: was warning, 30d → now critical, 14d"
    )
    assert msg["text"] == (
        "CRITICAL escalated on prod-a: F-12 Certificate expires soon (was warning, 30d)"
    )


def test_escalated_by_tier_only_repeats_the_severity() -> None:
    msg = alert_message(notice(event="escalated", tier="1d", previous_tier="7d"), tz=TZ)
    assert section_text(msg).split("\n")[0] == (
        ":red_circle: *Critical* · *Escalated* on *prod-a*: was critical, 7d → now critical, 1d"
    )
    no_tier = notice(
        event="escalated",
        severity=Severity.WARNING,
        tier=None,
        previous_severity=Severity.INFO,
        expires_at=None,
    )
    assert section_text(alert_message(no_tier, tz=TZ)).split("\n")[0] == (
        ":large_orange_circle: *Warning* · *Escalated* on *prod-a*: was info → now warning"
    )


def test_reopened_and_unsilenced_headlines_and_fallbacks() -> None:
    reopened = alert_message(notice(event="reopened", severity=Severity.WARNING), tz=TZ)
    assert section_text(reopened).split("\n")[0] == (
        ":large_orange_circle: *Warning* · *Reopened* on *prod-a*: it had resolved and is back"
    )
    assert reopened["text"] == "WARNING reopened on prod-a: F-12 Certificate expires soon"
    unsilenced = alert_message(notice(event="unsilenced"), tz=TZ)
    assert section_text(unsilenced).split("\n")[0] == (
        ":red_circle: *Critical* · *Silence expired, still open* on *prod-a*"
    )
    assert unsilenced["text"] == (
        "CRITICAL silence expired on prod-a: F-12 Certificate expires soon"
    )
    assert context_text(unsilenced) == HINT


def test_expired_certificate_and_findings_without_expiry() -> None:
    expired = alert_message(
        notice(tier="expired", expires_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC)), tz=TZ
    )
    assert section_text(expired).split("\n")[-1] == (
        ":x: Certificate expired 2 days ago, Nov 26 · 2026-11-26 10:00 CET"
    )
    proxy = notice(
        check_id="http-proxy-noproxy-missing-nodes",
        title="noProxy misses node IPs",
        resource="Setting/http-proxy#value.noProxy",
        message="",
        expires_at=None,
        tier=None,
        severity=Severity.WARNING,
    )
    assert section_text(alert_message(proxy, tz=TZ)) == (
        ":large_orange_circle: *Warning* · *New finding* on *prod-a*\n"
        "`F-12` *noProxy misses node IPs* (`http-proxy-noproxy-missing-nodes`)\n"
        "`Setting/http-proxy#value.noProxy`"
    )


def test_dates_count_local_calendar_days_across_the_dst_change() -> None:
    # Scan at 00:30 CEST on Oct 25 (22:30 UTC the day before); DST ends that night.
    at = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)
    expires = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)  # 23:30 CET Oct 31: 6 local days
    msg = alert_message(notice(at=at, expires_at=expires), tz=TZ)
    assert section_text(msg).split("\n")[-1] == (
        ":hourglass_flowing_sand: Certificate expires in 6 days, Oct 31 · 2026-10-31 23:30 CET"
    )
    assert context_text(msg).endswith("scanned 2026-10-25 00:30 CEST")


def test_resolved_reply_exact() -> None:
    resolved = notice(event="resolved", at=AT + timedelta(days=2, hours=3))
    msg = resolved_reply(resolved, tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "RESOLVED on prod-a: F-12 Certificate expires soon (was critical)"
    assert msg["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":white_check_mark: *Resolved* on *prod-a*: `F-12` *Certificate expires "
                "soon*\nThe scan of 2026-11-30 17:05 CET no longer finds it on "
                "`Secret/default/web#data.tls.crt[0]`.",
                "verbatim": True,
            },
        }
    ]
    # A resolution whose alert was never posted still renders, as the reply.
    assert alert_message(resolved, tz=TZ) == msg


def test_resolved_original_is_no_longer_urgent() -> None:
    original = notice(event="escalated", previous_severity=Severity.WARNING, previous_tier="30d")
    resolved = notice(event="resolved", at=AT + timedelta(days=2))
    msg = resolved_original(original, resolved, tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "RESOLVED on prod-a: F-12 Certificate expires soon (was critical)"
    assert section_text(msg) == (
        ":white_check_mark: *Resolved* 2026-11-30 14:05 CET\n"
        "Posted as critical · *Escalated* on *prod-a*: was warning, 30d → now critical, 7d\n"
        "`F-12` *Certificate expires soon* (`cert-expiring`)\n"
        "`Secret/default/web#data.tls.crt[0]`\n"
        "CN=web.prod.example expires in 6 days."
    )
    assert context_text(msg) == "`/harvester show F-12` for its history"
    text = all_text(msg)
    assert ":red_circle:" not in text and "silence" not in text


def test_hostile_text_is_escaped_everywhere() -> None:
    hostile = notice(
        cluster=HOSTILE,
        title=HOSTILE,
        check_id=HOSTILE,
        message=HOSTILE,
        resource=HOSTILE,
        tier=HOSTILE,
        previous_tier="30d",
        event="escalated",
    )
    resolved = replace(hostile, event="resolved")
    for msg in (
        alert_message(hostile, tz=TZ, command="/hv"),
        resolved_reply(resolved, tz=TZ),
        resolved_original(hostile, resolved, tz=TZ),
    ):
        assert_valid_message(msg)  # no "<" Slack would parse, in blocks or fallback
        assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;" in all_text(msg)
        assert "&lt;!channel&gt;" in msg["text"]


def test_huge_user_text_is_cut_within_limits_keeping_the_headline() -> None:
    big = notice(
        cluster="c" * 5000,
        title="t" * 5000,
        message="&" * 10_000,
        resource="r" * 5000,
        check_id="k" * 5000,
    )
    msg = alert_message(big, tz=TZ)
    assert_valid_message(msg)
    lines = section_text(msg).split("\n")
    assert lines[0] == f":red_circle: *Critical* · *New finding* on *{'c' * 99}…*"
    assert lines[-1].startswith(":hourglass_flowing_sand: Certificate expires in 6 days")
    assert len(msg["text"]) <= 300


def test_renderer_delegates_with_its_zone_and_command() -> None:
    renderer: Renderer = SlackRenderer(TZ, command="/hv")
    new, resolved = notice(), notice(event="resolved", at=AT + timedelta(days=1))
    assert renderer.alert(new) == alert_message(new, tz=TZ, command="/hv")
    assert "`/hv show F-12`" in context_text(renderer.alert(new))
    assert renderer.resolved_reply(resolved) == resolved_reply(resolved, tz=TZ)
    assert renderer.resolved_original(new, resolved) == resolved_original(
        new, resolved, tz=TZ, command="/hv"
    )
    # What the outbox stores renders the same after its JSON round trip.
    assert renderer.alert(FindingNotice.from_json(new.to_json())) == renderer.alert(new)
