"""Scan summaries: exact header and lines, worst first as planned, limits with the
"N more" count adding up, escaping, and the renderer delegating."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.severity import Severity
from bot.notify.payloads import ScanSummary, SummaryItem
from bot.slack.blocks.common import MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT
from bot.slack.blocks.render import SlackRenderer
from bot.slack.blocks.summary import SHOWN, summary_message
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
AT = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
C, W = Severity.CRITICAL, Severity.WARNING


def _summary(
    count: int, *, cluster: str = "prod-a", title: str = "Certificate expires soon"
) -> ScanSummary:
    items = tuple(
        SummaryItem(
            finding_id=i + 1,
            event="reopened" if i == 1 else "new",
            severity=C if i < 2 else W,
            title=title,
            resource=f"Secret/default/web-{i}#data.tls.crt[0]",
        )
        for i in range(count)
    )
    return ScanSummary(cluster=cluster, at=AT, items=items)


def test_header_lines_and_hint() -> None:
    msg = summary_message(_summary(12), tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "12 new findings on prod-a: 2 critical, 10 warning"
    blocks = msg["blocks"]
    assert blocks[0]["text"]["text"] == (
        ":red_circle: *Critical* · *12 new findings* on *prod-a* (2 critical, 10 warning)"
    )
    lines = blocks[1]["text"]["text"].splitlines()
    assert len(lines) == 12
    assert lines[0] == (
        ":red_circle: *Critical* `F-1` *Certificate expires soon* · "
        "`Secret/default/web-0#data.tls.crt[0]`"
    )
    assert "(reopened)" in lines[1]
    assert blocks[-1]["elements"][0]["text"] == (
        "`/harvester findings prod-a` lists them · `/harvester show F-…` for one · "
        "scanned 2026-11-28 14:05 CET"
    )


def test_a_thousand_findings_stay_within_limits_and_count_the_rest() -> None:
    msg = summary_message(_summary(1000, title="x" * 400), tz=TZ)
    assert_valid_message(msg)
    blocks = msg["blocks"]
    assert len(blocks) <= MAX_MESSAGE_BLOCKS
    assert all(len(b.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT for b in blocks)
    listed = sum(b["text"]["text"].count("`F-") for b in blocks[1:] if b["type"] == "section")
    more = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    counted = [int(t.split()[0]) for t in more if " more — use " in t]
    assert listed <= SHOWN
    assert listed + sum(counted) == 1000
    assert any("`/harvester findings prod-a`" in t for t in more)


def test_hostile_text_is_escaped() -> None:
    msg = summary_message(_summary(11, cluster="<!channel>", title="<@U1> & co"), tz=TZ)
    text = json.dumps(msg)
    assert "<!channel>" not in text and "<@U1>" not in text
    assert "&lt;!channel&gt;" in all_text(msg)


def test_renderer_delegates_after_a_json_round_trip() -> None:
    summary = _summary(11)
    again = ScanSummary.from_json(json.loads(json.dumps(summary.to_json())))
    assert again == summary
    renderer = SlackRenderer(tz=TZ, command="/hv")
    assert renderer.summary(again) == summary_message(summary, tz=TZ, command="/hv")
