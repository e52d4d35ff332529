"""Write a scan report in the requested format to a file or the terminal.

JSON and SARIF are indented for a person at a terminal and compact when they go to a
file or a pipe (indentation makes Python's JSON encoder several times slower).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from bot.errors import UserError
from bot.scan import ScanReport


def check_output(output: Path) -> None:
    """UserError unless a report can be written to ``output``: checked before the scan,
    so a typo in ``-o`` costs neither the scan nor its "new" findings (a stored scan
    would report them as unchanged the next time)."""
    if output.is_dir():
        raise UserError(f"--output {output} is a folder; give a file name")
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: the folder {output.parent} does not exist")


def emit(report: ScanReport, *, fmt: str, output: Path | None, generated_at: datetime) -> None:
    """Render ``report`` as ``fmt`` (table, json, sarif) to ``output`` or stdout."""
    if fmt == "table":
        from rich.console import Console

        from bot.output.table import render_table

        if output is None:
            render_table(report, generated_at=generated_at, console=Console())
            return
        with output.open("w", encoding="utf-8") as fh:
            console = Console(file=fh, width=160, no_color=True)
            render_table(report, generated_at=generated_at, console=console)
        return
    pretty = output is None and sys.stdout.isatty()
    if fmt == "json":
        from bot.output.jsonout import render_json

        text = render_json(report, generated_at=generated_at, pretty=pretty)
    else:
        from bot.output.sarif import render_sarif

        text = render_sarif(report, generated_at=generated_at, pretty=pretty)
    if output is not None:
        output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
