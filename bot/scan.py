"""The scan use case: read sources into snapshots, run the checks, record the results.

All inputs are read (and rejected, if bad) before anything is written, and every cluster's
results are recorded in one transaction: a bad input never leaves a partial scan behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.checks.base import Check
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, run_checks
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageItem, Snapshot
from bot.errors import UserError
from bot.notify.routing import Routing
from bot.sources.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from bot.findings.service import ScanOutcome
    from bot.store.db import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What to scan, as given on the command line."""

    bundles: tuple[Path, ...] = ()
    manifests: tuple[Path, ...] = ()
    pki: tuple[Path, ...] = ()
    cluster_name: str | None = None
    check_ids: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.bundles or self.manifests or self.pki)


@dataclass(frozen=True, slots=True)
class ClusterScan:
    """One snapshot's check results, and what the store made of them (if stored)."""

    run: CheckRun
    outcome: ScanOutcome | None = None
    started_at: datetime | None = None


@dataclass
class ScanReport:
    """Every cluster scanned by one request."""

    scans: list[ClusterScan] = field(default_factory=list)


def select_checks(check_ids: Sequence[str]) -> tuple[Check, ...]:
    """The built-in checks, or only those named; UserError for an unknown id."""
    checks = builtin_checks()
    if not check_ids:
        return checks
    by_id = {c.id: c for c in checks}
    unknown = [c for c in check_ids if c not in by_id]
    if unknown:
        raise UserError(f"unknown check id {unknown[0]!r}; `secbot checks list` shows the ids")
    return tuple(by_id[c] for c in check_ids)


def _default_name(path: Path) -> str:
    resolved = path.resolve()
    return (resolved.stem if resolved.is_file() else resolved.name) or "local"


def read_snapshots(
    request: ScanRequest,
    *,
    now: datetime,
    limits: Limits = DEFAULT_LIMITS,
    progress: Callable[[str], None] | None = None,
) -> list[Snapshot]:
    """Read every input into snapshots; raises InputError before anything is stored."""
    # Each source is imported only when asked for: start-up time counts for one-shot scans.
    say = progress or (lambda _msg: None)
    snapshots: list[Snapshot] = []
    if request.bundles:
        from bot.sources.bundle import read_bundle
    for bundle in request.bundles:
        say(f"reading support bundle {bundle}")
        snapshots.append(
            read_bundle(bundle, cluster=request.cluster_name, scanned_at=now, limits=limits)
        )
    if request.manifests:
        from bot.sources.manifests import read_manifests

        say(f"reading {len(request.manifests)} manifest path(s)")
        name = request.cluster_name or _default_name(request.manifests[0])
        snapshots.append(
            read_manifests(request.manifests, cluster=name, scanned_at=now, limits=limits)
        )
    if request.pki:
        from bot.sources.pki import read_pki

        pki_snaps = []
        folders = list(dict.fromkeys(p.resolve() for p in request.pki))  # each folder once
        request = replace(request, pki=tuple(folders))
        for folder in request.pki:
            say(f"reading PKI folder {folder}")
            name = request.cluster_name or _default_name(request.pki[0])
            pki_snaps.append(read_pki(folder, cluster=name, scanned_at=now, limits=limits))
        snapshots.append(merge_pki(pki_snaps, request.pki))
    return snapshots


def pki_labels(folders: Sequence[Path]) -> list[str]:
    """Distinct, stable labels for several PKI folders: their paths below the common parent
    (``server/tls`` and ``agent`` for /var/lib/rancher/rke2/{server/tls,agent})."""
    resolved = [f.resolve() for f in folders]
    if len(resolved) == 1:
        return [_default_name(resolved[0])]
    common = Path(os.path.commonpath(resolved))
    labels = [p.name if p == common else p.relative_to(common).as_posix() for p in resolved]
    if len(set(labels)) != len(labels):  # a folder given twice, or one inside another
        labels = [p.as_posix().lstrip("/") for p in resolved]
    return labels


def merge_pki(snaps: Sequence[Snapshot], folders: Sequence[Path]) -> Snapshot:
    """Join several PKI folders of one node into one snapshot.

    With more than one folder, file locations are prefixed by the folder's name so that
    ``server/tls/client-ca.crt`` and ``agent/client-ca.crt`` stay distinct resources.
    """
    if len(snaps) == 1:
        return snaps[0]

    def prefixed(label: str, snap: Snapshot) -> Snapshot:
        def loc(ref: ResourceRef) -> ResourceRef:
            return replace(ref, name=f"{label}/{ref.name}") if ref.kind == "File" else ref

        return replace(
            snap,
            certificates=tuple(
                replace(c, location=loc(c.location), group=f"{label}/{c.group}")
                for c in snap.certificates
            ),
            keys=tuple(
                replace(k, location=loc(k.location), group=f"{label}/{k.group}") for k in snap.keys
            ),
            cert_problems=tuple(replace(p, location=loc(p.location)) for p in snap.cert_problems),
            coverage=tuple(
                replace(c, subject=c.subject.replace("file:", f"file:{label}/", 1))
                for c in snap.coverage
            ),
        )

    labels = pki_labels(folders)
    labelled = [prefixed(label, s) for s, label in zip(snaps, labels, strict=True)]
    first = labelled[0]
    coverage: dict[str, CoverageItem] = {}
    for snap in labelled:
        for item in snap.coverage:
            prev = coverage.get(item.subject)
            if prev is None or not item.usable:
                coverage[item.subject] = item
    return replace(
        first,
        origin=", ".join(str(f) for f in folders),
        certificates=tuple(c for s in labelled for c in s.certificates),
        keys=tuple(k for s in labelled for k in s.keys),
        cert_problems=tuple(p for s in labelled for p in s.cert_problems),
        coverage=tuple(sorted(coverage.values(), key=lambda c: c.subject)),
    )


def scan(
    request: ScanRequest,
    *,
    now: datetime,
    policy: CheckPolicy,
    limits: Limits = DEFAULT_LIMITS,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: Callable[[str], None] | None = None,
    routing: Routing | None = None,
) -> ScanReport:
    """Scan every input of ``request``; record in the store when ``engine`` is given (and,
    with ``routing``, plan the notifications in the same transaction)."""
    if request.empty:
        raise UserError(
            "nothing to scan: give --bundle, --manifests or --pki (see secbot scan --help)"
        )
    checks = select_checks(request.check_ids)
    snapshots = read_snapshots(request, now=now, limits=limits, progress=progress)
    if engine is not None:
        # The rotation check needs what operators recorded; without a store it says UNKNOWN.
        from bot.findings.rotations import load_rotations
        from bot.store.db import session_scope

        with session_scope(engine) as session:
            snapshots = [load_rotations(session=session, snapshot=s) for s in snapshots]
    runs = [run_checks(s, checks, policy) for s in snapshots]
    finished = clock() if clock else now
    report = ScanReport()
    if engine is None:
        report.scans = [ClusterScan(run=r, started_at=now) for r in runs]
        return report
    from bot.findings.service import record_scan
    from bot.notify.plan import plan_scan
    from bot.store.db import session_scope

    with session_scope(engine) as session:
        for run in runs:
            outcome = record_scan(session=session, run=run, started_at=now, finished_at=finished)
            if routing is not None:
                plan_scan(session=session, outcome=outcome, routing=routing, at=now)
            report.scans.append(ClusterScan(run=run, outcome=outcome, started_at=now))
    return report
