"""Decode certificate material into CertInfo / KeyInfo facts; keep no key material.

Every PEM block of a bundle is decoded on its own, so one bad block is reported as a
CertProblem naming its position instead of hiding the good ones. Private keys are parsed
only to derive the fingerprint of their public half (for cert-key-mismatch, see
``bot.sources.keys``); no key material reaches a Snapshot, log or output. ``decode`` never
raises on malformed input: whatever cannot be read becomes a CertProblem.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.resources import ResourceRef
from bot.sources import keys
from bot.sources.cert_facts import Facts, cert_facts

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.InvalidVersion,
    x509.UnsupportedGeneralNameType,
)


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
    # Built directly: dataclasses.replace costs ~8 us, and this runs once per certificate.
    return ResourceRef(location.kind, location.name, location.namespace, field_)


_DOC_LINK = re.compile(r"\s*See https?://\S+ for more details\.")


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return _DOC_LINK.sub("", text)[:160]


@functools.lru_cache(maxsize=4096)
def _parse_cert(raw: bytes, pem: bool) -> tuple[Facts | None, str]:
    """Facts of one certificate block and/or why (part of) it does not parse.

    A certificate whose extensions do not parse (e.g. ``CA:FALSE`` with a path length,
    which OpenSSL and Go accept) still has dates and names: its facts come without SANs
    and CA flag, with the problem said, so its expiry is still judged.

    Cached: RKE2 repeats its CA in every file, and a CA bundle sits in many webhook
    configurations; each distinct block is parsed once. Only public material is cached.
    """
    # Odd but loadable certificates (negative serials, ...) warn; that is not our
    # caller's business, and tests turn these warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            if pem:
                cert, der = x509.load_pem_x509_certificate(raw), None
            else:
                cert, der = x509.load_der_x509_certificate(raw), raw
        except _PARSE_ERRORS as e:
            return None, f"certificate does not parse: {_short(e)}"
        try:
            return cert_facts(cert, der=der), ""
        except _PARSE_ERRORS as e:
            problem = _short(e)
        try:
            facts = cert_facts(cert, der=der, extensions=False)
        except _PARSE_ERRORS:  # not just the extensions
            return None, f"certificate does not parse: {problem}"
        return facts, (
            f"certificate extensions do not parse: {problem} (its dates are judged; its "
            "SANs and CA flag are unknown)"
        )


def clear_cache() -> None:
    """Forget every parsed certificate (benchmarks start each phase cold with this)."""
    _parse_cert.cache_clear()


def _decode_cert(
    raw: bytes, *, pem: bool, location: ResourceRef, group: str, index: int, out: Decoded
) -> None:
    facts, problem = _parse_cert(raw, pem)
    if facts is not None:
        out.certs.append(CertInfo(location, group, index, *facts))
    if problem:
        out.problems.append(CertProblem(location, problem))


def _pem_body(body: bytes) -> bytes | None:
    """The DER of a PEM body made of base64 lines only; None for anything else.

    Decoding it here and loading DER costs less than ``load_pem_x509_certificate`` and
    gives the same certificate (and the same parse errors); bodies with headers or
    stray characters are left to that function as before.
    """
    try:  # line breaks and blanks at line ends (OpenSSL and Go accept those) go first
        return binascii.a2b_base64(body.translate(None, b" \t\r\n"), strict_mode=True)
    except binascii.Error:
        return None


def _decode_der(data: bytes, *, location: ResourceRef, group: str, out: Decoded) -> None:
    """A DER certificate or, failing that, a DER private key (PKCS#8 / PKCS#1 / SEC1)."""
    attempt = Decoded()
    _decode_cert(data, pem=False, location=location, group=group, index=0, out=attempt)
    if attempt.certs:
        out.extend(attempt)
        return
    key = keys.der_key(data, location=location, group=group)
    if key is None:
        out.extend(attempt)  # neither: report the certificate parse error
    else:
        out.keys.append(key)


# PEM labels of a certificate: RFC 7468's, the old X509 CERTIFICATE, and OpenSSL's TRUSTED
# CERTIFICATE (the certificate's DER followed by trust settings; ``openssl x509`` reads all).
_CERT_KINDS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"})
_TRUSTED = b"TRUSTED CERTIFICATE"


def _first_element(der: bytes) -> bytes:
    """The first DER element of ``der`` (a TRUSTED CERTIFICATE's certificate), or all of
    ``der`` when no length can be read there (the parser then says what is wrong)."""
    if len(der) < 2 or der[0] != 0x30:
        return der
    size, head = der[1], 2
    if size >= 0x80:  # long form: the next (size & 0x7F) bytes hold the length
        head += size & 0x7F
        if not 3 <= head <= 6 or len(der) < head:
            return der
        size = int.from_bytes(der[2:head], "big")
    return der[: head + size] if head + size <= len(der) else der


def _decode_pem(data: bytes, *, location: ResourceRef, group: str, out: Decoded) -> None:
    index = 0  # position among certificate blocks (_CERT_KINDS), broken ones included
    pos = 0
    found = False
    while (start := data.find(b"-----BEGIN ", pos)) >= 0:
        begin = _BEGIN.match(data, start)
        if begin is None:  # not a header line: keep looking after it
            pos = start + 11
            continue
        kind = begin.group(1)
        # The first "-----" after the header must open the END line: a block without
        # one cannot swallow the next block, so its neighbours still decode.
        end_line = b"-----END " + kind + b"-----"
        dashes = data.find(b"-----", begin.end())
        # Blanks may trail the header line (OpenSSL and Go accept them).
        complete = (
            data[begin.end() : begin.end() + 64].lstrip(b" \t")[:1] in (b"\n", b"\r")
            and dashes >= 0
            and data.startswith(end_line, dashes)
        )
        pos = dashes + len(end_line) if complete else begin.end()
        block = data[start:pos]
        if kind in _CERT_KINDS:
            found = True
            here = _at(location, index)
            der = _pem_body(data[begin.end() : dashes]) if complete else None
            if der and kind == _TRUSTED:
                der = _first_element(der)  # without the trust settings that follow it
            if der:
                _decode_cert(der, pem=False, location=here, group=group, index=index, out=out)
            elif complete:
                _decode_cert(block, pem=True, location=here, group=group, index=index, out=out)
            else:
                out.problems.append(
                    CertProblem(here, "incomplete certificate block (BEGIN and END lines)")
                )
            index += 1
        elif kind.endswith(b"PRIVATE KEY"):
            found = True
            block = block if complete else b""
            body = _pem_body(data[begin.end() : dashes]) if complete else None
            out.keys.append(keys.pem_key(kind, block, location=location, group=group, der=body))
        else:
            found = found or complete  # CSRs, public keys, CRLs: skipped, not errors
    if not found:
        out.problems.append(CertProblem(location, "PEM header without a complete block"))


def decode(data: bytes, *, location: ResourceRef, group: str, allow_der: bool = False) -> Decoded:
    """Decode PEM (every block) or, with ``allow_der``, one DER certificate or private key.

    Never raises for malformed input. Blocks that are neither certificates nor private
    keys (CSRs, public keys, CRLs) are skipped.
    """
    out = Decoded()
    if looks_like_pem(data):
        _decode_pem(data, location=location, group=group, out=out)
    elif allow_der and data[:1] == b"\x30":
        _decode_der(data, location=location, group=group, out=out)
    else:
        what = "PEM or DER" if allow_der else "PEM"
        out.problems.append(CertProblem(location, f"no {what} certificate found"))
    return out


def decode_field(out: Decoded, value: object, *, location: ResourceRef, group: str) -> str | None:
    """Decode one base64 field holding PEM (a kubeconfig ``*-data`` or Secret ``data`` key).

    Certificates, keys and certificate problems go to ``out``. A key field (name ending
    in ``key-data`` or ``.key``) that yields no key returns a reason instead: that is a
    coverage gap, not a certificate problem, and its parse error is never quoted.
    """
    if value is None or value == "":
        return None
    key_field = location.field.endswith(("key-data", ".key"))
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        if key_field:
            return f"{location.field}: not valid base64"
        out.problems.append(CertProblem(location, "value is not valid base64"))
        return None
    decoded = decode(raw, location=location, group=group)
    if key_field:
        out.keys.extend(decoded.keys)
        return None if decoded.keys else f"{location.field}: no PEM private key found"
    out.extend(decoded)
    return None
