"""`secbot clusters check`: can secbot reach a cluster, and may it read what a scan reads?

Run before the first scan, it tells an operator that, say, listing Secrets is forbidden,
instead of the first scan quietly answering UNKNOWN. Permissions are asked with
SelfSubjectAccessReviews, so nothing is read to find out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeError, KubeNotFound
from bot.sources.live_agent import DEFAULT_AGENT_NAMESPACE


@dataclass(frozen=True, slots=True)
class Permission:
    """One permission a scan needs, and what it is for."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None
    why: str = ""
    name: str | None = None  # the one object needed (deploy/ grants it by resourceNames)

    def __str__(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        res += f" {self.name}" if self.name else ""
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {res}{where}"


# What bot/sources/live.py reads; deploy/ RBAC grants exactly these (read-only).
SCAN_PERMISSIONS: tuple[Permission, ...] = (
    Permission("list", "settings", "harvesterhci.io", why="Harvester settings"),
    Permission("list", "nodes", why="node IPs, roles and versions"),
    Permission("list", "secrets", why="TLS certificates in Secrets"),
    Permission("list", "events", why="CertificateExpirationWarning events"),
    Permission(
        "list",
        "validatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        why="webhook CA bundles",
    ),
    Permission(
        "list",
        "mutatingwebhookconfigurations",
        "admissionregistration.k8s.io",
        why="webhook CA bundles",
    ),
    Permission("list", "apiservices", "apiregistration.k8s.io", why="APIService CA bundles"),
    Permission(
        "get",
        "endpoints",
        namespace="default",
        name="kubernetes",
        why="kube-apiserver addresses to probe",
    ),
    Permission(
        "get", "configmaps", namespace="harvester-system", name="vip", why="the VIP to probe"
    ),
    Permission("list", "settings", "management.cattle.io", why="Rancher server-url"),
    Permission(
        "get", "settings", "harvesterhci.io", why="the version; /harvester get setting NAME"
    ),
)
# What a Rancher management cluster (clusters file ``role: rancher``) needs on top: the
# Harvester cloud credentials, the tokens they name, the guest clusters using them.
RANCHER_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "list", "secrets", namespace="cattle-global-data", why="Harvester cloud credentials"
    ),
    Permission("get", "tokens", "management.cattle.io", why="cloud credential token expiry"),
    Permission(
        "list", "clusters", "provisioning.cattle.io", why="guest clusters using a credential"
    ),
)


@dataclass(frozen=True, slots=True)
class ClusterCheck:
    """What ``secbot clusters check`` found out about one cluster."""

    name: str
    host: str = ""
    reachable: bool = False
    error: str = ""
    kubernetes_version: str = ""
    harvester_version: str = ""
    permissions: tuple[tuple[Permission, bool], ...] = ()

    @property
    def missing(self) -> tuple[Permission, ...]:
        return tuple(p for p, ok in self.permissions if not ok)


def _harvester_version(client: KubeClient) -> str:
    try:
        obj = client.get(
            api_version="harvesterhci.io/v1beta1", kind="Setting", name="server-version"
        )
    except KubeNotFound:
        return ""
    value = obj.get("value") or obj.get("default") or ""
    return str(value)


def check_cluster(
    target: KubeTarget,
    *,
    timeouts: Timeouts,
    connect: Callable[..., KubeClient] = KubeClient.connect,
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE,
) -> ClusterCheck:
    """Reachability, versions and granted permissions; never raises for the cluster's faults."""
    try:
        client = connect(target, timeouts=timeouts)
    except KubeError as e:
        return ClusterCheck(name=target.name, error=e.message or str(e))
    with client:
        try:
            version = client.version().get("gitVersion", "")
        except KubeError as e:
            return ClusterCheck(name=target.name, host=client.host, error=str(e))
        granted = []
        inventories = Permission(
            "list", "configmaps", namespace=agent_namespace, why="node agent PKI inventories"
        )
        wanted = (*SCAN_PERMISSIONS, inventories)
        wanted += RANCHER_PERMISSIONS if target.role == "rancher" else ()
        for perm in wanted:
            try:
                ok = client.can_i(
                    verb=perm.verb,
                    resource=perm.resource,
                    group=perm.group,
                    namespace=perm.namespace,
                    name=perm.name,
                )
            except KubeError:
                ok = False
            granted.append((perm, ok))
        try:
            harvester = _harvester_version(client)
        except KubeError:
            harvester = ""
        return ClusterCheck(
            name=target.name,
            host=client.host,
            reachable=True,
            kubernetes_version=version,
            harvester_version=harvester,
            permissions=tuple(granted),
        )
