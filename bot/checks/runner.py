"""Apply checks to a snapshot: findings, plus UNKNOWN for what could not be decided."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.checks.base import Check, CheckContext, NotEvaluable
from bot.core.finding import Finding, Unknown
from bot.core.policy import CheckPolicy
from bot.core.snapshot import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckRun:
    """Result of running a set of checks on one snapshot."""

    snapshot: Snapshot
    findings: tuple[Finding, ...]
    unknowns: tuple[Unknown, ...]
    evaluated: frozenset[str] = field(default_factory=frozenset)  # check ids that decided


def _missing_reason(check: Check, snap: Snapshot) -> str | None:
    for subject in check.requires:
        item = snap.coverage_of(subject)
        if not item.usable:
            return f"needs {subject}: {item.status.value}" + (
                f" ({item.detail})" if item.detail else ""
            )
    if check.requires_any and not any(snap.covers(s) for s in check.requires_any):
        return "needs one of: " + ", ".join(check.requires_any) + f" (none in this {snap.source})"
    return None


def run_checks(
    snapshot: Snapshot, checks: Iterable[Check], policy: CheckPolicy | None = None
) -> CheckRun:
    """Run ``checks`` on ``snapshot``; never raises for a single check's failure."""
    ctx = CheckContext(snapshot=snapshot, policy=policy or CheckPolicy())
    findings: list[Finding] = []
    unknowns: list[Unknown] = []
    evaluated: set[str] = set()
    for check in checks:
        reason = _missing_reason(check, snapshot)
        if reason is not None:
            unknowns.append(Unknown(check.id, snapshot.cluster, reason))
            continue
        try:
            produced = list(check.evaluate(ctx))
        except NotEvaluable as e:
            unknowns.append(Unknown(check.id, snapshot.cluster, str(e)))
            continue
        except Exception as e:  # boundary: one broken check must not hide the others
            log.exception("check %s failed on cluster %s", check.id, snapshot.cluster)
            unknowns.append(
                Unknown(check.id, snapshot.cluster, f"internal error in check: {type(e).__name__}")
            )
            continue
        evaluated.add(check.id)
        findings.extend(produced)
    findings.sort(key=lambda f: (-f.severity.rank, f.check_id, f.resource.key))
    return CheckRun(snapshot, tuple(findings), tuple(unknowns), frozenset(evaluated))
