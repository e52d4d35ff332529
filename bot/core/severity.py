"""Severity and expiry tiers, with the orderings the lifecycle relies on."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; ``rank`` orders them (higher is worse)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a user-supplied severity name; raise ValueError naming the choices."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}; use one of: {choices}") from None


_RANK = {Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}

# Expiry tiers: a certificate that moves into a lower tier has escalated even when its
# severity did not change (30 -> 14 days is news; 29 -> 28 days is not).
EXPIRY_TIERS: tuple[tuple[str, int], ...] = (
    ("90d", 90),
    ("30d", 30),
    ("14d", 14),
    ("7d", 7),
    ("1d", 1),
)
TIER_EXPIRED = "expired"
_TIER_RANK = {name: i + 1 for i, (name, _) in enumerate(EXPIRY_TIERS)} | {
    TIER_EXPIRED: len(EXPIRY_TIERS) + 1
}


def expiry_tier(days_left: float) -> str | None:
    """Return the tightest tier a certificate with ``days_left`` falls in, or None."""
    if days_left <= 0:
        return TIER_EXPIRED
    tier: str | None = None
    for name, limit in EXPIRY_TIERS:
        if days_left <= limit:
            tier = name
    return tier


def tier_rank(tier: str | None) -> int:
    """Order tiers: None < 90d < 30d < 14d < 7d < 1d < expired."""
    return _TIER_RANK.get(tier or "", 0)
