"""The per-cluster client ``Configuration``, bounded timeouts and retries, REST paths.

Kubeconfig files are read and a context resolved by ``bot.kube.kubeconfig`` (each file
parsed once); the ``kubernetes`` loader is handed only that context's three entries, so it
neither reads nor copies the whole file again for every cluster. Nothing here copies or
logs kubeconfigs. (The library itself writes inline ``*-data`` certificates and keys to
private ``mkstemp`` files for urllib3, which only takes paths; it removes them at exit.)

``kubernetes`` is imported inside ``build_configuration`` only: importing it costs about a
second and ``secbot --help`` must stay fast.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from bot.kube.errors import KubeConfigError, scrub
from bot.kube.kubeconfig import ResolvedContext, default_kubeconfig_paths, resolve_context

if TYPE_CHECKING:
    from urllib3.util.retry import Retry


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


# Paths in an entry are relative to the folder of the file that holds the entry, as for
# kubectl and ``bot.kube.credentials`` (the library alone would take the user's
# certificate and key relative to the *cluster's* file).
_PATH_FIELDS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}


def _loader_config(resolved: ResolvedContext) -> Any:
    """The resolved context as the ``kubernetes`` loader's merged config: its three entries
    only, copied (the loader writes refreshed tokens into them), each remembering the file
    it came from as the library's own merger does, their relative paths made absolute."""
    from kubernetes.config.kube_config import ConfigNode

    def entry(key: str, name: str | None, body: Any, path: Path | None) -> list[Any]:
        if name is None or body is None or path is None:
            return []  # the loader reports what is missing, as it would for the file
        copied = copy.deepcopy(dict(body))
        folder = os.path.abspath(os.path.dirname(path))
        for field_name in _PATH_FIELDS.get(key, ()):
            value = copied.get(field_name)
            if isinstance(value, str) and value and not os.path.isabs(value):
                copied[field_name] = os.path.join(folder, value)
        item = {"name": name, key[:-1]: copied}
        return [ConfigNode(f"{path}/{key}[{name}]", item, str(path))]  # type: ignore[no-untyped-call]

    merged = {
        "contexts": entry("contexts", resolved.name, resolved.context, resolved.file),
        "clusters": entry(
            "clusters", resolved.cluster_name, resolved.cluster, resolved.cluster_file
        ),
        "users": entry("users", resolved.user_name, resolved.user, resolved.user_file),
        "current-context": resolved.name,
    }
    return ConfigNode(str(resolved.file), merged, str(resolved.file))  # type: ignore[no-untyped-call]


def _require_server(resolved: ResolvedContext) -> None:
    """A context must name a defined cluster with a server: else it is a config mistake,
    not an unreachable cluster."""
    where = f"kubeconfig {resolved.file}: context {resolved.name!r}"
    if resolved.cluster_name is None:
        raise KubeConfigError(f"{where} names no cluster")
    if resolved.cluster is None:
        raise KubeConfigError(
            f"{where} names cluster {resolved.cluster_name!r}, which is not defined"
        )
    server = resolved.cluster.get("server")
    if not isinstance(server, str) or not server.strip():
        raise KubeConfigError(
            f"kubeconfig {resolved.cluster_file}: cluster {resolved.cluster_name!r} has no server"
        )


def build_configuration(
    target: KubeTarget, timeouts: Timeouts
) -> tuple[Any, ResolvedContext | None]:
    """A fresh ``kubernetes.client.Configuration`` for ``target`` (never the global default).

    Returns it with the resolved kubeconfig context (None for in-cluster).
    """
    from kubernetes.client.configuration import Configuration
    from kubernetes.config import ConfigException, load_incluster_config
    from kubernetes.config.kube_config import KubeConfigLoader

    cfg = Configuration()
    resolved: ResolvedContext | None = None
    try:
        if target.in_cluster:
            load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            paths = [target.kubeconfig] if target.kubeconfig else default_kubeconfig_paths()
            resolved = resolve_context(paths, target.context)
            _require_server(resolved)
            # No config_persister: never write back to the user's kubeconfig.
            loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=_loader_config(resolved),
                active_context=resolved.name,
                config_base_path=None,  # each entry's own file decides, as for kubectl
            )
            loader.load_and_set(cfg)  # type: ignore[no-untyped-call]
    except ConfigException as e:
        where = "in-cluster config" if target.in_cluster else f"kubeconfig for {target.name!r}"
        raise KubeConfigError(f"{where}: {scrub(str(e))}") from e
    except (OSError, ValueError, TypeError, KeyError) as e:
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


def public_host(url: str) -> str:
    """The server URL without any user:password part."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
