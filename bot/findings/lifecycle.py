"""The lifecycle diff: what a scan changed compared with what the store knew.

Pure: no database, no clock. Given the cluster's previously open findings (by
fingerprint), the previously resolved fingerprints and this scan's findings, every
current finding is exactly one of:

- ``new``: not open before (first sighting, or a resolved one that came back: reopened);
- ``escalated``: open before and its severity or expiry tier went up
  (30d -> 14d is news even at the same severity; see bot.core.severity);
- ``unchanged``: open before and not escalated (a downgrade is unchanged: not news,
  though the stored row still takes the new values).

A previously open finding that is absent now is ``resolved`` only when this scan could
have seen it: the scan's source is the source that last reported it, its check was
evaluated this time, and the scan could read the resource itself (``visible``). A check
that answered UNKNOWN, a source that does not cover the finding (a PKI folder cannot see
Harvester settings), or a part of the source that was unreadable this time (Secrets
forbidden while webhooks were read; an endpoint that did not answer the probe) must never
resolve anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass

from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity, tier_rank
from bot.core.snapshot import CoverageStatus, Snapshot


@dataclass(frozen=True, slots=True)
class OpenState:
    """What the store remembers of an open finding, as far as the diff needs."""

    severity: Severity
    tier: str | None
    source: str
    check_id: str
    resource: ResourceRef | None = None


@dataclass(frozen=True, slots=True)
class Changes:
    """The classification of one scan; findings keep the order they came in."""

    new: tuple[Finding, ...]
    escalated: tuple[Finding, ...]
    unchanged: tuple[Finding, ...]
    resolved: tuple[str, ...]  # fingerprints, sorted
    # Fingerprints in ``new`` that were resolved before (same stored row, reopened).
    reopened: frozenset[str] = frozenset()


def is_escalation(before: OpenState, now: Finding) -> bool:
    """Did the severity rank or the expiry tier rank go up?"""
    return now.severity.rank > before.severity.rank or tier_rank(now.tier) > tier_rank(before.tier)


def _worst_per_fingerprint(current: Iterable[Finding]) -> list[Finding]:
    # A check could report one resource twice; the store holds one row per fingerprint,
    # so keep the worst (then the first) report of each.
    chosen: dict[str, Finding] = {}
    for finding in current:
        fp = finding.fingerprint
        kept = chosen.get(fp)
        if kept is None or _badness(finding) > _badness(kept):
            chosen[fp] = finding
    return list(chosen.values())


def _badness(finding: Finding) -> tuple[int, int]:
    return finding.severity.rank, tier_rank(finding.tier)


def classify(
    *,
    open_before: Mapping[str, OpenState],
    resolved_before: Set[str],
    current: Iterable[Finding],
    source: str,
    evaluated: Set[str],
    visible: Callable[[ResourceRef], bool] = lambda _ref: True,
) -> Changes:
    """Classify this scan's findings against the stored state (see module docstring)."""
    new: list[Finding] = []
    escalated: list[Finding] = []
    unchanged: list[Finding] = []
    reopened: set[str] = set()
    seen: set[str] = set()
    for finding in _worst_per_fingerprint(current):
        fp = finding.fingerprint
        seen.add(fp)
        before = open_before.get(fp)
        if before is None:
            new.append(finding)
            if fp in resolved_before:
                reopened.add(fp)
        elif is_escalation(before, finding):
            escalated.append(finding)
        else:
            unchanged.append(finding)
    resolved = sorted(
        fp
        for fp, before in open_before.items()
        if fp not in seen
        and before.source == source
        and before.check_id in evaluated
        and (before.resource is None or visible(before.resource))
    )
    return Changes(
        new=tuple(new),
        escalated=tuple(escalated),
        unchanged=tuple(unchanged),
        resolved=tuple(resolved),
        reopened=frozenset(reopened),
    )


_WEBHOOK_KINDS = frozenset(
    {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}
)


def visible_in(snapshot: Snapshot) -> Callable[[ResourceRef], bool]:
    """Could this snapshot have seen ``ref``? Only then may its absence resolve a finding.

    Checks that accept any of several inputs (the certificate checks) still decide when one
    input was unreadable; what lived in that input must stay open, not resolve.
    """
    answered = {e.key for e in snapshot.endpoints if e.error is None}
    explicit = {c.subject: c for c in snapshot.coverage}

    def visible(ref: ResourceRef) -> bool:
        if ref.kind == "Secret":
            return snapshot.covers("secrets")
        if ref.kind in _WEBHOOK_KINDS:
            return snapshot.covers("webhooks")
        if ref.kind == "Setting":
            return snapshot.setting_coverage(ref.name).usable
        if ref.kind == "TLSEndpoint":
            return ref.name in answered
        if ref.kind == "File":
            item = explicit.get(f"file:{ref.name}")
            return item is None or item.status != CoverageStatus.ERROR
        return True

    return visible
