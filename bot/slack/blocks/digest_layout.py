"""Layout helpers of the digest (bot.slack.blocks.digest): the block budget of each part,
packing list lines into sections within it with an "N more" line, and the short severity
and finding/cluster labels every list line starts with. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.severity import Severity
from bot.findings.views import short_id
from bot.slack.blocks.common import (
    SEVERITY_EMOJI,
    Block,
    code,
    context,
    escape,
    more_line,
    one_line,
    pack_lines,
    section,
)

# Blocks per part, its overflow line included. 2 (header, summary) + these + 1 divider = 45.
BUDGET = {
    "changes": 10,
    "silences": 3,
    "remediations": 3,
    "certs": 18,
    "credentials": 4,
    "rotations": 4,
}
CLUSTER = 60  # lengths of user-controlled text in a list line
TITLE = 150
TEXT = 200

Line = tuple[str, int]  # mrkdwn text, how many listed things it stands for


def sections(
    lines: Sequence[Line], *, budget: int, hint: str | None, left_out: int = 0
) -> list[Block]:
    """``lines`` packed into sections of at most 3,000 characters, within ``budget``
    blocks; chunks that do not fit, and ``left_out`` things not listed at all, become a
    closing "N more — use `hint`" context line."""
    chunks: list[Line] = []
    start = 0
    for chunk, count in pack_lines(text for text, _ in lines):
        chunks.append((chunk, sum(weight for _, weight in lines[start : start + count])))
        start += count
    if not left_out and len(chunks) <= budget:
        return [section(chunk) for chunk, _ in chunks]
    kept = chunks[: budget - 1]
    left_out += sum(weight for _, weight in chunks[budget - 1 :])
    more = more_line(left_out, hint) if hint else f"{left_out} more"
    return [*(section(chunk) for chunk, _ in kept), context(more)]


def titled(part: str, title: str, lines: list[str], total: int, hint: str | None) -> list[Block]:
    """A part headed "*title* (total)" listing ``lines``, the first of ``total`` items."""
    listed: list[Line] = [(f"*{title}* ({total})", 0), *((line, 1) for line in lines)]
    return sections(listed, budget=BUDGET[part], hint=hint, left_out=total - len(lines))


def sev(severity: Severity) -> str:
    """Emoji and word, short: ":red_circle: critical"."""
    return f"{SEVERITY_EMOJI[severity]} {severity.value}"


def where(finding_id: int, cluster: str) -> str:
    return f"{code(short_id(finding_id))} *{escape(one_line(cluster, CLUSTER))}*"


def findings_hint(severities: Sequence[Severity], command: str) -> str:
    """`findings --severity X` with X the mildest of the findings left out."""
    mildest = min(severities, key=lambda s: s.rank, default=Severity.WARNING)
    return f"{command} findings --severity {mildest.value}"
