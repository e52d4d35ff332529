"""Harvester cloud credentials in Rancher: tokens that expire under the guest clusters.

Rancher manages guest clusters on Harvester through a cloud credential: a Secret in
``cattle-global-data`` holding a kubeconfig whose token is a Rancher token with a TTL
(30 days by default in Rancher 2.8.x). When it lapses Rancher silently loses those guest
clusters (rancher/rancher#44912). These checks apply to Rancher management clusters
(clusters-file ``role: rancher``, or manifests holding such Secrets); elsewhere they have
nothing to look at and stay quiet, but a Rancher whose Secrets or tokens could not be read
makes them UNKNOWN, never a pass.

Renewal (reference/harvester.md §3.4, KB "Renew Harvester cloud credentials"): Rancher
2.9.3+: Cluster Management -> Cloud Credentials -> the credential -> Renew. Older: download
a fresh kubeconfig of the Harvester cluster from Rancher and patch the Secret's
``harvestercredentialConfig-kubeconfigContent`` with it (base64).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta

from bot.checks.base import Check, CheckContext, NotEvaluable
from bot.core.finding import Evidence, Finding, JSONScalar
from bot.core.resources import ResourceRef
from bot.core.severity import TIER_EXPIRED, Severity, expiry_tier
from bot.core.snapshot import CloudCredential, CoverageStatus, RancherToken, Snapshot

CREDENTIALS = "cloud-credentials"
TOKENS = "rancher-tokens"
TTL_SETTING = "kubeconfig-default-token-ttl-minutes"
RENEW = (
    "renew it: Rancher 2.9.3+: Cluster Management > Cloud Credentials > Renew; older: patch "
    "the Secret's harvestercredentialConfig-kubeconfigContent with a fresh kubeconfig"
)


def _applicable(snap: Snapshot, *subjects: str) -> bool:
    """False where there is nothing to judge (not a Rancher source); NotEvaluable where
    a Rancher source could not read what the check needs."""
    for subject in subjects:
        item = snap.coverage_of(subject)
        if item.usable:
            continue
        if item.status == CoverageStatus.MISSING and not snap.cloud_credentials:
            return False
        raise NotEvaluable(f"needs {subject}: {item.status.value} ({item.detail})")
    return True


def _token(snap: Snapshot, cred: CloudCredential) -> RancherToken | None:
    return snap.rancher_tokens.get(cred.token_name) if cred.token_name else None


def _evidence(cred: CloudCredential, token: RancherToken | None = None) -> Evidence:
    evidence: dict[str, JSONScalar | tuple[JSONScalar, ...]] = {
        "credential": cred.name,
        "token": cred.token_name or "",
    }
    if token is not None and token.expires_at is not None:
        evidence["expires_at"] = token.expires_at.isoformat()
    if cred.guest_clusters:
        evidence["guest_clusters"] = cred.guest_clusters
    if cred.server:
        evidence["server"] = cred.server
    return evidence


def _users(cred: CloudCredential) -> str:
    if not cred.guest_clusters:
        return ""
    return f"; used by {', '.join(cred.guest_clusters[:10])}" + (
        f" and {len(cred.guest_clusters) - 10} more" if len(cred.guest_clusters) > 10 else ""
    )


def _days_left(expires_at: datetime, now: datetime) -> int:
    return math.ceil((expires_at - now) / timedelta(days=1))


class CloudCredentialExpiring(Check):
    """The token of a Harvester cloud credential expires soon.

    Severity follows the days left like certificates: critical at or under 14, warning at
    or under 30, info at or under 90 (policy ``expiry_*_days``). Rancher 2.8.x gives these
    tokens 30 days by default (``kubeconfig-default-token-ttl-minutes``); when one lapses
    Rancher can no longer manage the guest clusters built with the credential.

    Bad: credential ``harvester-prod`` whose token ``kubeconfig-user-x1y2z`` expires in 5 days.

    Good: renewed (Rancher 2.9.3+: Cloud Credentials > Renew; older: patch the Secret's
    ``harvestercredentialConfig-kubeconfigContent`` with a fresh kubeconfig), or a token
    that never expires.

    Source: reference/harvester.md §3.4 (Rancher cloud credentials); rancher/rancher#44912.
    """

    id = "cloud-credential-expiring"
    title = "Harvester cloud credential expires soon"
    severity = Severity.CRITICAL
    tags = ("rancher", "credentials", "expiry")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap, policy = ctx.snapshot, ctx.policy
        if not _applicable(snap, CREDENTIALS, TOKENS):
            return
        for cred in snap.cloud_credentials:
            token = _token(snap, cred)
            if token is None or token.expired or token.expires_at is None:
                continue
            days = _days_left(token.expires_at, snap.scanned_at)
            severity = policy.expiry_severity(days)
            if days <= 0 or severity is None:
                continue  # expired is cloud-credential-expired's
            yield self.finding(
                ctx,
                cred.secret,
                f"cloud credential {cred.name!r}: its token {cred.token_name} expires in "
                f"{days} day{'s' if days != 1 else ''} ({token.expires_at:%Y-%m-%d})"
                f"{_users(cred)}; {RENEW}",
                evidence=_evidence(cred, token),
                severity=severity,
                tier=expiry_tier(days),
            )


class CloudCredentialExpired(Check):
    """The token of a Harvester cloud credential has expired.

    Rancher can no longer reach the Harvester cluster with it: guest clusters built with
    the credential cannot be scaled, repaired or deleted from Rancher until it is renewed.

    Bad: credential ``harvester-prod`` whose token expired 3 days ago (or that Rancher marks
    ``expired: true``).

    Good: renewed (Rancher 2.9.3+: Cloud Credentials > Renew; older: patch the Secret's
    ``harvestercredentialConfig-kubeconfigContent`` with a fresh kubeconfig).

    Source: reference/harvester.md §3.4 (Rancher cloud credentials); rancher/rancher#44912.
    """

    id = "cloud-credential-expired"
    title = "Harvester cloud credential has expired"
    severity = Severity.CRITICAL
    tags = ("rancher", "credentials", "expiry")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        if not _applicable(snap, CREDENTIALS, TOKENS):
            return
        for cred in snap.cloud_credentials:
            token = _token(snap, cred)
            if token is None:
                continue
            lapsed = token.expires_at is not None and token.expires_at <= snap.scanned_at
            if not (token.expired or lapsed):
                continue
            when = f" on {token.expires_at:%Y-%m-%d}" if token.expires_at else ""
            yield self.finding(
                ctx,
                cred.secret,
                f"cloud credential {cred.name!r}: its token {cred.token_name} expired{when}; "
                f"Rancher cannot manage its guest clusters{_users(cred)}; {RENEW}",
                evidence=_evidence(cred, token),
                tier=TIER_EXPIRED,
            )


class CloudCredentialTokenMissing(Check):
    """A Harvester cloud credential names a Rancher token that does not exist.

    The token was deleted (by hand, or by Rancher's cleanup of expired tokens), so the
    credential no longer authenticates: the effect is that of an expired one. A credential
    whose kubeconfig cannot be read is reported here too (warning).

    Bad: credential ``harvester-lab`` naming ``kubeconfig-user-gone1``, which is not among
    ``tokens.management.cattle.io``.

    Good: renewed, so it names a live token.

    Source: reference/harvester.md §3.4 (Rancher cloud credentials).
    """

    id = "cloud-credential-token-missing"
    title = "Harvester cloud credential's token is gone"
    severity = Severity.CRITICAL
    tags = ("rancher", "credentials")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        if not _applicable(snap, CREDENTIALS, TOKENS):
            return
        for cred in snap.cloud_credentials:
            if cred.token_name is None:
                problem = cred.problem or "it holds no token"
                yield self.finding(
                    ctx,
                    cred.secret,
                    f"cloud credential {cred.name!r}: cannot read its token: {problem}",
                    evidence=_evidence(cred),
                    severity=Severity.WARNING,
                )
            elif cred.token_name not in snap.rancher_tokens:
                yield self.finding(
                    ctx,
                    cred.secret,
                    f"cloud credential {cred.name!r}: its token {cred.token_name} no longer "
                    f"exists{_users(cred)}; {RENEW}",
                    evidence=_evidence(cred),
                )


class RancherTokenTtlShort(Check):
    """Rancher gives every new kubeconfig token, cloud credentials' included, a TTL.

    With ``kubeconfig-default-token-ttl-minutes`` above 0 (Rancher 2.8.x: 43200, 30 days)
    every Harvester cloud credential created from now on expires after that time, and
    needs renewing before it does. Rancher 2.9.3+ has a Renew action for cloud credentials
    and warns before expiry (2.9.4+ on every install); 0 means tokens never expire.

    Bad: ``kubeconfig-default-token-ttl-minutes`` = ``43200`` on a Rancher with Harvester
    cloud credentials.

    Good: Rancher 2.9.3+ with renewals planned (secbot's digest lists what expires), or a
    TTL of ``0`` where your policy allows non-expiring tokens.

    Source: reference/harvester.md §3.4 (Rancher cloud credentials, default TTL).
    """

    id = "rancher-token-ttl-short"
    title = "Rancher kubeconfig tokens expire by default"
    severity = Severity.INFO
    tags = ("rancher", "credentials")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        if not _applicable(snap, CREDENTIALS, "rancher-settings"):
            return
        raw = snap.rancher_settings.get(TTL_SETTING, "").strip()
        minutes = int(raw) if raw.isdigit() else 0
        if minutes <= 0:
            return
        days = minutes / (60 * 24)
        yield self.finding(
            ctx,
            ResourceRef("Setting.management.cattle.io", TTL_SETTING, "", "value"),
            f"{TTL_SETTING} is {minutes} ({days:g} days): every new Harvester cloud "
            "credential expires after that; Rancher 2.9.3+ can renew them (Cloud "
            "Credentials > Renew) and warns before they expire",
            evidence={"minutes": minutes, "credentials": len(snap.cloud_credentials)},
        )


CHECKS: tuple[Check, ...] = (
    CloudCredentialExpiring(),
    CloudCredentialExpired(),
    CloudCredentialTokenMissing(),
    RancherTokenTtlShort(),
)
