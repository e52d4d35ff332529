"""The list of built-in checks.

Registration is explicit: this module imports each check module and reads its ``CHECKS``
tuple. Nothing registers itself by being imported, and ids are checked for uniqueness.
"""

from __future__ import annotations

from functools import cache

from bot.checks import (
    auto_rotate,
    cert_hostname,
    cert_key,
    cert_quality,
    cert_validity,
    cloud_credentials,
    containerd_registry,
    http_proxy,
    live,
    node_evidence,
    rotation,
    setting_invalid,
    ssl,
)
from bot.checks.base import Check

_MODULES = (
    cert_validity,
    cert_quality,
    cert_key,
    cert_hostname,
    setting_invalid,
    auto_rotate,
    http_proxy,
    ssl,
    containerd_registry,
    node_evidence,
    live,
    rotation,
    cloud_credentials,
)


@cache
def builtin_checks() -> tuple[Check, ...]:
    """Every built-in check, in a stable order; raises if two share an id."""
    checks: list[Check] = []
    seen: set[str] = set()
    for module in _MODULES:
        for check in module.CHECKS:
            if check.id in seen:
                raise RuntimeError(f"duplicate check id {check.id!r} in {module.__name__}")
            seen.add(check.id)
            checks.append(check)
    return tuple(checks)


def get_check(check_id: str) -> Check:
    """Look a check up by id; KeyError names the unknown id."""
    for check in builtin_checks():
        if check.id == check_id:
            return check
    raise KeyError(check_id)
