"""Which of the listed inventory ConfigMaps the live source believes (bot.sources.live_agent).

Anyone who may create a ConfigMap with the inventory label in the agent's namespace could
publish an inventory for any node: an old, harmless folder that would resolve open
findings, or a second copy that wins by being newer. A ConfigMap is believed only when it is
exactly what the agent on its node publishes (bot.agent.publish):

- named ``configmap_name(node)`` for the node its document names, and annotated
  ``secbot.io/node`` with that node;
- its document parses (``parse_inventory``: every field checked and bounded);
- ``updatedAt`` is no more than 5 minutes after the scan time (a future date would keep a
  forged inventory "fresh" forever);
- no other ConfigMap claims the same node (by its document or its annotation): two claims
  make that node's inventory unusable, whichever is newer.

A ConfigMap that fails any of this is "malformed": named in the PARTIAL detail, and the
node it claims is "unusable" (its held files stay held). Whatever a ConfigMap holds, only
its own verdict is affected: any exception while reading it makes it malformed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.sources.pki_inventory import DATA_KEY, NODE_ANNOTATION, configmap_name, rfc3339
from bot.sources.pki_inventory_read import (
    Inventory,
    InventoryError,
    is_node_name,
    parse_inventory,
)

FUTURE_SKEW = timedelta(minutes=5)


@dataclass
class Read:
    """What the inventories of one cluster gave."""

    namespace: str
    count: int = 0  # ConfigMaps listed
    certificates: int = 0
    fresh: dict[str, Inventory] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)  # fresh, and the whole folder was read
    unusable: dict[str, str] = field(default_factory=dict)  # node -> why not used
    issues: list[str] = field(default_factory=list)  # for the PARTIAL detail


Claims = dict[str, set[str]]  # node -> names of the ConfigMaps that claim it


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _short(value: object) -> str:
    return repr(str(value)[:60])


def read_claims(
    read: Read, items: Iterable[Any], *, scanned_at: datetime
) -> Iterator[tuple[Inventory, str]]:
    """The believable inventories of ``items`` (inventory, ``namespace/name``), sorted by
    node; the others are recorded in ``read`` (issues, unusable nodes)."""
    claims: Claims = {}
    believed: list[tuple[Inventory, str]] = []
    for position, item in enumerate(items):
        name = f"{read.namespace}/(item {position})"
        claimed: set[str] = set()
        try:
            meta = _mapping(item.get("metadata"))
            name = f"{read.namespace}/{str(meta.get('name') or '?')[:253]}"
            inventory = _believe(item, meta, claimed, scanned_at=scanned_at)
        except Exception as e:  # boundary: a hostile ConfigMap is malformed, never fatal
            why = str(e) if isinstance(e, InventoryError) else f"unreadable ({type(e).__name__})"
            unnamed = [n for n in sorted(claimed) if n not in f"{name} {why}"]
            node = f" (node {', '.join(unnamed)})" if unnamed else ""
            read.issues.append(f"ConfigMap {name}{node} is malformed: {why}")
            for node in claimed:
                read.unusable.setdefault(node, f"its inventory ConfigMap {name} is malformed")
        else:
            believed.append((inventory, name))
        for node in claimed:
            claims.setdefault(node, set()).add(name)
    for node, names in sorted(claims.items()):
        if len(names) > 1:
            listed = ", ".join(sorted(names))
            read.issues.append(
                f"two inventories claim node {node} ({listed}): none is used; "
                "delete the one the agent did not publish"
            )
            read.unusable[node] = "two inventories claim this node"
    for inventory, name in sorted(believed, key=lambda b: b[0].node):
        if len(claims[inventory.node]) == 1:
            yield inventory, name


def _believe(
    item: Mapping[str, Any], meta: Mapping[str, Any], claimed: set[str], *, scanned_at: datetime
) -> Inventory:
    """The inventory of one ConfigMap, or InventoryError; ``claimed`` gets the nodes it
    claims, as soon as they are known."""
    annotation = _mapping(meta.get("annotations")).get(NODE_ANNOTATION)
    if isinstance(annotation, str) and is_node_name(annotation):
        claimed.add(annotation)
    text = _mapping(item.get("data")).get(DATA_KEY)
    if not isinstance(text, str):
        raise InventoryError(f"no {DATA_KEY} key")
    inventory = parse_inventory(text)
    node = inventory.node
    claimed.add(node)
    if annotation is None:
        raise InventoryError(f"annotation {NODE_ANNOTATION} is missing")
    if annotation != node:
        raise InventoryError(
            f"annotation {NODE_ANNOTATION} is {_short(annotation)}, the document's node {node!r}"
        )
    expected = configmap_name(node)
    if meta.get("name") != expected:
        raise InventoryError(f"the inventory of node {node} must be named {expected}")
    ahead = inventory.updated_at - scanned_at
    if ahead > FUTURE_SKEW:
        minutes = int(ahead.total_seconds() // 60)
        raise InventoryError(
            f"updatedAt {rfc3339(inventory.updated_at)} is {minutes} minutes after the scan "
            "time (a node clock far ahead, or not written by the agent)"
        )
    return inventory
