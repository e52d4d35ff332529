"""TLS material in Kubernetes objects: Secrets' ``tls.crt``/``ca.crt``/``tls.key`` (in
``data``, or in ``stringData`` as manifests may write them) and the caBundles of webhook
configurations and APIServices, decoded into CertInfo / KeyInfo facts as they arrive
(``bot.sources.certs``); the key material itself is never kept.

Part of ``bot.sources.objects``, which dispatches objects here by kind.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from bot.core.certs import CertProblem
from bot.core.resources import ResourceRef
from bot.sources import certs, rancher
from bot.sources.builder import SnapshotBuilder

CERT_SECRET_KEYS = ("tls.crt", "ca.crt")
KEY_SECRET_KEYS = ("tls.key",)
_TLS_KEYS = (*CERT_SECRET_KEYS, *KEY_SECRET_KEYS)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def builder_decode(builder: SnapshotBuilder, data: bytes, loc: ResourceRef, group: str) -> None:
    decoded = certs.decode(data, location=loc, group=group, allow_der=False)
    builder.certificates.extend(decoded.certs)
    builder.keys.extend(decoded.keys)
    builder.cert_problems.extend(decoded.problems)


def b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:  # strict mode accepts a subset of what validate=True accepts, and is faster
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _tls_entries(obj: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """The TLS keys of a Secret: key -> (field, value), ``stringData`` over ``data``.

    Manifests may carry ``stringData`` (plain strings); the API server merges it over
    ``data``, the same key in ``stringData`` winning, and so do we. Live Secrets have
    ``data`` only.
    """
    entries: dict[str, tuple[str, Any]] = {}
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, Mapping):
            entries.update((key, (field, values[key])) for key in _TLS_KEYS if key in values)
    return entries


def secret(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    meta = _meta(obj)
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    # A TLS Secret is never a cloud credential: the live TLS list stays out of Rancher's.
    if ns == rancher.CREDENTIAL_NAMESPACE and obj.get("type") != "kubernetes.io/tls":
        rancher.ingest_secret(builder, obj)
    entries = _tls_entries(obj)
    group = f"Secret/{ns}/{name}"
    for key in _TLS_KEYS:
        field, value = entries.get(key, ("data", None))
        if value in (None, ""):
            continue
        loc = ResourceRef("Secret", name, ns, f"{field}.{key}")
        if field == "stringData":
            raw = value.encode() if isinstance(value, str) else None
            error = "value is not a string"
        else:
            raw, error = b64(value), "value is not valid base64"
        if raw is None:
            builder.cert_problems.append(CertProblem(loc, error))
            continue
        if not raw.strip():
            continue
        if key in KEY_SECRET_KEYS:
            decoded = certs.decode(raw, location=loc, group=group)
            builder.keys.extend(decoded.keys)
            # tls.crt and tls.key swapped: the certificate is still served, so judged.
            builder.certificates.extend(decoded.certs)
            if not decoded.keys:  # an undecodable key must not let cert-key-mismatch pass
                what = (
                    "holds a certificate, not a private key"
                    if decoded.certs
                    else "no private key found"
                )
                builder.degrade("secrets", f"{ns}/{name} {key}: {what}")
        else:
            builder_decode(builder, raw, loc, group)


def _ca_bundle(builder: SnapshotBuilder, kind: str, name: str, field: str, value: Any) -> None:
    raw = b64(value)
    loc = ResourceRef(kind, name, field=field)
    if raw is None:
        if value:
            builder.cert_problems.append(CertProblem(loc, "caBundle is not valid base64"))
        return
    builder_decode(builder, raw, loc, f"{kind}//{name}")


def webhook_config(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    kind, name = str(obj.get("kind")), str(_meta(obj).get("name") or "")
    for i, hook in enumerate(obj.get("webhooks") or []):
        if not isinstance(hook, Mapping):
            continue
        client = hook.get("clientConfig") or {}
        hook_name = str(hook.get("name") or i)
        if isinstance(client, Mapping) and client.get("caBundle"):
            _ca_bundle(
                builder,
                kind,
                name,
                f"webhooks[{hook_name}].clientConfig.caBundle",
                client["caBundle"],
            )


def api_service(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    spec = obj.get("spec") or {}
    if isinstance(spec, Mapping) and spec.get("caBundle"):
        name = str(_meta(obj).get("name") or "")
        _ca_bundle(builder, "APIService", name, "spec.caBundle", spec["caBundle"])
