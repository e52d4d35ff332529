"""A small renderer of the kustomize subset deploy/kubernetes uses, for machines without
``kubectl kustomize``; test_kustomize.py holds it to kubectl's output wherever kubectl is.

Supported: ``resources`` (YAML files and folders with a kustomization.yaml, recursively),
``patches`` (RFC 6902 JSON patches, inline ``patch`` or ``path``, with a ``target`` of
kind and name), ``images`` (``name`` -> ``newName``/``newTag`` in containers and init
containers). Anything else in a kustomization is an error rather than silently ignored,
so a manifest change that needs more of kustomize fails here first.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
_KEYS = {"apiVersion", "kind", "resources", "patches", "images"}


class KustomizeError(ValueError):
    """The kustomization uses something this renderer does not support, or is wrong."""


def render(folder: Path) -> list[Obj]:
    """Every object the kustomization in ``folder`` produces."""
    path = folder / "kustomization.yaml"
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
        raise KustomizeError(f"{path}: not a Kustomization")
    unknown = set(doc) - _KEYS
    if unknown:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in doc.get("resources") or []:
        objects += _resource(folder / entry)
    _no_duplicates(objects, path)
    for patch in doc.get("patches") or []:
        _patch(objects, patch, folder)
    for image in doc.get("images") or []:
        _image(objects, image)
    return objects


def _resource(path: Path) -> list[Obj]:
    if path.is_dir():
        return render(path)
    return [copy.deepcopy(d) for d in yaml.safe_load_all(path.read_text()) if d]


def identity(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _no_duplicates(objects: list[Obj], path: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = identity(obj)
        if key in seen:
            raise KustomizeError(f"{path}: {key} is defined twice")
        seen.add(key)


def _patch(objects: list[Obj], spec: Obj, folder: Path) -> None:
    target = spec.get("target") or {}
    if set(target) - {"kind", "name"} or not target:
        raise KustomizeError(f"patch target {target} must name kind and/or name only")
    text = spec["patch"] if "patch" in spec else (folder / spec["path"]).read_text()
    ops = yaml.safe_load(text)
    if not isinstance(ops, list):
        raise KustomizeError("only JSON 6902 patches (a list of operations) are supported")
    matched = [
        o
        for o in objects
        if target.get("kind", o["kind"]) == o["kind"]
        and target.get("name", o["metadata"]["name"]) == o["metadata"]["name"]
    ]
    if not matched:
        raise KustomizeError(f"patch target {target} matches nothing")
    for obj in matched:
        for op in ops:
            apply_op(obj, op)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply_op(doc: Obj, op: Obj) -> None:
    """One RFC 6902 operation (add, replace, remove) on ``doc``, in place."""
    kind = op.get("op")
    if kind not in ("add", "replace", "remove"):
        raise KustomizeError(f"unsupported patch op {kind!r}")
    *parents, last = _pointer(op["path"])
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    value = copy.deepcopy(op.get("value"))
    if isinstance(node, list):
        if kind == "add":
            node.insert(len(node) if last == "-" else int(last), value)
        elif kind == "replace":
            node[int(last)] = value
        else:
            del node[int(last)]
        return
    if kind != "add" and last not in node:
        raise KustomizeError(f"{op['path']}: nothing to {kind}")
    if kind == "remove":
        del node[last]
    else:
        node[last] = value


def _image(objects: list[Obj], image: Obj) -> None:
    for obj in objects:
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
            current = str(container.get("image", ""))
            base = current.split("@")[0].rsplit(":", 1)[0] if ":" in current else current
            if base != image["name"]:
                continue
            tag = image.get("newTag")
            name = image.get("newName", base)
            container["image"] = f"{name}:{tag}" if tag else name
