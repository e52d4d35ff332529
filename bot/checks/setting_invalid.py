"""Check: setting values that Harvester's webhook would reject, or that cannot be used.

A value can be in the cluster although the webhook rejects it today: it was written before
the webhook checked it (``default`` is only checked since v1.4.0), by an older Harvester,
with the webhook bypassed, or ``additional-ca`` (which has no validator at all). Such a
value breaks the controller that reads it, silently. The rules and messages mirror
``pkg/webhook/resources/setting/validator.go`` and ``pkg/util/tls/tls.go``
(reference/harvester.md §1.5, §2.1-§2.7).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Callable, Iterator
from typing import Any

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import Snapshot

SUPPORTED_SSL_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
AUTO_ROTATE_MAX_HOURS = 24 * 365 - 1
# (sub-field or "", reason) pairs for one field's text.
Problems = list[tuple[str, str]]


def protocol_tokens(protocols: str) -> list[str]:
    """ssl-parameters protocols as the webhook splits them: single spaces, empties skipped."""
    return [token for token in protocols.split(" ") if token]


_PEM_LINE = re.compile(rb"-----(BEGIN|END) (.*)-----[ \t\r]*")
_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/= \t\r]*")
_RAW_REDACTION = "-----\nREDACTED\n-----"
_LABEL = re.compile(r"[A-Z0-9 ]{1,40}")


def _has_pem_header(data: bytes, offset: int) -> bool:
    # Go's containsPEMHeader on data[offset:], including its slicing quirk: the newline
    # test covers data[start:start+end] where end is relative to start+10.
    start = data.find(b"-----BEGIN", offset)
    end = data.find(b"-----", start + 10) - (start + 10) if start != -1 else -1
    return end >= 0 and b"\n" not in data[start : start + end]


def _body_decodes(lines: list[bytes], *, first: int, stop: int) -> bool:
    # Line by line first (no slice copy), so a failed block costs only up to its first bad
    # line: BEGIN lines inside another block's body stop the scan right there.
    if not all(_BASE64_LINE.fullmatch(lines[i]) for i in range(first, stop)):
        return False
    try:
        base64.b64decode(re.sub(rb"[ \t\r]", b"", b"".join(lines[first:stop])), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def pem_block_types(text: str) -> tuple[list[str], bool]:
    """Types of the PEM blocks Go's validation loop visits, and False if it would stop
    with "failed to parse PEM block" after them (a header is left that does not decode).

    Follows encoding/pem: a block starts at a BEGIN line, skips RFC 1421 header lines
    (with ":"), and ends at the first END line, which must name the same type; a block
    that fails is skipped and the next BEGIN tried. Each line is visited a bounded number
    of times, so hostile values cannot make this quadratic.
    """
    data = text.encode("utf-8", "surrogatepass")
    lines = data.split(b"\n")
    offsets = [0]
    for text_line in lines:
        offsets.append(offsets[-1] + len(text_line) + 1)
    marks = {i: m.groups() for i, m in enumerate(map(_PEM_LINE.fullmatch, lines)) if m}
    begins = [i for i, (kind, _) in marks.items() if kind == b"BEGIN"]
    ends = [i for i, text_line in enumerate(lines) if text_line.startswith(b"-----END ")]
    after_headers = [len(lines)] * (len(lines) + 1)
    for i in range(len(lines) - 1, -1, -1):  # first line at or after i without ":"
        after_headers[i] = after_headers[i + 1] if b":" in lines[i] else i
    types: list[str] = []
    cur, b = 0, 0
    while _has_pem_header(data, offsets[cur]):
        while True:
            b = bisect.bisect_left(begins, cur, lo=b)
            if b == len(begins) or after_headers[begins[b] + 1] == len(lines):
                return types, False  # Go: no decodable block left, or EOF inside headers
            start, body = begins[b], after_headers[begins[b] + 1]
            e = bisect.bisect_left(ends, body)
            end = ends[e] if e < len(ends) else -1
            same_type = marks.get(end) == (b"END", marks[start][1])
            if end >= 0 and same_type and _body_decodes(lines, first=body, stop=end):
                break
            cur = start + 1  # Go goes on after the failed block's BEGIN line
        types.append(marks[start][1].decode("utf-8", "replace"))
        cur = end + 1
    return types, True


def _unexpected(block_type: str) -> str:
    # The label is shown only when it looks like one: a broken header could hold key text.
    shown = f"'{block_type}'" if _LABEL.fullmatch(block_type) else "(not shown)"
    return f"unexpected block type {shown}"


def cert_bundle_problem(text: str) -> str | None:
    """ValidateCABundle / ValidateServingBundle without the X.509 parse (§2.4 rules 2-3)."""
    types, complete = pem_block_types(text)
    for block_type in types:
        if block_type != "CERTIFICATE":
            return _unexpected(block_type)
    if not complete:
        return "failed to parse PEM block"
    return None if types else "failed to locate certificate"


def private_key_problem(text: str) -> str | None:
    """ValidatePrivateKey (§2.4 rule 4). Key bodies are redacted by the source, so a
    PKCS#1/PKCS#8 block is taken to parse: Harvester accepts the value at that block."""
    types, complete = pem_block_types(text)
    keys = 0
    for block_type in types:
        if block_type in ("PRIVATE KEY", "RSA PRIVATE KEY"):
            return None
        if block_type == "EC PRIVATE KEY":
            keys += 1
        elif block_type != "EC PARAMETERS":
            return _unexpected(block_type)
    if not complete:
        return "failed to parse PEM block"
    return {0: "failed to locate private key", 1: None}.get(keys, "multiple private keys")


def _no_rules(doc: dict[str, Any]) -> Problems:
    return []  # the webhook only checks that the JSON decodes


def _auto_rotate(doc: dict[str, Any]) -> Problems:
    hours = int(doc["expiringInHours"])
    if hours <= 0:
        return [("", "expiringInHours can't be negative or zero")]
    if hours > AUTO_ROTATE_MAX_HOURS:
        return [("", f"expiringInHours can't be large than {AUTO_ROTATE_MAX_HOURS}")]
    return []


def _ssl_certificates(doc: dict[str, Any]) -> Problems:
    ca, cert, key = (str(doc[k]) for k in ("ca", "publicCertificate", "privateKey"))
    if not (ca or cert or key):
        return []  # all empty: back to the internal certificate
    # The webhook stops at the first problem; each sub-field is reported here.
    found = [
        ("ca", cert_bundle_problem(ca) if ca else None),
        ("publicCertificate", cert_bundle_problem(cert)),
        ("privateKey", private_key_problem(key)),
    ]
    return [(sub, why) for sub, why in found if why]


def _ssl_parameters(doc: dict[str, Any]) -> Problems:
    for token in protocol_tokens(str(doc["protocols"])):
        if token not in SUPPORTED_SSL_PROTOCOLS:
            return [("protocols", f"unsupported SSL protocol: {token[:40]}")]
    return []


_RULES: dict[str, Callable[[dict[str, Any]], Problems]] = {
    "http-proxy": _no_rules,  # node coverage: http-proxy-noproxy-missing-nodes
    "auto-rotate-rke2-certs": _auto_rotate,
    "ssl-certificates": _ssl_certificates,
    "ssl-parameters": _ssl_parameters,
    "containerd-registry": _no_rules,
    "traefik-default-tls-options": _no_rules,
}
# Fields checked per setting: the webhook checks both since v1.4.0; these two are used
# from ``value`` only (§1.2), and additional-ca has no webhook rule at all.
_VALUE_ONLY = ("auto-rotate-rke2-certs", "additional-ca")


def problems_of(name: str, text: str) -> Problems:
    """What Harvester would object to in one field's text of setting ``name``."""
    if name == "additional-ca":
        if "CERTIFICATE" in pem_block_types(text)[0]:
            return []
        return [
            (
                "",
                "no -----BEGIN CERTIFICATE----- block: nodes and the S3 backup target "
                'get no CA ("failed to append custom certificates")',
            )
        ]
    if name == "ssl-certificates":
        # The source redacts key bodies with raw newlines, which JSON strings may not hold;
        # put back the escaped form the value had (a no-op once the source escapes them).
        text = text.replace(_RAW_REDACTION, "-----\\nREDACTED\\n-----")
    try:
        doc = s.decode(text, s.SCHEMAS[name])
    except s.GoJSONError as e:
        return [("", str(e))]
    return _RULES[name](doc)


def _first_cert_unnamed(snap: Snapshot) -> bool:
    """The serving certificate of ssl-certificates has neither CN nor DNS/IP SAN (rule 3)."""
    first = [
        c
        for c in snap.certificates
        if (c.location.kind, c.location.name) == ("Setting", "ssl-certificates")
        and c.location.field.startswith("value.publicCertificate")  # "...[0]"
        and c.index == 0
    ]
    return bool(first) and not (
        first[0].common_name.strip() or first[0].dns_names or first[0].ip_addresses
    )


class SettingInvalid(Check):
    """A Harvester setting holds a value its controller cannot use.

    Harvester's webhook rejects such values on write, but values written before a rule
    existed, by an older release, or to ``additional-ca`` (no validator) stay in place
    and make the controller fail on every sync. The message is what the webhook would
    answer. Private keys are never shown; ssl-certificates is checked for PEM block
    types and counts only.

    Bad: auto-rotate-rke2-certs value {"enable":true} (expiringInHours missing = 0).
    Good: auto-rotate-rke2-certs value {"enable":true,"expiringInHours":720}.
    Source: reference/harvester.md §1.5 and §2.1-§2.7 (validator.go, pkg/util/tls/tls.go).
    """

    id = "setting-invalid"
    title = "Setting value would be rejected by Harvester or cannot be used"
    severity = Severity.WARNING
    tags = ("settings",)
    requires = ("settings",)

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        snap = ctx.snapshot
        for name in sorted(snap.settings):
            if name not in _RULES and name != "additional-ca":
                continue  # settings without rules are admitted unchanged
            setting = snap.settings[name]
            fields = ("value",) if name in _VALUE_ONLY else ("default", "value")
            for field in fields:
                text = getattr(setting, field)
                if not text or (field == "value" and len(fields) == 2 and text == setting.default):
                    continue  # empty is accepted; value == default is reported once
                problems = problems_of(name, text)
                if (
                    name == "ssl-certificates"
                    and field == "value"
                    and not {"", "publicCertificate"} & {sub for sub, _ in problems}
                    and _first_cert_unnamed(snap)
                ):
                    problems.append(
                        ("publicCertificate", "certificate has no common name or subject alt name")
                    )
                for sub, reason in problems:
                    where = f"{field}.{sub}" if sub else field
                    yield self._invalid(ctx, name=name, where=where, reason=reason)

    def _invalid(self, ctx: CheckContext, *, name: str, where: str, reason: str) -> Finding:
        webhook = name != "additional-ca"
        suffix = " (Harvester's webhook rejects this value)" if webhook else ""
        return self.finding(
            ctx,
            ResourceRef("Setting", name, field=where),
            f"{name} {where}: {reason}{suffix}",
            evidence={"reason": reason, "webhook_rule": webhook},
        )


CHECKS: tuple[Check, ...] = (SettingInvalid(),)
