"""Kubeconfig files: read once, checked, merged like kubectl, one context resolved.

Kubeconfig files stay where they are; nothing here copies or logs them. A fleet often
names one big kubeconfig for every cluster (Rancher writes one context per downstream
cluster: ~0.5 MB for 300), so a parsed file is remembered by its path and the SHA-256 of
its bytes: a fleet scan parses it once, not once per cluster, and an edited file is parsed
again however quickly it changed (modification times are only as fine as the kernel's
clock tick). A file that does not parse is remembered too, with its one-line problem, so a
broken 0.5 MB file is not parsed again for each of its clusters. The remembered documents
are shared between threads and never modified; ``resolve_context`` hands out the entries
of one context, which callers copy before handing them to code that may write to them
(the ``kubernetes`` loader refreshes tokens in place).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.kube.errors import KubeConfigError
from bot.kube.yamlfile import YamlFileError, parse_yaml, read_text

MAX_KUBECONFIG_BYTES = 8 * 1024 * 1024  # Rancher kubeconfigs for hundreds of clusters: ~1 MB
DEFAULT_KUBECONFIG = Path("~/.kube/config")
_REMEMBERED = 32  # parsed files kept (a fleet names a few kubeconfigs, often one)

_lock = threading.Lock()
_parsed: OrderedDict[tuple[str, bytes], dict[str, Any] | str] = OrderedDict()


def default_kubeconfig_paths() -> list[Path]:
    """The files kubectl would read: $KUBECONFIG (os.pathsep-separated) or ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return paths or [DEFAULT_KUBECONFIG.expanduser()]


def _named(doc: Mapping[str, Any], key: str, path: Path) -> list[Mapping[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise KubeConfigError(f"kubeconfig {path}: '{key}' must be a list")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise KubeConfigError(f"kubeconfig {path}: every entry of '{key}' needs a name")
        body = item.get(key[:-1])  # "cluster", "context", "user"
        if body is not None and not isinstance(body, dict):
            raise KubeConfigError(f"kubeconfig {path}: '{key}' {item['name']!r} is malformed")
    return items


def _checked(doc: Any, path: Path) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise KubeConfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    for key in ("clusters", "contexts", "users"):
        _named(doc, key, path)
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise KubeConfigError(f"kubeconfig {path}: 'current-context' must be a string")
    return doc


def read_kubeconfig(path: Path) -> dict[str, Any]:
    """One kubeconfig file, checked for the structure we rely on; KubeConfigError if bad.

    The parsed document is remembered (see the module docstring): do not modify it.
    """
    try:
        text = read_text(path, max_bytes=MAX_KUBECONFIG_BYTES)
    except YamlFileError as e:
        raise KubeConfigError(f"kubeconfig {path} {e}") from e
    key = (str(path), hashlib.sha256(text.encode()).digest())
    with _lock:  # one parse per file, also when every fleet thread wants it at once
        found = _parsed.get(key)
        if found is None:
            try:
                found = _checked(parse_yaml(text), path)
            except YamlFileError as e:
                found = f"kubeconfig {path} {e}"
            except KubeConfigError as e:
                found = str(e)
            _parsed[key] = found
            while len(_parsed) > _REMEMBERED:
                _parsed.popitem(last=False)
        else:
            _parsed.move_to_end(key)
    if isinstance(found, str):
        raise KubeConfigError(found)
    return found


def forget_kubeconfigs() -> None:
    """Drop every remembered kubeconfig (benchmarks start cold with this)."""
    with _lock:
        _parsed.clear()


@dataclass(frozen=True)
class ResolvedContext:
    """A context of the merged kubeconfig files, with the entries it names (each with the
    file it came from: relative paths in an entry resolve against that file's folder)."""

    name: str
    file: Path  # the file the context came from
    user_name: str | None
    user: Mapping[str, Any] | None = field(repr=False)  # may hold a token: never log it
    user_file: Path | None
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)
    cluster_name: str | None = None
    cluster: Mapping[str, Any] | None = field(default=None, repr=False)
    cluster_file: Path | None = None


def resolve_context(paths: Sequence[Path], context: str | None) -> ResolvedContext:
    """Merge the files like kubectl (the first definition of a name wins) and pick a context.

    Without ``context`` the first file that sets ``current-context`` decides.
    """
    existing = [p for p in paths if p.is_file()]
    if not existing:
        raise KubeConfigError(f"kubeconfig {', '.join(map(str, paths))} does not exist")
    found: dict[str, dict[str, tuple[Mapping[str, Any], Path]]] = {
        "contexts": {},
        "users": {},
        "clusters": {},
    }
    current: str | None = None
    for path in existing:
        doc = read_kubeconfig(path)
        for key, named in found.items():
            for item in _named(doc, key, path):
                named.setdefault(item["name"], (item.get(key[:-1]) or {}, path))
        current = current or doc.get("current-context") or None
    where = ", ".join(map(str, existing))
    name = context or current
    if name is None:
        raise KubeConfigError(f"kubeconfig {where}: no current-context and no context given")
    contexts = found["contexts"]
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeConfigError(f"kubeconfig {where}: context {name!r} not found (known: {known})")
    ctx, ctx_file = contexts[name]
    user_name, cluster_name = ctx.get("user"), ctx.get("cluster")
    for what, value in (("user", user_name), ("cluster", cluster_name)):
        if value is not None and not isinstance(value, str):
            raise KubeConfigError(f"kubeconfig {ctx_file}: context {name!r} has a malformed {what}")
    none: tuple[None, None] = (None, None)
    user, user_file = found["users"].get(user_name, none) if user_name else none
    cluster, cluster_file = found["clusters"].get(cluster_name, none) if cluster_name else none
    return ResolvedContext(
        name, ctx_file, user_name, user, user_file, ctx, cluster_name, cluster, cluster_file
    )


def current_context_name(paths: Sequence[Path]) -> str | None:
    """The current context of the first file that sets one; None if no file exists."""
    for path in paths:
        if path.is_file():
            current = read_kubeconfig(path).get("current-context")
            if current:
                return str(current)
    return None
