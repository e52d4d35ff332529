"""Checks that only a live cluster scan can answer: reachability, permissions, what is
served on the wire, and the kubeconfig's own credential.

Silence must never look like health: a cluster that cannot be read at all, or a subject
the credentials may not list, becomes a finding of its own (the other checks answer
UNKNOWN for what they could not see). The checks that need the probe or the kubeconfig
apply to the live source only: a support bundle has neither, and a finding of the live
source is never resolved by a scan of another source (bot.findings.lifecycle).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

from bot.checks import _certs
from bot.checks.base import Check, CheckContext, NotEvaluable
from bot.core.certs import CertInfo
from bot.core.finding import Finding
from bot.core.masking import mask_url_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import TIER_EXPIRED, Severity, expiry_tier
from bot.core.snapshot import CoverageStatus, Snapshot, TLSEndpoint

LIVE = "live"
_DAY = timedelta(days=1)
_LEAF_FIELD = "data.tls.crt[0]"
# What each coverage subject needs, in RBAC words, so the message says what to grant.
PERMISSIONS = {
    "settings": "list settings.harvesterhci.io (cluster-wide)",
    "rancher-settings": "list settings.management.cattle.io (cluster-wide)",
    "nodes": "list nodes",
    "secrets": "list secrets in all namespaces",
    "events": "list events in all namespaces",
    "webhooks": "list validating/mutatingwebhookconfigurations and apiservices",
    "node-pki": "list configmaps in the node agent's namespace (SECBOT_AGENT_NAMESPACE)",
}


# Coverage subjects whose ERROR is no failed read of the cluster (SourceUnreachable):
# "api" has its own finding; "credentials" is the local kubeconfig.
_NOT_READS = frozenset({"api", "credentials"})


def cluster_ref(snap: Snapshot, subject: str = "") -> ResourceRef:
    return ResourceRef("Cluster", snap.cluster, field=subject)


class SourceUnreachable(Check):
    """The cluster's Kubernetes API, or one list of it, could not be read.

    A scan that cannot connect (connection refused, DNS failure, TLS error, timeout,
    5xx) would otherwise produce no findings at all, which reads like a healthy cluster
    (critical; every other check answers UNKNOWN for it). One list that fails while the
    rest is read (500, dropped connection, timeout, cut off half way: coverage ERROR) is
    a warning per subject: the certificate checks still decide on what else they read,
    so an expiring certificate in an unread Secret would go unseen. It resolves once the
    subject reads again. Not reported: ``file:...`` (one file of a node's inventory; its
    findings stay open) and ``credentials`` (the local kubeconfig, not a read of the
    cluster; kubeconfig-credential-expiring answers UNKNOWN with the reason).

    Bad: the kubeconfig points at https://10.0.0.5:6443 and the connection times out
    (critical); or the API answers but listing Secrets fails with 500 InternalError, so
    no certificate in a Secret is checked (warning on ``Cluster <name> [secrets]``).

    Good: the API answers and every list the scan makes reads.

    Source: DESIGN.md (a source that cannot read something says so; silence is never
    health); ISSUE 3 (one cluster failing never stops the others).
    """

    id = "source-unreachable"
    title = "Cluster API or a list of it unreadable"
    severity = Severity.CRITICAL
    tags = ("live", "coverage")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        item = snap.coverage_of("api")
        if item.status == CoverageStatus.ERROR:
            origin = mask_url_credentials(snap.origin)
            yield self.finding(
                ctx,
                cluster_ref(snap),
                f"cannot reach the Kubernetes API of cluster {snap.cluster} at {origin}: "
                f"{item.detail or 'no reason given'}; nothing of this cluster was checked",
                evidence={"origin": origin, "reason": item.detail},
            )
            return
        if snap.source != LIVE:
            return  # a bundle's or a folder's unreadable files are their own coverage
        for item in snap.coverage:
            subject = item.subject
            if item.status != CoverageStatus.ERROR or subject in _NOT_READS:
                continue
            if subject.startswith("file:"):
                continue  # one file of a node's inventory (docstring)
            yield self.finding(
                ctx,
                cluster_ref(snap, subject),
                f"cluster {snap.cluster}: could not read {subject}: "
                f"{item.detail or 'no reason given'}; {subject} not checked",
                evidence={"subject": subject, "reason": item.detail},
                severity=Severity.WARNING,
            )


class SourceForbidden(Check):
    """The scan's credentials may not read part of the cluster (401/403).

    One finding per subject the API refused, naming the permission to grant. The rest
    of the cluster is still scanned; checks that need the refused data answer UNKNOWN.
    A refused login (401, or 403 on the API itself) means nothing was read and is
    critical; a single refused list is a warning.

    Bad: the scanner's ServiceAccount lacks ``list secrets``: no certificate in a Secret
    is checked.

    Good: the read-only ClusterRole from deploy/ grants every list the scan needs.

    Source: ISSUE 3 (partial permission: scan what is allowed, list what was not);
    reference/libraries.md §3.2 (listing secrets cluster-wide is a big privilege).
    """

    id = "source-forbidden"
    title = "Scan credentials lack a permission"
    severity = Severity.WARNING
    tags = ("live", "coverage", "rbac")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        for item in snap.coverage:
            if item.status != CoverageStatus.FORBIDDEN:
                continue
            reason = f": {item.detail}" if item.detail else ""
            if item.subject == "api":
                need = "authenticate (valid kubeconfig credentials)"
                text = "the API server refused the scan credentials; nothing was checked"
            else:
                need = PERMISSIONS.get(item.subject, f"read {item.subject}")
                text = f"the scan credentials may not {need}; {item.subject} not checked"
            yield self.finding(
                ctx,
                cluster_ref(snap, item.subject),
                f"cluster {snap.cluster}: {text}{reason}",
                evidence={"subject": item.subject, "permission": need, "reason": item.detail},
                severity=Severity.CRITICAL if item.subject == "api" else None,
            )


def _served_leaf(snap: Snapshot, endpoint: TLSEndpoint) -> CertInfo | None:
    where = ResourceRef("TLSEndpoint", endpoint.key, field="chain[0]")
    return next((c for c in snap.certificates if c.location == where), None)


def _secret_leaf(snap: Snapshot, group: str) -> CertInfo | None:
    """The first certificate of the Secret's ``tls.crt`` (its leaf; ``ca.crt`` is not)."""
    return next(
        (c for c in snap.certificates if c.group == group and c.location.field == _LEAF_FIELD),
        None,
    )


def _live_or_skip(snap: Snapshot, subject: str) -> bool:
    """False for sources that never have ``subject``; NotEvaluable if live could not read it."""
    if snap.source != LIVE:
        return False
    item = snap.coverage_of(subject)
    if not item.usable:
        detail = f" ({item.detail})" if item.detail else ""
        raise NotEvaluable(f"needs {subject}: {item.status.value}{detail}")
    return True


class CertServedMismatch(Check):
    """A TLS listener serves a different certificate than the Secret that should back it.

    After a certificate is renewed in its Secret, the server keeps serving the old one
    until it reloads (pod not restarted, ingress not resynced): the renewal looks done,
    but clients still get the old certificate and fail when it expires. Harvester's UI
    and API on the VIP (:443) are served from ``cattle-system/tls-ingress`` when
    ``ssl-certificates`` holds a custom certificate, else from
    ``cattle-system/tls-rancher-internal``. Compared by SHA-256 of the leaf.

    Bad: tls-ingress renewed on 2026-05-30 (valid to 2027-05-30), while VIP:443 still
    serves the old leaf that expires 2026-06-10.

    Good: the leaf served on VIP:443 is the tls.crt of the backing Secret.

    Source: reference/harvester.md §2.4 (ssl-certificates controller, tls-ingress /
    tls-rancher-internal), §3.4 (UI/API serving cert).
    """

    id = "cert-served-mismatch"
    title = "Served certificate differs from its Secret"
    severity = Severity.WARNING
    tags = ("live", "certificates")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        if not _live_or_skip(snap, "probe"):
            return
        backed = [e for e in snap.endpoints if e.expected_group and e.leaf_sha256]
        if backed and not snap.covers("secrets"):
            raise NotEvaluable(f"needs secrets: {snap.coverage_of('secrets').status.value}")
        for endpoint in backed:
            group = endpoint.expected_group or ""
            expected = _secret_leaf(snap, group)
            if expected is None or expected.sha256 == endpoint.leaf_sha256:
                continue  # no Secret to compare with is not a mismatch
            yield self._mismatch(ctx, endpoint, expected)

    def _mismatch(self, ctx: CheckContext, endpoint: TLSEndpoint, expected: CertInfo) -> Finding:
        snap = ctx.snapshot
        served = _served_leaf(snap, endpoint)
        served_text = (
            f"{_certs.label(served)} (expires {served.not_after:%Y-%m-%d})" if served else "a leaf"
        )
        secret = (endpoint.expected_group or "").removeprefix("Secret/")
        return self.finding(
            ctx,
            ResourceRef("TLSEndpoint", endpoint.key),
            f"{endpoint.component} {endpoint.key} serves {served_text} but Secret {secret} "
            f"holds {_certs.label(expected)} (expires {expected.not_after:%Y-%m-%d}): the "
            "Secret was renewed and the server has not reloaded it",
            evidence={
                "component": endpoint.component,
                "served_sha256": endpoint.leaf_sha256,
                "served_not_after": served.not_after.isoformat() if served else None,
                "expected_group": endpoint.expected_group,
                "expected_sha256": expected.sha256,
                "expected_not_after": expected.not_after.isoformat(),
            },
        )


class KubeconfigCredentialExpiring(Check):
    """The kubeconfig's own client certificate or token expires soon (or has expired).

    The scanner (and every admin using the same kubeconfig) loses access when it lapses:
    RKE2's ``client-admin`` certificate lives 365 days, Rancher-issued tokens expire after
    ``kubeconfig-default-token-ttl-minutes``. Tiers as for cert-expiring: critical at or
    under 14 days, warning at or under 30, info at or under 90; expired is critical.

    Bad: the kubeconfig's client certificate expires in 10 days (critical).

    Good: a client certificate or token valid for more than 90 days, or one without an
    expiry (exec plugins, non-JWT tokens are not judged).

    Source: reference/harvester.md §3.1 (365-day client certificates), §3.4 (Rancher
    kubeconfig token TTL).
    """

    id = "kubeconfig-credential-expiring"
    title = "Kubeconfig credential expires soon"
    severity = Severity.CRITICAL
    tags = ("live", "credentials", "expiry")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap, policy = ctx.snapshot, ctx.policy
        if not _live_or_skip(snap, "credentials"):
            return
        for cred in snap.credentials:
            if cred.expires_at is None:
                continue
            days = math.ceil((cred.expires_at - snap.scanned_at) / _DAY)
            severity = policy.expiry_severity(days)  # expired included: critical
            if severity is None:
                continue
            what = f"{cred.kind} {cred.subject}".strip()
            when = "expired" if days <= 0 else f"expires in {_certs.plural(days, 'day')}"
            yield self.finding(
                ctx,
                ResourceRef("Credential", "kubeconfig", field=cred.kind),
                f"the kubeconfig {what} of cluster {snap.cluster} {when} "
                f"({cred.expires_at:%Y-%m-%d}); {cred.detail}".rstrip("; "),
                evidence={
                    "kind": cred.kind,
                    "subject": cred.subject,
                    "expires_at": cred.expires_at.isoformat(),
                    "days_left": days,
                    "detail": cred.detail,
                },
                severity=severity,
                tier=TIER_EXPIRED if days <= 0 else expiry_tier(days),
            )


CHECKS: tuple[Check, ...] = (
    SourceUnreachable(),
    SourceForbidden(),
    CertServedMismatch(),
    KubeconfigCredentialExpiring(),
)
