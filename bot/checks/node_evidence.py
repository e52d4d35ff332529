"""Checks of what nodes themselves report: rke2-server journals and /oem files from
support bundles, and RKE2's certificate-expiry events.

Node files are untrusted and may hold secrets (bundles mask some YAML keys, not all), so
findings carry only counts, timestamps, file names, variable names and masked values,
never other log or file content.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.masking import mask_url_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import Event

TOKEN_MISMATCH = "bootstrap data already found and encrypted with different token"
CERT_WARNING_REASONS = ("CertificateExpirationWarning", "CACertificateExpirationWarning")
MAX_TEXT = 200
_TIMESTAMPS = (
    re.compile(r'\btime="([^"]{1,40})"'),  # logrus, as rke2 writes it
    re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"),
    re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)"),  # journal short format
)
_OEM_FILE = re.compile(r"(?:^|/)(oem/.+\.ya?ml)$", re.IGNORECASE)
_PROXY_VAR = r"(?P<name>(?:https?|no)_proxy)"
# "HTTP_PROXY: value" (a block-style YAML map entry, e.g. under environment:) ...
_MAP_ENTRY = re.compile(
    rf"""^\s*(?:-\s+)?["']?{_PROXY_VAR}["']?\s*:(?:\s+(?P<value>"[^"]*"|'[^']*'|.*))?$""", re.I
)
# ... or "HTTP_PROXY=value" anywhere in a line (env lists, shell, systemd Environment=).
_ASSIGNMENT = re.compile(rf"""(?<![\w.-]){_PROXY_VAR}=(?P<value>"[^"]*"|'[^']*'|[^\s"']*)""", re.I)


def _timestamp(line: str) -> str | None:
    for pattern in _TIMESTAMPS:
        m = pattern.search(line)
        if m:
            return m.group(1)
    return None


class Rke2TokenMismatch(Check):
    """rke2-server cannot start: its bootstrap data is encrypted with a different token.

    This is what follows ``rke2 token rotate`` on Harvester (the token in Harvester's
    own config files is not changed), and Harvester does not support rotating the
    token. The node's control plane stays down until the original token is restored.
    The bot offers no remediation: rotating or changing the token is refused.

    Bad: journal line "Failed to reconcile with temporary etcd: bootstrap data already
    found and encrypted with different token".
    Good: no such line; the cluster token is never rotated on Harvester.
    Source: reference/harvester.md §3.3, rancher/rke2#6250, security-best-practices.md.
    """

    id = "rke2-token-mismatch"
    title = "rke2-server fails: bootstrap data encrypted with a different token"
    severity = Severity.CRITICAL
    tags = ("nodes", "rke2")
    requires = ("node-files",)

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        per_node: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for file in ctx.snapshot.node_files:
            if not re.search(r"(?:^|/)logs/", file.path):
                continue
            for line in file.text.splitlines():
                if TOKEN_MISMATCH in line:
                    per_node[file.node].append((file.path, _timestamp(line)))
        for node, hits in sorted(per_node.items()):
            first = next((ts for _, ts in hits if ts), None)
            evidence: dict[str, str | int | tuple[str, ...]] = {
                "matches": len(hits),
                "files": tuple(sorted({p for p, _ in hits})),
            }
            if first:
                evidence["first_seen"] = first
            yield self.finding(
                ctx,
                ResourceRef("Node", node),
                f'rke2-server on {node} fails with "{TOKEN_MISMATCH}" ({len(hits)}x): the '
                "RKE2 token was rotated, which Harvester does not support (rancher/rke2#6250); "
                "restore the original token, do not rotate again",
                evidence=evidence,
            )


def _iso(when: datetime | None) -> str:
    return when.isoformat() if when else ""


class Rke2CertExpirationWarning(Check):
    """RKE2 reported certificates that expire within its renewal window.

    RKE2 creates CertificateExpirationWarning events when a certificate is within 120
    days (90 before May 2025) of expiry; RKE2 renews such certificates only when it
    restarts. A warning that keeps coming means nothing renewed them yet.

    Bad: Warning event reason CertificateExpirationWarning on a node.
    Good: no such events (certificates renewed, e.g. by auto-rotate-rke2-certs).
    Source: reference/harvester.md §3.1 (warning event), §4 (usable bundle signals).
    """

    id = "rke2-cert-expiration-warning"
    title = "RKE2 warns that certificates expire soon"
    severity = Severity.WARNING
    tags = ("certificates", "rke2", "events")
    requires = ("events",)

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        groups: dict[ResourceRef, list[Event]] = defaultdict(list)
        for ev in ctx.snapshot.events:
            if ev.reason in CERT_WARNING_REASONS:
                ref = (
                    ResourceRef(ev.involved_kind or "Event", ev.involved_name)
                    if ev.involved_name
                    else ResourceRef("Event", ev.name, ev.namespace)
                )
                groups[ref].append(ev)
        for ref, events in sorted(groups.items()):
            latest = max(events, key=lambda e: _iso(e.last_seen))
            count = sum(max(e.count, 1) for e in events)
            text = latest.message[:MAX_TEXT]
            yield self.finding(
                ctx,
                ref,
                f"RKE2 warns about expiring certificates on {ref.kind} {ref.name} "
                f"({count}x, last {_iso(latest.last_seen) or 'unknown'}): {text}",
                evidence={
                    "count": count,
                    "last_seen": _iso(latest.last_seen),
                    "reasons": tuple(sorted({e.reason for e in events})),
                    "message": text,
                },
            )


def proxy_assignments(text: str) -> dict[str, str]:
    """Proxy variables a file sets: upper-case name -> masked value (first one wins)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        entry = _MAP_ENTRY.match(line)
        for m in [entry] if entry else _ASSIGNMENT.finditer(line):
            # An unquoted YAML value ends at " #" (a comment, which is not shown).
            value = (m.group("value") or "").split(" #", 1)[0].strip().strip("\"'")
            # A quote or " #" inside a password cuts the value before its "@": what is
            # left would be the start of the password, unmasked. Show none of it then.
            cut = "@" in line[m.start("name") :] and "@" not in value
            shown = "****" if cut else mask_url_credentials(value)[:MAX_TEXT]
            found.setdefault(m.group("name").upper(), shown)
    return found


class OemProxyOverride(Check):
    """A node's /oem files set HTTP_PROXY / HTTPS_PROXY / NO_PROXY by hand.

    Such values apply to that node only, bypass the webhook's noProxy check, and drift
    from the http-proxy setting that every node receives. Harvester's guidance is to
    change the proxy only through the http-proxy setting. Values are shown masked.

    Bad: /oem/90_custom.yaml with "environment:" and below it "HTTP_PROXY: http://proxy:3128".
    Good: no proxy variables in /oem; the proxy is set in the http-proxy setting.
    Source: reference/harvester.md §4 (node bundle contents), §2.1 (http-proxy).
    """

    id = "oem-proxy-override"
    title = "Proxy set by hand in a node's /oem files"
    severity = Severity.WARNING
    tags = ("nodes", "proxy")
    requires = ("node-files",)

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        for file in sorted(ctx.snapshot.node_files, key=lambda f: (f.node, f.path)):
            m = _OEM_FILE.search(file.path)
            found = proxy_assignments(file.text) if m else {}
            if not m or not found:
                continue
            path = "/" + m.group(1)
            names = tuple(sorted(found))
            yield self.finding(
                ctx,
                ResourceRef("File", f"{file.node}:{path}"),
                f"{path} on {file.node} sets {', '.join(names)} by hand; change the proxy "
                "only through the http-proxy setting",
                evidence={"node": file.node, "file": path, "variables": names, **found},
            )


CHECKS: tuple[Check, ...] = (Rke2TokenMismatch(), Rke2CertExpirationWarning(), OemProxyOverride())
