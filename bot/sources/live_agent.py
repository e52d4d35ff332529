"""The live source's reading of the node agent's PKI inventories (coverage ``node-pki``).

``secbot agent`` publishes one ConfigMap per control-plane node in the bot's namespace
(``bot.sources.pki_inventory``); this lists them (label
``app.kubernetes.io/component=pki-inventory``) and turns each fresh inventory's certificates
into CertInfo at ``File <node>/<path>[i]``: the PKI folder source's ``File <path>[i]`` with
the node in front, so the certificate checks judge them like PKI files and RKE2 leaf files
are offered the RKE2 rotation. Unreadable files are coverage ``file:<node>/<path>`` ERROR.

Exactly one verdict for ``node-pki``: READ; PARTIAL when an inventory is stale (older than
``max(3 x interval, interval + 15 min)`` at the scan time: the agent is gone, and its
certificates are not used because they may have been renewed since), malformed, reports
unreadable files, or when a control-plane node has none; MISSING when there is no
inventory at all; FORBIDDEN (401/403) or ERROR when the list fails.

Findings must not resolve because the agent went away (bot.findings.lifecycle resolves a
``File`` finding unless its ``file:<name>`` coverage is ERROR): ``held`` names the files of
open findings (the fleet loads them from the store), and each one whose node has no fresh,
complete inventory gets that ERROR coverage, so the finding stays open.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus
from bot.kube.errors import KubeError, KubeForbidden, KubeUnauthorized
from bot.sources.builder import SnapshotBuilder
from bot.sources.pki_inventory import (
    COMPONENT_LABEL,
    DATA_KEY,
    NODE_ANNOTATION,
    Inventory,
    InventoryError,
    cert_of,
    parse_inventory,
)

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

DEFAULT_AGENT_NAMESPACE = "secbot"
SUBJECT = "node-pki"
SELECTOR = f"{COMPONENT_LABEL[0]}={COMPONENT_LABEL[1]}"
CONTROL_PLANE_ROLES = frozenset({"control-plane", "master"})
GRACE = timedelta(minutes=15)
MAX_LISTED = 10
DEPLOY_HINT = "run the node agent (secbot agent) on the control-plane nodes: see deploy/README.md"


@dataclass
class _Read:
    """What the inventories of one cluster gave."""

    namespace: str
    count: int = 0  # ConfigMaps listed
    certificates: int = 0
    fresh: dict[str, Inventory] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)  # fresh, and the whole folder was read
    unusable: dict[str, str] = field(default_factory=dict)  # node -> why not used
    issues: list[str] = field(default_factory=list)  # for the PARTIAL detail


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
    read = _Read(namespace)
    what = f"list configmaps in namespace {namespace}"
    try:
        items = client.list(
            api_version="v1", kind="ConfigMap", namespace=namespace, label_selector=SELECTOR
        )
        found: dict[str, tuple[Inventory, str]] = {}
        for item in items:
            read.count += 1
            _inventory_of(read, item, found)
    except (KubeUnauthorized, KubeForbidden) as e:
        builder.cover(SUBJECT, CoverageStatus.FORBIDDEN, f"cannot {what}: {e}")
        _hold(builder, held, read, f"inventories could not be listed ({what}: forbidden)")
        return
    except KubeError as e:
        builder.cover(SUBJECT, CoverageStatus.ERROR, f"cannot {what}: {e}")
        _hold(builder, held, read, "inventories could not be listed")
        return
    if read.count == 0:
        detail = f"no PKI inventories in namespace {namespace} ({SELECTOR}); {DEPLOY_HINT}"
        builder.cover(SUBJECT, CoverageStatus.MISSING, detail)
        _hold(builder, held, read, "no inventory from this node")
        return
    for _node, (inventory, name) in sorted(found.items()):
        _judge(builder, read, inventory, name)
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


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _inventory_of(
    read: _Read, item: Mapping[str, Any], found: dict[str, tuple[Inventory, str]]
) -> None:
    """Parse one ConfigMap into ``found`` (node -> newest inventory, ConfigMap name)."""
    meta = _mapping(item.get("metadata"))
    name = f"{read.namespace}/{meta.get('name') or '?'}"
    data = _mapping(item.get("data"))
    annotations = _mapping(meta.get("annotations"))
    claimed = annotations.get(NODE_ANNOTATION)
    try:
        text = data.get(DATA_KEY)
        if not isinstance(text, str):
            raise InventoryError(f"no {DATA_KEY} key")
        inventory = parse_inventory(text)
        if claimed is not None and claimed != inventory.node:
            raise InventoryError(f"annotation {NODE_ANNOTATION} does not name the node")
    except InventoryError as e:
        read.issues.append(f"ConfigMap {name} is malformed: {e}")
        if isinstance(claimed, str) and claimed:
            read.unusable.setdefault(claimed, f"its inventory ConfigMap {name} is malformed")
        return
    before = found.get(inventory.node)
    if before is not None:
        older, newer = sorted((before, (inventory, name)), key=lambda f: f[0].updated_at)
        read.issues.append(f"node {inventory.node} has two inventories; {older[1]} is ignored")
        found[inventory.node] = newer
    else:
        found[inventory.node] = (inventory, name)


def _gone(builder: SnapshotBuilder, node: str) -> bool:
    """Is ``node`` known not to be a node of the cluster (any more)?"""
    nodes = builder.coverage.get("nodes")
    return nodes is not None and nodes.usable and node not in builder.nodes


def _judge(builder: SnapshotBuilder, read: _Read, inventory: Inventory, name: str) -> None:
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
    read.unusable.pop(node, None)  # a malformed duplicate does not count against it
    read.fresh[node] = inventory
    bad = list(inventory.errors)
    for entry in inventory.certificates:
        where = ResourceRef("File", f"{node}/{entry.file}", field=f"[{entry.index}]")
        info = cert_of(entry, location=where, group=f"{node}/{os.path.splitext(entry.file)[0]}")
        if isinstance(info, str):
            bad.append(f"{entry.file}[{entry.index}]: {info}")
            builder.cover(f"file:{node}/{entry.file}", CoverageStatus.ERROR, info)
        else:
            builder.certificates.append(info)
            read.certificates += 1
    if bad:
        read.issues.append(f"{node}: inventory entries unusable: {', '.join(bad[:3])}")
    unread = [f for f, _ in inventory.problems if f != "."]
    for file, reason in inventory.problems:
        if file != ".":
            builder.cover(f"file:{node}/{file}", CoverageStatus.ERROR, reason)
    if unread:
        read.issues.append(
            f"{node}: {_plural(len(unread), 'file')} unreadable: {', '.join(unread[:5])}"
        )
    whole = [reason for file, reason in inventory.problems if file == "."]
    if whole:  # the folder itself was not (completely) read: what is missing is unknown
        read.issues.append(f"{node}: {'; '.join(whole)}")
        read.unusable[node] = f"incomplete inventory ({whole[0]})"
    else:
        read.complete.add(node)


def _missing_nodes(builder: SnapshotBuilder, read: _Read) -> None:
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


def _hold(builder: SnapshotBuilder, held: Collection[str], read: _Read, default: str) -> None:
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
