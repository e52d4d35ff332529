"""CheckPolicy.expiry_severity (bot/core/policy.py), the one days-left -> severity ladder,
with the days_left rounding of bot/checks/_certs.py that feeds it.

Aspects: every edge of the default policy (expired, exactly on each threshold, one day
past it), a custom and a collapsed policy, rounding up of ``days_left`` at exact instants,
and properties over arbitrary valid policies: the ladder only gets worse as expiry nears,
and its bands are exactly the policy's inclusive thresholds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checks._certs import days_left
from bot.core.certs import CertInfo
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT = CheckPolicy()  # critical 14, warning 30, info 90
C, W, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO


def _rank(severity: Severity | None) -> int:
    return severity.rank if severity is not None else 0


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (-3650, C),  # long expired
        (-1, C),
        (0, C),  # expires today / just expired: days_left <= 0
        (1, C),
        (13, C),
        (14, C),  # exactly on the critical threshold: inclusive
        (15, W),
        (29, W),
        (30, W),  # exactly on the warning threshold
        (31, INFO),
        (89, INFO),
        (90, INFO),  # exactly on the info threshold
        (91, None),
        (3650, None),
    ],
)
def test_default_policy_edges(days: int, expected: Severity | None) -> None:
    assert DEFAULT.expiry_severity(days) is expected


def test_the_policy_sets_the_thresholds() -> None:
    policy = CheckPolicy(expiry_critical_days=3, expiry_warning_days=7, expiry_info_days=21)
    got = {d: policy.expiry_severity(d) for d in (0, 3, 4, 7, 8, 21, 22)}
    assert got == {0: C, 3: C, 4: W, 7: W, 8: INFO, 21: INFO, 22: None}


def test_collapsed_thresholds_leave_no_warning_or_info_band() -> None:
    policy = CheckPolicy(expiry_critical_days=5, expiry_warning_days=5, expiry_info_days=5)
    assert [policy.expiry_severity(d) for d in (-1, 5, 6)] == [C, C, None]


def _cert(not_after: datetime) -> CertInfo:
    return CertInfo(
        location=ResourceRef("File", "tls/a.crt", field="[0]"),
        group="tls/a",
        index=0,
        subject="CN=a",
        issuer="CN=ca",
        common_name="a",
        serial="01",
        not_before=NOW - timedelta(days=300),
        not_after=not_after,
        sha256="s",
        spki_sha256="k",
        key_type="EC",
        key_bits=256,
        signature_hash="sha256",
        is_ca=False,
        self_signed=False,
    )


@pytest.mark.parametrize(
    ("left", "days", "expected"),
    [
        (timedelta(days=14), 14, C),  # exactly 14 days left: on the threshold
        (timedelta(days=14, microseconds=1), 15, W),  # a moment more rounds up past it
        (timedelta(days=30), 30, W),
        (timedelta(days=30, seconds=1), 31, INFO),
        (timedelta(days=90), 90, INFO),
        (timedelta(days=90, seconds=1), 91, None),
        (timedelta(hours=7), 1, C),  # 0.3 days left is "1 day"
        (timedelta(0), 0, C),  # notAfter == scan time: expired
        (-timedelta(hours=7), 0, C),
        (-timedelta(days=1, seconds=1), -1, C),
    ],
)
def test_days_left_rounds_up_before_the_ladder(
    left: timedelta, days: int, expected: Severity | None
) -> None:
    got = days_left(_cert(NOW + left), NOW)
    assert got == days
    assert DEFAULT.expiry_severity(got) is expected


@st.composite
def policies(draw: st.DrawFn) -> CheckPolicy:
    critical = draw(st.integers(1, 400))
    warning = draw(st.integers(critical, 800))
    info = draw(st.integers(warning, 1200))
    return CheckPolicy(
        expiry_critical_days=critical, expiry_warning_days=warning, expiry_info_days=info
    )


DAYS = st.integers(-5000, 5000)


@given(policies(), DAYS, DAYS)
def test_fewer_days_left_is_never_less_severe(policy: CheckPolicy, a: int, b: int) -> None:
    sooner, later = min(a, b), max(a, b)
    assert _rank(policy.expiry_severity(sooner)) >= _rank(policy.expiry_severity(later))


@given(policies(), DAYS)
def test_bands_are_the_inclusive_thresholds(policy: CheckPolicy, days: int) -> None:
    severity = policy.expiry_severity(days)
    assert (severity is Severity.CRITICAL) == (days <= policy.expiry_critical_days)
    assert (severity is None) == (days > policy.expiry_info_days)
    if days <= 0:
        assert severity is Severity.CRITICAL
