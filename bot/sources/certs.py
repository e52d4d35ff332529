"""Decode certificate material into CertInfo / KeyInfo facts; keep no key material.

Every PEM block of a bundle is decoded on its own, so one bad block is reported as a
CertProblem naming its position instead of hiding the good ones. Private keys are parsed
only to derive the fingerprint of their public half (for cert-key-mismatch); the key
object is dropped at once and never reaches a Snapshot, log or output.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.resources import ResourceRef

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)
_KEY_TYPES = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY",
              b"DSA PRIVATE KEY", b"OPENSSH PRIVATE KEY"}


@dataclass
class Decoded:
    """Everything decoded from one piece of certificate material."""

    certs: list[CertInfo] = field(default_factory=list)
    keys: list[KeyInfo] = field(default_factory=list)
    problems: list[CertProblem] = field(default_factory=list)

    def extend(self, other: Decoded) -> None:
        self.certs.extend(other.certs)
        self.keys.extend(other.keys)
        self.problems.extend(other.problems)


def looks_like_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data


def _at(location: ResourceRef, index: int) -> ResourceRef:
    field_ = f"{location.field}[{index}]" if location.field else f"[{index}]"
    return replace(location, field=field_)


def _spki_sha256(public_key: object) -> str:
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _key_facts(public_key: object) -> tuple[str, int]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    return type(public_key).__name__, 0


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode(errors="replace")


def cert_info(cert: x509.Certificate, *, location: ResourceRef, group: str, index: int) -> CertInfo:
    """Reduce a parsed certificate to a CertInfo; raises ValueError on broken extensions."""
    public_key = cert.public_key()
    key_type, key_bits = _key_facts(public_key)
    try:
        sig_hash = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        sig_hash = None
    is_ca = False
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    subject = cert.subject.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    return CertInfo(
        location=location,
        group=group,
        index=index,
        subject=subject,
        issuer=issuer,
        common_name=_name_attr(cert.subject, NameOID.COMMON_NAME),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        spki_sha256=_spki_sha256(public_key),
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=sig_hash.name if sig_hash is not None else "",
        is_ca=is_ca,
        self_signed=subject == issuer,
        dns_names=dns,
        ip_addresses=ips,
    )


def _decode_cert(der_or_pem: bytes, *, pem: bool, location: ResourceRef, group: str,
                 index: int, out: Decoded) -> None:
    try:
        cert = (x509.load_pem_x509_certificate(der_or_pem) if pem
                else x509.load_der_x509_certificate(der_or_pem))
        out.certs.append(cert_info(cert, location=location, group=group, index=index))
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as e:
        out.problems.append(CertProblem(location, f"certificate does not parse: {_short(e)}"))


def _decode_key(block: bytes, *, location: ResourceRef, group: str, out: Decoded) -> None:
    spki, key_type, bits = "", "unknown", 0
    try:
        key = serialization.load_pem_private_key(block, password=None)
        public = key.public_key()
        spki = _spki_sha256(public)
        key_type, bits = _key_facts(public)
        del key
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass  # encrypted or unsupported: still a key, just not matchable
    out.keys.append(KeyInfo(location=location, group=group, spki_sha256=spki,
                            key_type=key_type, key_bits=bits))


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:160]


def decode(data: bytes, *, location: ResourceRef, group: str, allow_der: bool = False) -> Decoded:
    """Decode PEM (every block) or, with ``allow_der``, a single DER certificate."""
    out = Decoded()
    if not looks_like_pem(data):
        if allow_der and data[:1] == b"\x30":
            _decode_cert(data, pem=False, location=location, group=group, index=0, out=out)
        else:
            out.problems.append(CertProblem(location, "no PEM certificate block found"))
        return out
    index = 0
    found = False
    for match in _PEM_BLOCK.finditer(data):
        found = True
        kind = match.group(1)
        block = match.group(0)
        if kind == b"CERTIFICATE":
            _decode_cert(block, pem=True, location=_at(location, index), group=group,
                         index=index, out=out)
            index += 1
        elif kind in _KEY_TYPES:
            _decode_key(block, location=location, group=group, out=out)
    if not found:
        out.problems.append(CertProblem(location, "PEM header without a complete block"))
    return out
