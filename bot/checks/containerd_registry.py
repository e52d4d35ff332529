"""Checks of the ``containerd-registry`` setting: clear-text credentials, TLS verification
turned off, mirrors over plain HTTP.

The controller acts on ``value`` only; the JSON keys are wharfie's Go field names,
matched case-insensitively (reference/harvester.md §2.6). Support bundles leave this
setting out (§4), so on a bundle these checks answer UNKNOWN. Passwords are never shown;
registry hosts and endpoints are masked in case they carry user info.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.masking import mask_url_credentials
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

NAME = "containerd-registry"
SECRET_FIELDS = ("Password", "Auth", "IdentityToken")


def _registry(ctx: CheckContext) -> dict[str, Any] | None:
    setting = s.require_setting(ctx.snapshot, NAME)
    if setting is None or not setting.value:
        return None
    return s.decode_or_unknown(NAME, field="value", text=setting.value)


def _entries(doc: dict[str, Any], key: str) -> list[tuple[str, Any]]:
    """Sorted (masked key, entry) pairs of one map of the Registry struct."""
    pairs = [(mask_url_credentials(k), v) for k, v in (doc[key] or {}).items()]
    return sorted(pairs, key=lambda pair: pair[0])


def _ref(field: str) -> ResourceRef:
    return ResourceRef("Setting", NAME, field=f"value.{field}")


class RegistryPlaintextCredentials(Check):
    """containerd-registry still holds registry credentials in clear text.

    After it has copied ``Configs.<host>.Auth`` into a per-host Secret, Harvester
    rewrites the setting with Auth set to null; an Auth that is still there means the
    sync has not run or failed (see the setting's ``configured`` condition). The
    deprecated ``Auths`` map is never moved into a Secret nor cleared. Either way the
    password sits in the setting, readable by everyone who can read settings.

    Bad: {"Configs":{"reg.local:5000":{"Auth":{"Username":"bot","Password":"..."}}}} that stays.
    Good: {"Configs":{"reg.local:5000":{"Auth":null}}} (after Harvester synced it).
    Source: reference/harvester.md §2.6 (controller nulls Configs.*.Auth; Auths not propagated).
    """

    id = "registry-plaintext-credentials"
    title = "containerd-registry holds clear-text registry credentials"
    severity = Severity.WARNING
    tags = ("settings", "registry", "secrets")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        doc = _registry(ctx)
        if doc is None:
            return
        found = [
            (
                f"Configs[{host}].Auth",
                host,
                cfg["Auth"],
                "Harvester clears Auth after storing it in a Secret, so this one was not synced",
            )
            for host, cfg in _entries(doc, "Configs")
            if cfg["Auth"] is not None
        ]
        found += [
            (
                f"Auths[{host}]",
                host,
                auth,
                "the deprecated Auths map is never moved into a Secret; use Configs",
            )
            for host, auth in _entries(doc, "Auths")
        ]
        for field, host, auth, why in found:
            present = tuple(k for k in SECRET_FIELDS if auth[k])
            if not present:
                continue
            user = str(auth["Username"])
            yield self.finding(
                ctx,
                _ref(field),
                f"containerd-registry stores {', '.join(present)} for {host}"
                f" (user {user or 'not set'}) in clear text; {why}",
                evidence={"host": host, "username": user, "secret_fields": present},
            )


class RegistryInsecureTls(Check):
    """containerd-registry turns off TLS certificate verification for a registry.

    With InsecureSkipVerify anyone on the path can impersonate the registry and serve
    images to every node. Trust the registry's CA instead (additional-ca or CAFile).

    Bad: {"Configs":{"reg.local:5000":{"TLS":{"InsecureSkipVerify":true}}}}.
    Good: {"Configs":{"reg.local:5000":{"TLS":{"InsecureSkipVerify":false}}}}.
    Source: reference/harvester.md §2.6 (admitted by the webhook, passed on to Rancher).
    """

    id = "registry-insecure-tls"
    title = "containerd-registry skips TLS verification"
    severity = Severity.WARNING
    tags = ("settings", "registry", "tls")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        doc = _registry(ctx)
        if doc is None:
            return
        for host, cfg in _entries(doc, "Configs"):
            if cfg["TLS"] is not None and cfg["TLS"]["InsecureSkipVerify"]:
                yield self.finding(
                    ctx,
                    _ref(f"Configs[{host}].TLS.InsecureSkipVerify"),
                    f"containerd-registry skips TLS certificate verification for {host}",
                    evidence={"host": host},
                )


class RegistryPlainHttp(Check):
    """A containerd-registry mirror endpoint uses plain HTTP.

    Images (and any registry credentials) then travel unencrypted and can be altered in
    transit. Serve the mirror over HTTPS.

    Bad: {"Mirrors":{"docker.io":{"Endpoints":["http://mirror.local:5000"]}}}.
    Good: {"Mirrors":{"docker.io":{"Endpoints":["https://mirror.local:5000"]}}}.
    Source: reference/harvester.md §2.6 (Mirrors.*.Endpoints; no semantic checks).
    """

    id = "registry-plain-http"
    title = "containerd-registry mirror over plain HTTP"
    severity = Severity.WARNING
    tags = ("settings", "registry", "tls")

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        doc = _registry(ctx)
        if doc is None:
            return
        for registry, mirror in _entries(doc, "Mirrors"):
            plain = tuple(
                mask_url_credentials(str(e))
                for e in mirror["Endpoints"] or []
                if str(e).lower().startswith("http://")
            )
            if plain:
                yield self.finding(
                    ctx,
                    _ref(f"Mirrors[{registry}].Endpoints"),
                    f"containerd-registry mirror for {registry} uses plain HTTP: "
                    + ", ".join(plain),
                    evidence={"registry": registry, "endpoints": plain},
                )


CHECKS: tuple[Check, ...] = (
    RegistryPlaintextCredentials(),
    RegistryInsecureTls(),
    RegistryPlainHttp(),
)
