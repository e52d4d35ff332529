"""``findings`` and ``show``: the 50-block cut with its hint, rationale, evidence, Fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.findings.views import FindingView
from bot.slack.blocks.findings import (
    finding_detail_message,
    finding_line,
    findings_message,
    rationale,
)
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
HOSTILE = "<!channel> <http://evil|click> &amp;"


def finding(fid: int = 123, severity: Severity = Severity.CRITICAL, **kw: Any) -> FindingView:
    base = FindingView(
        id=fid,
        cluster="prod",
        check_id="http-proxy-noproxy-missing-nodes",
        title="http-proxy noProxy does not cover all node IPs",
        severity=severity,
        state="open",
        resource=ResourceRef("Setting", "http-proxy", field="value.noProxy"),
        message="The node(s) 10.0.0.5 are not covered.",
        first_seen=NOW - timedelta(days=3),
        last_seen=NOW,
        evidence={"missing_ips": ("10.0.0.5",), "nodes": ("node-1",)},
    )
    return replace(base, **kw)


def _fleet(critical: int, warning: int, info: int) -> list[FindingView]:
    sevs = [Severity.CRITICAL] * critical + [Severity.WARNING] * warning + [Severity.INFO] * info
    return [finding(i + 1, sev) for i, sev in enumerate(sevs)]


def _last_text(msg: dict[str, Any]) -> str:
    text: str = msg["blocks"][-1]["elements"][0]["text"]
    return text


def test_500_findings_are_cut_to_50_blocks_with_the_right_count_and_hint() -> None:
    msg = findings_message(_fleet(10, 30, 460), now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert len(msg["blocks"]) == 50
    # header + summary + 47 findings + the overflow line; 40 warning-or-worse would fit.
    assert _last_text(msg) == "453 more — use `/harvester findings --severity warning`"
    assert msg["blocks"][2]["text"]["text"].startswith("`F-1` :red_circle: *Critical*")
    assert msg["blocks"][48]["text"]["text"].startswith("`F-47` :large_blue_circle: *Info*")
    assert msg["blocks"][1]["elements"][0]["text"] == (
        "500 open findings: :red_circle: 10 critical · :large_orange_circle: 30 warning · "
        ":large_blue_circle: 460 info"
    )
    assert msg["text"] == "500 open findings: 10 critical, 30 warning, 460 info"


def test_hint_keeps_the_cluster_and_the_command_name() -> None:
    msg = findings_message(_fleet(0, 47, 20), now=NOW, tz=TZ, command="/secbot", cluster="prod")
    assert _last_text(msg) == "20 more — use `/secbot findings prod --severity warning`"


def test_hint_narrows_to_critical_per_cluster_when_nothing_else_fits() -> None:
    msg = findings_message(_fleet(100, 0, 0), now=NOW, tz=TZ)
    assert _last_text(msg) == "53 more — use `/harvester findings CLUSTER --severity critical`"


def test_hint_is_stricter_than_the_filter_already_applied() -> None:
    msg = findings_message(_fleet(12, 60, 0), now=NOW, tz=TZ, min_severity=Severity.WARNING)
    assert _last_text(msg) == "25 more — use `/harvester findings --severity critical`"
    summary = msg["blocks"][1]["elements"][0]["text"]
    assert summary.startswith("72 open findings (warning and worse): ")


def test_48_findings_fit_without_an_overflow_line() -> None:
    msg = findings_message(_fleet(0, 0, 48), now=NOW, tz=TZ)
    assert len(msg["blocks"]) == 50
    assert "more — use" not in all_text(msg)


def test_list_line() -> None:
    assert finding_line(finding(), now=NOW, tz=TZ) == (
        "`F-123` :red_circle: *Critical* · http-proxy noProxy does not cover all node IPs\n"
        "*prod* · Setting http-proxy [value.noProxy]\n"
        "The node(s) 10.0.0.5 are not covered.\n"
        "_first seen 3 days ago, Nov 25_"
    )
    silenced = finding(silenced_until=NOW + timedelta(days=5), silence_reason="change window")
    assert finding_line(silenced, now=NOW, tz=TZ).endswith(
        "_first seen 3 days ago, Nov 25_ · :zzz: silenced, ends in 5 days, Dec 03 — change window"
    )
    lapsed = finding(silenced_until=NOW - timedelta(minutes=1), silence_reason="old")
    assert ":zzz:" not in finding_line(lapsed, now=NOW, tz=TZ)


def test_empty_list() -> None:
    msg = findings_message([], now=NOW, tz=TZ, cluster="prod", min_severity=Severity.CRITICAL)
    assert_valid_message(msg)
    assert msg["blocks"] == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":white_check_mark: No open findings in *prod* (critical and worse).",
                "verbatim": True,
            },
        }
    ]


def test_detail_with_rationale_evidence_and_fix_button() -> None:
    msg = finding_detail_message(finding(), now=NOW, tz=TZ)
    assert_valid_message(msg)
    blocks = msg["blocks"]
    assert blocks[0]["text"]["text"] == "F-123: http-proxy noProxy does not cover all node IPs"
    assert blocks[1]["text"]["text"] == "The node(s) 10.0.0.5 are not covered."
    assert [f["text"] for f in blocks[1]["fields"]] == [
        "*Severity*\n:red_circle: *Critical*",
        "*Cluster*\nprod",
        "*Resource*\nSetting http-proxy [value.noProxy]",
        "*State*\nopen",
        "*First seen*\n3 days ago, Nov 25",
        "*Last seen*\ntoday, 14:05",
    ]
    why = blocks[2]["text"]["text"]
    assert why.startswith(
        "*Why it matters* (`http-proxy-noproxy-missing-nodes`)\n"
        "A proxy is set, but noProxy does not cover every node's InternalIP.\n\n"
        "Traffic between nodes then goes to the proxy"
    )
    assert "(`10.0.0.0/8` too)" in why  # reST ``literal`` became mrkdwn `code`
    assert "Bad:" not in why and "Source:" not in why
    assert [f["text"] for f in blocks[3]["fields"]] == [
        "`missing_ips`\n10.0.0.5",
        "`nodes`\nnode-1",
    ]
    assert blocks[4]["elements"][0]["text"] == (
        "Not silenced · `/harvester silence F-123 7d reason...`"
    )
    assert blocks[5] == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Fix", "emoji": True},
                "action_id": "finding-fix",
                "value": "F-123",
                "style": "primary",
            }
        ],
    }
    assert blocks[6]["elements"][0]["text"] == "Remediation offered: `add-noproxy-node-ips`"
    assert blocks[7]["elements"][0]["text"] == (
        "Source: reference/harvester.md §2.1 (webhook rule 3 and its exact message)."
    )


def _has_fix(msg: dict[str, Any]) -> bool:
    return any(b["type"] == "actions" for b in msg["blocks"])


def test_fix_button_only_when_a_remediation_is_offered_and_the_finding_is_open() -> None:
    expired = finding(check_id="cert-expired", title="Certificate expired")
    assert not _has_fix(finding_detail_message(expired, now=NOW, tz=TZ))
    offered = replace(expired, remediation="rotate-rke2-certs")
    assert _has_fix(finding_detail_message(offered, now=NOW, tz=TZ))
    resolved = finding(state="resolved")
    msg = finding_detail_message(resolved, now=NOW, tz=TZ)
    assert not _has_fix(msg)
    assert msg["blocks"][1]["fields"][3]["text"] == "*State*\n:white_check_mark: resolved"


def test_detail_of_a_check_that_no_longer_exists() -> None:
    gone = finding(check_id="retired-check", title="Retired")
    msg = finding_detail_message(gone, now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert "Why it matters" not in all_text(msg)
    assert not _has_fix(msg)


def test_detail_of_a_silenced_finding() -> None:
    f = finding(silenced_until=NOW + timedelta(days=5), silence_reason="maintenance <!here>")
    msg = finding_detail_message(f, now=NOW, tz=TZ, command="/secbot")
    assert_valid_message(msg)
    assert msg["blocks"][4]["elements"][0]["text"] == (
        ":zzz: silenced, ends in 5 days, Dec 03 — maintenance &lt;!here&gt; · "
        "end it: `/secbot unsilence F-123`"
    )


def test_more_than_ten_evidence_items() -> None:
    f = finding(evidence={f"k{i:02d}": i for i in range(13)} | {"none": None, "flag": True})
    fields = finding_detail_message(f, now=NOW, tz=TZ)["blocks"][3]["fields"]
    assert len(fields) == 10
    assert fields[0]["text"] == "`flag`\nTrue"
    assert fields[8]["text"] == "`k07`\n7"
    assert fields[9]["text"] == "…and 6 more"


def test_a_10000_character_message_is_cut_per_section() -> None:
    long = "\n".join(f"{i:05d} " + "x" * 94 for i in range(100))  # 10,099 characters
    f = finding(message=long, evidence={"blob": "y" * 10_000})
    msg = finding_detail_message(f, now=NOW, tz=TZ)
    assert_valid_message(msg)
    text = msg["blocks"][1]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("\n…")
    assert len(msg["blocks"][3]["fields"][0]["text"]) <= 2000
    line = findings_message([f], now=NOW, tz=TZ)["blocks"][2]["text"]["text"]
    assert len(line) < 700


def test_hostile_text_is_escaped_everywhere() -> None:
    f = finding(
        cluster=HOSTILE,
        message=HOSTILE,
        title=HOSTILE,
        resource=ResourceRef("Secret", HOSTILE, namespace="<@U999>"),
        evidence={"x": HOSTILE, "<b>": (HOSTILE, None)},
        silenced_until=NOW + timedelta(days=1),
        silence_reason=HOSTILE,
    )
    for msg in (
        finding_detail_message(f, now=NOW, tz=TZ),
        findings_message([f], now=NOW, tz=TZ, cluster=HOSTILE),
    ):
        assert_valid_message(msg)  # no "<" other than our own <#C…>/<@U…> links
        text = all_text(msg)
        assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;" in text
        assert "<@U999>" not in text


def test_rationale_reads_an_explicit_why_section() -> None:
    doc = "Summary line\ncontinued.\n\nWhy:\nBecause it\nbreaks.\n\nMore why.\n\nBad: x\nGood: y\n"
    assert rationale(doc + "Source: ref §1") == (
        "Summary line continued.",
        "Because it breaks.\n\nMore why.",
        "ref §1",
    )
    assert rationale("") == ("", "", "")


def test_rationale_text_with_angle_brackets_is_escaped() -> None:
    f = finding(check_id="cert-hostname-mismatch", title="hostname")
    why = finding_detail_message(f, now=NOW, tz=TZ)["blocks"][2]["text"]["text"]
    assert "cannot validate certificate for &lt;VIP&gt;" in why


_ANY_TEXT = st.text(alphabet=st.sampled_from("<>&!@#|`*_~:\n aZ9"), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(cluster=_ANY_TEXT, text=_ANY_TEXT, reason=_ANY_TEXT)
def test_any_user_text_yields_valid_escaped_blocks(cluster: str, text: str, reason: str) -> None:
    f = finding(
        cluster=cluster,
        message=text,
        title=text,
        evidence={text: text},
        silenced_until=NOW + timedelta(days=1),
        silence_reason=reason,
    )
    for msg in (
        finding_detail_message(f, now=NOW, tz=TZ),
        findings_message([f], now=NOW, tz=TZ, cluster=cluster),
    ):
        assert_valid_message(msg)


def test_a_source_that_wraps_onto_two_lines_is_kept_whole() -> None:
    msg = finding_detail_message(finding(check_id="cert-expired"), now=NOW, tz=TZ)
    assert msg["blocks"][-1]["elements"][0]["text"] == (
        "Source: reference/harvester.md §3.1 (RKE2 certificate lifetimes and renewal), §3.2 "
        "(harvester#3863), §2.2 (harvester#9351)."
    )
