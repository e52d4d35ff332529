"""Tunable thresholds that checks read (from Settings, with safe defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.severity import Severity


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """Thresholds for time-bound checks; days are inclusive upper bounds."""

    expiry_critical_days: int = 14
    expiry_warning_days: int = 30
    expiry_info_days: int = 90
    # auto-rotate-window: warn when rotation would come later than this many hours before
    # expiry (too late to react) or re-trigger sooner than this many hours after a rotation.
    auto_rotate_min_hours: int = 72
    auto_rotate_max_hours: int = 8760 - 720
    # credential-rotation-overdue: a node credential older than this many days is overdue.
    rotation_max_age_days: int = 180

    def __post_init__(self) -> None:
        if not (0 < self.expiry_critical_days <= self.expiry_warning_days <= self.expiry_info_days):
            raise ValueError(
                "expiry thresholds must satisfy 0 < critical <= warning <= info days, got "
                f"{self.expiry_critical_days}/{self.expiry_warning_days}/{self.expiry_info_days}"
            )
        if self.rotation_max_age_days <= 0:
            raise ValueError(
                f"rotation_max_age_days must be positive, got {self.rotation_max_age_days}"
            )

    def expiry_severity(self, days: int) -> Severity | None:
        """The severity of something that expires in ``days`` whole days (rounded up, see
        ``bot.checks._certs.days_left``): the thresholds are inclusive upper bounds, so
        critical at or under ``expiry_critical_days``, warning at or under
        ``expiry_warning_days``, info at or under ``expiry_info_days``, None beyond.
        Expired (``days <= 0``) is critical; checks that report expiry in a check of its
        own skip ``days <= 0`` before asking. The one ladder of checks and messages alike."""
        if days <= self.expiry_critical_days:
            return Severity.CRITICAL
        if days <= self.expiry_warning_days:
            return Severity.WARNING
        if days <= self.expiry_info_days:
            return Severity.INFO
        return None
