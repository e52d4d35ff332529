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
forbidden while webhooks were read; an endpoint that did not answer the probe; a node
whose archive a support bundle lacks; a live cluster whose API did not answer; a PKI
folder that could not be listed, or a walk that stopped at its entry limit before a file)
must never resolve anything.

A certificate finding sits at the first location of its certificate in sorted order
(bot.checks._certs.judged), and its fingerprint names that location. When the set of
copies changes but the certificate does not (a copy added in a namespace that sorts
earlier, the first copy deleted, or the first location unreadable for one scan), the
finding is ``moved``: a finding that would be new continues an open one of the same
check and source whose certificate (evidence ``sha256``) it shares, if that one's own
location is not reported now and does not hold another certificate now (it holds the
same one, nothing, or could not be read). It keeps its id, silence and thread and is
escalated or unchanged like any open finding. A location that now holds another
certificate was renewed there: each location is then judged on its own, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field

from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity, tier_rank
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot


@dataclass(frozen=True, slots=True)
class OpenState:
    """What the store remembers of an open finding, as far as the diff needs."""

    severity: Severity
    tier: str | None
    source: str
    check_id: str
    resource: ResourceRef | None = None
    sha256: str | None = None  # the certificate it is about (evidence "sha256"), if any


@dataclass(frozen=True, slots=True)
class Changes:
    """The classification of one scan; findings keep the order they came in."""

    new: tuple[Finding, ...]
    escalated: tuple[Finding, ...]
    unchanged: tuple[Finding, ...]
    resolved: tuple[str, ...]  # fingerprints, sorted
    # Fingerprints in ``new`` that were resolved before (same stored row, reopened).
    reopened: frozenset[str] = frozenset()
    # Fingerprint in ``escalated`` / ``unchanged`` -> the open finding's old fingerprint,
    # for the certificate findings that moved to another location (module docstring).
    moved: Mapping[str, str] = field(default_factory=dict)


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


def certificate_of(evidence: object) -> str | None:
    """The sha256 of the certificate a finding is about (certificate checks' evidence)."""
    sha = evidence.get("sha256") if isinstance(evidence, Mapping) else None
    return sha if isinstance(sha, str) else None


def certificates_at(snapshot: Snapshot) -> dict[str, frozenset[str]]:
    """Location key -> the sha256 of the certificates a snapshot found there."""
    found: dict[str, set[str]] = {}
    for cert in snapshot.certificates:
        found.setdefault(cert.location.key, set()).add(cert.sha256)
    return {key: frozenset(shas) for key, shas in found.items()}


def _moves(
    open_before: Mapping[str, OpenState],
    arrivals: Iterable[Finding],
    *,
    seen: Set[str],
    source: str,
    certs_at: Mapping[str, Set[str]],
) -> dict[str, str]:
    """New fingerprint -> the open fingerprint it continues (module docstring).

    Deterministic: arrivals in fingerprint order each take the first candidate in
    ``open_before``'s order (the store passes them by id: the oldest first).
    """
    candidates: dict[tuple[str, str], list[str]] = {}
    for fp, before in open_before.items():
        if fp in seen or before.sha256 is None or before.resource is None:
            continue
        there = certs_at.get(before.resource.key, frozenset())
        if before.source != source or not there <= {before.sha256}:
            continue  # another certificate is there now: renewed in place, not moved
        candidates.setdefault((before.check_id, before.sha256), []).append(fp)
    moved: dict[str, str] = {}
    for finding in sorted(arrivals, key=lambda f: f.fingerprint):
        sha = certificate_of(finding.evidence)
        # Only a finding about the certificate at its own location (not, say, about the
        # key next to it) may take over another location's finding.
        if sha is None or sha not in certs_at.get(finding.resource.key, ()):
            continue
        waiting = candidates.get((finding.check_id, sha))
        if waiting:
            moved[finding.fingerprint] = waiting.pop(0)
    return moved


def classify(
    *,
    open_before: Mapping[str, OpenState],
    resolved_before: Set[str],
    current: Iterable[Finding],
    source: str,
    evaluated: Set[str],
    visible: Callable[[ResourceRef], bool] = lambda _ref: True,
    certs_at: Mapping[str, Set[str]] | None = None,
) -> Changes:
    """Classify this scan's findings against the stored state (see module docstring).

    ``certs_at`` (``certificates_at`` of the snapshot) lets certificate findings move;
    without it nothing moves.
    """
    chosen = _worst_per_fingerprint(current)
    seen = {f.fingerprint for f in chosen}
    arrivals = [f for f in chosen if f.fingerprint not in open_before]
    moved = _moves(open_before, arrivals, seen=seen, source=source, certs_at=certs_at or {})
    new: list[Finding] = []
    escalated: list[Finding] = []
    unchanged: list[Finding] = []
    reopened: set[str] = set()
    for finding in chosen:
        fp = finding.fingerprint
        before = open_before.get(fp) or (open_before[moved[fp]] if fp in moved else None)
        if before is None:
            new.append(finding)
            if fp in resolved_before:
                reopened.add(fp)
        elif is_escalation(before, finding):
            escalated.append(finding)
        else:
            unchanged.append(finding)
    taken = set(moved.values())
    resolved = sorted(
        fp
        for fp, before in open_before.items()
        if fp not in seen
        and fp not in taken
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
        moved=moved,
    )


_WEBHOOK_KINDS = frozenset(
    {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}
)
# Cluster refs about the API itself (source-unreachable, source-forbidden on "api"): a
# scan always knows whether the API answered, so these resolve on any live scan.
_API_FIELDS = frozenset({"", "api"})


def _node_of(ref: ResourceRef) -> str | None:
    """The node a support bundle finding is about: ``Node <name>``, ``File <node>:<path>``."""
    if ref.kind == "Node":
        return ref.name
    if ref.kind == "File" and ":" in ref.name:
        return ref.name.partition(":")[0]
    return None


def visible_in(snapshot: Snapshot) -> Callable[[ResourceRef], bool]:
    """Could this snapshot have seen ``ref``? Only then may its absence resolve a finding.

    Checks that accept any of several inputs (the certificate checks) still decide when one
    input was unreadable; what lived in that input must stay open, not resolve. A support
    bundle's node findings need that node's files read (coverage ``node-files:<node>``
    READ; a node the bundle's node list no longer has may resolve); a live scan whose API
    did not answer saw none of the cluster's lists. A file is unseen when its own
    ``file:<path>`` is ERROR, or when it was not read and lies under a folder that was not
    wholly read (``_file_seen``).
    """
    answered = {e.key for e in snapshot.endpoints if e.error is None}
    explicit = {c.subject: c for c in snapshot.coverage}
    file_seen = _file_seen(snapshot, explicit)
    per_node = "node-files" in explicit and explicit["node-files"].usable
    api = explicit.get("api")  # every live snapshot has it (bot.sources.live, bot.fleet)
    api_down = snapshot.source == "live" and api is not None and not api.usable
    listed = {n.name for n in snapshot.nodes}

    def node_read(node: str) -> bool:
        item = explicit.get(f"node-files:{node}")
        if item is not None:
            return item.status == CoverageStatus.READ
        return snapshot.covers("nodes") and node not in listed  # the node is gone

    def visible(ref: ResourceRef) -> bool:
        node = _node_of(ref) if per_node else None
        if node is not None:
            return node_read(node)
        if ref.kind == "Secret":
            return snapshot.covers("secrets")
        if ref.kind in _WEBHOOK_KINDS:
            return snapshot.covers("webhooks")
        if ref.kind == "Setting":
            return snapshot.setting_coverage(ref.name).usable
        if ref.kind == "TLSEndpoint":
            return ref.name in answered
        if ref.kind == "File":
            return file_seen(ref.name)
        if ref.kind == "Cluster":
            return ref.field in _API_FIELDS or not api_down
        return True

    return visible


# A folder with one of these was not wholly read: it could not be listed (ERROR) or a walk
# stopped at the entry limit inside it (PARTIAL, ``file:.``: bot.sources.pki).
_FOLDER_GAPS = frozenset({CoverageStatus.ERROR, CoverageStatus.PARTIAL})


def _file_seen(snapshot: Snapshot, coverage: Mapping[str, CoverageItem]) -> Callable[[str], bool]:
    """Did ``snapshot`` look at the file at this path (or could it have)?

    Not when its own ``file:<path>`` is ERROR. Else yes when the snapshot holds something
    from it (a certificate, key or problem: it was read), or when no folder above it is a
    ``file:`` gap: a file below an unlistable folder, or past where a walk stopped, was not
    looked at. A walk's root is ``.`` (``file:<label>/.`` once bot.scan labels folders).
    """
    folders = {
        "" if subject == "file:." else subject[5:].removesuffix("/.")
        for subject, item in coverage.items()
        if subject.startswith("file:") and item.status in _FOLDER_GAPS
    }
    found: tuple[CertInfo | KeyInfo | CertProblem, ...] = ()
    if folders:
        found = (*snapshot.certificates, *snapshot.keys, *snapshot.cert_problems)
    read = {x.location.name for x in found if x.location.kind == "File"}

    def seen(name: str) -> bool:
        item = coverage.get(f"file:{name}")
        if item is not None:
            return item.status != CoverageStatus.ERROR  # its own verdict: it was looked at
        if not folders or name in read:
            return True
        cut = len(name)  # the folders above it, deepest first, then the root ("")
        while cut > 0:
            cut = max(name.rfind("/", 0, cut), 0)
            if name[:cut] in folders:
                return False
        return True

    return seen
