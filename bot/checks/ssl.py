"""Checks of the TLS settings of Harvester's ingress: ssl-parameters (ingress-nginx, up to
v1.8) and traefik-default-tls-options (Traefik, v1.9+).

Both fall back to ``default`` when ``value`` is empty (reference/harvester.md §1.2).
From v1.9 the ssl-parameters controller is a no-op (§2.5): a weak value there is still
worth cleaning up, but it no longer weakens anything, so it is reported as info.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.checks.setting_invalid import protocol_tokens
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

SSL_PARAMETERS = "ssl-parameters"
TLS_OPTIONS = "traefik-default-tls-options"
TRAEFIK_ERA = (1, 9, 0)
WEAK_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
BROKEN_PROTOCOLS = ("SSLv2", "SSLv3")
# OpenSSL cipher-string words that select weak suites (aliases or parts of suite names).
_WEAK_OPENSSL_PARTS = frozenset(
    {
        "RC4",
        "RC2",
        "DES",
        "3DES",
        "CBC3",
        "MD5",
        "NULL",
        "eNULL",
        "aNULL",
        "EXP",
        "EXPORT",
        "EXPORT40",
        "EXPORT56",
        "LOW",
        "ADH",
        "AECDH",
        "IDEA",
        "SEED",
        # Aliases that take in the above wholesale: ALL has the anonymous (aNULL) and
        # CBC-SHA1 suites; @SECLEVEL=0 lets every weak suite and key through again.
        "ALL",
        "COMPLEMENTOFALL",
        "@SECLEVEL=0",
    }
)
_WEAK_TLS_VERSIONS = ("VersionTLS10", "VersionTLS11")
# Go/Traefik suite names (TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA ...): Go's own
# InsecureCipherSuites also lists the CBC-SHA256 ones (no Lucky13 countermeasures).
_WEAK_GO_SUITE = re.compile(r"RC4|3DES|_DES_|NULL|EXPORT|MD5|anon|_CBC_SHA(256)?$")


def weak_openssl_ciphers(ciphers: str) -> list[str]:
    """Entries of an OpenSSL cipher string that enable weak suites, in order.

    ``!X``/``-X`` remove suites and never count; ``A+B`` is split into its parts; a
    suite name counts if one of its parts is weak or it uses CBC with SHA-1 (``-SHA``).
    """
    weak = []
    for entry in re.split(r"[:, ]+", ciphers):
        entry = entry.lstrip("+")
        if not entry or entry.startswith(("!", "-")):
            continue
        parts = set(re.split(r"[+-]", entry))
        if parts & _WEAK_OPENSSL_PARTS or ("-" in entry and entry.endswith("-SHA")):
            weak.append(entry)
    return weak


def weak_tls_options(doc: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(field, reason, offending values) of a decoded traefik-default-tls-options."""
    low, high = str(doc["minVersion"]), str(doc["maxVersion"])
    suites = [str(x) for x in doc["cipherSuites"] or [] if _WEAK_GO_SUITE.search(str(x))]
    found: list[tuple[str, str, tuple[str, ...]]] = []
    if low in _WEAK_TLS_VERSIONS or not low:  # unset: Traefik's default, VersionTLS10
        shown = low or "unset (Traefik: VersionTLS10)"
        found.append(("minVersion", f"minVersion {shown} accepts TLS below 1.2", (low or "unset",)))
    if high in _WEAK_TLS_VERSIONS:
        found.append(("maxVersion", f"maxVersion {high} caps TLS below 1.2", (high,)))
    if suites:
        found.append(
            ("cipherSuites", f"cipherSuites enable weak suites: {', '.join(suites)}", tuple(suites))
        )
    return found


def _effective(ctx: CheckContext, name: str) -> tuple[str, dict[str, Any]] | None:
    effective = s.effective_field(s.require_setting(ctx.snapshot, name))
    if effective is None:
        return None
    field, text = effective
    return field, s.decode_or_unknown(name, field=field, text=text)


def _ignored(ctx: CheckContext) -> bool:
    version = s.version_tuple(ctx.snapshot.harvester_version)
    return version is not None and version >= TRAEFIK_ERA


_IGNORED_NOTE = " (ignored on Harvester v1.9+, which uses traefik-default-tls-options)"


class SslWeakProtocols(Check):
    """ssl-parameters enables SSLv2, SSLv3, TLS 1.0 or TLS 1.1 on the Harvester ingress.

    Harvester's webhook admits these protocols, but all of them are deprecated (RFC 8996)
    and SSLv2/SSLv3 are broken outright. On v1.9+ the setting is ignored (info).

    Bad: ssl-parameters value {"protocols":"TLSv1 TLSv1.1 TLSv1.2"}.
    Good: ssl-parameters value {"protocols":"TLSv1.2 TLSv1.3"} (or unset: TLSv1.2).
    Source: reference/harvester.md §2.5 ("Insecure-but-admitted values").
    """

    id = "ssl-weak-protocols"
    title = "ssl-parameters enables weak TLS/SSL protocols"
    severity = Severity.WARNING
    tags = ("settings", "tls")
    remediation = "harden-ssl-protocols"

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _effective(ctx, SSL_PARAMETERS)
        if config is None:
            return
        field, doc = config
        weak = [t for t in protocol_tokens(str(doc["protocols"])) if t in WEAK_PROTOCOLS]
        if not weak:
            return
        ignored = _ignored(ctx)
        severity = Severity.CRITICAL if set(weak) & set(BROKEN_PROTOCOLS) else self.severity
        yield self.finding(
            ctx,
            ResourceRef("Setting", SSL_PARAMETERS, field=f"{field}.protocols"),
            f"ssl-parameters enables {', '.join(weak)}" + (_IGNORED_NOTE if ignored else ""),
            evidence={"weak_protocols": tuple(weak)},
            severity=Severity.INFO if ignored else severity,
        )


class SslWeakCiphers(Check):
    """ssl-parameters ciphers enable weak suites (RC4, DES/3DES, MD5, NULL, EXPORT,
    anonymous, or CBC with SHA-1).

    Harvester never validates the cipher string, so anything ingress-nginx accepts goes
    through. On v1.9+ the setting is ignored (info).

    Bad: ssl-parameters value {"ciphers":"ECDHE-RSA-AES128-GCM-SHA256:DES-CBC3-SHA:RC4-SHA"}.
    Good: {"ciphers":"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"}.
    Source: reference/harvester.md §2.5 ("ciphers is never validated", default cipher list).
    """

    id = "ssl-weak-ciphers"
    title = "ssl-parameters enables weak cipher suites"
    severity = Severity.WARNING
    tags = ("settings", "tls")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _effective(ctx, SSL_PARAMETERS)
        if config is None:
            return
        field, doc = config
        weak = weak_openssl_ciphers(str(doc["ciphers"]))
        if not weak:
            return
        ignored = _ignored(ctx)
        yield self.finding(
            ctx,
            ResourceRef("Setting", SSL_PARAMETERS, field=f"{field}.ciphers"),
            f"ssl-parameters ciphers enable weak suites: {', '.join(weak)}"
            + (_IGNORED_NOTE if ignored else ""),
            evidence={"weak_ciphers": tuple(weak)},
            severity=Severity.INFO if ignored else None,
        )


class TlsOptionsWeak(Check):
    """traefik-default-tls-options lets Traefik accept TLS below 1.2 or weak suites.

    An empty minVersion is weak too: Traefik's own default is VersionTLS10. Harvester's
    webhook only checks that the JSON decodes. The setting exists from v1.9 on; where it
    is absent there is nothing to check.

    Bad: {"minVersion":"VersionTLS10","cipherSuites":["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]}.
    Good: {"minVersion":"VersionTLS12","maxVersion":"VersionTLS13","cipherSuites":[]}.
    Source: reference/harvester.md §2.7; Traefik TLSOptionSpec (minVersion default VersionTLS10).
    """

    id = "tls-options-weak"
    title = "Traefik default TLS options allow weak TLS"
    severity = Severity.WARNING
    tags = ("settings", "tls")
    remediation = "harden-tls-options"

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _effective(ctx, TLS_OPTIONS)
        if config is None:
            return
        field, doc = config
        for sub, text, values in weak_tls_options(doc):
            yield self.finding(
                ctx,
                ResourceRef("Setting", TLS_OPTIONS, field=f"{field}.{sub}"),
                f"traefik-default-tls-options {text}",
                evidence={sub: values},
            )


CHECKS: tuple[Check, ...] = (SslWeakProtocols(), SslWeakCiphers(), TlsOptionsWeak())
