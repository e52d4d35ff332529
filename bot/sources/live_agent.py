"""The live source's reading of the node agent's PKI inventories (coverage ``node-pki``).

``secbot agent`` publishes one ConfigMap per control-plane node in the agent's namespace
(``secbot-agent`` by default: SECBOT_AGENT_NAMESPACE; ``bot.sources.pki_inventory``); this
lists them (label ``app.kubernetes.io/component=pki-inventory``) and turns each fresh
inventory's certificates into CertInfo at ``File <node>/<path>[i]``: the PKI folder source's
``File <path>[i]`` with the node in front, so the certificate checks judge them like PKI
files and RKE2 leaf files are offered the RKE2 rotation. Unreadable files are coverage
``file:<node>/<path>`` ERROR.

A ConfigMap is only believed when it is what the agent on that node would have written
(``bot.sources.live_agent_claims``): named ``configmap_name(node)`` for the node in the
document, annotated with that node, not dated in the future. Two ConfigMaps claiming one
node make that node's inventory unusable (never newest-wins: the newest may be the forgery).
Whatever one ConfigMap holds, it can only make its node's inventory "malformed": nothing
in it can raise out of ``read_node_pki`` and lose the other nodes.

Exactly one verdict for ``node-pki``: READ; PARTIAL when an inventory is stale (older than
``max(3 x interval, interval + 15 min)`` at the scan time: the agent is gone, and its
certificates are not used because they may have been renewed since), malformed, claimed
twice, incomplete (unreadable files, a folder not wholly read, entries dropped, or no
certificate at all: an empty inventory is a wrong mount, not a healthy node), or when a
control-plane node has none; MISSING when there is no inventory at all; FORBIDDEN
(401/403) or ERROR when the list fails.

Findings must not resolve because the agent went away (bot.findings.lifecycle resolves a
``File`` finding unless its ``file:<name>`` coverage is ERROR): ``held`` names the files of
open findings (the fleet loads them from the store), and each one whose node has no fresh,
complete inventory gets that ERROR coverage, so the finding stays open.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.certs import CertInfo
from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus
from bot.kube.errors import KubeError, KubeForbidden, KubeUnauthorized
from bot.sources.builder import SnapshotBuilder
from bot.sources.live_agent_claims import Read, read_claims
from bot.sources.pki_inventory import COMPONENT_LABEL
from bot.sources.pki_inventory_read import Inventory, cert_of

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

DEFAULT_AGENT_NAMESPACE = "secbot-agent"
SUBJECT = "node-pki"
SELECTOR = f"{COMPONENT_LABEL[0]}={COMPONENT_LABEL[1]}"
CONTROL_PLANE_ROLES = frozenset({"control-plane", "master"})
GRACE = timedelta(minutes=15)
MAX_LISTED = 10
DEPLOY_HINT = "run the node agent (secbot agent) on the control-plane nodes: see deploy/README.md"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)}d"
    return f"{minutes // 60}h" if minutes >= 60 else f"{minutes}m"


def _limit(inventory: Inventory) -> timedelta:
    interval = timedelta(seconds=inventory.interval_seconds)
    return max(3 * interval, interval + GRACE)


def read_node_pki(
    client: KubeClient, builder: SnapshotBuilder, *, namespace: str, held: Collection[str] = ()
) -> None:
    """List the inventories, take the fresh ones' certificates, record ``node-pki``."""
    read = Read(namespace)
    what = f"list configmaps in namespace {namespace}"
    try:
        items = list(
            client.list(
                api_version="v1", kind="ConfigMap", namespace=namespace, label_selector=SELECTOR
            )
        )
    except (KubeUnauthorized, KubeForbidden) as e:
        builder.cover(SUBJECT, CoverageStatus.FORBIDDEN, f"cannot {what}: {e}")
        _hold(builder, held, read, f"inventories could not be listed ({what}: forbidden)")
        return
    except KubeError as e:
        builder.cover(SUBJECT, CoverageStatus.ERROR, f"cannot {what}: {e}")
        _hold(builder, held, read, "inventories could not be listed")
        return
    read.count = len(items)
    if read.count == 0:
        detail = (
            f"no PKI inventories in namespace {namespace} ({SELECTOR}); {DEPLOY_HINT}; "
            "if the agent publishes elsewhere, set SECBOT_AGENT_NAMESPACE to its namespace"
        )
        builder.cover(SUBJECT, CoverageStatus.MISSING, detail)
        _hold(builder, held, read, "no inventory from this node")
        return
    for inventory, name in read_claims(read, items, scanned_at=builder.scanned_at):
        try:
            _judge(builder, read, inventory, name)
        except Exception as e:  # boundary: one hostile ConfigMap must not lose the scan
            node = inventory.node
            why = f"cannot be read ({type(e).__name__})"
            read.issues.append(f"ConfigMap {name} (node {node}) is malformed: {why}")
            read.unusable[node] = f"its inventory ConfigMap {name} is malformed"
    _missing_nodes(builder, read)
    summary = f"{_plural(read.certificates, 'certificate')} from {_plural(len(read.fresh), 'node')}"
    if read.issues:
        shown = read.issues[:MAX_LISTED]
        more = len(read.issues) - len(shown)
        detail = "; ".join([summary, *shown] + ([f"and {more} more"] if more > 0 else []))
        builder.cover(SUBJECT, CoverageStatus.PARTIAL, detail)
    else:
        builder.cover(SUBJECT, CoverageStatus.READ, summary)
    _hold(builder, held, read, "no current inventory")


def _gone(builder: SnapshotBuilder, node: str) -> bool:
    """Is ``node`` known not to be a node of the cluster (any more)?"""
    nodes = builder.coverage.get("nodes")
    return nodes is not None and nodes.usable and node not in builder.nodes


def _judge(builder: SnapshotBuilder, read: Read, inventory: Inventory, name: str) -> None:
    """Take one inventory. Everything is worked out first and applied at the end, so an
    exception half-way leaves nothing of this inventory behind."""
    node = inventory.node
    age = builder.scanned_at - inventory.updated_at
    if age > _limit(inventory):
        old = f"inventory is {_age(age)} old (limit {_age(_limit(inventory))})"
        if _gone(builder, node):  # its findings may resolve: the node itself is gone
            read.issues.append(f"{node} is not a node of this cluster: delete ConfigMap {name}")
            return
        read.issues.append(
            f"{node}: {old}: the agent is not running or cannot publish; "
            "its certificates are not used"
        )
        read.unusable[node] = f"stale inventory ({_age(age)} old)"
        return
    taken: list[CertInfo] = []
    gaps: dict[str, str] = {}  # file -> why it is ERROR
    bad = list(inventory.errors)
    for entry in inventory.certificates:
        where = ResourceRef("File", f"{node}/{entry.file}", field=f"[{entry.index}]")
        info = cert_of(entry, location=where, group=f"{node}/{os.path.splitext(entry.file)[0]}")
        if isinstance(info, str):
            bad.append(f"{entry.file}[{entry.index}]: {info}")
            gaps.setdefault(entry.file, info)
        else:
            taken.append(info)
    issues = [f"{node}: inventory entries unusable: {', '.join(bad[:3])}"] if bad else []
    unread = [(f, why) for f, why in inventory.problems if f != "."]
    for file, reason in unread:
        gaps.setdefault(file, reason)
    if unread:
        listed = ", ".join(f for f, _ in unread[:5])
        issues.append(f"{node}: {_plural(len(unread), 'file')} unreadable: {listed}")
    # Not complete: the folder itself was not (wholly) read, entries were dropped, or there
    # is no certificate at all. What is missing is unknown: held files stay held.
    whole = [reason for file, reason in inventory.problems if file == "."]
    if whole:
        issues.append(f"{node}: {'; '.join(whole)}")
    elif not taken:
        issues.append(f"{node}: the inventory has no certificate (is the agent's --pki-dir right?)")
    incomplete = whole[0] if whole else ("no certificate" if not taken else None)
    if inventory.errors and incomplete is None:
        incomplete = "entries dropped as malformed"
    # Apply.
    builder.certificates.extend(taken)
    read.certificates += len(taken)
    for file, why in gaps.items():
        builder.cover(f"file:{node}/{file}", CoverageStatus.ERROR, why)
    read.issues.extend(issues)
    read.fresh[node] = inventory
    if incomplete is None:
        read.complete.add(node)
    else:
        read.unusable[node] = f"incomplete inventory ({incomplete})"


def _missing_nodes(builder: SnapshotBuilder, read: Read) -> None:
    """Control-plane nodes without any inventory: the agent is not running there."""
    nodes = builder.coverage.get("nodes")
    if nodes is None or not nodes.usable:
        status = nodes.status.value if nodes is not None else "not read"
        read.issues.append(f"control-plane nodes unknown (nodes: {status})")
        return
    listed = set(read.fresh) | set(read.unusable)
    for node in sorted(builder.nodes.values(), key=lambda n: n.name):
        if CONTROL_PLANE_ROLES & set(node.roles) and node.name not in listed:
            read.issues.append(f"agent not running on node {node.name} (no inventory)")
            read.unusable[node.name] = "no inventory from this node"


def _hold(builder: SnapshotBuilder, held: Collection[str], read: Read, default: str) -> None:
    """Mark the files of open findings that this scan could not re-read (module docstring)."""
    for name in sorted(set(held)):
        node, _, file = name.partition("/")
        if (
            not file
            or node in read.complete
            or (node not in read.unusable and _gone(builder, node))
        ):
            continue
        inventory = read.fresh.get(node)
        if inventory is not None and any(c.file == file for c in inventory.certificates):
            continue  # read from an incomplete folder: what it has is current
        why = read.unusable.get(node, default)
        builder.cover(f"file:{name}", CoverageStatus.ERROR, f"not re-read: {why}")
