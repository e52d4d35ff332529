"""Terminal output: one rich table per cluster, worst and soonest first.

Severity is shown as a word and a symbol, not by colour alone, so it survives a pipe to a
file or a colour-blind reader. Every string comes from scanned material (a certificate's
CN, a file name), so control characters are shown escaped (``\x1b``), never sent: an
escape sequence in a CN could otherwise move the cursor and erase the expired row above
it, or reach the clipboard (OSC 52). JSON and SARIF escape them by their own rules.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.output.view import report_view
from bot.scan import ScanReport

_SEVERITY = {
    "critical": ("!! CRITICAL", "bold red"),
    "warning": ("!  WARNING", "yellow"),
    "info": ("i  INFO", "cyan"),
}


# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that
# can make text read differently from what it is ("Trojan source").
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> Any:
    """``value`` (a view: dicts, lists, strings) with every control character escaped."""
    if isinstance(value, str):
        return _CONTROL.sub(_escaped, value)
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def _cluster_table(cluster: dict[str, Any]) -> Table:
    # Three columns keep the table readable at 80 characters: the finding column stacks
    # check id, resource and message instead of squeezing them side by side.
    table = Table(show_lines=True, expand=True, header_style="bold")
    table.add_column("Severity", no_wrap=True)
    table.add_column("ID", no_wrap=True)
    table.add_column("Finding", overflow="fold", ratio=1)
    for f in cluster["findings"]:
        label, style = _SEVERITY[f["severity"]]
        res = f["resource"]
        where = f"{res['kind']} {res['namespace'] + '/' if res['namespace'] else ''}{res['name']}"
        if res["field"]:
            where += f" [{res['field']}]"
        body = Text.assemble(
            (f["check"], "bold"),
            (f"  ({f['status']})" if f["status"] else "", "dim"),
            "\n",
            (where, "dim"),
            "\n",
            f["message"],
        )
        table.add_row(Text(label, style=style), f["id"] or "-", body)
    return table


def render_table(report: ScanReport, *, generated_at: datetime, console: Console) -> None:
    """Print the report to ``console``."""
    view = printable(report_view(report, generated_at=generated_at))
    for cluster in view["clusters"]:
        version = (
            f", Harvester {cluster['harvester_version']}" if cluster["harvester_version"] else ""
        )
        console.rule(
            Text.assemble(
                (cluster["cluster"], "bold"),
                f"  ({cluster['source']}: {cluster['origin']}{version})",
            )
        )
        if cluster["findings"]:
            console.print(_cluster_table(cluster))
        else:
            console.print("No findings.", markup=False)
        for item in cluster["resolved"]:
            console.print(
                f"  resolved: {item['id']} {item['check']} {item['resource']}", markup=False
            )
        if cluster["unknown"]:
            console.print(Text("Could not decide (UNKNOWN, not a pass):", style="bold"))
            for u in cluster["unknown"]:
                console.print(f"  ? {u['check']}: {u['reason']}", markup=False, highlight=False)
        gaps = [c for c in cluster["coverage"] if c["status"] not in ("read",)]
        if gaps:
            console.print(Text("Coverage gaps:", style="bold"))
            for c in gaps:
                detail = f" - {c['detail']}" if c["detail"] else ""
                console.print(
                    f"  {c['subject']}: {c['status']}{detail}", markup=False, highlight=False
                )
        console.print()
    s = view["summary"]
    console.print(
        f"{s['critical']} critical, {s['warning']} warning, {s['info']} info, "
        f"{s['unknown']} unknown in {len(view['clusters'])} cluster(s)",
        markup=False,
    )
