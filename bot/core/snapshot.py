"""The immutable picture of one cluster that every check reads.

A source (support bundle, manifests, PKI folder, live cluster) builds exactly one
Snapshot per cluster. What a source could not read is recorded in ``coverage`` so a check
can answer UNKNOWN instead of passing on missing data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.resources import ResourceRef


class CoverageStatus(StrEnum):
    READ = "read"  # read completely
    PARTIAL = "partial"  # read, but some parts were unreadable (see detail)
    MISSING = "missing"  # the source has no such data (not collected, not present)
    EXCLUDED = "excluded"  # the source deliberately leaves it out (bundles drop some settings)
    ERROR = "error"  # present but unreadable (malformed file, unreachable endpoint)
    FORBIDDEN = "forbidden"  # the credentials lack permission to read it (401/403)


@dataclass(frozen=True, slots=True)
class CoverageItem:
    """What a source could (not) read about one subject.

    Subjects: ``settings``, ``setting:<name>``, ``rancher-settings``, ``nodes``, ``events``,
    ``secrets``, ``webhooks``, ``node-files``, ``pki``, ``file:<path>``; the live source
    adds ``api`` (the API server itself), ``probe`` (TLS endpoints) and ``credentials``;
    ``rotations`` is READ when the scan loaded the credential rotations from the store.
    """

    subject: str
    status: CoverageStatus
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.status in (CoverageStatus.READ, CoverageStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class Setting:
    """A ``settings.harvesterhci.io`` object (reference/harvester.md §1.1).

    ``value`` and ``default`` are None when absent or empty (support bundles rewrite empty
    strings to the string "null"; the source normalises that away).
    """

    name: str
    value: str | None = None
    default: str | None = None
    resource_version: str = ""

    @property
    def effective(self) -> str | None:
        """``value`` if non-empty, else ``default`` (reference §1.2 EffectiveValue)."""
        return self.value if self.value else self.default


@dataclass(frozen=True, slots=True)
class Node:
    """A Kubernetes node with the facts checks use."""

    name: str
    internal_ips: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    kubelet_version: str = ""
    os_image: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes event (core/v1 or events.k8s.io/v1, normalised)."""

    namespace: str
    name: str
    reason: str
    message: str
    type: str = ""
    involved_kind: str = ""
    involved_name: str = ""
    count: int = 1
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class NodeFile:
    """A text file from a node (journal log, /oem config) as shipped in a support bundle.

    ``path`` is relative inside the node archive, e.g. ``logs/rke2-server.log`` or
    ``configs/oem/90_custom.yaml``.
    """

    node: str
    path: str
    text: str


@dataclass(frozen=True, slots=True)
class TLSEndpoint:
    """A TLS listener the live probe dialled, and what it served (or why not).

    Served chains themselves are in ``Snapshot.certificates`` at
    ``ResourceRef("TLSEndpoint", self.key, field="chain[i]")``; this records the facts
    that need the endpoint: which component it is and which Secret should back it.
    """

    address: str  # IP address or host name
    port: int
    component: str  # "kube-apiserver", "rke2-supervisor", "harvester-vip", "kubelet", ...
    node: str = ""  # node name when the address is a node's InternalIP
    leaf_sha256: str | None = None  # fingerprint of the served leaf; None when unreachable
    error: str | None = None  # why nothing was served (refused, timeout, TLS error)
    # The certificate group that should back this listener, e.g.
    # "Secret/cattle-system/tls-ingress" for the Harvester VIP; None when not known.
    expected_group: str | None = None

    @property
    def key(self) -> str:
        """``address:port`` (IPv6 in brackets): the name of the TLSEndpoint resource."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What a kubeconfig authenticates with; never the credential itself.

    ``kind`` is "client-certificate", "token", "exec" or "none"; ``expires_at`` is the
    client certificate's notAfter or a JWT token's ``exp`` (None when unknown).
    """

    kind: str
    expires_at: datetime | None = None
    subject: str = ""  # the client certificate's subject, or "" for tokens
    detail: str = ""  # e.g. "user admin in kubeconfig /x/y" (no secrets)


# Credentials an operator rotates by hand and records (security-best-practices.md): the
# password of user rancher, its SSH keys, the HTTP proxy credentials; all per node.
CREDENTIAL_KINDS = ("password", "ssh-keys", "proxy-credentials")


@dataclass(frozen=True, slots=True)
class RotationRecord:
    """The latest recorded rotation of one credential kind on one node (or ``all``)."""

    node: str  # a node name, or "all" (every node of the cluster)
    kind: str  # one of CREDENTIAL_KINDS
    rotated_at: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class CloudCredential:
    """A Harvester cloud credential in Rancher (issue #8; reference/harvester.md §3.4):
    the Secret in ``cattle-global-data`` whose ``harvestercredentialConfig-kubeconfigContent``
    holds the kubeconfig Rancher manages guest clusters with.

    Only the token's NAME (the part before ``:``) is kept; its secret part never leaves
    the source. ``problem`` says (without secrets) why no token name could be read.
    """

    secret: ResourceRef  # Secret/cattle-global-data/<name>#data.harvestercredentialConfig-…
    name: str  # its display name (annotation field.cattle.io/name), else the secret name
    token_name: str | None = None
    server: str = ""  # the Harvester API the kubeconfig points at (scheme://host:port)
    guest_clusters: tuple[str, ...] = ()  # provisioning clusters using it (namespace/name)
    problem: str = ""


@dataclass(frozen=True, slots=True)
class RancherToken:
    """A ``tokens.management.cattle.io`` object, reduced to its lifetime (never its value)."""

    name: str
    expires_at: datetime | None = None  # None: it never expires (ttl 0)
    ttl_ms: int = 0
    expired: bool = False  # Rancher's own verdict (status field ``expired``)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything known about one cluster at ``scanned_at`` from one source."""

    cluster: str
    source: str  # "bundle", "manifests", "pki", "live"
    origin: str  # what was read: a path, a kubeconfig context
    scanned_at: datetime  # aware, UTC; checks use it instead of a clock
    harvester_version: str = ""
    settings: Mapping[str, Setting] = field(default_factory=dict)
    rancher_settings: Mapping[str, str] = field(default_factory=dict)
    nodes: tuple[Node, ...] = ()
    certificates: tuple[CertInfo, ...] = ()
    keys: tuple[KeyInfo, ...] = ()
    cert_problems: tuple[CertProblem, ...] = ()
    events: tuple[Event, ...] = ()
    node_files: tuple[NodeFile, ...] = ()
    coverage: tuple[CoverageItem, ...] = ()
    endpoints: tuple[TLSEndpoint, ...] = ()  # live TLS probe results (source "live")
    credentials: tuple[CredentialInfo, ...] = ()  # the kubeconfig's own credential (live)
    # Recorded credential rotations, loaded from the store (coverage subject "rotations").
    rotations: tuple[RotationRecord, ...] = ()
    # Rancher management clusters (role rancher): Harvester cloud credentials and the
    # tokens they name (coverage subjects "cloud-credentials", "rancher-tokens",
    # "guest-clusters").
    cloud_credentials: tuple[CloudCredential, ...] = ()
    rancher_tokens: Mapping[str, RancherToken] = field(default_factory=dict)

    def coverage_of(self, subject: str) -> CoverageItem:
        """Coverage for ``subject``; unknown subjects count as MISSING."""
        for item in self.coverage:
            if item.subject == subject:
                return item
        return CoverageItem(subject, CoverageStatus.MISSING, f"{self.source} has no {subject}")

    def covers(self, subject: str) -> bool:
        return self.coverage_of(subject).usable

    def with_rotations(self, records: tuple[RotationRecord, ...]) -> Snapshot:
        """This snapshot with ``records`` as its rotations and coverage ``rotations`` READ."""
        read = CoverageItem(
            "rotations", CoverageStatus.READ, f"{len(records)} record(s) in the store"
        )
        others = tuple(c for c in self.coverage if c.subject != "rotations")
        return replace(self, rotations=records, coverage=(*others, read))

    def setting_coverage(self, name: str) -> CoverageItem:
        """Coverage of one Harvester setting: its own entry if the source made one
        (bundles exclude some settings), else that of the whole ``settings`` collection."""
        for item in self.coverage:
            if item.subject == f"setting:{name}":
                return item
        return self.coverage_of("settings")
