"""The App Home tab: every cluster at a glance.

Per cluster: last scan, open findings by severity, next certificate to expire, pending
approvals (and the last scan's error), worst cluster first. Up to the Home tab's 100
blocks a cluster gets its own section; a larger fleet switches to one line per cluster,
packed into sections, so even hundreds of clusters stay visible; only beyond that does
the view end in "N more — use `/harvester status CLUSTER`".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from bot.findings.views import ClusterStatus
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    MAX_HOME_BLOCKS,
    Block,
    code,
    context,
    counts_text,
    divider,
    escape,
    fit,
    header,
    more_line,
    pack_lines,
    plural,
    section,
)
from bot.slack.blocks.status import (
    findings_text,
    last_scan_text,
    next_expiry_text,
    status_block,
    times_in,
    worst_first,
)
from bot.slack.blocks.timefmt import format_when


def _compact_line(status: ClusterStatus, *, now: datetime, tz: tzinfo) -> str:
    parts = [
        f"*{escape(status.name)}*",
        findings_text(status),
        f"scanned {last_scan_text(status, now=now, tz=tz)}",
        f"next expiry: {next_expiry_text(status.next_expiry, now=now, tz=tz)}",
    ]
    if status.pending_approvals:
        parts.append(f"{status.pending_approvals} pending")
    if status.last_error:
        parts.append(":x: last scan failed")
    return " · ".join(parts)


def home_view(
    statuses: Sequence[ClusterStatus],
    *,
    now: datetime,
    tz: tzinfo,
    command: str = DEFAULT_COMMAND,
) -> dict[str, Any]:
    """The view for ``views_publish(user_id=..., view=home_view(...))``."""
    ordered = worst_first(statuses)
    totals = {
        sev: sum(s.counts.get(sev, 0) for s in ordered) for sev in ("critical", "warning", "info")
    }
    pending = sum(s.pending_approvals for s in ordered)
    summary = (
        f"{plural(len(ordered), 'cluster')} · {counts_text(totals)} · "
        f"{plural(pending, 'pending approval')} · updated {format_when(now, now=now, tz=tz)}"
    )
    head = [header("Harvester fleet"), context(summary, times_in(tz)), divider()]
    hints = " · ".join(
        code(f"{command} {sub}") for sub in ("status CLUSTER", "findings", "certs", "help")
    )
    tail = [divider(), context(f"More: {hints}")]
    if not ordered:
        empty = section(f"No cluster has been scanned yet. Try {code(command + ' scan all')}.")
        return {"type": "home", "blocks": [*head, empty, *tail]}
    budget = MAX_HOME_BLOCKS - len(head) - len(tail)
    items: list[Block]
    weights: list[int] | None = None
    if len(ordered) <= budget:
        items = [status_block(s, now=now, tz=tz) for s in ordered]
    else:
        chunks = pack_lines(_compact_line(s, now=now, tz=tz) for s in ordered)
        items = [section(text) for text, _ in chunks]
        weights = [count for _, count in chunks]
    blocks = fit(
        head,
        items,
        tail=tail,
        limit=MAX_HOME_BLOCKS,
        weights=weights,
        more=lambda n: more_line(n, f"{command} status CLUSTER"),
    )
    return {"type": "home", "blocks": blocks}
