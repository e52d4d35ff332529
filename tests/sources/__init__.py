"""Tests of the sources; this package also holds a small certificate factory.

The factory builds real X.509 certificates and keys with ``cryptography`` for the source
tests and for ``tests/fixtures/gen_cert_fixtures.py``. EC keys are derived from labels
and ECDSA signatures are deterministic (RFC 6979), so the same call gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Issuer = tuple[x509.Name, PrivateKey]


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


def ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 key derived from ``label``: the same label always gives the same key."""
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (2**255)
    return ec.derive_private_key(scalar + 1, ec.SECP256R1())


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    *,
    key: PrivateKey,
    not_after: datetime,
    not_before: datetime | None = None,
    issuer: Issuer | None = None,
    ca: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> x509.Certificate:
    """A certificate for ``cn``; self-signed unless ``issuer`` (name, key) is given."""
    issuer_name, issuer_key = issuer or (name(cn), key)
    serial = int.from_bytes(hashlib.sha256(f"{cn}{not_after}".encode()).digest()[:8], "big")
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before or min(not_after, NOW) - timedelta(days=365))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns or ips:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def resign_sha1(cert: x509.Certificate, rsa_issuer: rsa.RSAPrivateKey) -> x509.Certificate:
    """Re-sign an RSA-issued certificate with SHA-1 (cryptography refuses to build one).

    sha256WithRSAEncryption and sha1WithRSAEncryption OIDs differ in their last byte only.
    """
    sha256_rsa, sha1_rsa = bytes.fromhex("2a864886f70d01010b"), bytes.fromhex("2a864886f70d010105")
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = rsa_issuer.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg = bytes.fromhex("300d0609") + sha1_rsa + bytes.fromhex("0500")
    bits = b"\x00" + signature
    body = tbs + alg + b"\x03" + _der_len(len(bits)) + bits
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(body)) + body)


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def leaf(cn: str, days: float, issuer: Issuer, **kw: Any) -> tuple[x509.Certificate, PrivateKey]:
    key = ec_key(cn)
    return make_cert(cn, key=key, not_after=at(days), issuer=issuer, **kw), key
