"""Rancher objects behind Harvester cloud credentials, reduced to non-secret facts.

A Harvester cloud credential (reference/harvester.md §3.4, KB "Renew Harvester cloud
credentials") is a Secret in ``cattle-global-data`` whose
``harvestercredentialConfig-kubeconfigContent`` holds a base64 kubeconfig. Its user token
looks like ``kubeconfig-user-abc12:SECRETPART``: the part before ``:`` names a
``tokens.management.cattle.io`` object, the rest is the secret. Rancher itself splits
tokens that way (``SplitTokenParts``) and computes a token's expiry as
``creationTimestamp + ttl`` (``SetTokenExpiresAt`` / ``IsExpired`` in rancher/rancher
pkg/auth/tokens), which ``rancher_token`` falls back to when ``expiresAt`` is absent.

Only the token's name, the API server's scheme://host:port and the display name are
kept. The token's secret part, the kubeconfig itself and every other data key of the
Secret (cloud credentials of other providers hold AWS keys, passwords ...) are dropped
here, as they arrive; problems are described in fixed words that quote nothing from the
input. The parsers are pure and never raise; the ``ingest_*`` functions feed a
SnapshotBuilder for ``bot.sources.objects.ingest`` (manifests, bundles, live lists).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.core.resources import ResourceRef
from bot.core.snapshot import CloudCredential, CoverageStatus, RancherToken
from bot.sources.builder import SnapshotBuilder
from bot.sources.yamlsafe import DocumentError, load_documents

CREDENTIAL_NAMESPACE = "cattle-global-data"
KUBECONFIG_KEY = "harvestercredentialConfig-kubeconfigContent"
DISPLAY_NAME = "field.cattle.io/name"
TOKEN_API_VERSION = "management.cattle.io/v3"
CLUSTER_API_VERSION = "provisioning.cattle.io/v1"
# Coverage subjects (Snapshot.cloud_credentials, .rancher_tokens, CloudCredential.guest_clusters).
CREDENTIALS = "cloud-credentials"
TOKENS = "rancher-tokens"
GUEST_CLUSTERS = "guest-clusters"
# A Kubernetes Secret holds at most 1 MiB; a bigger value is not a kubeconfig Rancher wrote.
MAX_KUBECONFIG_BYTES = 1024 * 1024
NOT_A_KUBECONFIG = "the value is not a kubeconfig (not valid base64, or not a YAML mapping)"
# Token names are object names (DNS-1123 subdomains): anything else before the ":" may be
# a secret of some other format and is not kept.
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _group(obj: Mapping[str, Any]) -> str:
    api_version = obj.get("apiVersion")
    return api_version.split("/", 1)[0] if isinstance(api_version, str) else ""


def _text(value: str | bytes) -> str | None:
    """The kubeconfig text of a ``data`` (base64) or ``stringData`` (plain) value.

    Both spellings are accepted for both fields: kubeconfig YAML always contains ":" and
    spaces, which base64 never does, so trying base64 first cannot misread plain text.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _kubeconfig(value: Any) -> Mapping[str, Any] | str:
    """The parsed kubeconfig, or a problem in fixed words (nothing quoted from the input)."""
    if value in (None, ""):
        return "the kubeconfig is empty"
    if not isinstance(value, str | bytes):
        return NOT_A_KUBECONFIG
    if len(value) > 2 * MAX_KUBECONFIG_BYTES:
        return "the kubeconfig is larger than 1 MiB"
    text = _text(value)
    if text is None:
        return "the kubeconfig is not UTF-8 text"
    if len(text) > MAX_KUBECONFIG_BYTES:
        return "the kubeconfig is larger than 1 MiB"
    try:
        docs = [d for d in load_documents(text) if d is not None]
    except DocumentError:
        return "the kubeconfig is not valid YAML"
    if not docs or not isinstance(docs[0], Mapping):
        return NOT_A_KUBECONFIG
    return docs[0]


def _entry(doc: Mapping[str, Any], section: str, wanted: Any) -> Mapping[str, Any] | None:
    """The body of the named entry of ``clusters``/``users`` (or of the only one)."""
    raw = doc.get(section)
    entries = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    if isinstance(wanted, str):
        for entry in entries:
            if entry.get("name") == wanted:
                return _map(entry.get(section[:-1]))
    return _map(entries[0].get(section[:-1])) if len(entries) == 1 else None


def _current(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The current context's body; {} when there is none (then the only user counts)."""
    contexts = doc.get("contexts")
    current = doc.get("current-context")
    for entry in contexts if isinstance(contexts, list) else []:
        if isinstance(entry, Mapping) and entry.get("name") == current:
            return _map(entry.get("context"))
    return {}


def reduce_server(url: Any) -> str:
    """``scheme://host[:port]`` of a server URL: no path, no user:password; "" if unusable."""
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if not parts.scheme or not host:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _token_name(user: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """(the token's name, problem): only what precedes ":" ever leaves this function."""
    if user is None:
        return None, "the kubeconfig has no user to read (none, or several and no context)"
    token = user.get("token")
    if not isinstance(token, str) or not token.strip():
        return None, "the kubeconfig's user has no token"
    name, sep, _ = token.strip().partition(":")
    if not sep or not name:
        return None, "the token has no name part"
    if len(name) > 253 or not _OBJECT_NAME.fullmatch(name):
        return None, "the token's name part is not a valid object name"
    return name, ""


def cloud_credential(secret: Mapping[str, Any]) -> CloudCredential | None:
    """The Harvester cloud credential in a Secret, or None when it is not one.

    ``stringData`` wins over ``data`` as it does when the API server stores a Secret.
    Never raises; never keeps the token's secret part or any other value of the Secret.
    """
    if not isinstance(secret, Mapping):
        return None
    meta = _map(secret.get("metadata"))
    name = meta.get("name")
    if meta.get("namespace") != CREDENTIAL_NAMESPACE or not isinstance(name, str) or not name:
        return None
    string_data, data = _map(secret.get("stringData")), _map(secret.get("data"))
    if KUBECONFIG_KEY in string_data:
        value = string_data[KUBECONFIG_KEY]
    elif KUBECONFIG_KEY in data:
        value = data[KUBECONFIG_KEY]
    else:
        return None
    display = _map(meta.get("annotations")).get(DISPLAY_NAME)
    cred = CloudCredential(
        secret=ResourceRef("Secret", name, CREDENTIAL_NAMESPACE, f"data.{KUBECONFIG_KEY}"),
        name=display if isinstance(display, str) and display.strip() else name,
    )
    doc = _kubeconfig(value)
    if isinstance(doc, str):
        return replace(cred, problem=doc)
    context = _current(doc)
    server = reduce_server((_entry(doc, "clusters", context.get("cluster")) or {}).get("server"))
    token_name, problem = _token_name(_entry(doc, "users", context.get("user")))
    return replace(cred, token_name=token_name, server=server, problem=problem)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # unquoted YAML timestamps arrive parsed
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with a positive offset
        return None


def rancher_token(obj: Mapping[str, Any]) -> RancherToken:
    """A ``tokens.management.cattle.io`` object's lifetime; its ``token`` is never read.

    ``expiresAt`` "" or missing: ``creationTimestamp + ttl`` when ``ttl`` is above 0 (the
    expiry Rancher itself enforces), else None: the token never expires (``ttl`` 0).
    """
    meta = _map(obj.get("metadata")) if isinstance(obj, Mapping) else {}
    body = obj if isinstance(obj, Mapping) else {}
    ttl = body.get("ttl")
    ttl_ms = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0 else 0
    expires_at = _time(body.get("expiresAt"))
    created = _time(meta.get("creationTimestamp"))
    if expires_at is None and ttl_ms and created is not None:
        try:
            expires_at = created + timedelta(milliseconds=ttl_ms)
        except OverflowError:
            expires_at = None
    name = meta.get("name")
    return RancherToken(
        name=name if isinstance(name, str) else "",
        expires_at=expires_at,
        ttl_ms=ttl_ms,
        expired=body.get("expired") is True,
    )


def _secret_name(reference: Any) -> str | None:
    """``cattle-global-data:cc-abcde`` (or a bare ``cc-abcde``) -> ``cc-abcde``.

    A reference into another namespace cannot be one of the Secrets read here (they all
    live in cattle-global-data), so it is not matched by name alone.
    """
    if not isinstance(reference, str) or not reference.strip():
        return None
    namespace, sep, name = reference.strip().rpartition(":")
    if sep and namespace != CREDENTIAL_NAMESPACE:
        return None
    return name or None


def credential_users(cluster_obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(credential Secret name, "namespace/name") for each cloud credential a
    provisioning.cattle.io/v1 Cluster names: ``spec.cloudCredentialSecretName`` and
    every ``spec.rkeConfig.machinePools[].cloudCredentialSecretName``; no duplicates."""
    if not isinstance(cluster_obj, Mapping):
        return []
    meta, spec = _map(cluster_obj.get("metadata")), _map(cluster_obj.get("spec"))
    who = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
    pools = _map(spec.get("rkeConfig")).get("machinePools")
    references = [spec.get("cloudCredentialSecretName")]
    for pool in pools if isinstance(pools, list) else []:
        references.append(_map(pool).get("cloudCredentialSecretName"))
    found: list[tuple[str, str]] = []
    for reference in references:
        name = _secret_name(reference)
        if name is not None and (name, who) not in found:
            found.append((name, who))
    return found


# -- feeding a SnapshotBuilder (objects.ingest) ----------------------------------------------
def _seen(builder: SnapshotBuilder, *subjects: str) -> None:
    for subject in subjects:
        if subject not in builder.coverage:
            builder.cover(subject, CoverageStatus.READ)


def ingest_secret(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    """A Secret of cattle-global-data: its cloud credential, if it holds one."""
    _seen(builder, CREDENTIALS)
    cred = cloud_credential(obj)
    if cred is not None:
        builder.cloud_credentials.append(cred)


def ingest_token(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    """A tokens.management.cattle.io object (other groups' Token kinds are ignored)."""
    if _group(obj) != TOKEN_API_VERSION.split("/")[0]:
        return
    token = rancher_token(obj)
    if token.name:
        builder.rancher_tokens[token.name] = token
    # Tokens given without the Secrets still mean "Rancher objects were exported".
    _seen(builder, TOKENS, CREDENTIALS)


def ingest_cluster(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    """A provisioning.cattle.io Cluster: which credentials it uses (management ones ignored)."""
    if _group(obj) != CLUSTER_API_VERSION.split("/")[0]:
        return
    for secret, who in credential_users(obj):
        builder.guest_clusters.setdefault(secret, set()).add(who)
    _seen(builder, GUEST_CLUSTERS)
