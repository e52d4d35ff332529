"""``audit``: records newest first, two lines each, escaped, within Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.audit.views import AuditEntry
from bot.slack.blocks.audit import audit_message, entry_lines, payload_text
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)
HOSTILE = "<!channel> <http://evil|click> &amp;"


def entry(seq: int, **kw: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "seq": seq,
        "at": T0 + timedelta(minutes=seq),
        "actor": "U012AB",
        "action": "silence.add",
        "subject": "F-12",
        "payload": {"reason": "INC-42", "cluster": "prod", "replaced": []},
    }
    return AuditEntry(**(values | kw))


def test_one_record_is_a_head_line_and_its_payload() -> None:
    assert entry_lines(entry(42), tz=TZ) == (
        "`#42` 2026-11-29 14:47 CET · <@U012AB> · *silence.add* `F-12`\n"
        "cluster: prod · reason: INC-42"
    )
    system = entry(1, actor="system", action="rotation.record", subject="cluster:a/node:all",
                   payload={})  # fmt: skip
    assert entry_lines(system, tz=TZ) == (
        "`#1` 2026-11-29 14:06 CET · system · *rotation.record* `cluster:a/node:all`"
    )


def test_payload_values_are_flattened_and_empty_ones_left_out() -> None:
    text = payload_text(
        {"b": [1, "x"], "a": {"k": "v"}, "c": None, "d": "", "e": True, "f": [{"x": 1}]}
    )
    assert text == 'a: {"k": "v"} · b: 1, x · e: true · f: [{"x": 1}]'
    assert payload_text({"reason": "x" * 5000}) == "reason: " + "x" * 199 + "…"  # 200 a value
    assert len(payload_text({k: k * 300 for k in "abc"})) == 400  # 400 in all


def test_message_with_records_and_the_hint_for_more() -> None:
    msg = audit_message([entry(n) for n in range(20, 0, -1)], tz=TZ, limit=20)
    assert_valid_message(msg)
    assert msg["text"] == "Audit log: 20 records, newest #20"
    assert msg["blocks"][0]["text"]["text"] == "Audit log"
    body = msg["blocks"][1]["text"]["text"]
    assert body.startswith("`#20` 2026-11-29 14:25 CET · <@U012AB> · *silence.add* `F-12`\n")
    assert body.index("`#20`") < body.index("`#19`") < body.index("`#1` ")
    assert msg["blocks"][-1]["elements"][0]["text"] == (
        "Newest first: 20 records. `/harvester audit 100` shows up to 100. "
        "`secbot audit verify` checks that none was altered or removed."
    )
    # Fewer than asked for: everything is shown, no hint.
    few = audit_message([entry(2), entry(1)], tz=TZ, limit=20, command="/hv")
    assert few["blocks"][-1]["elements"][0]["text"] == (
        "Newest first: 2 records. `secbot audit verify` checks that none was altered or removed."
    )


def test_of_one_finding_and_empty() -> None:
    msg = audit_message([entry(3)], tz=TZ, limit=20, subject="F-12")
    assert_valid_message(msg)
    assert msg["blocks"][0]["text"]["text"] == "Audit log of F-12"
    assert msg["text"] == "Audit log of F-12: 1 record, newest #3"
    empty = audit_message([], tz=TZ, limit=20, subject="F-9")
    assert_valid_message(empty)
    assert empty["text"] == "Audit log of F-9: no records"
    assert empty["blocks"][1]["text"]["text"] == "No audit records of `F-9` yet."
    assert audit_message([], tz=TZ, limit=20)["blocks"][1]["text"]["text"] == (
        "No audit records yet."
    )


def test_hostile_text_is_escaped() -> None:
    msg = audit_message(
        [entry(1, actor=HOSTILE, subject=HOSTILE, action="a<b>", payload={"reason": HOSTILE})],
        tz=TZ,
        limit=20,
    )
    assert_valid_message(msg)
    body = msg["blocks"][1]["text"]["text"]
    assert "<!channel>" not in body and "<http://evil|click>" not in body
    assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;" in body
    assert "*a&lt;b&gt;*" in body


def test_a_hundred_long_records_fit_in_one_message() -> None:
    entries = [
        entry(n, payload={"reason": "r" * 300, "cluster": "c" * 60}) for n in range(100, 0, -1)
    ]
    msg = audit_message(entries, tz=TZ, limit=100)
    assert_valid_message(msg)
    text = all_text(msg)
    assert all(f"`#{n}` " in text for n in range(1, 101))
    assert msg["blocks"][-1]["elements"][0]["text"].startswith("Newest first: 100 records. ")
    assert "shows up to" not in text  # 100 is the most there is
