"""The custom UI/API certificate must cover the host Rancher's ``server-url`` names."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

from bot.checks import _certs
from bot.checks.base import Check, CheckContext, NotEvaluable
from bot.core.certs import CertInfo
from bot.core.finding import Finding
from bot.core.masking import mask_url_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

SETTING = "ssl-certificates"
LEAF = ResourceRef("Setting", SETTING, field="value.publicCertificate[0]")


def server_host(url: str) -> str:
    """The host of a URL (``https://10.0.0.5:443/`` -> ``10.0.0.5``), lower-case."""
    text = url.strip()
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    except ValueError:  # e.g. "https://[::1" (unbalanced brackets)
        host = ""
    return host.rstrip(".").lower()


def _same_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if pattern.startswith("*."):  # a wildcard stands for exactly one leftmost label
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def covers(cert: CertInfo, host: str) -> bool:
    """Does ``cert`` name ``host``? IP SANs for IPs, DNS SANs (wildcards) for names.

    The CN never counts: Go clients, fleet-agent among them, ignore it since Go 1.15.
    """
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(a, ip) for a in cert.ip_addresses)
    return any(_dns_match(name, host) for name in cert.dns_names)


def _custom_cert_set(raw: str | None) -> bool:
    if not raw:
        return False
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return True  # setting-invalid reports it; the certificate may still have decoded
    if not isinstance(doc, dict):
        return False
    return any(isinstance(v, str) and v.strip() for v in doc.values())


class CertHostnameMismatch(Check):
    """The custom ``ssl-certificates`` certificate does not name the ``server-url`` host.

    Harvester serves its UI/API with the certificate from the ``ssl-certificates``
    setting. Rancher's ``server-url`` setting (management.cattle.io/v3) is the address
    agents dial; fleet-agent verifies the certificate against it. A certificate with only
    FQDN SANs while ``server-url`` points at the VIP IP broke fleet-agent after a
    certificate change (``x509: cannot validate certificate for <VIP> because it doesn't
    contain any IP SANs``). IPs are matched against IP SANs, names against DNS SANs
    (``*.`` covers one label); the CN never counts, because Go clients (fleet-agent
    included) ignore it since Go 1.15. No custom certificate (empty value) passes; a
    missing ``server-url`` cannot be decided.

    Bad: SANs ``DNS:harvester.example.com`` with ``server-url: https://192.168.10.5``.

    Good: SANs ``DNS:harvester.example.com, IP:192.168.10.5``, or ``server-url:
    https://harvester.example.com``.

    Source: reference/harvester.md §2.4 (ssl-certificates; harvester#4519, fixed by
    pointing server-url at the FQDN).
    """

    id = "cert-hostname-mismatch"
    title = "Custom certificate does not cover the server URL"
    severity = Severity.WARNING
    tags = ("certificates", "ssl-certificates")
    requires = ("rancher-settings", f"setting:{SETTING}")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        setting = snap.settings.get(SETTING)
        if setting is None or not _custom_cert_set(setting.value):
            return  # Harvester's internal certificate is in use
        leaf = next((c for c in snap.certificates if c.location == LEAF), None)
        if leaf is None:
            raise NotEvaluable("the custom ssl-certificates certificate could not be decoded")
        url = snap.rancher_settings.get("server-url", "")
        host = server_host(url)
        shown = mask_url_credentials(url)
        if not host:
            raise NotEvaluable("Rancher setting server-url is not set or has no host")
        if covers(leaf, host):
            return
        names = [f"DNS:{n}" for n in leaf.dns_names] + [f"IP:{a}" for a in leaf.ip_addresses]
        yield self.finding(
            ctx,
            LEAF,
            f"custom certificate {_certs.label(leaf)} does not cover {host} from server-url "
            f"{shown}; it names {', '.join(names) or 'no SANs (the CN does not count)'}",
            evidence=_certs.evidence(
                _certs.Judged(leaf, (leaf.location,)),
                snap.scanned_at,
                server_url=shown,
                host=host,
                sans=", ".join(names),
            ),
        )


CHECKS: tuple[Check, ...] = (CertHostnameMismatch(),)
