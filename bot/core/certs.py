"""Certificates reduced to facts: no key material, only what checks need.

A CertInfo is built by ``bot.sources.certs`` as soon as a certificate is decoded, so
nothing downstream ever holds PEM text or keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.resources import ResourceRef


@dataclass(frozen=True, slots=True)
class CertInfo:
    """One X.509 certificate as found at one location."""

    location: ResourceRef
    # Certificates and keys that belong together share a group (a Secret, a setting, a
    # file stem such as ``tls/serving-kube-apiserver``); cert-key-mismatch pairs by it.
    group: str
    # Position inside a bundle: 0 is the leaf for serving chains.
    index: int
    subject: str
    issuer: str
    common_name: str
    serial: str  # hex, upper-case, no separators
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC
    sha256: str  # fingerprint of the DER certificate, hex lower-case
    spki_sha256: str  # fingerprint of the public key (SubjectPublicKeyInfo DER)
    key_type: str  # "RSA", "EC", "Ed25519", "DSA", ...
    key_bits: int
    signature_hash: str  # "sha256", "sha1", "md5", "" when not applicable (Ed25519)
    is_ca: bool
    self_signed: bool
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A private key that was seen: only its public half's fingerprint is kept."""

    location: ResourceRef
    group: str
    spki_sha256: str  # "" when the key could not be parsed (encrypted, unsupported)
    key_type: str
    key_bits: int


@dataclass(frozen=True, slots=True)
class CertProblem:
    """Certificate material that could not be decoded, with the reason."""

    location: ResourceRef
    reason: str
