"""Certificate material that is unreadable or uses weak cryptography."""

from __future__ import annotations

from collections.abc import Iterator

from bot.checks import _certs
from bot.checks.base import Check, CheckContext
from bot.core.certs import CertInfo
from bot.core.finding import Finding
from bot.core.severity import Severity

MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}


class CertUnparseable(Check):
    """Certificate material that does not decode, so nothing about it can be checked.

    A ``tls.crt`` that is not PEM, a bundle with a corrupt block, a caBundle that is not
    base64, or a ``.crt`` file holding binary junk: the service that loads it fails, and
    no expiry can be judged for it. Each problem is reported where it sits, a bad block
    by its index in the bundle; the other blocks of the bundle are still judged.
    Harvester's webhook does not parse the ``ca`` field of ``ssl-certificates`` at all.

    Bad: a Secret whose ``tls.crt`` is ``aGVsbG8=`` ("hello"), or a bundle whose second
    block has a truncated body.

    Good: every ``-----BEGIN CERTIFICATE-----`` block holds a DER certificate.

    Source: reference/harvester.md §2.4 (ssl-certificates webhook rules: ``ca`` blocks are
    not parsed as X.509), §2.3 (additional-ca has no validator).
    """

    id = "cert-unparseable"
    title = "Certificate cannot be decoded"
    severity = Severity.WARNING
    tags = ("certificates",)
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        for problem in sorted(ctx.snapshot.cert_problems, key=lambda p: p.location.key):
            yield self.finding(
                ctx,
                problem.location,
                f"cannot decode certificate material at {_certs.where(problem.location)}: "
                f"{problem.reason}",
                evidence={"reason": problem.reason},
            )


def weaknesses(cert: CertInfo) -> list[str]:
    """What is weak about a certificate, in words; empty if nothing."""
    found = []
    if cert.key_type == "RSA" and cert.key_bits < MIN_RSA_BITS:
        found.append(f"RSA {cert.key_bits}-bit key (< {MIN_RSA_BITS})")
    elif cert.key_type == "EC" and cert.key_bits < MIN_EC_BITS:
        found.append(f"EC {cert.key_bits}-bit key (< {MIN_EC_BITS})")
    elif cert.key_type == "DSA":
        found.append(f"DSA {cert.key_bits}-bit key (DSA is deprecated)")
    if cert.signature_hash in WEAK_HASHES:
        what = "self-signature" if cert.self_signed else "signature by its issuer"
        found.append(f"{WEAK_HASHES[cert.signature_hash]} {what}")
    return found


class CertWeakCrypto(Check):
    """A certificate uses a short key or a broken signature hash.

    RSA keys under 2048 bits and DSA keys are below every current baseline (NIST SP
    800-131A); SHA-1 and MD5 signatures can be forged (SHAttered, 2017) and are refused
    by current Go and browser clients. Harvester's ``ssl-certificates`` webhook checks
    neither key size nor signature algorithm (its own upstream fixture is SHA-1 signed).
    A SHA-1 self-signature on a trusted root is reported too; the message says which.

    Bad: a custom ``ssl-certificates`` certificate with an RSA 1024-bit key, signed with
    sha1WithRSAEncryption.

    Good: an EC P-256 or RSA 2048+ key, signed with SHA-256.

    Source: reference/harvester.md §2.4 (not checked by the webhook: key size, signature
    algorithm); NIST SP 800-131A Rev. 2.
    """

    id = "cert-weak-crypto"
    title = "Certificate uses weak cryptography"
    severity = Severity.WARNING
    tags = ("certificates", "crypto")
    requires_any = _certs.CERT_SOURCES

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        now = ctx.snapshot.scanned_at
        for item in ctx.derived(_certs.judged_certs):
            weak = weaknesses(item.cert)
            if not weak or _certs.rotates_by_design(item):
                continue
            yield self.finding(
                ctx,
                item.cert.location,
                f"certificate {_certs.label(item.cert)} uses weak cryptography: " + ", ".join(weak),
                evidence=_certs.evidence(
                    item,
                    now,
                    key_type=item.cert.key_type,
                    key_bits=item.cert.key_bits,
                    signature_hash=item.cert.signature_hash,
                ),
            )


CHECKS: tuple[Check, ...] = (CertUnparseable(), CertWeakCrypto())
