"""Checks of ``auto-rotate-rke2-certs``: is RKE2 certificate rotation on, and well timed.

The controller reads ``value`` only (no fallback to ``default``): an empty value means
rotation is off (reference/harvester.md §1.2, §2.2). An undecodable value is reported by
setting-invalid; these checks then answer UNKNOWN rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.checks import _settings as s
from bot.checks.base import Check, CheckContext
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

NAME = "auto-rotate-rke2-certs"
INTRODUCED = (1, 3, 0)
LEAF_VALIDITY_HOURS = 8760  # RKE2 leaf certificates live 365 days (§3.1)


def _config(ctx: CheckContext) -> tuple[bool, int] | None:
    """(enable, expiringInHours) of ``value``; None where the setting cannot exist."""
    version = s.version_tuple(ctx.snapshot.harvester_version)
    if version is not None and version < INTRODUCED:
        return None
    setting = s.require_setting(ctx.snapshot, NAME)
    if setting is None or not setting.value:
        return False, 0
    doc = s.decode_or_unknown(NAME, field="value", text=setting.value)
    return bool(doc["enable"]), int(doc["expiringInHours"])


class AutoRotateDisabled(Check):
    """Automatic rotation of RKE2 certificates is off.

    RKE2 leaf certificates expire after 365 days; RKE2 renews them only when it
    restarts within 120 days of expiry. On a cluster that runs longer than that, expired
    kube-controller-manager/kube-scheduler/apiserver certificates stall upgrades
    (harvester#3863) and the setting cannot repair certificates that already expired
    (harvester#9351). Harvester's security guidance highly recommends enabling it
    (Harvester v1.3.0+). Rotation restarts the RKE2 control plane, so pick a quiet time.

    Bad: auto-rotate-rke2-certs value {"enable":false,"expiringInHours":240} (or unset).
    Good: auto-rotate-rke2-certs value {"enable":true,"expiringInHours":720}.
    Source: reference/harvester.md §2.2, §3.1, §3.2; ../shared/reference/security-best-practices.md.
    """

    id = "auto-rotate-disabled"
    title = "RKE2 certificate auto-rotation is disabled"
    severity = Severity.WARNING
    tags = ("settings", "certificates")
    remediation = "enable-auto-rotate"

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _config(ctx)
        if config is None or config[0]:
            return
        version = ctx.snapshot.harvester_version
        known = s.version_tuple(version) is not None
        yield self.finding(
            ctx,
            ResourceRef("Setting", NAME, field="value"),
            f"{NAME} is disabled: RKE2 certificates are not rotated before they expire"
            + ("" if known else " (the setting exists on Harvester v1.3.0+)"),
            evidence={"enable": False, "harvester_version": version or "unknown"},
        )


class AutoRotateWindow(Check):
    """Auto-rotation is on, but ``expiringInHours`` makes it loop or come too late.

    Harvester rotates when the kube-apiserver certificate expires within
    ``expiringInHours``; a fresh leaf is valid 8760 h, so the next rotation follows
    after about 8760 - expiringInHours hours (at least every 24 h). Values close to 8760
    rotate, and restart the control plane, over and over; the 8759 of the feature's test
    plan rotates daily. Values of only a few hours leave no time to notice and fix a
    rotation that failed before the certificates expire. Thresholds come from the policy
    (auto_rotate_min_hours, auto_rotate_max_hours).

    Bad: {"enable":true,"expiringInHours":8759} (daily rotation), or 12 (too late).
    Good: {"enable":true,"expiringInHours":720} (about 30 days ahead, once a year).
    Source: reference/harvester.md §2.2 "Derived consequence", harvester#9155, PR #4985.
    """

    id = "auto-rotate-window"
    title = "RKE2 auto-rotation window loops or is too short"
    severity = Severity.WARNING
    tags = ("settings", "certificates")
    remediation = "fix-auto-rotate-window"

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        config = _config(ctx)
        if config is None or not config[0]:
            return
        hours, policy = config[1], ctx.policy
        if hours > policy.auto_rotate_max_hours:
            every = max(24, LEAF_VALIDITY_HOURS - hours)
            why = (
                f"rotation repeats about every {every} h (a fresh certificate is valid "
                f"{LEAF_VALIDITY_HOURS} h), restarting the RKE2 control plane each time"
            )
        elif hours <= 0:
            why = "rotation never triggers (the value must be 1..8759, see setting-invalid)"
        elif hours < policy.auto_rotate_min_hours:
            why = (
                f"rotation starts only {hours} h before expiry, less than "
                f"{policy.auto_rotate_min_hours} h to notice and fix a failed rotation"
            )
        else:
            return
        yield self.finding(
            ctx,
            ResourceRef("Setting", NAME, field="value.expiringInHours"),
            f"{NAME} expiringInHours={hours}: {why}",
            evidence={
                "expiringInHours": hours,
                "min_hours": policy.auto_rotate_min_hours,
                "max_hours": policy.auto_rotate_max_hours,
            },
        )


CHECKS: tuple[Check, ...] = (AutoRotateDisabled(), AutoRotateWindow())
