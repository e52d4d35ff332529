"""Setting changes for the catalog: http-proxy noProxy, ssl-parameters, Traefik TLS options.

A setting action is a change function: it gets the Setting as the cluster has it
(``Inputs``) and returns the new ``value``, or for http-proxy the IPs to add to noProxy,
with the preconditions that held (``Change``); ``catalog.SettingAction`` makes the Plan.
Only ``value`` is ever patched, never ``default`` (Harvester rewrites it at start,
reference/harvester.md §1.3). Values are decoded with the checks' Go-faithful decoder and
judged by the checks' own helpers, so an action fixes exactly what a check reports. New
values keep the members of the old JSON object they need not change; http-proxy is
edited in place, byte for byte (``plan.append_noproxy``), because it holds credentials.
The auto-rotate-rke2-certs changes live with the rotation, in ``actions_rotate``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.checks import _settings as s
from bot.checks.http_proxy import go_parse_ip, uncovered_node_ips
from bot.checks.setting_invalid import AUTO_ROTATE_MAX_HOURS, protocol_tokens
from bot.checks.ssl import WEAK_PROTOCOLS, weak_openssl_ciphers, weak_tls_options
from bot.core.masking import contains_credentials
from bot.core.policy import CheckPolicy
from bot.errors import PermanentError, UserError
from bot.kube.client import KubeClient
from bot.kube.errors import KubeNotFound
from bot.remediation.plan import Target, append_noproxy, go_key_matches

SETTINGS_API = "harvesterhci.io/v1beta1"
AUTO_ROTATE, HTTP_PROXY = "auto-rotate-rke2-certs", "http-proxy"
SSL_PARAMETERS, TLS_OPTIONS = "ssl-parameters", "traefik-default-tls-options"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Choices a plan needs beyond the finding (from Settings; safe defaults)."""

    # expiringInHours written by enable-auto-rotate / fix-auto-rotate-window: 10 days,
    # Harvester's own default, inside the auto-rotate-window check's policy window.
    auto_rotate_hours: int = 240
    policy: CheckPolicy = CheckPolicy()  # noqa: RUF009 (frozen, shared safely)

    def __post_init__(self) -> None:
        low, high = self.policy.auto_rotate_min_hours, self.policy.auto_rotate_max_hours
        hours = self.auto_rotate_hours
        if not (1 <= hours <= AUTO_ROTATE_MAX_HOURS and low <= hours <= high):
            raise ValueError(
                f"auto_rotate_hours must be within 1..{AUTO_ROTATE_MAX_HOURS} and the "
                f"policy window {low}..{high} h, got {hours}"
            )


def read_object(client: KubeClient, target: Target, *, missing: str = "") -> dict[str, Any]:
    """GET ``target``; a missing object is a UserError (``missing`` says why it may be)."""
    try:
        namespace = target.namespace or None
        return client.get(
            api_version=target.api_version, kind=target.kind, name=target.name, namespace=namespace
        )
    except KubeNotFound:
        raise UserError(f"{target} does not exist on this cluster{missing}") from None


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a change function may look at: the Setting as read, and the finding's evidence."""

    current: Mapping[str, Any]
    evidence: Mapping[str, Any]
    options: PlanOptions

    def field(self, name: str) -> str:
        return str(self.current.get(name) or "")

    def effective(self, nothing: str) -> tuple[str, str]:
        """(field, text) a controller with fallback reads; UserError ``nothing`` if unset."""
        if self.field("value"):
            return "value", self.field("value")
        if self.field("default"):
            return "default", self.field("default")
        raise UserError(nothing)


@dataclass(frozen=True, slots=True)
class Change:
    """The new ``value`` (in memory only: for http-proxy it holds the credentials), or
    the IPs to add to noProxy, and why it is safe."""

    value: str
    preconditions: tuple[str, ...]
    notes: tuple[str, ...]
    add_noproxy: tuple[str, ...] = ()


def decode_setting(name: str, field: str, text: str) -> dict[str, Any]:
    try:
        return s.decode(text, s.SCHEMAS[name])
    except s.GoJSONError as e:
        raise UserError(f"{name} {field} does not decode ({e}); fix it by hand first") from None


class _Num(str):
    """A JSON number, kept as written."""


class _Members(list[tuple[str, Any]]):
    """A JSON object as its members, in order, duplicates kept."""


def _encode(value: Any) -> str:
    if isinstance(value, _Members):
        members = (f"{json.dumps(k, ensure_ascii=False)}:{_encode(v)}" for k, v in value)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return str(value) if isinstance(value, _Num) else json.dumps(value, ensure_ascii=False)


def with_fields(text: str, schema: s.Struct, updates: Mapping[str, Any]) -> str:
    """The JSON object ``text`` with ``updates`` set. Of the members Go reads into an
    updated field (any spelling), the last takes the new value in place and the others
    go; a field without one is appended. Every other member is kept as it is."""
    doc = json.loads(text, object_pairs_hook=_Members, parse_int=_Num, parse_float=_Num)
    out = _Members(doc if isinstance(doc, _Members) else ())
    for name, value in updates.items():
        hits = [i for i, (k, _) in enumerate(out) if go_key_matches(schema, k, name)]
        if hits:
            out[hits[-1]] = (out[hits[-1]][0], value)
        else:
            out.append((name, value))
        out = _Members(m for i, m in enumerate(out) if i not in hits[:-1])
    return _encode(out)


def add_noproxy_node_ips(inputs: Inputs) -> Change:
    value, default = inputs.field("value"), inputs.field("default")
    if not value:
        doc = decode_setting(HTTP_PROXY, "default", default) if default else None
        if doc and (doc["httpProxy"] or doc["httpsProxy"]):
            raise UserError(
                "http-proxy is set through its default (HARVESTER_HTTP_PROXY_"
                "DEFAULT_VALUE), which secbot never patches: change noProxy there"
            )
        raise UserError("http-proxy has no value: no proxy is set; nothing to change")
    doc = decode_setting(HTTP_PROXY, "value", value)
    if not (doc["httpProxy"] or doc["httpsProxy"]):
        raise UserError(
            "http-proxy sets no proxy URL, so noProxy does not matter; nothing to change"
        )
    named = inputs.evidence.get("missing_ips")
    ips = [go_parse_ip(str(x)) for x in named] if isinstance(named, list | tuple) else []
    if not ips or None in ips:
        raise UserError("the finding does not name the missing node IPs; scan again")
    missing = tuple(uncovered_node_ips(str(doc["noProxy"]), [str(ip) for ip in ips]))
    if not missing:
        raise UserError("noProxy already covers the node IPs the finding named; scan again")
    return Change(
        value=append_noproxy(value, missing),
        add_noproxy=missing,
        preconditions=(
            "http-proxy value sets a proxy URL, so every node IP must be in noProxy",
            f"noProxy does not cover {', '.join(missing)} (named by the finding)",
        ),
        notes=(
            "only noProxy changes: the IPs are appended after a ',' and every other byte of the "
            "value stays as it is; the write is rebuilt from the setting re-read just before it",
            "Harvester re-applies the proxy: it updates the backup-target Secret and the agent "
            "environment and redeploys rancher and harvester (a brief UI/API outage; "
            "single-node clusters may be unavailable for a while)",
        ),
    )


def proxy_secrets(current: Mapping[str, Any]) -> tuple[str, ...]:
    """The proxy URLs with credentials, their user info and passwords (to cut from text)."""
    found: set[str] = set()
    for field in ("value", "default"):
        try:
            doc = s.decode(str(current.get(field) or "null"), s.HTTP_PROXY)
        except s.GoJSONError:
            continue
        for url in (str(doc["httpProxy"]), str(doc["httpsProxy"])):
            if url and contains_credentials(url):
                scheme = _SCHEME.match(url)
                info = url[scheme.end() if scheme else 0 : url.rfind("@")]
                found.update(x for x in (url, info, info.partition(":")[2]) if x)
    return tuple(sorted(found, key=len, reverse=True))


def harden_ssl_protocols(inputs: Inputs) -> Change:
    field, text = inputs.effective("ssl-parameters is not set; nothing to change")
    doc = decode_setting(SSL_PARAMETERS, field, text)
    weak = [t for t in protocol_tokens(str(doc["protocols"])) if t in WEAK_PROTOCOLS]
    if not weak:
        raise UserError("ssl-parameters enables no weak protocol; nothing to change")
    updates = {"protocols": "TLSv1.2 TLSv1.3"}
    notes = [
        "ingress-nginx is reconfigured: clients limited to the removed protocols "
        "can no longer connect (ignored on Harvester v1.9+, see harden-tls-options)"
    ]
    bad = weak_openssl_ciphers(str(doc["ciphers"]))
    if bad:  # the weak entries go, the others keep their order
        entries = [e for e in re.split(r"[:, ]+", str(doc["ciphers"])) if e]
        updates["ciphers"] = ":".join(e for e in entries if e.lstrip("+") not in bad)
        notes.append(
            f"weak cipher entries removed: {', '.join(bad)}"
            if updates["ciphers"]
            else "no strong cipher entry is left: ciphers is cleared (nginx defaults)"
        )
    return _hardened(
        SSL_PARAMETERS,
        field,
        text,
        updates,
        tuple(notes),
        (f"ssl-parameters {field} enables {', '.join(weak)}",),
    )


_SAFE_TLS = {"minVersion": "VersionTLS12", "maxVersion": "VersionTLS13"}


def harden_tls_options(inputs: Inputs) -> Change:
    field, text = inputs.effective(f"{TLS_OPTIONS} is not set; nothing to change")
    doc = decode_setting(TLS_OPTIONS, field, text)
    problems = weak_tls_options(doc)
    if not problems:
        raise UserError(f"{TLS_OPTIONS} allows no weak TLS; nothing to change")
    updates: dict[str, Any] = {
        sub: _SAFE_TLS[sub] if sub in _SAFE_TLS else [x for x in doc[sub] or [] if x not in bad]
        for sub, _reason, bad in problems
    }
    notes = (
        "Harvester applies it to Traefik's TLSOption kube-system/default: clients "
        "limited to TLS 1.0/1.1 or the removed suites can no longer connect",
    )
    return _hardened(
        TLS_OPTIONS,
        field,
        text,
        updates,
        notes,
        tuple(f"{TLS_OPTIONS} {field}: {reason}" for _, reason, _ in problems),
    )


def _hardened(
    name: str,
    field: str,
    text: str,
    updates: Mapping[str, Any],
    notes: tuple[str, ...],
    preconditions: tuple[str, ...],
) -> Change:
    new = with_fields(text, s.SCHEMAS[name], updates)
    doc = s.decode(new, s.SCHEMAS[name])
    weak = (
        weak_tls_options(doc)
        if name == TLS_OPTIONS
        else [t for t in protocol_tokens(str(doc["protocols"])) if t in WEAK_PROTOCOLS]
        + weak_openssl_ciphers(str(doc["ciphers"]))
    )
    if weak:  # cannot happen: never write a value the check would still report
        raise PermanentError(f"the hardened {name} value is still weak; nothing written")
    if field == "default":
        notes += ("value is empty: the new value starts from default, which stays as is",)
    return Change(value=new, preconditions=preconditions, notes=notes)
