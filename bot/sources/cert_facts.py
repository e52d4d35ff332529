"""One parsed X.509 certificate reduced to its facts (``Facts``): what CertInfo says of a
certificate wherever it is found. ``bot.sources.certs`` decodes PEM/DER and caches these
per distinct certificate; only public material is read.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from bot.sources import keys


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode(errors="replace")


class Facts(NamedTuple):
    """Every CertInfo field after location, group and index, in CertInfo's order (tested):
    what a certificate says wherever it is found, so one parse serves every place."""

    subject: str
    issuer: str
    common_name: str
    serial: str
    not_before: datetime
    not_after: datetime
    sha256: str
    spki_sha256: str
    key_type: str
    key_bits: int
    signature_hash: str
    is_ca: bool
    self_signed: bool
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def cert_facts(
    cert: x509.Certificate, *, der: bytes | None = None, extensions: bool = True
) -> Facts:
    """Reduce a parsed certificate to its Facts; raises ValueError on broken extensions
    (``extensions=False`` leaves them out: no SANs, not a CA).

    ``der`` is the DER the certificate was loaded from, when the caller has it: hashing
    it is cheaper than ``cert.fingerprint`` and gives the same digest.
    """
    public_key = cert.public_key()
    key_type, key_bits = keys.key_facts(public_key)
    try:
        sig_hash = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        sig_hash = None
    is_ca = False
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    # One pass over the extensions: get_extension_for_class raises for a missing one,
    # and exceptions cost more than the rest of this function on big folders.
    for ext in cert.extensions if extensions else ():
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            is_ca = value.ca
        elif isinstance(value, x509.SubjectAlternativeName):
            dns = tuple(value.get_values_for_type(x509.DNSName))
            ips = tuple(str(ip) for ip in value.get_values_for_type(x509.IPAddress))
    subject_name = cert.subject
    subject = subject_name.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    return Facts(
        subject,
        issuer,
        _name_attr(subject_name, NameOID.COMMON_NAME),
        format(cert.serial_number, "X"),
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        (
            hashlib.sha256(der).hexdigest()
            if der is not None
            else cert.fingerprint(hashes.SHA256()).hex()
        ),
        keys.spki_sha256(public_key),
        key_type,
        key_bits,
        sig_hash.name if sig_hash is not None else "",
        is_ca,
        subject == issuer,
        dns,
        ips,
    )
