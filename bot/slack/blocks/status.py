"""``status [cluster]`` and the result of ``scan``: clusters at a glance.

Status shows, per cluster, the last scan (when, from where, its error), open findings by
severity (plus undecided and silenced ones), the next certificate to expire and pending
approvals. Lists put the worst cluster first: critical findings, then failed scans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from bot.findings.views import CertView, ClusterStatus
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Block,
    Message,
    code,
    context,
    counts_text,
    escape,
    fit,
    header,
    message,
    more_line,
    one_line,
    plural,
    section,
    truncate,
)
from bot.slack.blocks.timefmt import format_expiry, format_when

# How much of a scan error a list line shows; `status CLUSTER` shows it whole (to 3,000).
_ERROR_IN_LIST = 300


def zone_name(tz: tzinfo) -> str:
    """The zone's IANA key ("Europe/Berlin") for a ZoneInfo, else its own name."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def times_in(tz: tzinfo) -> str:
    return f"Times in {escape(zone_name(tz))}"


def _count(counts: Mapping[str, int], name: str) -> int:
    return counts.get(name, 0)


def worst_first(statuses: Sequence[ClusterStatus]) -> list[ClusterStatus]:
    """Critical findings first, then failed scans, then warnings, info, name."""
    return sorted(
        statuses,
        key=lambda s: (
            -_count(s.counts, "critical"),
            s.last_error is None,
            -_count(s.counts, "warning"),
            -_count(s.counts, "info"),
            s.name,
        ),
    )


def last_scan_text(status: ClusterStatus, *, now: datetime, tz: tzinfo) -> str:
    if status.last_scan_at is None:
        return "never scanned"
    when = format_when(status.last_scan_at, now=now, tz=tz)
    return f"{when} from {escape(status.last_source)}" if status.last_source else when


def findings_text(status: ClusterStatus) -> str:
    """Counts by severity, then undecided checks and silenced findings when there are any."""
    text = counts_text(status.counts)
    if status.unknown:
        text += f" · :grey_question: {status.unknown} undecided"
    if status.silenced:
        text += f" · :zzz: {status.silenced} silenced"
    return text


def next_expiry_text(cert: CertView | None, *, now: datetime, tz: tzinfo) -> str:
    if cert is None:
        return "no certificate known"
    subject = escape(one_line(cert.subject, 200))
    return f"{format_expiry(cert.not_after, now=now, tz=tz)}: {subject}"


def status_fields(status: ClusterStatus, *, now: datetime, tz: tzinfo) -> list[str]:
    return [
        f"*Last scan*\n{last_scan_text(status, now=now, tz=tz)}",
        f"*Open findings*\n{findings_text(status)}",
        f"*Next expiry*\n{next_expiry_text(status.next_expiry, now=now, tz=tz)}",
        f"*Pending approvals*\n{status.pending_approvals}",
    ]


def _error_line(error: str, limit: int, *, label: str = "Last scan failed") -> str:
    return f":x: *{label}:* {escape(one_line(error, limit))}"


def status_block(status: ClusterStatus, *, now: datetime, tz: tzinfo) -> Block:
    """One cluster as one section: name (and its scan error) plus four fields."""
    text = f"*{escape(status.name)}*"
    if status.last_error:
        text += "\n" + _error_line(status.last_error, _ERROR_IN_LIST)
    return section(text, fields=status_fields(status, now=now, tz=tz))


def status_message(
    statuses: Sequence[ClusterStatus],
    *,
    now: datetime,
    tz: tzinfo,
    command: str = DEFAULT_COMMAND,
) -> Message:
    """``status`` (every cluster, worst first) or ``status CLUSTER`` (one, error in full)."""
    if not statuses:
        return message(
            "No cluster has been scanned yet.",
            [section(f"No cluster has been scanned yet. Try {code(command + ' scan all')}.")],
        )
    if len(statuses) == 1:
        return _one(statuses[0], now=now, tz=tz, command=command)
    ordered = worst_first(statuses)
    totals = {
        sev: sum(_count(s.counts, sev) for s in ordered) for sev in ("critical", "warning", "info")
    }
    failed = sum(1 for s in ordered if s.last_error)
    summary = f"{plural(len(ordered), 'cluster')} · {counts_text(totals)}"
    if failed:
        summary += f" · :x: {failed} failed scan{'s' if failed != 1 else ''}"
    head = [header("Status"), context(summary, times_in(tz))]
    items = [status_block(s, now=now, tz=tz) for s in ordered]
    blocks = fit(head, items, more=lambda n: more_line(n, f"{command} status CLUSTER"))
    fallback = f"Status of {plural(len(ordered), 'cluster')}: " + ", ".join(
        f"{s.name} {_count(s.counts, 'critical')} critical" for s in ordered
    )
    return message(fallback, blocks)


def _one(status: ClusterStatus, *, now: datetime, tz: tzinfo, command: str) -> Message:
    blocks: list[Block] = [
        header("Status"),
        section(f"*{escape(status.name)}*", fields=status_fields(status, now=now, tz=tz)),
    ]
    if status.last_error:
        blocks.append(section(truncate(_error_line(status.last_error, 2500))))
    hint = f"{command} findings {status.name}"
    blocks.append(context(f"Details: {code(hint)}", times_in(tz)))
    counts = _plain_counts(status.counts) or "no open findings"
    return message(f"Status of {status.name}: {counts}", blocks)


def _plain_counts(counts: Mapping[str, int]) -> str:
    """Counts without emoji codes, for notifications."""
    return ", ".join(
        f"{counts[s]} {s}" for s in ("critical", "warning", "info") if counts.get(s, 0)
    )


@dataclass(frozen=True, slots=True)
class ScanLine:
    """The outcome of scanning one cluster, as ``scan`` reports it."""

    cluster: str
    counts: Mapping[str, int] = field(default_factory=dict)  # open findings after the scan
    new: int = 0
    resolved: int = 0
    error: str | None = None  # the scan failed (nothing changed in the store)


def _scan_item(line: ScanLine) -> Block:
    name = f"*{escape(line.cluster)}*"
    if line.error:
        return section(f"{name}\n{_error_line(line.error, _ERROR_IN_LIST, label='Scan failed')}")
    changes = f":new: {line.new} new · :white_check_mark: {line.resolved} resolved"
    return section(f"{name} · {counts_text(line.counts)}\n{changes}")


def scan_result_message(lines: Sequence[ScanLine], *, command: str = DEFAULT_COMMAND) -> Message:
    """After ``scan``: per cluster, open findings, new and resolved ones, or the error."""
    ordered = sorted(
        lines, key=lambda x: (x.error is None, -_count(x.counts, "critical"), -x.new, x.cluster)
    )
    new = sum(x.new for x in ordered)
    resolved = sum(x.resolved for x in ordered)
    failed = sum(1 for x in ordered if x.error)
    summary = f"{plural(len(ordered), 'cluster')} scanned · {new} new · {resolved} resolved"
    if failed:
        summary += f" · :x: {failed} failed"
    head = [header("Scan finished"), context(summary)]
    tail = [context(f"Details: {code(command + ' findings CLUSTER')}")]
    items = [_scan_item(x) for x in ordered]
    blocks = fit(head, items, tail=tail, more=lambda n: more_line(n, f"{command} status CLUSTER"))
    fallback = f"Scan finished: {plural(len(ordered), 'cluster')}, {new} new, {resolved} resolved"
    return message(fallback + (f", {failed} failed" if failed else ""), blocks)
