"""The one composition root: turns Settings into the objects a command needs.

Everything heavy (database engine, and later Kubernetes clients, the Slack app and the
scheduler) is built here, on demand, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.policy import CheckPolicy
from bot.sources.limits import Limits, MiB

if TYPE_CHECKING:
    from bot.store.db import Engine


def check_policy(settings: Settings) -> CheckPolicy:
    """Thresholds for the checks; a UserError-worthy mistake raises ValueError."""
    return CheckPolicy(
        expiry_critical_days=settings.expiry_critical_days,
        expiry_warning_days=settings.expiry_warning_days,
        expiry_info_days=settings.expiry_info_days,
        auto_rotate_min_hours=settings.auto_rotate_min_hours,
        auto_rotate_max_hours=settings.auto_rotate_max_hours,
    )


def input_limits(settings: Settings) -> Limits:
    return Limits(
        max_file_bytes=settings.max_file_mb * MiB, max_total_bytes=settings.max_bundle_mb * MiB
    )


def open_store(settings: Settings, *, url: str | None = None) -> Engine:
    """Engine for the configured database, with the schema at head (or a UserError)."""
    from bot.store.db import ensure_schema, make_engine

    engine = make_engine(url or settings.database_url.get_secret_value())
    ensure_schema(engine, auto_upgrade=settings.auto_migrate)
    return engine
