"""A mutable accumulator that sources fill and freeze into an immutable Snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.snapshot import (
    CloudCredential,
    CoverageItem,
    CoverageStatus,
    CredentialInfo,
    Event,
    Node,
    NodeFile,
    RancherToken,
    Setting,
    Snapshot,
    TLSEndpoint,
)

MAX_NOTES = 20  # notes kept in one coverage detail; later ones are only counted


@dataclass
class _Notes:
    """The notes joined into one subject's coverage detail, for ``item``."""

    item: CoverageItem
    head: str  # the first MAX_NOTES notes, joined with "; "
    kept: int = 1
    more: int = 0


@dataclass
class SnapshotBuilder:
    """Collects what a source reads; ``build()`` returns the frozen Snapshot."""

    cluster: str
    source: str
    origin: str
    scanned_at: datetime
    harvester_version: str = ""
    settings: dict[str, Setting] = field(default_factory=dict)
    rancher_settings: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    certificates: list[CertInfo] = field(default_factory=list)
    keys: list[KeyInfo] = field(default_factory=list)
    cert_problems: list[CertProblem] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    node_files: list[NodeFile] = field(default_factory=list)
    coverage: dict[str, CoverageItem] = field(default_factory=dict)
    endpoints: list[TLSEndpoint] = field(default_factory=list)
    credentials: list[CredentialInfo] = field(default_factory=list)
    cloud_credentials: list[CloudCredential] = field(default_factory=list)
    rancher_tokens: dict[str, RancherToken] = field(default_factory=dict)
    # Credential Secret name -> provisioning clusters using it ("namespace/name"); joined
    # with cloud_credentials in build() because either may be read first.
    guest_clusters: dict[str, set[str]] = field(default_factory=dict)
    # Per subject, the notes its coverage detail holds (see _noted).
    _notes: dict[str, _Notes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def cover(self, subject: str, status: CoverageStatus, detail: str = "") -> None:
        """Record coverage for ``subject``; a worse status never gets overwritten by READ."""
        current = self.coverage.get(subject)
        if current is not None and current.status != CoverageStatus.READ:
            if status == CoverageStatus.READ:
                return
            if status == current.status and detail and current.detail:
                self.coverage[subject] = self._noted(current, status, detail)
                return
        self.coverage[subject] = CoverageItem(subject, status, detail)

    def degrade(self, subject: str, detail: str) -> None:
        """Mark ``subject`` PARTIAL (it was read, but something in it was unreadable)."""
        current = self.coverage.get(subject)
        if current is None or current.status == CoverageStatus.READ:
            self.coverage[subject] = CoverageItem(subject, CoverageStatus.PARTIAL, detail)
        elif current.detail and detail:
            self.coverage[subject] = self._noted(current, current.status, detail)
        else:
            joined = f"{current.detail}; " if current.detail else detail
            self.coverage[subject] = CoverageItem(subject, current.status, joined)

    def _noted(self, current: CoverageItem, status: CoverageStatus, note: str) -> CoverageItem:
        """``current`` with one more note: the first MAX_NOTES, then only how many more.

        A subject may collect a note per object (100,000 Secrets without a usable key);
        rebuilding one ever longer detail for each was quadratic, and megabytes of notes
        help no reader.
        """
        notes = self._notes.get(current.subject)
        if notes is None or notes.item is not current:  # its first note, or set afresh
            notes = _Notes(current, current.detail)
        if notes.kept < MAX_NOTES:
            notes.head, notes.kept = f"{notes.head}; {note}", notes.kept + 1
        else:
            notes.more += 1
        detail = f"{notes.head}; and {notes.more} more" if notes.more else notes.head
        notes.item = CoverageItem(current.subject, status, detail)
        self._notes[current.subject] = notes
        return notes.item

    def build(self) -> Snapshot:
        version = self.harvester_version
        if not version and "server-version" in self.settings:
            version = self.settings["server-version"].effective or ""
        return Snapshot(
            cluster=self.cluster,
            source=self.source,
            origin=self.origin,
            scanned_at=self.scanned_at,
            harvester_version=version,
            settings=dict(self.settings),
            rancher_settings=dict(self.rancher_settings),
            nodes=tuple(sorted(self.nodes.values(), key=lambda n: n.name)),
            certificates=tuple(self.certificates),
            keys=tuple(self.keys),
            cert_problems=tuple(self.cert_problems),
            events=tuple(self.events),
            node_files=tuple(self.node_files),
            coverage=tuple(sorted(self.coverage.values(), key=lambda c: c.subject)),
            endpoints=tuple(sorted(self.endpoints, key=lambda e: (e.component, e.key))),
            credentials=tuple(self.credentials),
            cloud_credentials=self._cloud_credentials(),
            rancher_tokens=dict(self.rancher_tokens),
        )

    def _cloud_credentials(self) -> tuple[CloudCredential, ...]:
        """One per Secret (the last read wins), sorted, with the guest clusters using it."""
        unique = {c.secret.key: c for c in self.cloud_credentials}
        return tuple(
            replace(
                c,
                guest_clusters=tuple(
                    sorted(set(c.guest_clusters) | self.guest_clusters.get(c.secret.name, set()))
                ),
            )
            for _, c in sorted(unique.items())
        )
