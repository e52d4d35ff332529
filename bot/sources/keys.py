"""Private keys reduced to KeyInfo: the fingerprint of their public half, never the key.

A key is loaded only to derive the SHA-256 of its public half's SubjectPublicKeyInfo
(what cert-key-mismatch compares with a certificate's); the key object is dropped at once
and nothing of the private half is kept. The reason a key does not load is never
reported: an error text could quote it.

Loading skips OpenSSL's RSA consistency check (about 45 ms per 2048-bit key, against
16 us without): the key is never used to sign. Reading the modulus and exponent straight
from the DER instead was measured too, and saved only ~2 us per key (the base64 body must
be decoded either way), so keys are left to ``cryptography``.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning

from bot.core.certs import KeyInfo
from bot.core.resources import ResourceRef

_LOAD_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm)
_KINDS: dict[type, str] = {}


def spki_sha256(public_key: object) -> str:
    """SHA-256 (hex) of a public key's SubjectPublicKeyInfo DER."""
    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _kind(public_key: object) -> str:
    # isinstance against cryptography's ABCs costs ~1 us each, per certificate: the answer
    # is remembered per concrete class.
    cls = type(public_key)
    found = _KINDS.get(cls)
    if found is None:
        found = next(
            (
                name
                for name, abc in (
                    ("RSA", rsa.RSAPublicKey),
                    ("EC", ec.EllipticCurvePublicKey),
                    ("Ed25519", ed25519.Ed25519PublicKey),
                    ("Ed448", ed448.Ed448PublicKey),
                    ("DSA", dsa.DSAPublicKey),
                )
                if isinstance(public_key, abc)
            ),
            cls.__name__,
        )
        _KINDS[cls] = found
    return found


def key_facts(public_key: object) -> tuple[str, int]:
    """(type, bits) of a public key: ("RSA", 2048), ("EC", 256), ("Ed25519", 256)..."""
    kind = _kind(public_key)
    if kind in ("RSA", "DSA"):
        return kind, int(public_key.key_size)  # type: ignore[attr-defined]
    if kind == "EC":
        return kind, int(public_key.curve.key_size)  # type: ignore[attr-defined]
    return kind, {"Ed25519": 256, "Ed448": 456}.get(kind, 0)


def key_info(key: object, *, location: ResourceRef, group: str) -> KeyInfo:
    """KeyInfo of a loaded private key (the caller drops the key object)."""
    public = key.public_key()  # type: ignore[attr-defined]
    key_type, bits = key_facts(public)
    return KeyInfo(location, group, spki_sha256(public), key_type, bits)


def _load(load: Callable[[bytes], object], data: bytes) -> object | None:
    # Odd but loadable keys may warn; that is not our caller's business (tests turn
    # warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return load(data)
        except _LOAD_ERRORS:
            return None


def pem_key(
    kind: bytes, block: bytes, *, location: ResourceRef, group: str, der: bytes | None = None
) -> KeyInfo:
    """KeyInfo of one PEM private-key block (``kind`` is its label, e.g. b"PRIVATE KEY").

    ``der`` is the block's body already decoded from base64, when the caller could (a
    body of base64 lines only: no ``Proc-Type`` headers). A key that does not load
    (encrypted, unsupported, broken) is still a key, just not matchable: its
    ``spki_sha256`` is "".
    """
    # Loaded only to read the public half, never to sign: the (slow, ~ms per RSA key)
    # consistency check of the private numbers is skipped. The DER loader reads PKCS#8,
    # PKCS#1 and SEC1 alike and costs a third of the PEM one (which parses the armour
    # again and picks a format by label), so it is used whenever the body decoded.
    if kind == b"OPENSSH PRIVATE KEY":
        key = _load(_load_ssh, block)
    elif der is not None:
        key = _load(_load_der, der)
    else:
        key = _load(_load_pem, block)
    try:
        if key is not None:
            return key_info(key, location=location, group=group)
    except _LOAD_ERRORS:
        pass
    return KeyInfo(location, group, "", "unknown", 0)


def der_key(data: bytes, *, location: ResourceRef, group: str) -> KeyInfo | None:
    """KeyInfo of a DER private key (PKCS#8 / PKCS#1 / SEC1); None if it is none."""
    key = _load(_load_der, data)
    return None if key is None else key_info(key, location=location, group=group)


def _load_ssh(block: bytes) -> object:
    return serialization.load_ssh_private_key(block, None)


def _load_pem(block: bytes) -> object:
    return serialization.load_pem_private_key(block, None, unsafe_skip_rsa_key_validation=True)


def _load_der(data: bytes) -> object:
    return serialization.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
