"""``findings`` (the list) and ``show F-123`` (one finding in full).

The list is one section per finding, worst first as the query returns them; past 50
blocks it ends in "N more — use `/harvester findings … --severity …`", suggesting the
least strict filter under which the whole list would fit. The detail adds the check's
rationale (its docstring: summary and explanation, up to the Bad/Good examples), the
evidence as fields, the silence state, and a "Fix" button when a remediation is offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.checks.registry import get_check
from bot.core.finding import JSONScalar
from bot.core.severity import Severity
from bot.findings.views import FindingView
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    MAX_FIELDS,
    WORST_FIRST,
    Block,
    Message,
    actions,
    button,
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
    severity_label,
    shown_count,
)
from bot.slack.blocks.status import times_in
from bot.slack.blocks.timefmt import format_when

FIX_ACTION_ID = "finding-fix"
_MESSAGE_IN_LIST = 300
_EVIDENCE_VALUE = 500
# Paragraphs of a check docstring that start the examples / references, not the "why".
_NOT_WHY = ("Bad:", "Good:", "Source:", "Sources:", "Example")


def _filter_text(cluster: str | None, min_severity: Severity | None) -> str:
    where = f" in *{escape(cluster)}*" if cluster else ""
    floor = f" ({min_severity.value} and worse)" if min_severity else ""
    return where + floor


def silence_text(finding: FindingView, *, now: datetime, tz: tzinfo) -> str | None:
    """While a silence is active: ":zzz: silenced, ends in 6 days, Dec 04 — reason"."""
    until = finding.silenced_until
    if until is None or until <= now:
        return None
    reason = f" — {escape(one_line(finding.silence_reason, 300))}" if finding.silence_reason else ""
    return f":zzz: silenced, ends {format_when(until, now=now, tz=tz)}{reason}"


def finding_line(finding: FindingView, *, now: datetime, tz: tzinfo) -> str:
    """Four short lines: id, severity, title / where / message / first seen (silence)."""
    f = finding
    seen = f"_first seen {format_when(f.first_seen, now=now, tz=tz)}_"
    silenced = silence_text(f, now=now, tz=tz)
    return "\n".join(
        [
            f"{code(f.short_id)} {severity_label(f.severity)} · {escape(f.title)}",
            f"*{escape(f.cluster)}* · {escape(str(f.resource))}",
            escape(one_line(f.message, _MESSAGE_IN_LIST)),
            f"{seen} · {silenced}" if silenced else seen,
        ]
    )


def narrow_hint(
    findings: Sequence[FindingView],
    shown: int,
    *,
    command: str,
    cluster: str | None,
    min_severity: Severity | None,
) -> str:
    """The command that shows fewer findings: the least strict severity floor under which
    the list fits, else ``--severity critical`` per cluster."""
    floor = min_severity.rank if min_severity else 0
    target: Severity | None = None
    for sev in (Severity.WARNING, Severity.CRITICAL):
        if sev.rank > floor and sum(f.severity.rank >= sev.rank for f in findings) <= shown:
            target = sev
            break
    parts = [command, "findings"]
    if target is None and cluster is None:
        parts.append("CLUSTER")
    if cluster:
        parts.append(cluster)
    parts += ["--severity", (target or Severity.CRITICAL).value]
    return " ".join(parts)


def findings_message(
    findings: Sequence[FindingView],
    *,
    now: datetime,
    tz: tzinfo,
    command: str = DEFAULT_COMMAND,
    cluster: str | None = None,
    min_severity: Severity | None = None,
) -> Message:
    """The ``findings`` list; ``cluster`` / ``min_severity`` are the filters applied."""
    filters = _filter_text(cluster, min_severity)
    if not findings:
        return message(
            "No open findings.", [section(f":white_check_mark: No open findings{filters}.")]
        )
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    summary = f"{plural(len(findings), 'open finding')}{filters}: {counts_text(counts)}"
    head = [header("Findings"), context(summary, times_in(tz))]
    items = [section(finding_line(f, now=now, tz=tz)) for f in findings]
    shown = shown_count(len(items), reserved=len(head))

    def more(n: int) -> str:
        hint = narrow_hint(
            findings, shown, command=command, cluster=cluster, min_severity=min_severity
        )
        return more_line(n, hint)

    fallback = f"{plural(len(findings), 'open finding')}: " + ", ".join(
        f"{counts[s.value]} {s.value}" for s in WORST_FIRST if counts.get(s.value)
    )
    return message(fallback, fit(head, items, more=more))


def rationale(doc: str) -> tuple[str, str, str]:
    """(summary, why, source) of a check docstring, each unwrapped to single lines.

    ``why`` is the explanation between the summary and the examples ("Bad:" / "Good:");
    ``source`` the "Source:" line without its label.
    """
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    if not paragraphs:
        return "", "", ""
    summary = " ".join(paragraphs[0].split())
    why: list[str] = []
    source = ""
    in_why = True
    for para in paragraphs[1:]:
        lines = para.splitlines()
        label = lines[0].strip()
        if label.rstrip(":").lower() == "why" and len(lines) > 1:
            para, label = "\n".join(lines[1:]), lines[1].strip()
        if label.startswith(_NOT_WHY):
            in_why = False
        elif in_why:
            why.append(" ".join(para.split()))
        for i, line in enumerate(lines):
            if line.strip().startswith(("Source:", "Sources:")):  # may wrap onto more lines
                source = " ".join(" ".join(lines[i:]).split(":", 1)[1].split())
                break
    return summary, "\n\n".join(why), source


def _mrkdwn_doc(text: str) -> str:
    """Docstring text for mrkdwn: escaped, reST ``literals`` as `code`."""
    return escape(text).replace("``", "`")


def _value(value: JSONScalar | tuple[JSONScalar, ...]) -> str:
    items = value if isinstance(value, tuple) else (value,)
    text = ", ".join("—" if v is None else str(v) for v in items)
    return escape(one_line(text, _EVIDENCE_VALUE)) or "—"


def evidence_fields(finding: FindingView) -> list[str]:
    """At most 10 fields; past that the tenth says how many were left out."""
    items = sorted(finding.evidence.items())
    fields = [f"{code(key)}\n{_value(value)}" for key, value in items]
    if len(fields) > MAX_FIELDS:
        rest = len(fields) - (MAX_FIELDS - 1)
        fields = [*fields[: MAX_FIELDS - 1], f"…and {rest} more"]
    return fields


def finding_detail_message(
    finding: FindingView, *, now: datetime, tz: tzinfo, command: str = DEFAULT_COMMAND
) -> Message:
    """``show F-123``."""
    f = finding
    state = ":white_check_mark: resolved" if f.state == "resolved" else f.state
    tier = f" (tier {escape(f.tier)})" if f.tier else ""
    fields = [
        f"*Severity*\n{severity_label(f.severity)}{tier}",
        f"*Cluster*\n{escape(f.cluster)}",
        f"*Resource*\n{escape(str(f.resource))}",
        f"*State*\n{escape(state)}",
        f"*First seen*\n{format_when(f.first_seen, now=now, tz=tz)}",
        f"*Last seen*\n{format_when(f.last_seen, now=now, tz=tz)}",
    ]
    blocks: list[Block] = [
        header(f"{f.short_id}: {f.title}"),
        section(escape(f.message), fields=fields),
    ]
    try:
        check = get_check(f.check_id)
        summary, why, source = rationale(check.doc())
        offered = f.remediation or check.remediation
    except KeyError:  # a check that is no longer built in: show what the store has
        summary, why, source = "", "", ""
        offered = f.remediation
    if summary:
        text = f"*Why it matters* ({code(f.check_id)})\n{_mrkdwn_doc(summary)}"
        blocks.append(section(text + (f"\n\n{_mrkdwn_doc(why)}" if why else "")))
    if f.evidence:
        blocks.append(section("*Evidence*", fields=evidence_fields(f)))
    silenced = silence_text(f, now=now, tz=tz)
    if silenced:
        hint = f"{silenced} · end it: {code(f'{command} unsilence {f.short_id}')}"
    else:
        hint = f"Not silenced · {code(f'{command} silence {f.short_id} 7d reason...')}"
    blocks.append(context(hint, times_in(tz)))
    if offered and f.state != "resolved":
        fix = button("Fix", action_id=FIX_ACTION_ID, value=f.short_id, style="primary")
        blocks.append(actions(fix))
        blocks.append(context(f"Remediation offered: {code(offered)}"))
    if source:
        blocks.append(context(f"Source: {_mrkdwn_doc(source)}"))
    fallback = f"{f.short_id} {f.severity.value}: {f.title} ({f.cluster})"
    return message(fallback, blocks)
