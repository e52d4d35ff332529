"""SARIF 2.1.0 output, for code-scanning dashboards and CI annotations.

Rules come from the check registry; each result carries the secbot fingerprint as a
partial fingerprint so viewers can track it across runs, and a logical location naming
the Kubernetes resource (physical locations only for files on disk).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import bot
from bot.checks.registry import builtin_checks
from bot.output.view import report_view
from bot.scan import ScanReport

_LEVEL = {"critical": "error", "warning": "warning", "info": "note"}
_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rules() -> list[dict[str, Any]]:
    rules = []
    for check in builtin_checks():
        rules.append(
            {
                "id": check.id,
                "name": check.title,
                "shortDescription": {"text": check.title},
                "fullDescription": {"text": check.summary()},
                "help": {"text": check.doc()},
                "defaultConfiguration": {"level": _LEVEL[check.severity.value]},
                "properties": {"tags": list(check.tags), "severity": check.severity.value},
            }
        )
    return rules


def _location(cluster: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    res = finding["resource"]
    loc: dict[str, Any] = {
        "logicalLocations": [
            {
                "fullyQualifiedName": f"{cluster['cluster']}/{res['key']}",
                "name": res["name"],
                "kind": res["kind"],
            }
        ]
    }
    if res["kind"] == "File":
        loc["physicalLocation"] = {"artifactLocation": {"uri": res["name"]}}
    return loc


def render_sarif(report: ScanReport, *, generated_at: datetime, pretty: bool = True) -> str:
    view = report_view(report, generated_at=generated_at)
    results = []
    for cluster in view["clusters"]:
        for f in cluster["findings"]:
            results.append(
                {
                    "ruleId": f["check"],
                    "level": _LEVEL[f["severity"]],
                    "message": {"text": f"[{cluster['cluster']}] {f['message']}"},
                    "locations": [_location(cluster, f)],
                    "partialFingerprints": {"secbot/v1": f["fingerprint"]},
                    "properties": {
                        "cluster": cluster["cluster"],
                        "severity": f["severity"],
                        "evidence": f["evidence"],
                        **({"secbotId": f["id"]} if f["id"] else {}),
                    },
                }
            )
    sarif = {
        "$schema": _SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "secbot",
                        "version": bot.__version__,
                        "rules": _rules(),
                    }
                },
                "invocations": [{"executionSuccessful": True, "endTimeUtc": view["generated_at"]}],
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2) if pretty else json.dumps(sarif, separators=(",", ":"))
