"""Checks of the ``http-proxy`` setting: node IPs missing from noProxy, credentials in URLs.

The controller uses ``value`` and falls back to ``default`` (reference/harvester.md §1.2,
§2.1). ``uncovered_node_ips`` mirrors the webhook's ``validateNoProxy`` exactly: an entry
covers a node IP only as a CIDR that contains it or as an equal IP, so hostnames,
wildcards and the built-in NO_PROXY list (``10.0.0.0/8`` included) do not count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import TypeAlias

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.masking import contains_credentials, mask_url_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

NAME = "http-proxy"
IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Net: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
# What Go's strings.TrimSpace removes (unicode.IsSpace); Python's strip() removes more.
_GO_SPACE = (
    " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def go_parse_ip(text: str) -> IP | None:
    """net.ParseIP: no zones; an IPv4-mapped IPv6 address is the IPv4 address."""
    if "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def go_parse_cidr(text: str) -> Net | None:
    """net.ParseCIDR + IPNet.Contains semantics: decimal prefix only, host bits allowed;
    an IPv4-mapped IPv6 network of prefix >= 96 matches IPv4 addresses, as in Go."""
    addr, sep, prefix = text.partition("/")
    if not sep or "%" in addr or not (prefix.isascii() and prefix.isdigit()):
        return None
    if len(prefix.lstrip("0")) > 3:
        return None
    try:
        net = ipaddress.ip_network(f"{addr}/{int(prefix)}", strict=False)
    except ValueError:
        return None
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network(f"{mapped}/{net.prefixlen - 96}", strict=False)
    return net


def uncovered_node_ips(no_proxy: str, node_ips: Iterable[str]) -> list[str]:
    """Node IPs (Go's canonical text, sorted as strings) that ``no_proxy`` does not cover.
    Unparseable node addresses are skipped, as the webhook does."""
    ips = {ip for ip in (go_parse_ip(text) for text in node_ips) if ip is not None}
    covered: set[IP] = set()
    for entry in (part.strip(_GO_SPACE) for part in no_proxy.split(",")):
        net = go_parse_cidr(entry)
        if net is not None:
            covered.update(ip for ip in ips if ip in net)
            continue
        ip = go_parse_ip(entry)
        if ip is not None and ip in ips:
            covered.add(ip)
    return sorted(str(ip) for ip in ips - covered)


def _proxy_config(ctx: CheckContext) -> tuple[str, dict[str, str]] | None:
    """(field used, decoded config) of the effective value, None when not set."""
    effective = s.effective_field(s.require_setting(ctx.snapshot, NAME))
    if effective is None:
        return None
    field, text = effective
    doc = s.decode_or_unknown(NAME, field=field, text=text)
    return field, {k: str(v) for k, v in doc.items()}


class NoProxyMissingNodes(Check):
    """A proxy is set, but noProxy does not cover every node's InternalIP.

    Traffic between nodes then goes to the proxy, which breaks the cluster (Harvester's
    docs: "Not specifying the node's CIDR can break the Harvester cluster"). Today's
    webhook rejects such a value, but one written before v1.3.1, or before a node joined
    with a new IP, stays in place. Only CIDRs and IPs count; hostnames, wildcards and
    the built-in entries (``10.0.0.0/8`` too) do not.

    Bad: {"httpProxy":"http://proxy:3128","noProxy":"localhost,.svc"} with nodes in 192.168.0.0/24.
    Good: {"httpProxy":"http://proxy:3128","noProxy":"localhost,.svc,192.168.0.0/24"}.
    Source: reference/harvester.md §2.1 (webhook rule 3 and its exact message).
    """

    id = "http-proxy-noproxy-missing-nodes"
    title = "http-proxy noProxy does not cover all node IPs"
    severity = Severity.CRITICAL
    tags = ("settings", "proxy")
    requires = ("nodes",)
    remediation = "add-noproxy-node-ips"

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _proxy_config(ctx)
        if config is None:
            return
        field, doc = config
        if not (doc["httpProxy"] or doc["httpsProxy"]):
            return  # without a proxy URL noProxy is irrelevant (webhook v1.3.3+)
        nodes = ctx.snapshot.nodes
        missing = uncovered_node_ips(doc["noProxy"], (ip for n in nodes for ip in n.internal_ips))
        if not missing:
            return
        gone = set(missing)  # parse noProxy once, not once per node
        affected = sorted(
            n.name for n in nodes if any(str(go_parse_ip(ip)) in gone for ip in n.internal_ips)
        )
        yield self.finding(
            ctx,
            ResourceRef("Setting", NAME, field=f"{field}.noProxy"),
            "noProxy should contain the node's IP addresses or CIDR. The node(s) "
            f"{', '.join(missing)} are not covered.",
            evidence={"missing_ips": tuple(missing), "nodes": tuple(affected)},
        )


class ProxyCredentials(Check):
    """The proxy URL carries a user name and password.

    Harvester copies http-proxy in clear text into the backup-target Secret, the
    provisioning cluster's agentEnvVars, the environment of Harvester, Rancher and
    Longhorn pods, and every support bundle (http-proxy is not excluded from them).
    Prefer a proxy that authenticates by source address, or rotate the password often.
    Findings show the URL masked.

    Bad: {"httpProxy":"http://user:secret@proxy:3128"}.
    Good: {"httpProxy":"http://proxy:3128"} (the proxy allows the node network).
    Source: reference/harvester.md §2.1 "Security-relevant facts", §4 (bundle contents).
    """

    id = "http-proxy-credentials"
    title = "http-proxy URL contains credentials"
    severity = Severity.WARNING
    tags = ("settings", "proxy", "secrets")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _proxy_config(ctx)
        if config is None:
            return
        field, doc = config
        for key in ("httpProxy", "httpsProxy"):
            if doc[key] and contains_credentials(doc[key]):
                masked = mask_url_credentials(doc[key])
                yield self.finding(
                    ctx,
                    ResourceRef("Setting", NAME, field=f"{field}.{key}"),
                    f"http-proxy {key} {masked} holds credentials that Harvester copies in "
                    "clear text into Secrets, pod environments and support bundles",
                    evidence={"url": masked},
                )


CHECKS: tuple[Check, ...] = (NoProxyMissingNodes(), ProxyCredentials())
