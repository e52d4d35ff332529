"""Settings checks on hand-built snapshots: coverage, versions, policy, masking.

Aspects: registry checks answer UNKNOWN where the bundle excludes the setting;
auto-rotate checks follow version and policy; default-field fallback; canary passwords
never reach findings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.checks.registry import get_check
from bot.checks.runner import run_checks
from bot.core.policy import CheckPolicy
from bot.core.snapshot import CoverageItem, CoverageStatus, Node, Setting, Snapshot

NOW = datetime(2026, 6, 1, tzinfo=UTC)
READ = CoverageStatus.READ


def _snap(
    *settings: Setting,
    nodes: tuple[Node, ...] = (),
    version: str = "v1.4.2",
    extra: tuple[CoverageItem, ...] = (),
) -> Snapshot:
    coverage = (CoverageItem("settings", READ), CoverageItem("nodes", READ), *extra)
    return Snapshot(
        cluster="c1",
        source="live",
        origin="test",
        scanned_at=NOW,
        harvester_version=version,
        settings={x.name: x for x in settings},
        nodes=nodes,
        coverage=coverage,
    )


def _run(
    check_id: str, snap: Snapshot, policy: CheckPolicy | None = None
) -> list[tuple[str, str, str]]:
    run = run_checks(snap, [get_check(check_id)], policy)
    return [(f.severity.value, f.resource.key, f.message) for f in run.findings] + [
        ("unknown", "", u.reason) for u in run.unknowns
    ]


PROXY_PW = "CanaryProxyPw-91ab"
REGISTRY_PW = "CanaryRegistryPw-77"


def test_registry_checks_unknown_when_bundle_excludes_the_setting() -> None:
    excluded = CoverageItem(
        "setting:containerd-registry",
        CoverageStatus.EXCLUDED,
        "support bundles leave this setting out (reference §4)",
    )
    snap = _snap(extra=(excluded,))
    for check_id in (
        "registry-plaintext-credentials",
        "registry-insecure-tls",
        "registry-plain-http",
    ):
        assert _run(check_id, snap) == [
            (
                "unknown",
                "",
                "setting containerd-registry not "
                "readable (excluded: support bundles leave this "
                "setting out (reference §4))",
            )
        ]


def test_auto_rotate_disabled_unknown_version_and_absent_setting() -> None:
    assert _run("auto-rotate-disabled", _snap(version="")) == [
        (
            "warning",
            "Setting//auto-rotate-rke2-certs#value",
            "auto-rotate-rke2-certs is disabled: RKE2 certificates are not rotated before they "
            "expire (the setting exists on Harvester v1.3.0+)",
        )
    ]
    assert _run("auto-rotate-disabled", _snap(version="v1.2.2")) == []


def test_auto_rotate_window_follows_policy() -> None:
    policy = CheckPolicy(auto_rotate_min_hours=24, auto_rotate_max_hours=8000)

    def window(hours: int) -> list[tuple[str, str, str]]:
        value = json.dumps({"enable": True, "expiringInHours": hours})
        return _run("auto-rotate-window", _snap(Setting("auto-rotate-rke2-certs", value)), policy)

    assert window(48) == []
    assert window(8000) == []
    assert window(8100) == [
        (
            "warning",
            "Setting//auto-rotate-rke2-certs#value.expiringInHours",
            "auto-rotate-rke2-certs expiringInHours=8100: rotation repeats about "
            "every 660 h (a fresh certificate is valid 8760 h), restarting the "
            "RKE2 control plane each time",
        )
    ]
    assert window(23)[0][2] == (
        "auto-rotate-rke2-certs expiringInHours=23: rotation starts only "
        "23 h before expiry, less than 24 h to notice and fix a failed "
        "rotation"
    )
    assert window(0)[0][2].endswith(
        "rotation never triggers (the value must be 1..8759, see setting-invalid)"
    )


def test_http_proxy_default_field_and_masked_credentials() -> None:
    default = json.dumps({"httpProxy": f"http://bob:{PROXY_PW}@proxy:3128", "noProxy": "10.0.0.1"})
    snap = _snap(
        Setting("http-proxy", None, default),
        nodes=(Node("n1", ("10.0.0.1",)), Node("n2", ("10.0.0.2", "fd00::2"))),
    )
    run = run_checks(
        snap, [get_check("http-proxy-noproxy-missing-nodes"), get_check("http-proxy-credentials")]
    )
    assert [(f.severity.value, f.resource.key) for f in run.findings] == [
        ("critical", "Setting//http-proxy#default.noProxy"),
        ("warning", "Setting//http-proxy#default.httpProxy"),
    ]
    missing = run.findings[0]
    assert missing.message == (
        "noProxy should contain the node's IP addresses or CIDR. The "
        "node(s) 10.0.0.2, fd00::2 are not covered."
    )
    assert dict(missing.evidence) == {"missing_ips": ("10.0.0.2", "fd00::2"), "nodes": ("n2",)}
    assert dict(run.findings[1].evidence) == {"url": "http://bob:****@proxy:3128"}
    assert PROXY_PW not in repr(run.findings)


def test_registry_password_never_in_findings() -> None:
    value = json.dumps(
        {
            "configs": {"reg:5000": {"auth": {"username": "bot", "password": REGISTRY_PW}}},
            "Mirrors": {"docker.io": {"Endpoints": [f"http://u:{REGISTRY_PW}@m"]}},
        }
    )
    snap = _snap(Setting("containerd-registry", value))
    run = run_checks(
        snap, [get_check("registry-plaintext-credentials"), get_check("registry-plain-http")]
    )
    by_check = {f.check_id: f for f in run.findings}
    creds, plain = by_check["registry-plaintext-credentials"], by_check["registry-plain-http"]
    assert creds.resource.key == "Setting//containerd-registry#value.Configs[reg:5000].Auth"
    assert dict(creds.evidence) == {
        "host": "reg:5000",
        "username": "bot",
        "secret_fields": ("Password",),
    }
    assert plain.resource.key == "Setting//containerd-registry#value.Mirrors[docker.io].Endpoints"
    assert dict(plain.evidence) == {"registry": "docker.io", "endpoints": ("http://u:****@m",)}
    assert REGISTRY_PW not in repr(run.findings)


def test_setting_invalid_skips_unknown_settings_and_value_equal_to_default() -> None:
    snap = _snap(
        Setting("vip-pools", "{oops"),
        Setting("ssl-parameters", "{oops", "{oops"),
        Setting("additional-ca", None, "not pem"),
    )
    assert _run("setting-invalid", snap) == [
        (
            "warning",
            "Setting//ssl-parameters#default",
            "ssl-parameters default: invalid character 'o' looking for beginning of object key "
            "string (Harvester's webhook rejects this value)",
        )
    ]


def test_ssl_weak_protocols_uses_default_when_value_empty() -> None:
    snap = _snap(Setting("ssl-parameters", "", '{"protocols":"SSLv2"}'), version="v1.9.0-rc6")
    assert _run("ssl-weak-protocols", snap) == [
        (
            "info",
            "Setting//ssl-parameters#default.protocols",
            "ssl-parameters enables SSLv2 "
            "(ignored on Harvester v1.9+, which uses traefik-default-tls-options)",
        )
    ]
