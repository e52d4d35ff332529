"""The clusters file (``SECBOT_CLUSTERS_FILE``) -> ``KubeTarget`` list.

Format (see examples/clusters.yaml)::

    clusters:
      - name: prod-a                    # required, unique
        kubeconfig: ~/.kube/prod-a.yaml # relative paths: to the clusters file's folder
        context: prod-a                 # optional; default: the file's current-context
        labels: {env: prod}             # optional, string -> string
        slack: {channel: "#ops-prod"}   # optional channel override
        scan-interval: 2h               # optional; default SECBOT_SCAN_INTERVAL
        role: harvester                 # optional: harvester (default) | rancher
      - name: home
        in-cluster: true                # the pod's service account; no kubeconfig/context

An entry needs ``kubeconfig``, ``context`` (of $KUBECONFIG / ~/.kube/config) or
``in-cluster: true``. Validation is strict and every problem is one UserError line that
names the file and the entry. Only the existence of a kubeconfig is checked here: its
contents are read at connect time, so one broken kubeconfig fails one cluster, not all.
Without a clusters file the current kubeconfig context is the single target.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.durations import parse_duration
from bot.errors import UserError
from bot.kube.config import KubeTarget
from bot.kube.kubeconfig import current_context_name, default_kubeconfig_paths
from bot.kube.yamlfile import YamlFileError, read_yaml_file

MAX_CLUSTERS_FILE_BYTES = 1024 * 1024
ROLES = ("harvester", "rancher")
MIN_SCAN_INTERVAL = timedelta(minutes=5)
_KEYS = {
    "name",
    "kubeconfig",
    "context",
    "in-cluster",
    "labels",
    "slack",
    "role",
    "vip",
    "scan-interval",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,62}$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$")
# "#channel-name" (Slack names: lowercase, digits, - and _) or a channel id "C0123ABCD".
_CHANNEL = re.compile(r"^(#[a-z0-9_-][a-z0-9_.-]{0,79}|[CG][A-Z0-9]{8,20})$")


class _EntryError(ValueError):
    """One problem in one entry; load_targets prefixes the file and entry."""


def _opt_str(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _EntryError(f"'{key}' must be a non-empty string")
    return value


def _labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _EntryError("'labels' must be a mapping of strings")
    for key, val in value.items():
        if not isinstance(key, str) or not _LABEL.match(key):
            raise _EntryError(f"label key {key!r} is not a valid label key")
        if not isinstance(val, str) or len(val) > 63:
            raise _EntryError(f"label {key!r} must have a string value of at most 63 characters")
    return dict(value)


def _vip(value: Any) -> str | None:
    if value is None:
        return None
    import ipaddress

    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        raise _EntryError(f"'vip' {value!r} is not an IP address") from None


def _channel(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"channel"}:
        raise _EntryError("'slack' must be a mapping with only 'channel'")
    channel = value.get("channel")
    if channel is None:
        return None
    if not isinstance(channel, str) or not _CHANNEL.match(channel):
        raise _EntryError(f"slack channel {channel!r} must be '#name' or a channel id (C...)")
    return channel


def _interval(value: Any) -> timedelta | None:
    if value is None:
        return None
    try:
        interval = parse_duration(str(value))
    except ValueError as e:
        raise _EntryError(f"'scan-interval': {e}") from None
    if interval < MIN_SCAN_INTERVAL:
        raise _EntryError(f"'scan-interval' {value!r} is shorter than 5 minutes")
    return interval


def _kubeconfig(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _EntryError("'kubeconfig' must be a path")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise _EntryError(f"'kubeconfig' {path} does not exist")
    return path


def _entry(entry: dict[str, Any], base: Path) -> KubeTarget:
    unknown = sorted(str(k) for k in set(entry) - _KEYS)
    if unknown:
        raise _EntryError(f"unknown key {unknown[0]!r} (expected: {', '.join(sorted(_KEYS))})")
    in_cluster = entry.get("in-cluster", False)
    if not isinstance(in_cluster, bool):
        raise _EntryError("'in-cluster' must be true or false")
    context = _opt_str(entry, "context")
    if in_cluster and ("kubeconfig" in entry or context is not None):
        raise _EntryError("'in-cluster: true' excludes 'kubeconfig' and 'context'")
    kubeconfig = _kubeconfig(entry["kubeconfig"], base) if "kubeconfig" in entry else None
    if not in_cluster and kubeconfig is None and context is None:
        raise _EntryError("needs 'kubeconfig', 'context' or 'in-cluster: true'")
    role = entry.get("role", "harvester")
    if role not in ROLES:
        raise _EntryError(f"'role' must be one of {', '.join(ROLES)}, not {role!r}")
    return KubeTarget(
        name=entry["name"],
        kubeconfig=kubeconfig,
        context=context,
        in_cluster=in_cluster,
        labels=_labels(entry.get("labels")),
        slack_channel=_channel(entry.get("slack")),
        role=role,
        vip=_vip(entry.get("vip")),
        scan_interval=_interval(entry.get("scan-interval")),
    )


def _entry_name(entry: Any) -> str:
    if not isinstance(entry, dict):
        raise _EntryError("must be a mapping (name, kubeconfig, context, ...)")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _EntryError(
            f"'name' {name!r} must be 1-63 characters of letters, digits and . _ : @ -"
        )
    return name


def _from_file(path: Path) -> list[KubeTarget]:
    try:
        doc = read_yaml_file(path, max_bytes=MAX_CLUSTERS_FILE_BYTES)
    except YamlFileError as e:
        raise UserError(f"clusters file {path} {e}") from e
    if not isinstance(doc, dict) or set(doc) != {"clusters"}:
        raise UserError(f"{path}: expected a mapping with only the key 'clusters'")
    entries = doc["clusters"]
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: 'clusters' must be a non-empty list")
    targets: list[KubeTarget] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        label = f"{path}: entry {number}"
        try:
            name = _entry_name(entry)
            label = f"{label} ({name})"
            if name in seen:
                raise _EntryError(f"duplicate name {name!r}")
            seen.add(name)
            targets.append(_entry(entry, path.parent))
        except _EntryError as e:
            raise UserError(f"{label}: {e}") from None
    return targets


def load_targets(clusters_file: Path | None) -> list[KubeTarget]:
    """The clusters to scan: from the clusters file, else the current kubeconfig context.

    Raises UserError (one line) for a bad file, or when there is neither a clusters file
    nor a kubeconfig with a current context.
    """
    if clusters_file is not None:
        path = clusters_file.expanduser()
        if not path.is_file():
            raise UserError(f"clusters file {path} does not exist (SECBOT_CLUSTERS_FILE)")
        return _from_file(path)
    paths = default_kubeconfig_paths()
    context = current_context_name(paths)
    if context is None:
        raise UserError(
            "no clusters configured: set SECBOT_CLUSTERS_FILE to a clusters file (see "
            "examples/clusters.yaml), or set KUBECONFIG (or ~/.kube/config) to a kubeconfig "
            "with a current context"
        )
    return [KubeTarget(name=context, context=context)]
