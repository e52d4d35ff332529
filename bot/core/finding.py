"""Findings and undecidable results, with the fingerprint that keeps them stable."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from bot.core.resources import ResourceRef
from bot.core.severity import Severity

JSONScalar: TypeAlias = str | int | float | bool | None
# Evidence is shown to users and stored: it must never hold secret material. Values are
# scalars or lists of scalars (fingerprints, serials, dates, masked values, IPs).
Evidence: TypeAlias = Mapping[str, JSONScalar | tuple[JSONScalar, ...]]


def fingerprint(cluster: str, check_id: str, resource: ResourceRef) -> str:
    """Hash (cluster, check id, resource key): identical from scan to scan."""
    raw = "\x1f".join((cluster, check_id, resource.key)).encode()
    return hashlib.sha256(raw).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem on one resource of one cluster."""

    check_id: str
    cluster: str
    resource: ResourceRef
    severity: Severity
    message: str
    evidence: Evidence = field(default_factory=dict)
    # Expiry tier (see bot.core.severity.expiry_tier) for time-bound findings.
    tier: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cluster, self.check_id, self.resource)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A check that could not decide for a cluster, and why (never a silent pass)."""

    check_id: str
    cluster: str
    reason: str
