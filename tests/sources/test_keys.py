"""bot.sources.keys: private keys reduced to the fingerprint of their public half."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from bot.core.resources import ResourceRef
from bot.sources import keys
from bot.sources.certs import decode
from tests.sources import at, ec_key, key_pem, leaf, make_cert, pem

LOC = ResourceRef("Secret", "web", "default", "data.tls.key")
CA_KEY = ec_key("test-ca")
CA = make_cert("test-ca", key=CA_KEY, not_after=at(3000), ca=True)
SERVER, SERVER_KEY = leaf("web.example.com", 30, (CA.subject, CA_KEY))
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _spki(key: object) -> str:
    der = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def test_keys_keep_only_the_public_fingerprint() -> None:
    out = decode((pem(SERVER) + key_pem(SERVER_KEY)).encode(), location=LOC, group="g")
    (key,) = out.keys
    assert (key.spki_sha256, key.key_type, key.key_bits) == (_spki(SERVER_KEY), "EC", 256)
    assert key.spki_sha256 == out.certs[0].spki_sha256
    body = "".join(key_pem(SERVER_KEY).splitlines()[1:-1])
    assert body[:40] not in repr(out)


def test_encrypted_key_is_a_key_without_fingerprint() -> None:
    encrypted = SERVER_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    out = decode(encrypted, location=LOC, group="g")
    assert [(k.spki_sha256, k.key_type, k.key_bits) for k in out.keys] == [("", "unknown", 0)]
    assert out.problems == []


@pytest.mark.parametrize(
    ("key", "fmt", "label", "facts"),
    [
        (RSA_KEY, serialization.PrivateFormat.PKCS8, b"PRIVATE KEY", ("RSA", 2048)),
        (
            RSA_KEY,
            serialization.PrivateFormat.TraditionalOpenSSL,
            b"RSA PRIVATE KEY",
            ("RSA", 2048),
        ),
        (ec_key("p256"), serialization.PrivateFormat.PKCS8, b"PRIVATE KEY", ("EC", 256)),
        (
            ec.derive_private_key(7, ec.SECP384R1()),
            serialization.PrivateFormat.TraditionalOpenSSL,
            b"EC PRIVATE KEY",
            ("EC", 384),
        ),
        (
            ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)),
            serialization.PrivateFormat.OpenSSH,
            b"OPENSSH PRIVATE KEY",
            ("Ed25519", 256),
        ),
    ],
)
def test_pem_keys_of_every_kind(
    key: object, fmt: serialization.PrivateFormat, label: bytes, facts: tuple[str, int]
) -> None:
    block = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, fmt, serialization.NoEncryption()
    )
    assert block.startswith(b"-----BEGIN " + label + b"-----")
    for _ in range(2):  # the second time the key's kind comes from the per-class memo
        info = keys.pem_key(label, block, location=LOC, group="g")
        assert (info.location, info.group, info.spki_sha256, info.key_type, info.key_bits) == (
            LOC,
            "g",
            _spki(key),
            *facts,
        )


def test_keys_that_do_not_load_are_unknown_and_der_junk_is_no_key() -> None:
    broken = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
    info = keys.pem_key(b"PRIVATE KEY", broken, location=LOC, group="g")
    assert (info.spki_sha256, info.key_type, info.key_bits) == ("", "unknown", 0)
    assert keys.der_key(b"\x30\x03abc", location=LOC, group="g") is None
    der = RSA_KEY.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    found = keys.der_key(der, location=LOC, group="g")
    assert found is not None and (found.spki_sha256, found.key_bits) == (_spki(RSA_KEY), 2048)
