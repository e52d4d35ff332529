"""A private key that does not belong to the certificate it is deployed with."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.checks import _certs
from bot.checks.base import Check, CheckContext
from bot.core.certs import CertInfo, KeyInfo
from bot.core.finding import Finding
from bot.core.severity import Severity

# Fields that carry trust anchors, not the serving certificate: a Secret's ``ca.crt``,
# the ``ca`` of ssl-certificates, a kubeconfig's certificate-authority-data.
_CA_FIELD = re.compile(r"(^|\.)(ca|ca\.crt|certificate-authority-data)\[")


def leaf(certs: list[CertInfo]) -> CertInfo | None:
    """The certificate a key must match: the first of the serving chain."""
    for cert in sorted(certs, key=lambda c: c.location.key):
        if cert.index == 0 and not _CA_FIELD.search(cert.location.field):
            return cert
    return None


class CertKeyMismatch(Check):
    """A certificate and the private key stored with it do not form a pair.

    Harvester's ``ssl-certificates`` webhook accepts a certificate and a private key
    without checking that they belong together; the controller writes both into
    ``cattle-system/tls-ingress`` and the ingress then fails its TLS handshakes (or
    falls back to its default certificate). The same holds for any ``kubernetes.io/tls``
    Secret (``tls.crt`` / ``tls.key``) and for RKE2's ``<name>.crt`` / ``<name>.key``
    files. Only the fingerprint of the key's public half is compared; the key itself is
    never kept.

    Bad: ``ssl-certificates`` with ``publicCertificate`` for rancher.example.com and a
    ``privateKey`` generated for another certificate.

    Good: the private key whose public half is the certificate's public key.

    Source: reference/harvester.md §2.4 (webhook rule 5: certificate/key match not
    checked; controller writes ``tls-ingress``), §3.1 (RKE2 ``.crt``/``.key`` pairs).
    """

    id = "cert-key-mismatch"
    title = "Private key does not match its certificate"
    severity = Severity.CRITICAL
    tags = ("certificates",)
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        certs_by_group: dict[str, list[CertInfo]] = {}
        for info in snap.certificates:
            certs_by_group.setdefault(info.group, []).append(info)
        keys_by_group: dict[str, list[KeyInfo]] = {}
        for key in snap.keys:
            if key.spki_sha256:  # an encrypted key cannot be compared
                keys_by_group.setdefault(key.group, []).append(key)
        for group in sorted(keys_by_group):
            cert = leaf(certs_by_group.get(group, []))
            if cert is None:
                continue
            item = _certs.Judged(cert, (cert.location,))
            if _certs.rotates_by_design(item):
                continue
            for key in sorted(keys_by_group[group], key=lambda k: k.location.key):
                if key.spki_sha256 == cert.spki_sha256:
                    continue
                yield self.finding(
                    ctx,
                    key.location,
                    f"private key at {_certs.where(key.location)} does not match certificate "
                    f"{_certs.label(cert)} at {_certs.where(cert.location)}",
                    evidence=_certs.evidence(
                        item,
                        snap.scanned_at,
                        certificate_at=cert.location.key,
                        cert_key_sha256=cert.spki_sha256,
                        key_public_sha256=key.spki_sha256,
                        key_type=key.key_type,
                    ),
                )


CHECKS: tuple[Check, ...] = (CertKeyMismatch(),)
