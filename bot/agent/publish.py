"""Publish one node's PKI inventory as its ConfigMap in the agent's namespace.

The ConfigMap is ``secbot-pki-<node>`` (``configmap_name``, defined with the document in
bot.sources.pki_inventory so the reader checks the same name: a DNS-1123 label),
labelled ``app.kubernetes.io/name=secbot`` and ``app.kubernetes.io/component=pki-inventory``
(what the live source selects), annotated ``secbot.io/node=<node>``, with the document
under ``inventory.json``. It is created, or (409: it exists) read and replaced with the
resourceVersion just read; a concurrent writer makes the replace fail with 409, which is
retried once. RBAC: get, create and update on configmaps in that namespace, nothing else.

Size: a ConfigMap holds at most 1 MiB. A document over ``MAX_DOCUMENT_BYTES`` (900 KiB,
room for metadata) is not published at all (``DocumentTooLarge``): a cut inventory would
look complete and let findings about the cut certificates resolve, while the ConfigMap
left unchanged goes stale and the bot reports that node as stale (PARTIAL) instead. RKE2's
server/tls folder makes about 60 KiB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.errors import BotError
from bot.kube.errors import KubeConflict, KubeNotFound
from bot.sources.pki_inventory import COMPONENT_LABEL, DATA_KEY, NODE_ANNOTATION, configmap_name

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

MAX_DOCUMENT_BYTES = 900 * 1024
FIELD_MANAGER = "secbot-agent"
NAME_LABEL = ("app.kubernetes.io/name", "secbot")


class DocumentTooLarge(BotError):
    """The inventory does not fit in a ConfigMap; publishing again soon will not help."""


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish wrote."""

    namespace: str
    name: str
    resource_version: str
    certificates: int
    problems: int
    created: bool

    def __str__(self) -> str:
        verb = "created" if self.created else "updated"
        return (
            f"{verb} ConfigMap {self.namespace}/{self.name} (resourceVersion "
            f"{self.resource_version}): {self.certificates} certificates, "
            f"{self.problems} problems"
        )


def configmap(document: Mapping[str, Any], *, namespace: str) -> dict[str, Any]:
    """The ConfigMap that carries ``document`` (DocumentTooLarge when it cannot)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(
            f"the inventory is {size // 1024} KiB, over the {MAX_DOCUMENT_BYTES // 1024} KiB "
            "a ConfigMap can carry; not published (point --pki-dir at the server/tls folder)"
        )
    node = str(document["node"])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(node),
            "namespace": namespace,
            "labels": dict([NAME_LABEL, COMPONENT_LABEL]),
            "annotations": {NODE_ANNOTATION: node},
        },
        "data": {DATA_KEY: text},
    }


def publish(client: KubeClient, *, namespace: str, document: Mapping[str, Any]) -> Published:
    """Create or replace the node's ConfigMap; KubeError when the API refuses."""
    body = configmap(document, namespace=namespace)
    name = body["metadata"]["name"]
    created = True
    try:
        stored = client.create(
            api_version="v1",
            kind="ConfigMap",
            namespace=namespace,
            body=body,
            field_manager=FIELD_MANAGER,
        )
    except KubeConflict:  # it exists: replace it, conditionally on what we read
        created = False
        stored = _replace(client, body, namespace=namespace, name=name)
    return Published(
        namespace=namespace,
        name=name,
        resource_version=str((stored.get("metadata") or {}).get("resourceVersion") or ""),
        certificates=len(document.get("certificates") or ()),
        problems=len(document.get("problems") or ()),
        created=created,
    )


def _replace(
    client: KubeClient, body: dict[str, Any], *, namespace: str, name: str
) -> dict[str, Any]:
    tries = 2  # a concurrent writer changed it between our get and our replace: once more
    while True:
        tries -= 1
        try:
            current = client.get(api_version="v1", kind="ConfigMap", name=name, namespace=namespace)
        except KubeNotFound:  # deleted since our create: create it again
            return client.create(
                api_version="v1",
                kind="ConfigMap",
                namespace=namespace,
                body=body,
                field_manager=FIELD_MANAGER,
            )
        body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        try:
            return client.replace(
                api_version="v1",
                kind="ConfigMap",
                name=name,
                namespace=namespace,
                body=body,
                field_manager=FIELD_MANAGER,
            )
        except KubeConflict:
            if tries == 0:
                raise
