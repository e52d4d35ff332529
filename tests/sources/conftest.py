"""Builders for support bundles on disk: real zips and folders in tmp_path.

``bundle_files()`` is a small bundle in the real layout (reference/harvester.md §4) with
the "null" rewriting quirk; tests change or add entries, then write it with
``write_zip`` (one top folder, like Harvester's) or ``write_folder``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import yaml

BUNDLE = "supportbundle_5bb44244-434e-4530-ad35-35c4ef1ff661_2023-05-08T16-47-18Z"
SETTINGS = "yamls/cluster/harvesterhci.io/v1beta1/settings.yaml"
NODES = "yamls/cluster/v1/nodes.yaml"
PROXY = {"httpProxy": "http://proxy.example:3128", "noProxy": "192.168.1.0/24"}
Files = dict[str, str | bytes]


def as_list(api_version: str, kind: str, items: list[dict[str, object]]) -> str:
    """A ``kind: List`` file as support-bundle-kit writes it."""
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    body = {
        "apiVersion": "v1",
        "kind": "List",
        "items": items,
        "metadata": {"resourceVersion": "null"},
    }
    return yaml.safe_dump(body)


def setting(name: str, value: str | None = None, default: str | None = None) -> dict[str, object]:
    obj: dict[str, object] = {"metadata": {"name": name, "resourceVersion": "7"}}
    if value is not None:
        obj["value"] = value
    if default is not None:
        obj["default"] = default
    return obj


def node(name: str, ip: str) -> dict[str, object]:
    return {
        "metadata": {"name": name, "labels": {"node-role.kubernetes.io/control-plane": "true"}},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {"kubeletVersion": "v1.31.4+rke2r1", "osImage": "Harvester v1.4.2"},
        },
    }


def zip_bytes(files: Files, *, prefix: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return out.getvalue()


def node_zip(node_name: str) -> bytes:
    return zip_bytes(
        {
            "logs/rke2-server.log": f'level=info msg="{node_name} up"\n',
            "logs/kubelet.log": "I0115 06:00:00.000000 1 kubelet.go:1] not collected\n",
            "configs/oem/90_custom.yaml": f"stages:\n  initramfs:\n  - hostname: {node_name}\n",
            "configs/oem/harvester.config": "token: '***'\n",
        }
    )


def bundle_files() -> Files:
    """A minimal but complete bundle: settings, Rancher settings, nodes, events, node zips."""
    return {
        "metadata.yaml": "projectname: Harvester\nprojectversion: v1.4.2\n",
        SETTINGS: as_list(
            "harvesterhci.io/v1beta1",
            "Setting",
            [
                setting("http-proxy", json.dumps(PROXY), "{}"),
                setting("server-version", None, "v1.4.2"),
                # empty strings arrive as the string "null" (reference §4, rewriting quirk)
                setting("ssl-parameters", "null", "{}"),
            ],
        ),
        "yamls/cluster/management.cattle.io/v3/settings.yaml": as_list(
            "management.cattle.io/v3",
            "Setting",
            [
                {
                    **setting("server-url", "https://192.168.1.10"),
                    "default": "null",
                    "source": "null",
                }
            ],
        ),
        NODES: as_list(
            "v1", "Node", [node("node-0", "192.168.1.11"), node("node-1", "192.168.1.12")]
        ),
        "yamls/namespaced/kube-system/v1/events.yaml": as_list(
            "v1",
            "Event",
            [
                {
                    "metadata": {"name": "node-0.1", "namespace": "kube-system"},
                    "involvedObject": {"kind": "Node", "name": "node-0", "namespace": "null"},
                    "reason": "CertificateExpirationWarning",
                    "message": "certs expire soon",
                    "type": "Warning",
                    "count": 2,
                    "eventTime": "null",
                    "lastTimestamp": "2026-01-15T06:02:29Z",
                    "reportingComponent": "null",
                }
            ],
        ),
        "nodes/node-0.zip": node_zip("node-0"),
        "nodes/node-1.zip": node_zip("node-1"),
    }


def write_zip(path: Path, files: Files, *, top: str | None = None) -> Path:
    """Write ``files`` as a zip; ``top`` is the top folder (default: the zip's stem)."""
    top = path.stem if top is None else top
    path.write_bytes(zip_bytes(files, prefix=f"{top}/" if top else ""))
    return path


def write_folder(root: Path, files: Files) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)
    return root
