"""Apply checks to a snapshot: findings, plus UNKNOWN for what could not be decided.

``pack_run``/``unpack_run`` carry a CheckRun between processes (the fleet's workers).
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from bot.checks.base import Check, CheckContext, NotEvaluable
from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.finding import Finding, Unknown
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
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


def pack_run(run: CheckRun) -> bytes:
    """``run`` as bytes for ``unpack_run`` in another process of the same program."""
    import io  # here: pickle is not needed by one-shot scans, which must start fast
    import pickle

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _dispatch()
    pickler.dump(run)
    return buf.getvalue()


def unpack_run(data: bytes) -> CheckRun:
    """The CheckRun ``pack_run`` made. Unpickles: only for bytes from our own processes."""
    import pickle

    run = pickle.loads(data)
    if not isinstance(run, CheckRun):
        raise TypeError(f"expected a packed CheckRun, got {type(run).__name__}")
    return run


@functools.cache
def _dispatch() -> dict[type, Callable[[Any], Any]]:
    """Pickle the dataclasses a snapshot holds by the hundred as ``cls(*fields)``: about
    twice as fast, both ways, as dataclasses' generic __getstate__/__setstate__."""
    import copyreg

    table: dict[type, Callable[[Any], Any]] = dict(copyreg.dispatch_table)
    for cls in (CertInfo, KeyInfo, CertProblem, ResourceRef):
        if all(f.init for f in fields(cls)):
            get = operator.attrgetter(*(f.name for f in fields(cls)))
            table[cls] = functools.partial(_by_fields, cls, get)
    return table


def _by_fields(cls: type, get: Callable[[Any], tuple[Any, ...]], obj: object) -> object:
    return cls, get(obj)
