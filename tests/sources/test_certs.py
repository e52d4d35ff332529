"""bot.sources.certs: every PEM block decoded on its own, DER, keys reduced to fingerprints."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import fields, replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.certs import CertInfo
from bot.core.resources import ResourceRef
from bot.sources import cert_facts, certs, tls_objects
from bot.sources.certs import Decoded, decode, decode_field, looks_like_pem
from tests.sources import at, b64, ec_key, key_pem, leaf, make_cert, pem, resign_sha1

LOC = ResourceRef("Secret", "web", "default", "data.tls.crt")
CA_KEY = ec_key("test-ca")
CA = make_cert("test-ca", key=CA_KEY, not_after=at(3000), ca=True)
SERVER, SERVER_KEY = leaf(
    "web.example.com", 30, (CA.subject, CA_KEY), dns=("web.example.com",), ips=("10.0.0.7",)
)
OTHER, _ = leaf("other.example.com", 60, (CA.subject, CA_KEY))


def _spki(key: object) -> str:
    der = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def test_every_block_of_a_bundle_is_decoded_with_its_index() -> None:
    out = decode(pem(SERVER, OTHER, CA).encode(), location=LOC, group="g")
    assert [(c.index, c.location.field, c.common_name) for c in out.certs] == [
        (0, "data.tls.crt[0]", "web.example.com"),
        (1, "data.tls.crt[1]", "other.example.com"),
        (2, "data.tls.crt[2]", "test-ca"),
    ]
    assert out.problems == [] and out.keys == []


def test_cert_facts() -> None:
    (info,) = decode(pem(SERVER).encode(), location=LOC, group="Secret/default/web").certs
    assert info.subject == "CN=web.example.com"
    assert info.issuer == "CN=test-ca"
    assert info.serial == format(SERVER.serial_number, "X")
    assert info.sha256 == SERVER.fingerprint(hashes.SHA256()).hex()
    assert info.spki_sha256 == _spki(SERVER_KEY)
    assert (info.not_before, info.not_after) == (at(-365), at(30))
    assert (info.key_type, info.key_bits, info.signature_hash) == ("EC", 256, "sha256")
    assert (info.is_ca, info.self_signed) == (False, False)
    assert (info.dns_names, info.ip_addresses) == (("web.example.com",), ("10.0.0.7",))
    assert info.group == "Secret/default/web"
    (ca,) = decode(pem(CA).encode(), location=LOC, group="g").certs
    assert (ca.is_ca, ca.self_signed) == (True, True)


def test_a_bad_block_in_the_middle_names_its_index_and_the_others_decode() -> None:
    lines = pem(OTHER).splitlines(keepends=True)
    lines[2] = "!!!!" + lines[2][4:]  # corrupt the base64 body
    out = decode((pem(SERVER) + "".join(lines) + pem(CA)).encode(), location=LOC, group="g")
    assert [c.location.field for c in out.certs] == ["data.tls.crt[0]", "data.tls.crt[2]"]
    assert [p.location.field for p in out.problems] == ["data.tls.crt[1]"]
    assert out.problems[0].reason.startswith("certificate does not parse: Unable to load PEM")
    assert "https://" not in out.problems[0].reason


def test_a_block_without_end_does_not_swallow_its_neighbour() -> None:
    truncated = "\n".join(pem(OTHER).splitlines()[:-1]) + "\n"  # END line missing
    out = decode((pem(SERVER) + truncated + pem(CA)).encode(), location=LOC, group="g")
    assert [(c.index, c.common_name) for c in out.certs] == [(0, "web.example.com"), (2, "test-ca")]
    assert [(p.location.field, p.reason) for p in out.problems] == [
        ("data.tls.crt[1]", "incomplete certificate block (BEGIN and END lines)")
    ]


def test_non_certificate_blocks_are_skipped_and_headers_without_blocks_are_problems() -> None:
    public = SERVER_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out = decode(public + pem(CA).encode(), location=LOC, group="g")
    assert [c.common_name for c in out.certs] == ["test-ca"] and out.problems == []
    broken = decode(b"-----BEGIN CERTIFICATE----- oops", location=LOC, group="g")
    assert [(p.location.field, p.reason) for p in broken.problems] == [
        ("data.tls.crt[0]", "incomplete certificate block (BEGIN and END lines)")
    ]
    garbled = decode(b"-----BEGIN certificate", location=LOC, group="g")
    assert [(p.location, p.reason) for p in garbled.problems] == [
        (LOC, "PEM header without a complete block")
    ]


def test_der_certificate_and_der_key() -> None:
    der = SERVER.public_bytes(serialization.Encoding.DER)
    out = decode(der, location=ResourceRef("File", "a.der"), group="a", allow_der=True)
    assert [(c.location.key, c.common_name) for c in out.certs] == [
        ("File//a.der", "web.example.com")
    ]
    refused = decode(der, location=LOC, group="g")
    assert [p.reason for p in refused.problems] == ["no PEM certificate found"]
    key_der = SERVER_KEY.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keys = decode(key_der, location=ResourceRef("File", "a.key"), group="a", allow_der=True)
    assert [(k.spki_sha256, k.key_type) for k in keys.keys] == [(_spki(SERVER_KEY), "EC")]
    assert keys.problems == []
    junk = decode(b"\x30\x03abc", location=LOC, group="g", allow_der=True)
    assert [p.reason.split(":")[0] for p in junk.problems] == ["certificate does not parse"]


def test_rsa_and_sha1_facts() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_ca = make_cert("weak-ca", key=rsa_key, not_after=at(100), ca=True)
    signed = resign_sha1(
        make_cert("x", key=ec_key("x"), not_after=at(9), issuer=(weak_ca.subject, rsa_key)), rsa_key
    )
    out = decode(pem(weak_ca, signed).encode(), location=LOC, group="g")
    assert [(c.key_type, c.key_bits, c.signature_hash) for c in out.certs] == [
        ("RSA", 1024, "sha256"),
        ("EC", 256, "sha1"),
    ]


def test_decode_field() -> None:
    out = Decoded()
    loc = ResourceRef("File", "k", field="users[u].client-certificate-data")
    assert decode_field(out, b64(pem(SERVER)), location=loc, group="g") is None
    assert decode_field(out, "not base64!", location=loc, group="g") is None
    key_loc = ResourceRef("File", "k", field="users[u].client-key-data")
    assert decode_field(out, b64(key_pem(SERVER_KEY)), location=key_loc, group="g") is None
    reason = decode_field(out, b64("junk"), location=key_loc, group="g")
    assert reason == "users[u].client-key-data: no PEM private key found"
    assert [c.common_name for c in out.certs] == ["web.example.com"]
    assert [(p.location, p.reason) for p in out.problems] == [(loc, "value is not valid base64")]
    assert [k.spki_sha256 for k in out.keys] == [_spki(SERVER_KEY)]


def test_looks_like_pem() -> None:
    assert looks_like_pem(pem(CA).encode())
    assert not looks_like_pem(CA.public_bytes(serialization.Encoding.DER))


ARMOURS = (
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
    "X509 CRL",
)
BASE64ISH = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n-:, ", max_size=600
)


def _assert_sane(out: Decoded) -> None:
    assert isinstance(out, Decoded)
    assert all(p.reason for p in out.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.booleans())
def test_decode_never_raises_on_bytes(data: bytes, allow_der: bool) -> None:
    _assert_sane(decode(data, location=LOC, group="g", allow_der=allow_der))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(ARMOURS), BASE64ISH, st.booleans()), max_size=4),
    st.text(max_size=50),
)
def test_decode_never_raises_on_pem_armour(blocks: list[tuple[str, str, bool]], junk: str) -> None:
    text = junk
    for kind, body, complete in blocks:
        text += f"-----BEGIN {kind}-----\n{body}\n" + (
            f"-----END {kind}-----\n" if complete else ""
        )
    _assert_sane(decode(text.encode(), location=LOC, group="g"))


DER = SERVER.public_bytes(serialization.Encoding.DER)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(DER) - 1), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_decode_never_raises_on_mutated_certificates(flips: list[tuple[int, int]]) -> None:
    der = bytearray(DER)
    for pos, value in flips:
        der[pos] = value
    _assert_sane(decode(bytes(der), location=LOC, group="g", allow_der=True))
    armoured = (
        b"-----BEGIN CERTIFICATE-----\n"
        + b64(bytes(der)).encode()
        + b"\n-----END CERTIFICATE-----\n"
    )
    _assert_sane(decode(armoured, location=LOC, group="g"))


def test_decoded_sans_drive_the_hostname_match() -> None:
    """What cert-hostname-mismatch sees of a decoded certificate (reference §2.4)."""
    from bot.checks.cert_hostname import covers, server_host

    wild, _ = leaf("wild", 30, (CA.subject, CA_KEY), dns=("*.example.com",), ips=("fd00::5",))
    (info,) = decode(pem(wild).encode(), location=LOC, group="g").certs
    hosts = {
        url: covers(info, server_host(url))
        for url in (
            "https://rancher.example.com",
            "https://RANCHER.example.com.:8443/x",
            "https://a.b.example.com",
            "https://example.com",
            "https://[fd00:0::5]:443",
            "https://192.168.10.5",
            "rancher.example.com",
        )
    }
    assert hosts == {
        "https://rancher.example.com": True,
        "https://RANCHER.example.com.:8443/x": True,
        "https://a.b.example.com": False,
        "https://example.com": False,
        "https://[fd00:0::5]:443": True,
        "https://192.168.10.5": False,
        "rancher.example.com": True,
    }
    (cn_only,) = decode(pem(CA).encode(), location=LOC, group="g").certs
    # Go clients (fleet-agent) ignore the CN: a CN-only certificate covers no host.
    assert (covers(cn_only, "test-ca"), covers(cn_only, "other")) == (False, False)
    assert server_host("") == "" and server_host("https://[::1") == ""


def _armoured(der: bytes, *, width: int, newline: str) -> bytes:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    text = newline.join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])
    return (text + newline).encode()


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([SERVER, OTHER, CA]),
    st.integers(1, 40).map(lambda n: n * 4),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", " ", "\t"]),
)
def test_pem_read_as_der_gives_what_the_pem_loader_gives(
    cert: x509.Certificate, width: int, newline: str, indent: str
) -> None:
    """Base64 bodies (blanks around the lines allowed, as OpenSSL and Go allow them) are
    decoded here and loaded as DER: the certificate is the one the DER encodes, the same
    that cryptography's PEM loader gives wherever that loader reads the block at all."""
    der = cert.public_bytes(serialization.Encoding.DER)
    block = _armoured(der, width=width, newline=newline)
    block = block.replace(newline.encode(), (newline + indent).encode())
    block = block.replace(f"{newline}{indent}-----".encode(), f"{newline}-----".encode())
    out = decode(block, location=LOC, group="g")
    here = ResourceRef("Secret", "web", "default", "data.tls.crt[0]")
    facts, problem = certs._parse_cert.__wrapped__(der, False)  # the DER itself, uncached
    assert (facts, problem) != (None, "") and out.problems == []
    assert out.certs == [CertInfo(here, "g", 0, *facts)]
    reference, _ = certs._parse_cert.__wrapped__(block, True)  # cryptography's PEM loader
    assert reference in (None, facts)


def test_facts_are_every_certinfo_field_after_location_group_and_index() -> None:
    assert cert_facts.Facts._fields == tuple(f.name for f in fields(CertInfo))[3:]


def test_a_repeated_certificate_is_copied_field_for_field() -> None:
    """The second copy comes from the parse cache: every fact is the first one's."""
    first, second = decode(pem(SERVER, SERVER).encode(), location=LOC, group="g").certs
    assert second == replace(first, location=replace(LOC, field="data.tls.crt[1]"), index=1)
    assert first.sha256 == SERVER.fingerprint(hashes.SHA256()).hex()


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ABCDab09+/=\n\r é-_", max_size=24))
def test_secret_values_are_read_as_strict_base64(text: str) -> None:
    try:
        expected = base64.b64decode(text, validate=True) if text else None
    except (binascii.Error, ValueError):
        expected = None
    assert tls_objects.b64(text) == expected


def _explicit_ca_false(days: int) -> bytes:
    """A leaf whose BasicConstraints says ``CA:FALSE`` explicitly: not DER (a default must
    be left out), yet OpenSSL and Go read it. cryptography refuses the extension, not the
    certificate (as it refuses ``CA:FALSE, pathlen:0``, which OpenSSL also writes)."""
    key = ec_key("explicit-false")
    cert = make_cert("explicit-false", key=key, not_after=at(days), ca=True)
    der = cert.public_bytes(serialization.Encoding.DER)
    ca_true = bytes.fromhex("30030101ff")  # SEQUENCE { BOOLEAN TRUE }
    assert der.count(ca_true) == 1
    return der.replace(ca_true, bytes.fromhex("3003010100"))  # BOOLEAN FALSE


def test_a_certificate_whose_extensions_do_not_parse_is_still_judged_by_its_dates() -> None:
    der = _explicit_ca_false(5)
    out = decode(_armoured(der, width=64, newline="\n"), location=LOC, group="g")
    (cert,) = out.certs
    assert (cert.common_name, cert.not_after) == ("explicit-false", at(5))
    assert (cert.is_ca, cert.dns_names, cert.ip_addresses) == (False, (), ())
    assert cert.sha256 == hashlib.sha256(der).hexdigest()
    (problem,) = out.problems
    assert problem.location == replace(LOC, field="data.tls.crt[0]")
    assert problem.reason.startswith("certificate extensions do not parse: ")
    assert problem.reason.endswith("(its dates are judged; its SANs and CA flag are unknown)")


def test_blanks_after_the_header_and_at_line_ends_are_accepted() -> None:
    """OpenSSL and Go read these; a certificate must not turn "unparseable" over them."""
    text = pem(SERVER)
    for variant in (
        text.replace("CERTIFICATE-----\n", "CERTIFICATE----- \t\n", 1),
        text.replace("\n", " \n"),
        text.replace("\n", "\t\r\n"),
    ):
        out = decode(variant.encode(), location=LOC, group="g")
        assert (out.problems, [c.common_name for c in out.certs]) == ([], ["web.example.com"])
