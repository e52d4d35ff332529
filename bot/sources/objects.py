"""Turn Kubernetes objects (dicts from YAML/JSON or the API) into Snapshot facts.

Shared by the manifests, support-bundle and live sources so that one object is read the
same way wherever it comes from. Certificate material is decoded as it arrives (Secrets
and caBundles in ``bot.sources.tls_objects``) and only CertInfo/KeyInfo facts are kept;
Rancher cloud credentials, tokens and provisioning clusters are reduced by
``bot.sources.rancher``.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus, Event, Node, Setting
from bot.sources import certs, rancher
from bot.sources import tls_objects as tls
from bot.sources.builder import SnapshotBuilder

HARVESTER_GROUP = "harvesterhci.io"
RANCHER_MGMT_GROUP = "management.cattle.io"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")

# Subjects recorded when a kind of object was seen (see Snapshot.coverage).
SUBJECT_BY_KIND = {
    "Setting": "settings",
    "Node": "nodes",
    "Event": "events",
    "Secret": "secrets",
    "ValidatingWebhookConfiguration": "webhooks",
    "MutatingWebhookConfiguration": "webhooks",
    "APIService": "webhooks",
}

# A private-key header and its END line. The lookahead finds every END line, also ones that
# share their dashes with a neighbour ("-----END X-----END X-----").
_KEY_HEADER = re.compile(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----")
_KEY_END = re.compile(r"(?=-----END ([A-Z ]*PRIVATE KEY)-----)")
_KEY_BEGIN = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[^-]*")


def _redact_blocks(text: str, newline: str) -> str:
    """Replace the body of every BEGIN ... END block of the same key type.

    Each header pairs with the first END line of its type after it; a header without one is
    left to ``redact_private_keys``' second pass. The END lines are found once, up front, so
    headers without an END line cost nothing more (a lazy ``BEGIN (.*?) END`` regex
    rescanned the rest of the text for each of them: quadratic).
    """
    ends: dict[str, deque[int]] = {}
    for found in _KEY_END.finditer(text):
        ends.setdefault(found.group(1), deque()).append(found.start())
    out: list[str] = []
    done = pos = 0  # text[:done] is in out; the next header is searched from pos
    while (m := _KEY_HEADER.search(text, pos)) is not None:
        kind = m.group(1)
        pending = ends.get(kind)
        while pending and pending[0] < m.end():  # END lines before this header pair nothing
            pending.popleft()
        if not pending:
            pos = m.start() + 1  # no END line: headers may still start inside this one
            continue
        end = pending[0] + len(f"-----END {kind}-----")
        out.append(text[done : m.start()])
        out.append(f"{m.group(0)}{newline}REDACTED{newline}{text[pending[0] : end]}")
        done = pos = end
    out.append(text[done:])
    return "".join(out)


def redact_private_keys(text: str, *, newline: str = "\n") -> str:
    """Replace the body of every PEM private-key block, keeping block types for validation.

    ``newline`` is the line break to write: a real one for PEM text, the two characters
    ``\\n`` for PEM embedded in a JSON string (ssl-certificates), which must stay JSON.
    Linear in the length of ``text``.
    """
    text = _redact_blocks(text, newline)
    # A block without its END line still must not keep its body: base64 has no "-", so
    # the body runs to the next "-" (an END line, or nothing).
    return _KEY_BEGIN.sub(lambda m: f"{m.group(1)}{newline}REDACTED{newline}", text)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text or None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _group(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def ingest(builder: SnapshotBuilder, obj: Any) -> str | None:
    """Read one object (or a List of them) into ``builder``; return the kind handled.

    Unknown kinds are ignored (None). Malformed certificate material becomes a
    CertProblem; a malformed object raises ValueError with the reason.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a Kubernetes object, got {type(obj).__name__}")
    kind = str(obj.get("kind") or "")
    if kind == "List" or kind.endswith("List"):
        items = obj.get("items") or []
        if not isinstance(items, list):
            raise ValueError(f"{kind}.items is not a list")
        for item in items:
            ingest(builder, item)
        return "List"
    handler = _HANDLERS.get(kind)
    if handler is None:
        return None
    handler(builder, obj)
    subject = SUBJECT_BY_KIND.get(kind)
    if kind == "Setting" and _group(str(obj.get("apiVersion", ""))) == RANCHER_MGMT_GROUP:
        subject = "rancher-settings"
    if subject and subject not in builder.coverage:
        builder.cover(subject, CoverageStatus.READ)
    return kind


def _setting(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    meta = _meta(obj)
    name = str(meta.get("name") or "")
    if not name:
        raise ValueError("Setting without metadata.name")
    value, default = _str(obj.get("value")), _str(obj.get("default"))
    if _group(str(obj.get("apiVersion", ""))) == RANCHER_MGMT_GROUP:
        builder.rancher_settings[name] = value or default or ""
        return
    if name == "ssl-certificates":
        value = _ssl_certificates(builder, value, "value")
        default = _ssl_certificates(builder, default, "default")
    elif name == "additional-ca" and value and certs.looks_like_pem(value.encode()):
        loc = ResourceRef("Setting", name, field="value")
        tls.builder_decode(builder, value.encode(), loc, f"Setting//{name}")
    builder.settings[name] = Setting(
        name=name,
        value=value,
        default=default,
        resource_version=str(meta.get("resourceVersion") or ""),
    )
    builder.cover(f"setting:{name}", CoverageStatus.READ)


def _ssl_certificates(builder: SnapshotBuilder, raw: str | None, field: str) -> str | None:
    """Decode the certificates of an ssl-certificates value; return it with keys redacted."""
    if not raw:
        return raw
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or absurdly nested (Go allows 10,000)
        return redact_private_keys(raw, newline="\\n")  # setting-invalid reports the JSON error
    if not isinstance(doc, dict):
        return redact_private_keys(raw, newline="\\n")
    lowered = {str(k).lower(): v for k, v in doc.items()}
    group = f"Setting//ssl-certificates/{field}"
    for key in ("publicCertificate", "ca", "privateKey"):
        text = lowered.get(key.lower())
        if not isinstance(text, str) or not text.strip():
            continue
        loc = ResourceRef("Setting", "ssl-certificates", field=f"{field}.{key}")
        if key == "privateKey":
            decoded = certs.decode(text.encode(), location=loc, group=group)
            builder.keys.extend(decoded.keys)
        elif field == "value":
            tls.builder_decode(builder, text.encode(), loc, group)
    # Redact the decoded strings, not the raw text: JSON escapes (\u002d for "-") would
    # hide a key from a regex on the raw value.
    return json.dumps(
        {k: redact_private_keys(v) if isinstance(v, str) else v for k, v in doc.items()}
    )


def _node(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    meta = _meta(obj)
    name = str(meta.get("name") or "")
    status = obj.get("status") or {}
    addresses = status.get("addresses") or [] if isinstance(status, Mapping) else []
    ips = tuple(
        str(a.get("address"))
        for a in addresses
        if isinstance(a, Mapping) and a.get("type") == "InternalIP" and a.get("address")
    )
    labels = meta.get("labels") or {}
    roles = tuple(
        sorted(
            key.split("/", 1)[1]
            for key in labels
            if isinstance(key, str) and key.startswith("node-role.kubernetes.io/")
        )
    )
    info = status.get("nodeInfo") or {} if isinstance(status, Mapping) else {}
    builder.nodes[name] = Node(
        name=name,
        internal_ips=ips,
        roles=roles,
        kubelet_version=str(info.get("kubeletVersion") or ""),
        os_image=str(info.get("osImage") or ""),
    )


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # unquoted YAML timestamps arrive parsed
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _event(builder: SnapshotBuilder, obj: Mapping[str, Any]) -> None:
    meta = _meta(obj)
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    if not isinstance(involved, Mapping):
        involved = {}
    series = obj.get("series") if isinstance(obj.get("series"), Mapping) else {}
    count = obj.get("count") or obj.get("deprecatedCount") or (series or {}).get("count") or 1
    last = (
        _time(obj.get("lastTimestamp"))
        or _time(obj.get("eventTime"))
        or _time(obj.get("deprecatedLastTimestamp"))
        or _time(meta.get("creationTimestamp"))
    )
    builder.events.append(
        Event(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            reason=str(obj.get("reason") or ""),
            message=str(obj.get("message") or obj.get("note") or ""),
            type=str(obj.get("type") or ""),
            involved_kind=str(involved.get("kind") or ""),
            involved_name=str(involved.get("name") or ""),
            count=int(count) if isinstance(count, int) else 1,
            last_seen=last,
        )
    )


_HANDLERS = {
    "Setting": _setting,
    "Node": _node,
    "Secret": tls.secret,
    "Event": _event,
    "ValidatingWebhookConfiguration": tls.webhook_config,
    "MutatingWebhookConfiguration": tls.webhook_config,
    "APIService": tls.api_service,
    "Token": rancher.ingest_token,
    "Cluster": rancher.ingest_cluster,
}
