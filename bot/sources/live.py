"""Source: a live Harvester cluster, read through ``bot.kube`` and probed over TLS.

``read_live`` never raises for a cluster-level failure. An API that cannot be reached is
coverage ``api`` ERROR (source-unreachable), refused credentials are ``api`` FORBIDDEN;
each refused list is its subject FORBIDDEN and the rest is still read (live_reads). Then
the TLS probe dials the listeners whose served certificates matter (reference/harvester.md
§2.2, §3.2, §3.4): kube-apiserver on the addresses of Endpoints ``default/kubernetes``
(the chain Harvester's auto-rotation and upgrade pre-check judge), the RKE2 supervisor on
the same servers, the Harvester VIP on :443, and on the nodes' InternalIPs the kubelet and,
on control-plane nodes, kube-controller-manager and kube-scheduler (these often listen on
127.0.0.1 only, as RKE2 configures them by default as far as we know: an endpoint that
does not answer is a coverage note, never a finding). Served chains become CertInfo at
``TLSEndpoint <ip>:<port> [chain[i]]`` so the certificate checks judge them. A Rancher
management cluster (clusters-file ``role: rancher``) is also read for its Harvester cloud
credentials (live_rancher); other clusters get no such reads and no such coverage. Every
cluster's node agent inventories (the RKE2 server certificates under
/var/lib/rancher/rke2/server/tls, published as ConfigMaps) are read by live_agent
(coverage ``node-pki``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus, Node, Snapshot, TLSEndpoint
from bot.kube.errors import KubeError, KubeForbidden, KubeNotFound, KubeUnauthorized
from bot.sources import certs, live_rancher, tlsprobe
from bot.sources.builder import SnapshotBuilder
from bot.sources.live_agent import DEFAULT_AGENT_NAMESPACE, read_node_pki
from bot.sources.live_reads import LISTS, CertInfoNotes, read_credentials, read_list
from bot.sources.tlsprobe import ProbeOptions, ProbeResult, ProbeTarget

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

__all__ = ["DEFAULT_AGENT_NAMESPACE", "ProbeOptions", "read_live"]

UI_CUSTOM = "Secret/cattle-system/tls-ingress"  # ssl-certificates set (reference §2.4)
UI_INTERNAL = "Secret/cattle-system/tls-rancher-internal"  # ssl-certificates empty
CONTROL_PLANE_ROLES = frozenset({"control-plane", "master"})
MAX_LISTED = 20


def read_live(
    client: KubeClient,
    *,
    cluster: str,
    scanned_at: datetime,
    probe: ProbeOptions,
    agent_namespace: str = DEFAULT_AGENT_NAMESPACE,
    held_files: Collection[str] = (),
) -> Snapshot:
    """Read one live cluster into a Snapshot (see the module docstring).

    ``agent_namespace`` is where the node agent publishes its PKI inventories;
    ``held_files`` names the node PKI files of open findings (``live_agent``)."""
    builder = SnapshotBuilder(
        cluster=cluster, source="live", origin=client.host, scanned_at=scanned_at
    )
    if not _read_api(client, builder):
        # What the kubeconfig authenticates with is local: an expired client certificate
        # or token is then named as the likely reason the API refused the scan.
        read_credentials(client, builder)
        return builder.build()
    notes = CertInfoNotes()
    for spec in LISTS:
        read_list(client, builder, spec, inspect=notes if spec.kind == "Node" else None)
    notes.record(builder)
    read_credentials(client, builder)
    # Rancher's management cluster runs on RKE2 too: its server certificates expire alike.
    read_node_pki(client, builder, namespace=agent_namespace, held=held_files)
    if client.target.role == live_rancher.ROLE:
        live_rancher.read_rancher(client, builder)
    if probe.enabled:
        run_probe(client, builder, probe)
    else:
        builder.cover("probe", CoverageStatus.EXCLUDED, "TLS probe disabled")
    return builder.build()


def _read_api(client: KubeClient, builder: SnapshotBuilder) -> bool:
    """Is the API there at all? Records coverage ``api``; False when nothing can be read."""
    try:
        version = client.version()
    except (KubeUnauthorized, KubeForbidden) as e:
        builder.cover("api", CoverageStatus.FORBIDDEN, str(e))
        return False
    except KubeError as e:  # KubeUnavailable (refused, timeout, TLS, 5xx) and the rest
        builder.cover("api", CoverageStatus.ERROR, str(e))
        return False
    builder.cover("api", CoverageStatus.READ, f"Kubernetes {version.get('gitVersion', '?')}")
    return True


def ui_secret_group(builder: SnapshotBuilder) -> str | None:
    """The Secret behind the Harvester UI cert, from ssl-certificates; None if unknown."""
    item = builder.coverage.get("setting:ssl-certificates") or builder.coverage.get("settings")
    if item is None or not item.usable:
        return None
    setting = builder.settings.get("ssl-certificates")
    raw = setting.effective if setting is not None else None  # the controller falls back
    try:
        doc = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return None  # setting-invalid reports it; which Secret is served is unknown
    custom = isinstance(doc, dict) and any(isinstance(v, str) and v.strip() for v in doc.values())
    return UI_CUSTOM if custom else UI_INTERNAL


def _get(client: KubeClient, notes: list[str], **what: str) -> dict[str, Any] | None:
    try:
        return client.get(api_version="v1", **what)
    except KubeNotFound:
        notes.append(f"{what['kind']} {what.get('namespace', '')}/{what['name']} not found")
    except KubeError as e:
        notes.append(f"cannot get {what['kind']} {what.get('namespace', '')}/{what['name']}: {e}")
    return None


def apiserver_addresses(client: KubeClient, notes: list[str]) -> list[str]:
    """IPs of Endpoints default/kubernetes (what Harvester dials, reference §2.2)."""
    obj = _get(client, notes, kind="Endpoints", name="kubernetes", namespace="default")
    ips: list[str] = []
    for subset in (obj or {}).get("subsets") or []:
        for address in (subset or {}).get("addresses") or []:
            ip = str((address or {}).get("ip") or "")
            if ip and ip not in ips:
                ips.append(ip)
    return ips


def harvester_vip(client: KubeClient, notes: list[str]) -> str | None:
    """The VIP from ConfigMap harvester-system/vip, key ``ip``.

    The Harvester chart creates that ConfigMap from ``service.vip.ip`` and its node
    promotion script reads the VIP from it (harvester/harvester
    deploy/charts/harvester/templates/configmap.yaml). With DHCP the key may be empty.
    """
    obj = _get(client, notes, kind="ConfigMap", name="vip", namespace="harvester-system")
    data = (obj or {}).get("data") or {}
    ip = str(data.get("ip") or "").strip() if isinstance(data, dict) else ""
    return ip or None


def _first_ip(node: Node) -> str | None:
    return node.internal_ips[0] if node.internal_ips else None


def plan_targets(
    client: KubeClient, builder: SnapshotBuilder, options: ProbeOptions, notes: list[str]
) -> list[ProbeTarget]:
    """Every listener to dial, deduplicated by address and port, in a stable order."""
    nodes = sorted(builder.nodes.values(), key=lambda n: n.name)
    node_of = {ip: n.name for n in nodes for ip in n.internal_ips}
    control = [n for n in nodes if CONTROL_PLANE_ROLES & set(n.roles)] or nodes
    servers = apiserver_addresses(client, notes)
    if not servers:
        servers = [ip for n in control if (ip := _first_ip(n))]
        notes.append("kube-apiserver addresses taken from control-plane nodes")
    planned: dict[tuple[str, int], ProbeTarget] = {}

    def add(address: str, component: str, expected: str | None = None) -> None:
        port = options.ports.get(component)
        if port is not None and (address, port) not in planned:
            node = node_of.get(address, "")
            planned[(address, port)] = ProbeTarget(address, port, component, node, expected)

    for ip in servers:
        add(ip, "kube-apiserver")
        add(ip, "rke2-supervisor")
    vip = options.vip or harvester_vip(client, notes)
    if vip:
        add(vip, "harvester-vip", ui_secret_group(builder))
    elif "harvester-vip" in options.ports:
        notes.append("harvester-vip skipped: VIP unknown (set vip for this cluster)")
    for n in nodes:
        if ip := _first_ip(n):
            add(ip, "kubelet")
    for n in control:
        if ip := _first_ip(n):
            add(ip, "kube-controller-manager")
            add(ip, "kube-scheduler")
    return list(planned.values())


def record_result(builder: SnapshotBuilder, result: ProbeResult) -> TLSEndpoint:
    """Served chain -> CertInfo (location TLSEndpoint <ip>:<port> [chain[i]]) + endpoint."""
    t = result.target
    endpoint = TLSEndpoint(t.address, t.port, t.component, t.node, None, result.error)
    leaf_sha256 = hashlib.sha256(result.chain[0]).hexdigest() if result.chain else None
    for i, der in enumerate(result.chain):
        where = ResourceRef("TLSEndpoint", endpoint.key, field=f"chain[{i}]")
        decoded = certs.decode(
            der, location=where, group=f"TLSEndpoint//{endpoint.key}", allow_der=True
        )
        builder.certificates.extend(replace(c, index=i) for c in decoded.certs)
        builder.cert_problems.extend(decoded.problems)
    endpoint = replace(endpoint, leaf_sha256=leaf_sha256, expected_group=t.expected_group)
    builder.endpoints.append(endpoint)
    return endpoint


def run_probe(client: KubeClient, builder: SnapshotBuilder, options: ProbeOptions) -> None:
    """Plan, dial (bounded pool), record; coverage ``probe`` lists what did not answer."""
    notes: list[str] = []
    targets = plan_targets(client, builder, options, notes)
    if not targets:
        builder.cover("probe", CoverageStatus.MISSING, "; ".join(["nothing to probe", *notes]))
        return
    results = tlsprobe.probe_all(targets, timeout=options.timeout, concurrency=options.concurrency)
    failed = [
        f"{e.component} {e.key} ({e.error})"
        for e in (record_result(builder, r) for r in results)
        if e.leaf_sha256 is None
    ]
    parts = [f"{len(targets) - len(failed)} of {len(targets)} endpoints answered", *notes]
    if failed:
        more = len(failed) - MAX_LISTED
        parts.append("unreachable: " + ", ".join(failed[:MAX_LISTED]))
        parts += [f"and {more} more"] if more > 0 else []
    status = CoverageStatus.PARTIAL if failed else CoverageStatus.READ
    builder.cover("probe", status, "; ".join(parts))
