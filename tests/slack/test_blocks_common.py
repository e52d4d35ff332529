"""The shared Block Kit helpers: escaping, limits, fitting; plus the validators the other
builder tests use (every block must round-trip through slack_sdk.models unchanged)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.severity import Severity
from bot.slack.blocks import common as c

# A "<" may open only the links the builders make themselves: <#C123> and <@U123>.
_OWN_LINK = re.compile(r"<(?![#@][A-Z0-9]+>)")


def texts(obj: Any) -> Iterator[str]:
    """Every "text" string in a block tree (text objects, fallback text)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from texts(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from texts(item)


def _check_block(block: dict[str, Any]) -> None:
    parsed = Block.parse(block)
    assert parsed is not None, block
    # to_dict() runs slack_sdk's validators; equality proves nothing was unknown or dropped.
    assert parsed.to_dict() == block
    if block["type"] == "section":
        assert len(block.get("text", {}).get("text", "")) <= 3000
        assert len(block.get("fields", [])) <= 10
        assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    if block["type"] == "header":
        assert len(block["text"]["text"]) <= 150
    for element in block.get("elements", []):
        if element.get("type") == "button":
            assert len(element["text"]["text"]) <= 75
    for text in texts(block):
        assert text, block
        assert not _OWN_LINK.search(text), text


def assert_valid_message(msg: dict[str, Any]) -> None:
    """A message dict Slack accepts: text + 1..50 valid blocks, no foreign links."""
    assert set(msg) == {"text", "blocks"}
    assert isinstance(msg["text"], str) and msg["text"]
    assert not _OWN_LINK.search(msg["text"]), msg["text"]
    assert 1 <= len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        _check_block(block)


def assert_valid_home(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    assert View(**view).to_dict() == view
    assert 1 <= len(view["blocks"]) <= 100
    for block in view["blocks"]:
        _check_block(block)


def all_text(msg: dict[str, Any]) -> str:
    return "\n".join(texts(msg))


def test_escape_the_three_characters() -> None:
    assert c.escape("<!channel> <http://evil|click> &amp;") == (
        "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;"
    )


def test_code_span_cannot_be_closed_by_user_text() -> None:
    assert c.code("a`b<c>") == "`a\u02cbb&lt;c&gt;`"


def test_severity_is_emoji_and_word() -> None:
    assert c.severity_label(Severity.CRITICAL) == ":red_circle: *Critical*"
    assert c.severity_label(Severity.WARNING) == ":large_orange_circle: *Warning*"
    assert c.severity_label(Severity.INFO) == ":large_blue_circle: *Info*"


def test_counts_text() -> None:
    assert c.counts_text({"info": 1, "critical": 2}) == (
        ":red_circle: 2 critical · :large_blue_circle: 1 info"
    )
    assert c.counts_text({"warning": 0}) == ":white_check_mark: no open findings"


def test_user_ref_mentions_only_user_ids() -> None:
    assert c.user_ref("U012AB3CD") == "<@U012AB3CD>"
    assert c.user_ref("W0ABC") == "<@W0ABC>"
    assert c.user_ref("<!channel>") == "&lt;!channel&gt;"
    assert c.user_ref("alice") == "alice"


def test_truncate_cuts_at_a_line_boundary() -> None:
    text = "\n".join(f"line {i:04d}" for i in range(1000))  # 9,999 characters
    cut = c.truncate(text, 3000)
    assert len(cut) <= 3000
    assert len(cut) == 2991
    assert cut.endswith("\nline 0298\n…")
    assert text.startswith(cut[: -len("\n…")])


def test_truncate_without_newlines_never_splits_an_entity_or_link() -> None:
    assert c.truncate("x" * 6 + "&amp;" + "y" * 10, 10) == "xxxxxx…"
    assert c.truncate("abc <@U1> def", 7) == "abc …"
    assert c.truncate("short", 10) == "short"


@given(st.text(alphabet="ab<>&;\n @", max_size=400), st.integers(min_value=2, max_value=300))
def test_truncate_respects_the_limit(text: str, limit: int) -> None:
    cut = c.truncate(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith("…")
        assert text.startswith(cut[:-1].rstrip("\n"))


@given(st.text(max_size=300))
def test_escaped_text_has_no_markup_left(text: str) -> None:
    out = c.escape(text)
    assert "<" not in out and ">" not in out
    assert re.sub(r"&(amp|lt|gt);", "", out).count("&") == 0


def test_pack_lines_counts_lines_per_chunk() -> None:
    lines = [f"{i:09d}" for i in range(10)]  # 9 characters each
    assert c.pack_lines(lines, 30) == [
        ("000000000\n000000001\n000000002", 3),
        ("000000003\n000000004\n000000005", 3),
        ("000000006\n000000007\n000000008", 3),
        ("000000009", 1),
    ]


def test_fit_keeps_the_limit_and_names_what_was_left_out() -> None:
    head = [c.header("H")]
    items = [c.section(f"item {i}") for i in range(60)]
    tail = [c.divider()]
    blocks = c.fit(head, items, tail=tail, more=lambda n: c.more_line(n, "/x more"))
    assert len(blocks) == 50
    assert blocks[47]["text"]["text"] == "item 46"
    assert blocks[48]["elements"][0]["text"] == "13 more — use `/x more`"
    assert blocks[49] == {"type": "divider"}
    assert c.fit(head, items[:48], more=str) == [*head, *items[:48]]
    assert c.fit(head, items[:49], more=str) == [*head, *items[:49]]
    assert c.fit(head, items[:50], more=str)[-1]["elements"][0]["text"] == "2"


def test_fit_with_weights_counts_things_not_blocks() -> None:
    items = [c.section(str(i)) for i in range(5)]
    blocks = c.fit([], items, limit=3, weights=[10, 10, 7, 8, 9], more=str)
    assert blocks[-1]["elements"][0]["text"] == "24"


def test_message_refuses_too_many_blocks() -> None:
    with pytest.raises(ValueError, match="51 blocks"):
        c.message("x", [c.divider()] * 51)


def test_header_and_button_texts_are_cut() -> None:
    assert len(c.header("h" * 500)["text"]["text"]) == 150
    assert len(c.button("b" * 100, action_id="a", value="v")["text"]["text"]) == 75
    assert c.section("")["text"]["text"] == "-"
