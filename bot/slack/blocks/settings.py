"""``get setting NAME [cluster]``: the live value of a Harvester setting.

The caller masks secrets before the value reaches this builder (bot.core.masking); the
builder only shows it: JSON pretty-printed, in a code block cut to fit one section,
with a note saying how long the whole value is when it was cut.
"""

from __future__ import annotations

import json

from bot.slack.blocks.common import (
    MAX_SECTION_TEXT,
    Block,
    Message,
    code,
    context,
    escape,
    header,
    in_code_block,
    message,
    section,
    truncate,
)

_FENCE = "```"


def _pretty(text: str) -> str:
    """JSON objects and arrays indented (settings hold JSON strings); other text as is."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if not isinstance(doc, dict | list):
        return text
    return json.dumps(doc, indent=2, ensure_ascii=False)


def code_block(text: str, limit: int = MAX_SECTION_TEXT) -> tuple[str, bool]:
    """(a ``` block of ``text`` within ``limit`` characters, whether it was cut).

    A backtick inside could close the block early: none survives (``in_code_block``).
    """
    body = in_code_block(text)
    room = limit - 2 * len(_FENCE) - 2
    cut = truncate(body, room)
    return f"{_FENCE}\n{cut}\n{_FENCE}", cut != body


def setting_message(
    *, cluster: str, name: str, value: str | None, default: str | None = None
) -> Message:
    """The effective value (``value``, else ``default``), already masked by the caller."""
    title = f"{code(name)} on *{escape(cluster)}*"
    effective, source = (value, "value") if value else (default, "default (value is empty)")
    blocks: list[Block] = [header("Setting")]
    if not effective:
        blocks.append(section(f"{title} has no value and no default."))
        return message(f"{name} on {cluster}: not set", blocks)
    pretty = _pretty(effective)
    block, was_cut = code_block(pretty)
    blocks += [section(f"{title} · {source}"), section(block)]
    if was_cut:
        blocks.append(context(f"Cut to fit Slack: the value has {len(pretty):,} characters."))
    return message(f"{name} on {cluster}", blocks)
