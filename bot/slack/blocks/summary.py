"""A scan summary: many new findings of one scan as one message (bot.notify.payloads
ScanSummary), so a cluster's first scan, or a new check firing on every cluster after an
upgrade, is one post per cluster instead of a flood.

The header line counts them by severity (emoji and word); one line per finding follows,
worst first, packed into sections of at most 3,000 characters; what does not fit says
how many more and which command lists them. Nothing here threads: these findings'
resolutions are digest news.
"""

from __future__ import annotations

from collections import Counter
from datetime import tzinfo

from bot.core.severity import Severity
from bot.findings.views import short_id
from bot.notify.payloads import ScanSummary
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    escape,
    fit,
    message,
    more_line,
    one_line,
    pack_lines,
    plural,
    section,
    severity_label,
)
from bot.slack.blocks.timefmt import format_absolute

SHOWN = 60  # lines listed at most; the rest is a count and a command


def _counts(summary: ScanSummary) -> str:
    found = Counter(item.severity for item in summary.items)
    order = sorted(found, key=lambda s: -s.rank)
    return ", ".join(f"{found[s]} {s.value}" for s in order)


def _line(summary: ScanSummary, index: int) -> str:
    item = summary.items[index]
    again = " (reopened)" if item.event == "reopened" else ""
    return (
        f"{severity_label(item.severity)} {code(short_id(item.finding_id))} "
        f"*{escape(one_line(item.title, 150))}*{again} · {code(one_line(item.resource, 200))}"
    )


def summary_message(summary: ScanSummary, *, tz: tzinfo, command: str = DEFAULT_COMMAND) -> Message:
    """One post for all new findings of one scan of one cluster."""
    cluster = escape(one_line(summary.cluster, 100))
    count = len(summary.items)
    worst = max((i.severity for i in summary.items), key=lambda s: s.rank, default=Severity.INFO)
    head = section(
        f"{severity_label(worst)} · *{plural(count, 'new finding')}* on *{cluster}* "
        f"({_counts(summary)})"
    )
    lines = [_line(summary, i) for i in range(min(count, SHOWN))]
    chunks = pack_lines(lines)
    listing = f"{command} findings {one_line(summary.cluster, 100)}"
    hint = context(
        f"{code(listing)} lists them · {code(f'{command} show F-…')} for one · "
        f"scanned {escape(format_absolute(summary.at, tz=tz))}"
    )
    weights = [n for _, n in chunks]
    blocks = fit(
        [head],
        [section(text) for text, _ in chunks],
        more=lambda n: more_line(n + max(count - SHOWN, 0), listing),
        tail=[hint],
        weights=weights,
    )
    if count > SHOWN and len(blocks) == len(chunks) + 2:  # everything packed fitted
        blocks.insert(-1, context(more_line(count - SHOWN, listing)))
    fallback = f"{plural(count, 'new finding')} on {summary.cluster}: {_counts(summary)}"
    return message(fallback, blocks)
