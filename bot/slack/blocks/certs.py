"""``certs [cluster] [--within 30d]``: what expires, soonest first.

Each certificate gets a severity by its days left from the ladder the ``cert-expiring``
check uses (``CheckPolicy.expiry_severity``), so the list and the findings agree.
Past 50 blocks the list ends in "N more — use `/harvester certs CLUSTER --within 7d`",
suggesting the widest shorter window under which the rest would fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from bot.core.policy import CheckPolicy
from bot.core.severity import Severity
from bot.findings.views import CertView, short_id
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    escape,
    fit,
    header,
    message,
    more_line,
    one_line,
    plural,
    section,
    severity_label,
    shown_count,
)
from bot.slack.blocks.status import times_in
from bot.slack.blocks.timefmt import format_expiry

DEFAULT_POLICY = CheckPolicy()  # frozen: safe to share as a default
_WINDOWS = (90, 30, 14, 7, 1)  # the shorter windows a hint may suggest, in days
_TEXT = 200  # subject / issuer / location length in a list line


def cert_severity(
    cert: CertView, *, now: datetime, policy: CheckPolicy = DEFAULT_POLICY
) -> Severity | None:
    """The severity ``cert-expiring`` would give (days left rounded up); None beyond it."""
    days = math.ceil((cert.not_after - now).total_seconds() / 86400)
    return policy.expiry_severity(days)


def cert_line(
    cert: CertView, *, now: datetime, tz: tzinfo, policy: CheckPolicy = DEFAULT_POLICY
) -> str:
    severity = cert_severity(cert, now=now, policy=policy)
    label = severity_label(severity) if severity else ":large_green_circle: *Fine*"
    where = f"*{escape(cert.cluster)}* · {code(one_line(cert.location, _TEXT))}"
    if cert.finding_id is not None:
        where += f" · {code(short_id(cert.finding_id))}"
    return "\n".join(
        [
            f"{label} · *{format_expiry(cert.not_after, now=now, tz=tz)}*",
            f"{escape(one_line(cert.subject, _TEXT))} — issued by "
            f"{escape(one_line(cert.issuer, _TEXT))} · serial {code(one_line(cert.serial, 80))}",
            where,
        ]
    )


def _hint(
    certs: Sequence[CertView],
    shown: int,
    *,
    now: datetime,
    command: str,
    cluster: str | None,
    within_days: int,
) -> str:
    """The widest shorter window under which the list fits; else the shortest, per cluster."""
    windows = [d for d in _WINDOWS if d < within_days] or [1]
    fitting = [
        d for d in windows if sum(c.not_after <= now + timedelta(days=d) for c in certs) <= shown
    ]
    days = fitting[0] if fitting else windows[-1]
    target = cluster or (None if fitting else "CLUSTER")
    return " ".join([command, "certs", *([target] if target else []), "--within", f"{days}d"])


def certs_message(
    certs: Sequence[CertView],
    *,
    now: datetime,
    tz: tzinfo,
    within_days: int,
    command: str = DEFAULT_COMMAND,
    cluster: str | None = None,
    policy: CheckPolicy = DEFAULT_POLICY,
) -> Message:
    """Certificates expiring within ``within_days`` (the query's result), soonest first."""
    where = f" in *{escape(cluster)}*" if cluster else ""
    window = f"within {within_days} days"
    if not certs:
        return message(
            f"No certificate expires {window}.",
            [section(f":white_check_mark: No certificate expires {window}{where}.")],
        )
    ordered = sorted(certs, key=lambda c: (c.not_after, c.cluster, c.location))
    expired = sum(1 for c in ordered if c.not_after <= now)
    verb = "expires" if len(ordered) == 1 else "expire"
    summary = f"{plural(len(ordered), 'certificate')} {verb} {window}{where}"
    if expired:
        summary += f" · :red_circle: {expired} already expired"
    head = [header("Certificates"), context(summary, times_in(tz))]
    items = [section(cert_line(c, now=now, tz=tz, policy=policy)) for c in ordered]
    shown = shown_count(len(items), reserved=len(head))

    def more(n: int) -> str:
        hint = _hint(
            ordered, shown, now=now, command=command, cluster=cluster, within_days=within_days
        )
        return more_line(n, hint)

    first = ordered[0]
    fallback = (
        f"{plural(len(ordered), 'certificate')} {verb} {window}; first: {first.subject} "
        f"({first.cluster}) {format_expiry(first.not_after, now=now, tz=tz)}"
    )
    return message(fallback, fit(head, items, more=more))
