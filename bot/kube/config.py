"""Kubeconfig reading, the per-cluster client ``Configuration``, and REST paths.

Kubeconfig files stay where they are: they are read (size-capped, YAML aliases refused,
structure checked) to resolve a context and its user, and the ``kubernetes`` loader is
pointed at the same paths. Nothing here copies or logs them. (The library itself writes
inline ``*-data`` certificates and keys to private ``mkstemp`` files for urllib3, which
only takes paths; it removes them at exit.)

``kubernetes`` is imported inside ``build_configuration`` only: importing it costs about a
second and ``secbot --help`` must stay fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import yaml

from bot.kube.errors import KubeConfigError, scrub

if TYPE_CHECKING:
    from urllib3.util.retry import Retry

MAX_KUBECONFIG_BYTES = 8 * 1024 * 1024  # Rancher kubeconfigs for hundreds of clusters: ~1 MB
DEFAULT_KUBECONFIG = Path("~/.kube/config")


@dataclass(frozen=True)
class Timeouts:
    """Bounds for every API call: seconds to connect and to wait for an answer, and retries.

    ``retries`` is the number of *extra* attempts (0 = exactly one request). Retries happen
    for connection failures (nothing was sent) and, for GETs only, for read timeouts and
    429/502/503/504 answers, after the server's Retry-After (capped at
    ``retry_after_cap``) or a short backoff. The library's own default (three silent
    retries) is never used.
    """

    connect: float = 5.0
    read: float = 30.0
    retries: int = 1
    retry_after_cap: float = 10.0


@dataclass(frozen=True)
class KubeTarget:
    """One cluster: a kubeconfig (``None`` = KUBECONFIG or ~/.kube/config) and context,
    or the in-cluster service account."""

    name: str
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    slack_channel: str | None = None
    role: str = "harvester"
    vip: str | None = None  # Harvester VIP for the TLS probe (else ConfigMap harvester-system/vip)
    scan_interval: timedelta | None = None  # scheduled scans (None: SECBOT_SCAN_INTERVAL)

    def __post_init__(self) -> None:
        # A read-only copy: targets are shared between threads and must not change.
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def __hash__(self) -> int:
        return hash((self.name, self.kubeconfig, self.context, self.in_cluster))


class YamlFileError(ValueError):
    """A small config file is missing, too big, not YAML, or uses aliases."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: a hand-written config never needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise YamlFileError("uses YAML aliases (*name), which are not allowed")
        return super().compose_node(parent, index)


def read_yaml_file(path: Path, *, max_bytes: int) -> Any:
    """Parse one YAML document from ``path`` (at most ``max_bytes``); YamlFileError if not."""
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise YamlFileError("does not exist") from None
    except OSError as e:
        raise YamlFileError(f"cannot be read ({e.strerror or type(e).__name__})") from None
    if len(raw) > max_bytes:
        raise YamlFileError(f"is larger than {max_bytes} bytes")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # SafeLoader subclass
    except YamlFileError:
        raise
    except UnicodeDecodeError:
        raise YamlFileError("is not UTF-8 text") from None
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark else ""
        raise YamlFileError(f"is not valid YAML{where}: {e.problem or 'syntax error'}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as e:
        # YAMLError without a mark; constructors fail on bad dates or absurd numbers.
        raise YamlFileError(f"is not valid YAML: {scrub(str(e))}") from None


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


def read_kubeconfig(path: Path) -> dict[str, Any]:
    """One kubeconfig file, checked for the structure we rely on; KubeConfigError if bad."""
    try:
        doc = read_yaml_file(path, max_bytes=MAX_KUBECONFIG_BYTES)
    except YamlFileError as e:
        raise KubeConfigError(f"kubeconfig {path} {e}") from e
    if not isinstance(doc, dict):
        raise KubeConfigError(f"kubeconfig {path}: not a kubeconfig (expected a mapping)")
    for key in ("clusters", "contexts", "users"):
        _named(doc, key, path)
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        raise KubeConfigError(f"kubeconfig {path}: 'current-context' must be a string")
    return doc


@dataclass(frozen=True)
class ResolvedContext:
    """A context of the merged kubeconfig files, with the user entry it names."""

    name: str
    file: Path  # the file the context came from
    user_name: str | None
    user: Mapping[str, Any] | None = field(repr=False)  # may hold a token: never log it
    user_file: Path | None  # relative paths in the user entry resolve against this file


def resolve_context(paths: Sequence[Path], context: str | None) -> ResolvedContext:
    """Merge the files like kubectl (the first definition of a name wins) and pick a context.

    Without ``context`` the first file that sets ``current-context`` decides.
    """
    existing = [p for p in paths if p.is_file()]
    if not existing:
        raise KubeConfigError(f"kubeconfig {', '.join(map(str, paths))} does not exist")
    contexts: dict[str, tuple[Mapping[str, Any], Path]] = {}
    users: dict[str, tuple[Mapping[str, Any], Path]] = {}
    current: str | None = None
    for path in existing:
        doc = read_kubeconfig(path)
        for item in _named(doc, "contexts", path):
            contexts.setdefault(item["name"], (item.get("context") or {}, path))
        for item in _named(doc, "users", path):
            users.setdefault(item["name"], (item.get("user") or {}, path))
        current = current or doc.get("current-context") or None
    where = ", ".join(map(str, existing))
    name = context or current
    if name is None:
        raise KubeConfigError(f"kubeconfig {where}: no current-context and no context given")
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeConfigError(f"kubeconfig {where}: context {name!r} not found (known: {known})")
    ctx, ctx_file = contexts[name]
    user_name = ctx.get("user")
    if user_name is not None and not isinstance(user_name, str):
        raise KubeConfigError(f"kubeconfig {ctx_file}: context {name!r} has a malformed user")
    user, user_file = users.get(user_name, (None, None)) if user_name else (None, None)
    return ResolvedContext(name, ctx_file, user_name, user, user_file)


def current_context_name(paths: Sequence[Path]) -> str | None:
    """The current context of the first file that sets one; None if no file exists."""
    for path in paths:
        if path.is_file():
            current = read_kubeconfig(path).get("current-context")
            if current:
                return str(current)
    return None


def make_retry(timeouts: Timeouts) -> Retry:
    """The explicit urllib3 retry policy (see Timeouts); imported lazily like kubernetes."""
    from urllib3.util.retry import Retry

    cap = timeouts.retry_after_cap

    class _CappedRetry(Retry):
        # A server may ask for minutes; a scan waits at most ``cap`` and then gives up.
        def get_retry_after(self, response: Any) -> float | None:
            value = super().get_retry_after(response)
            return None if value is None else min(value, cap)

    n = max(0, timeouts.retries)
    return _CappedRetry(
        total=n,
        connect=n,
        read=n,
        status=n,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}),  # never repeat a PATCH or POST
        status_forcelist=frozenset({429, 502, 503, 504}),
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last 429/503 so it becomes KubeUnavailable
        raise_on_redirect=False,
        backoff_factor=0.2,
        backoff_max=cap,
    )


def build_configuration(
    target: KubeTarget, timeouts: Timeouts
) -> tuple[Any, ResolvedContext | None]:
    """A fresh ``kubernetes.client.Configuration`` for ``target`` (never the global default).

    Returns it with the resolved kubeconfig context (None for in-cluster).
    """
    from kubernetes.client.configuration import Configuration
    from kubernetes.config import ConfigException, load_incluster_config, load_kube_config

    cfg = Configuration()
    resolved: ResolvedContext | None = None
    try:
        if target.in_cluster:
            load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            paths = [target.kubeconfig] if target.kubeconfig else default_kubeconfig_paths()
            resolved = resolve_context(paths, target.context)
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(str(p) for p in paths),
                context=resolved.name,
                client_configuration=cfg,
                persist_config=False,  # never write back to the user's kubeconfig
            )
    except ConfigException as e:
        where = "in-cluster config" if target.in_cluster else f"kubeconfig for {target.name!r}"
        raise KubeConfigError(f"{where}: {scrub(str(e))}") from e
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as e:
        # The library trusts the file's shape; we checked ours, it may trip on the rest.
        raise KubeConfigError(
            f"kubeconfig for {target.name!r} is malformed ({type(e).__name__}: {scrub(str(e))})"
        ) from e
    cfg.retries = make_retry(timeouts)
    return cfg, resolved


_API_VERSION = re.compile(r"^(v1|[a-z0-9]([a-z0-9.-]*[a-z0-9])?/v[0-9]+[a-z0-9]*)$")
# Kinds whose resource name is not the lowercase kind + "s" (kubernetes' own guess rule).
_PLURALS = {"Endpoints": "endpoints", "EndpointSlice": "endpointslices"}


def plural(kind: str) -> str:
    """The REST resource name of ``kind`` (Setting -> settings, Endpoints -> endpoints)."""
    if kind in _PLURALS:
        return _PLURALS[kind]
    low = kind.lower()
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in ("a", "e", "i", "o", "u"):
        return low[:-1] + "ies"
    return low + "s"


def resource_path(
    *, api_version: str, kind: str, namespace: str | None = None, name: str | None = None
) -> str:
    """``/api/v1/namespaces/ns/secrets/x`` or ``/apis/group/version/plural[/name]``."""
    if not _API_VERSION.match(api_version):
        raise ValueError(f"not an apiVersion: {api_version!r}")
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural(kind)}"
    if name is not None:
        if not name:
            raise ValueError("an object name must not be empty")
        path += f"/{quote(name, safe='')}"
    return path
