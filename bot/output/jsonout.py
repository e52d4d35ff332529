"""JSON output: the ``secbot.scan/v1`` view, pretty-printed."""

from __future__ import annotations

import json
from datetime import datetime

from bot.output.view import report_view
from bot.scan import ScanReport


def render_json(report: ScanReport, *, generated_at: datetime) -> str:
    return json.dumps(report_view(report, generated_at=generated_at), indent=2, sort_keys=False)
