"""Block Kit primitives every builder shares: escaping, severity labels, Slack's limits.

Slack does not cut an oversized message, it rejects it (``invalid_blocks``), so every
builder builds its blocks with these helpers, which never exceed a limit:

* text: a section's text is cut to 3,000 characters at a line boundary, ending in "…";
  fields to 2,000 (at most 10 of them); a header to 150; a button's text to 75;
* block counts: ``fit`` keeps a list within 50 blocks (100 for the Home tab) and ends it
  with a context line "N more — use `/harvester …`" naming how many items were left out.

User-controlled text (cluster names, messages, reasons, evidence) goes through ``escape``
(``&``, ``<``, ``>``, the three characters Slack parses), and every mrkdwn text object is
sent with ``verbatim: true`` so that Slack does not turn bare ``@channel`` or URLs into
mentions and links either. Plain-text objects (headers, buttons) are escaped as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from bot.core.severity import Severity

Block: TypeAlias = dict[str, Any]
Message: TypeAlias = dict[str, Any]

DEFAULT_COMMAND = "/harvester"
MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_CONTEXT_ELEMENTS = 10
# The notification / fallback text: Slack allows far more, but nobody reads it past this.
MAX_FALLBACK_TEXT = 300
ELLIPSIS = "…"

SEVERITY_EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: ":red_circle:",
    Severity.WARNING: ":large_orange_circle:",
    Severity.INFO: ":large_blue_circle:",
}
WORST_FIRST = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
# A Slack user id (U…, or W… on Enterprise Grid): safe to render as a mention.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def escape(text: str) -> str:
    """Escape the three characters Slack parses in mrkdwn (and in fallback text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """Inline code of user text; a backtick inside would end the span early."""
    return "`" + escape(text).replace("`", "\u02cb") + "`"  # MODIFIER LETTER GRAVE ACCENT


def in_code_block(text: str) -> str:
    """Escaped text for inside a ``` block: no backtick survives (MODIFIER LETTER GRAVE
    ACCENT stands in), so nothing in it can close the block and write outside it."""
    return escape(text).replace("`", "\u02cb")


def user_ref(user_id: str) -> str:
    """``<@U123>`` for a Slack user id; anything else as escaped text, never a mention."""
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)


def severity_label(severity: Severity) -> str:
    """Emoji *and* word, so the severity never rests on colour alone."""
    return f"{SEVERITY_EMOJI[severity]} *{severity.value.capitalize()}*"


def counts_text(counts: Mapping[str, int]) -> str:
    """Counts by severity, worst first (":red_circle: 2 critical · …"), or "no open findings"."""
    parts = [
        f"{SEVERITY_EMOJI[sev]} {counts[sev.value]} {sev.value}"
        for sev in WORST_FIRST
        if counts.get(sev.value, 0)
    ]
    return " · ".join(parts) or ":white_check_mark: no open findings"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """Count and noun: "1 finding", "3 findings"."""
    return f"{count} {noun if count == 1 else (plural_noun or noun + 's')}"


def _hard_cut(text: str, room: int) -> str:
    """Cut to ``room`` characters without leaving half an entity or half a ``<…>`` link."""
    head = text[:room]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:] and len(head) - amp < len("&amp;"):
        head = head[:amp]
    lt = head.rfind("<")
    if lt != -1 and ">" not in head[lt:]:
        head = head[:lt]
    return head


def truncate(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    """Cut ``text`` to at most ``limit`` characters, at a line boundary when one is near.

    The cut text ends in "…" so a reader knows something is missing.
    """
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    newline = text.rfind("\n", 0, room)
    if newline > room // 2:  # a line boundary that keeps most of the text
        return text[:newline] + "\n" + ELLIPSIS
    return _hard_cut(text, room) + ELLIPSIS


def one_line(text: str, limit: int) -> str:
    """Collapse whitespace (newlines too) and cut: for list items and plain text."""
    return truncate(" ".join(text.split()), limit)


def pack_lines(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[tuple[str, int]]:
    """Join lines into as few chunks of at most ``limit`` characters as possible.

    Returns (chunk, number of lines in it), so that a caller that drops chunks can say
    how many lines it dropped.
    """
    chunks: list[tuple[str, int]] = []
    current, count = "", 0
    for raw in lines:
        line = truncate(raw, limit)
        if count and len(current) + 1 + len(line) > limit:
            chunks.append((current, count))
            current, count = line, 1
        else:
            current, count = (f"{current}\n{line}" if count else line), count + 1
    if count:
        chunks.append((current, count))
    return chunks


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    """A mrkdwn text object; Slack rejects empty text, so an empty one becomes "-"."""
    return {"type": "mrkdwn", "text": truncate(text or "-", limit), "verbatim": True}


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object (headers, buttons), escaped too: Slack decodes the entities
    there as well, and a title from the store is data like any other."""
    return {"type": "plain_text", "text": one_line(escape(text), limit) or "-", "emoji": True}


def section(text: str, *, fields: Sequence[str] = (), accessory: Block | None = None) -> Block:
    """A section block; its text and fields cut to Slack's limits."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    if accessory is not None:
        block["accessory"] = accessory
    return block


def fields_section(fields: Sequence[str]) -> Block:
    """A section of fields only (at most 10; each at most 2,000 characters)."""
    return {"type": "section", "fields": [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, *, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, MAX_BUTTON_TEXT),
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element


def actions(*elements: dict[str, Any]) -> Block:
    return {"type": "actions", "elements": list(elements)}


def more_line(count: int, hint: str) -> str:
    """The overflow line: "453 more — use `/harvester findings --severity critical`"."""
    return f"{count} more — use {code(hint)}"


def shown_count(items: int, *, reserved: int, limit: int = MAX_MESSAGE_BLOCKS) -> int:
    """How many of ``items`` one-block items ``fit`` shows next to ``reserved`` blocks."""
    budget = limit - reserved
    if budget < 1:
        raise ValueError(f"{reserved} reserved blocks leave no room within {limit}")
    return items if items <= budget else budget - 1  # the overflow line takes a slot


def fit(
    head: Sequence[Block],
    items: Sequence[Block],
    *,
    more: Callable[[int], str],
    limit: int = MAX_MESSAGE_BLOCKS,
    tail: Sequence[Block] = (),
    weights: Sequence[int] | None = None,
) -> list[Block]:
    """``head`` + as many ``items`` as fit + ``tail``, within ``limit`` blocks.

    When items are left out, the last item slot becomes a context block with
    ``more(number left out)``; ``weights`` says how many things each item block stands
    for (several clusters packed in one section), one each by default.
    """
    shown = shown_count(len(items), reserved=len(head) + len(tail), limit=limit)
    if shown == len(items):
        return [*head, *items, *tail]
    left_out = sum(weights[shown:]) if weights is not None else len(items) - shown
    return [*head, *items[:shown], context(more(left_out)), *tail]


def message(fallback: str, blocks: Sequence[Block]) -> Message:
    """A message for ``respond(**msg)`` / ``chat_postMessage(**msg)``.

    ``fallback`` is raw text (escaped here): the notification and screen-reader text. The
    blocks must already fit (``fit``); a builder bug that overshoots fails here rather
    than as ``invalid_blocks`` at Slack.
    """
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks exceed Slack's {MAX_MESSAGE_BLOCKS}")
    return {"text": one_line(escape(fallback), MAX_FALLBACK_TEXT) or "-", "blocks": list(blocks)}
