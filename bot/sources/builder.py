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

    def cover(self, subject: str, status: CoverageStatus, detail: str = "") -> None:
        """Record coverage for ``subject``; a worse status never gets overwritten by READ."""
        current = self.coverage.get(subject)
        if current is not None and current.status != CoverageStatus.READ:
            if status == CoverageStatus.READ:
                return
            if status == current.status and detail and current.detail:
                detail = f"{current.detail}; {detail}"
        self.coverage[subject] = CoverageItem(subject, status, detail)

    def degrade(self, subject: str, detail: str) -> None:
        """Mark ``subject`` PARTIAL (it was read, but something in it was unreadable)."""
        current = self.coverage.get(subject)
        if current is None or current.status == CoverageStatus.READ:
            self.coverage[subject] = CoverageItem(subject, CoverageStatus.PARTIAL, detail)
        else:
            joined = f"{current.detail}; {detail}" if current.detail else detail
            self.coverage[subject] = CoverageItem(subject, current.status, joined)

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
