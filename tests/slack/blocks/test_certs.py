"""The ``certs`` list's severity (bot/slack/blocks/certs.py) agrees with ``cert-expiring``.

Both round the time left up to whole days and apply ``CheckPolicy.expiry_severity``; the list
measures with float seconds, the check with exact timedelta division, so a property
checks they land on the same day count (and so the same severity) to the microsecond.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.checks._certs import days_left
from bot.core.policy import CheckPolicy
from bot.findings.views import CertView
from bot.slack.blocks.certs import cert_severity
from tests.core.test_policy_expiry import NOW, _cert

POLICY = CheckPolicy(expiry_critical_days=7, expiry_warning_days=21, expiry_info_days=60)
_YEARS = 10 * 365 * 86400 * 10**6  # ten years either way, in microseconds
# Whole days plus or minus at most a second: where rounding could tip over a day edge.
NEAR_EDGE = st.builds(
    lambda d, us: timedelta(days=d, microseconds=us),
    st.integers(-3650, 3650),
    st.integers(-(10**6), 10**6),
)


def _view(left: timedelta) -> CertView:
    return CertView(
        cluster="prod",
        subject="CN=a",
        issuer="CN=ca",
        serial="01",
        not_after=NOW + left,
        location="File//tls/a.crt",
    )


@given(NEAR_EDGE | st.integers(-_YEARS, _YEARS).map(lambda us: timedelta(microseconds=us)))
def test_the_list_and_the_check_agree(left: timedelta) -> None:
    expected = POLICY.expiry_severity(days_left(_cert(NOW + left), NOW))
    assert cert_severity(_view(left), now=NOW, policy=POLICY) is expected
