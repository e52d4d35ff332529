"""The Prometheus text exposition of what the store knows, read at scrape time.

Series (all gauges; times in seconds since the epoch):

- ``secbot_certificate_not_after_seconds{cluster,source,subject,serial}``: every
  certificate of the current inventory (alert on ``- time() < 14*86400``);
- ``secbot_open_findings{cluster,check,severity}``;
- ``secbot_last_successful_scan_timestamp_seconds{cluster}`` and
  ``secbot_scan_duration_seconds{cluster}`` (that scan's wall time);
- ``secbot_outbox_messages{state}`` (pending, sent, dead: the backlog and dead letters);
- ``secbot_remediation_requests{state}``.

Labels hold names, subjects and serials only: nothing secret is in the store to begin with.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.store.db import Engine, read_scope
from bot.store.models_remediation import REQUEST_STATES
from bot.store.repos import clusters as clusters_repo
from bot.store.repos import inventory as inventory_repo
from bot.store.repos import metrics as metrics_repo
from bot.store.repos import outbox as outbox_repo

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name: str, help_text: str, rows: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in rows:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        text = format(value, ".15g")  # full precision: epoch seconds need 10+ digits
        lines.append(f"{name}{{{inner}}} {text}" if inner else f"{name} {text}")
    return lines


def render(engine: Engine) -> str:
    """All series, as one scrape."""
    with read_scope(engine) as session:
        names = {c.id: c.name for c in clusters_repo.list_all(session)}
        certs = inventory_repo.current(session)
        findings = metrics_repo.open_findings(session)
        scans = metrics_repo.last_successful_scans(session)
        outbox = outbox_repo.counts(session)
        found = metrics_repo.requests_by_state(session)
    requests = {state: found.get(state, 0) for state in REQUEST_STATES}
    lines = _series(
        "secbot_certificate_not_after_seconds",
        "notAfter of every certificate in the current inventory",
        (
            (
                {
                    "cluster": names.get(c.cluster_id, "?"),
                    "source": c.source,
                    "subject": c.subject,
                    "serial": c.serial,
                },
                c.not_after.timestamp(),
            )
            for c in certs
        ),
    )
    lines += _series(
        "secbot_open_findings",
        "open findings",
        (({"cluster": c, "check": k, "severity": s}, n) for c, k, s, n in findings),
    )
    lines += _series(
        "secbot_last_successful_scan_timestamp_seconds",
        "start of the newest scan that did not fail",
        (({"cluster": c}, started.timestamp()) for c, started, _ in scans),
    )
    lines += _series(
        "secbot_scan_duration_seconds",
        "wall time of that scan",
        (({"cluster": c}, (finished - started).total_seconds()) for c, started, finished in scans),
    )
    lines += _series(
        "secbot_outbox_messages",
        "outbox messages by state (pending: backlog; dead: dead letters)",
        (({"state": s}, n) for s, n in outbox.items()),
    )
    lines += _series(
        "secbot_remediation_requests",
        "remediation requests by state",
        (({"state": s}, n) for s, n in requests.items()),
    )
    return "\n".join(lines) + "\n"
