"""The rendered overlays of deploy/kubernetes, shared by the deploy tests.

``kubectl kustomize`` renders them where kubectl is installed (it is on the CI machines);
elsewhere tests/deploy/kustomize.py does, which test_kustomize.py holds to kubectl.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.kustomize import Obj, render

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("sqlite", "postgres", "remediation")  # the bot and its cluster
REMOTE = ("remote", "remote-rancher")  # a cluster scanned by a bot elsewhere
EVERY = OVERLAYS + REMOTE
SECRET_EXAMPLE = KUSTOMIZE / "secret.example.yaml"
KUBECTL = shutil.which("kubectl")


def kubectl_render(folder: Path) -> list[Obj]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@functools.cache
def _rendered(overlay: str) -> tuple[Obj, ...]:
    folder = KUSTOMIZE / overlay
    return tuple(kubectl_render(folder) if KUBECTL else render(folder))


def rendered(overlay: str) -> list[Obj]:
    """The objects of one overlay (a fresh deep copy each call: tests may change them)."""
    import copy

    return copy.deepcopy(list(_rendered(overlay)))


def one(objects: list[Obj], kind: str, name: str, namespace: str | None = None) -> Obj:
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(workload: Obj) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Obj) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*(spec.get("initContainers") or []), *spec["containers"]]
