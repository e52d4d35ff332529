"""Plan from files: the objects of manifest files stand in for the cluster.

``secbot remediation plan F-123 --manifests settings.yaml`` plans against ``kubectl get
settings.harvesterhci.io -o yaml`` (and, for a rotation, the provisioning cluster and
control plane) without any API server: ``OfflineClient`` answers the planner's reads
from those objects and refuses every write. The dry run is therefore not run, the plan
says so, and such a plan is only ever shown, never stored or approved.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.errors import UserError
from bot.kube.client import KubeClient, KubeTarget
from bot.kube.errors import KubeError, KubeNotFound
from bot.sources.yamlsafe import DocumentError, load_documents

MAX_FILE_BYTES = 16 * 1024 * 1024
NOT_RUN_OFFLINE = "not run: planned offline from files (no API server)"


class NotRunOffline(KubeError):
    """A write (dry run included) asked of the offline client."""


def read_objects(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every object of these manifest files (``List`` items flattened); UserError naming
    the file for anything unreadable."""
    found: list[dict[str, Any]] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise UserError(f"{path}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
            docs = list(load_documents(path.read_text(encoding="utf-8-sig")))
        except (OSError, UnicodeDecodeError, DocumentError) as e:
            raise UserError(f"cannot read {path}: {e}") from None
        for doc in docs:
            items = doc.get("items") if isinstance(doc, Mapping) else None
            for obj in items if isinstance(items, list) else [doc]:
                if isinstance(obj, Mapping) and obj.get("kind") and obj.get("metadata"):
                    found.append(dict(obj))
    return found


class OfflineClient(KubeClient):
    """Reads from given objects; every write raises NotRunOffline."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, cluster: str) -> None:
        # Deliberately not KubeClient.__init__: there is no API client behind this one.
        self.target = KubeTarget(name=cluster)
        self.host = "offline"
        self.page_size = 0
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for obj in objects:
            meta = obj.get("metadata") or {}
            key = (
                str(obj.get("apiVersion", "")),
                str(obj.get("kind", "")),
                str(meta.get("namespace") or ""),
                str(meta.get("name", "")),
            )
            stored = copy.deepcopy(dict(obj))
            # Hand-written files may lack it; the plan names it, and nothing is ever
            # written against it offline.
            stored.setdefault("metadata", {}).setdefault("resourceVersion", "offline")
            self._objects[key] = stored

    def __repr__(self) -> str:
        return f"OfflineClient({self.target.name!r}, objects={len(self._objects)})"

    def close(self) -> None:
        """Nothing to release."""

    def get(
        self, *, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        found = self._objects.get((api_version, kind, namespace or "", name))
        if found is None:
            raise KubeNotFound(f"{kind} {name!r} is not in the given files", status=404)
        return copy.deepcopy(found)

    def patch(self, **_kw: Any) -> dict[str, Any]:
        raise NotRunOffline("offline: there is no API server to send the change to")
