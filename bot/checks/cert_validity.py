"""Certificate validity windows: expired, expiring soon, not yet valid.

Each distinct certificate is judged once (see ``bot.checks._certs.judged``): the CA that
RKE2 repeats in every file is one finding, not twenty, and a certificate renewed in place
is judged by its successor.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.checks import _certs
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.severity import TIER_EXPIRED, Severity, expiry_tier


class CertExpired(Check):
    """A certificate is past its notAfter date.

    RKE2 leaf certificates live 365 days and are renewed only when RKE2 restarts within
    120 days of expiry; certificates that lapse while a node is down stay expired
    (rke2#8318), and Harvester's auto-rotation cannot fix an already expired one
    (harvester#9351). Expired kube-controller-manager / kube-scheduler serving certs
    stall upgrades at "Waiting for CAPI cluster fleet-local/local to be provisioned"
    (harvester#3863). This applies to every certificate, KubeVirt's included.

    Bad: ``serving-kube-apiserver.crt`` with notAfter 2026-05-20 on a scan of 2026-06-01.

    Good: the same file after ``rke2 certificate rotate``, valid until 2027-05-20.

    Source: reference/harvester.md §3.1 (RKE2 certificate lifetimes and renewal), §3.2
    (harvester#3863), §2.2 (harvester#9351).
    """

    id = "cert-expired"
    title = "Certificate has expired"
    severity = Severity.CRITICAL
    tags = ("certificates", "expiry")
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        now = ctx.snapshot.scanned_at
        for item in ctx.derived(_certs.judged_certs):
            cert = item.cert
            if cert.not_after > now:
                continue
            ago = (now - cert.not_after).days
            when = "today" if ago == 0 else f"{_certs.plural(ago, 'day')} ago"
            yield self.finding(
                ctx,
                cert.location,
                f"certificate {_certs.label(cert)} expired {when} ({cert.not_after:%Y-%m-%d})",
                evidence=_certs.evidence(item, now),
                tier=TIER_EXPIRED,
            )


class CertExpiring(Check):
    """A certificate expires within the configured warning window.

    Severity follows the days left (rounded up): critical at or under 14, warning at or
    under 30, info at or under 90 (configurable: policy ``expiry_*_days``). RKE2 renews
    its leaf certificates only when it restarts within 120 days of expiry, so a node
    that runs for a year reaches the end of a 365-day certificate without renewal;
    Harvester's upgrade pre-check refuses to start an upgrade within 7 days of expiry.
    CA certificates (10 years, never renewed automatically) use the same thresholds.
    KubeVirt's certificates rotate daily by design and are not reported here.

    Bad: ``client-admin.crt`` expiring 2026-06-10 on a scan of 2026-06-01 (9 days: critical).

    Good: a certificate valid for more than 90 more days.

    Source: reference/harvester.md §3.1 (lifetimes, 120-day renewal on restart), §3.4
    (upgrade pre-check at 7 days; KubeVirt rotation).
    """

    id = "cert-expiring"
    title = "Certificate expires soon"
    severity = Severity.CRITICAL
    tags = ("certificates", "expiry")
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        now, policy = ctx.snapshot.scanned_at, ctx.policy
        for item in ctx.derived(_certs.judged_certs):
            cert = item.cert
            days = _certs.days_left(cert, now)
            severity = policy.expiry_severity(days)
            if cert.not_after <= now or severity is None:
                continue  # expired is cert-expired's; beyond the info window is fine
            if _certs.rotates_by_design(item):
                continue
            yield self.finding(
                ctx,
                cert.location,
                f"certificate {_certs.label(cert)} expires in {_certs.plural(days, 'day')} "
                f"({cert.not_after:%Y-%m-%d})",
                evidence=_certs.evidence(item, now),
                severity=severity,
                tier=expiry_tier(days),
            )


class CertNotYetValid(Check):
    """A certificate's notBefore date lies after the scan time.

    Clients reject it until then. It usually means the clock of the machine that issued
    it was ahead, or a certificate was pre-issued and installed too early; either way the
    service presenting it fails TLS now. KubeVirt's self-rotating certificates are not
    reported.

    Bad: a ``tls.crt`` with notBefore 2026-07-01 on a scan of 2026-06-01.

    Good: notBefore in the past (2026-05-01) and notAfter in the future.

    Source: RFC 5280 §4.1.2.5 (validity period); reference/harvester.md §3.4 (KubeVirt
    certificate rotation).
    """

    id = "cert-not-yet-valid"
    title = "Certificate is not valid yet"
    severity = Severity.WARNING
    tags = ("certificates", "expiry")
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        now = ctx.snapshot.scanned_at
        for item in ctx.derived(_certs.judged_certs):
            cert = item.cert
            if cert.not_before <= now or _certs.rotates_by_design(item):
                continue
            yield self.finding(
                ctx,
                cert.location,
                f"certificate {_certs.label(cert)} is not valid before "
                f"{cert.not_before:%Y-%m-%d %H:%M} UTC",
                evidence=_certs.evidence(item, now),
            )


CHECKS: tuple[Check, ...] = (CertExpired(), CertExpiring(), CertNotYetValid())
