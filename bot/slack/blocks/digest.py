"""The daily digest: one message per channel, what changed and what needs attention.

Order: the channel's open counts; what changed since the last digest, grouped by event
(new, escalated, reopened, resolved, silenced, unsilenced); silences ending within 3 days;
remediations executed; then every certificate expiring within 30 days, soonest first,
grouped per cluster (expired ones marked, the rest labelled as ``cert-expiring`` labels
them under the expiry thresholds the digest carries); then overdue credential rotations. Empty
parts are left out, except the two people look for every morning: "what changed" and
the certificates say "nothing" explicitly. A digest with nothing at all is one line.

The composer hands over complete lists (a bad morning after an outage can mean 500
changes and 2,000 certificates); this builder keeps the message within Slack's limits.
Each part has a fixed block budget (``_BUDGET``: 41 blocks in all with header, summary
and divider, under the 50 Slack allows) and a cap on how many items it lists; lines are
packed into sections of at most 3,000 characters (``pack_lines``). What does not fit is counted,
never dropped silently: "1950 more — use `/harvester certs --within 30d`". Certificates
are capped by urgency (the soonest ones are shown, then grouped per cluster), so the
cut never hides an expired certificate behind a later one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.core.policy import CheckPolicy
from bot.findings.views import short_id
from bot.notify.digest_payloads import (
    Digest,
    DigestCert,
    DigestChange,
    DigestCredential,
    DigestRemediation,
    DigestRotation,
    DigestSilence,
)
from bot.slack.blocks.certs import DEFAULT_POLICY
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Block,
    Message,
    code,
    context,
    counts_text,
    divider,
    escape,
    header,
    message,
    more_line,
    one_line,
    plural,
    section,
    user_ref,
)
from bot.slack.blocks.digest_layout import (
    BUDGET,
    CLUSTER,
    TEXT,
    TITLE,
    Line,
    findings_hint,
    sections,
    sev,
    titled,
    where,
)
from bot.slack.blocks.status import times_in
from bot.slack.blocks.timefmt import format_expiry, format_when

CHANGE_EVENTS = ("new", "escalated", "reopened", "resolved", "silenced", "unsilenced")
_CHANGE_HEAD = {
    "new": ":new: *New*",
    "escalated": ":arrow_up: *Escalated*",
    "reopened": ":repeat: *Reopened*",
    "resolved": ":white_check_mark: *Resolved*",
    "silenced": ":zzz: *Silenced*",
    "unsilenced": ":bell: *Unsilenced*",
}
# Events whose findings are open, so that `findings --severity …` lists the rest.
_OPEN_EVENTS = frozenset({"new", "escalated", "reopened", "unsilenced"})
CERT_WINDOW_DAYS = 30  # bot.notify.digest.CERT_DAYS: fixed, whatever the expiry policy
ALL_QUIET = ":white_check_mark: All quiet: nothing changed, no certificate expires within 30 days."

# How many items each part lists; the rest is a count. Readability, not a Slack limit.
CHANGES_PER_EVENT = 10
SILENCES_SHOWN = 10
REMEDIATIONS_SHOWN = 10
CERTS_SHOWN = 50
ROTATIONS_SHOWN = 10


def change_line(change: DigestChange) -> str:
    line = f"{sev(change.severity)} {where(change.finding_id, change.cluster)}"
    line += f" · {escape(one_line(change.title, TITLE))}"
    if change.event == "escalated" and change.tier:
        line += f" (now {escape(one_line(change.tier, 20))})"
    if change.actor == "secbot:expired":
        line += " · silence expired"
    elif change.actor and not change.actor.startswith("secbot:"):
        line += f" · by {user_ref(change.actor)}"
    return line


def _change_lines(changes: Sequence[DigestChange], *, command: str) -> list[Line]:
    events = [*CHANGE_EVENTS, *sorted({c.event for c in changes} - set(CHANGE_EVENTS))]
    lines: list[Line] = []
    for event in events:
        group = [c for c in changes if c.event == event]
        if not group:
            continue
        head = _CHANGE_HEAD.get(event, f"*{escape(one_line(event, 40)).capitalize()}*")
        lines.append((f"{head} ({len(group)})", 0))
        lines += [(change_line(c), 1) for c in group[:CHANGES_PER_EVENT]]
        rest = group[CHANGES_PER_EVENT:]
        if rest and event in _OPEN_EVENTS:
            hint = findings_hint([c.severity for c in rest], command)
            lines.append((more_line(len(rest), hint), len(rest)))
        elif rest:
            lines.append((f"{len(rest)} more", len(rest)))
    return lines


def _changes(digest: Digest, *, tz: tzinfo, command: str) -> list[Block]:
    since = format_when(digest.since, now=digest.now, tz=tz)
    title = (f"*What changed since {since}*", 0)
    if not digest.changes:
        return [section(f"{title[0]}\nNothing changed.")]
    hint = findings_hint([c.severity for c in digest.changes], command)
    lines = [title, *_change_lines(digest.changes, command=command)]
    return sections(lines, budget=BUDGET["changes"], hint=hint)


def silence_line(silence: DigestSilence, *, now: datetime, tz: tzinfo) -> str:
    return (
        f"{where(silence.finding_id, silence.cluster)} · {code(one_line(silence.check_id, 80))}"
        f" · ends {format_when(silence.expires_at, now=now, tz=tz)} · {user_ref(silence.owner)}"
        f" — {escape(one_line(silence.reason, TEXT))}"
    )


def _silences(digest: Digest, *, tz: tzinfo) -> list[Block]:
    items = sorted(digest.silences_expiring, key=lambda s: (s.expires_at, s.finding_id))
    lines = [silence_line(s, now=digest.now, tz=tz) for s in items[:SILENCES_SHOWN]]
    return titled("silences", "Silences ending within 3 days", lines, len(items), None)


def remediation_line(done: DigestRemediation, *, now: datetime, tz: tzinfo) -> str:
    return (
        f"{code(one_line(done.request_id, 80))} *{escape(one_line(done.cluster, CLUSTER))}* · "
        f"{code(one_line(done.action, 80))} · {escape(one_line(done.result, TEXT))} · "
        f"{format_when(done.at, now=now, tz=tz)}"
    )


def _remediations(digest: Digest, *, tz: tzinfo, command: str) -> list[Block]:
    items = digest.remediations
    lines = [remediation_line(r, now=digest.now, tz=tz) for r in items[:REMEDIATIONS_SHOWN]]
    return titled("remediations", "Remediations executed", lines, len(items), f"{command} audit")


def cert_line(
    cert: DigestCert, *, now: datetime, tz: tzinfo, policy: CheckPolicy = DEFAULT_POLICY
) -> str:
    """Expired ones marked (":x: *Expired 2 days ago, Mar 27*"), the rest by the severity
    ``cert-expiring`` gives them (``CheckPolicy.expiry_severity``: days left rounded up,
    the digest's thresholds); one beyond the info days (a policy tighter than the 30-day
    window) is "fine", as in the ``certs`` list."""
    days = math.ceil((cert.not_after - now).total_seconds() / 86400)
    if days <= 0:
        when = f":x: *Expired {format_when(cert.not_after, now=now, tz=tz)}*"
    else:
        severity = policy.expiry_severity(days)
        label = sev(severity) if severity else ":large_green_circle: fine"
        when = f"{label} · *{format_expiry(cert.not_after, now=now, tz=tz)}*"
    line = (
        f"{when} · {escape(one_line(cert.subject, TEXT))} · {code(one_line(cert.location, TEXT))}"
    )
    if cert.finding_id is not None:
        line += f" · {code(short_id(cert.finding_id))}"
    return line


def _certs(digest: Digest, *, tz: tzinfo, command: str) -> list[Block]:
    window = f"within {CERT_WINDOW_DAYS} days"
    if not digest.certs:
        return [section(f":white_check_mark: No certificate expires {window}.")]
    ordered = sorted(digest.certs, key=lambda c: (c.not_after, c.cluster, c.location))
    expired = sum(1 for c in ordered if c.not_after <= digest.now)
    title = f"*Certificates expiring {window}* ({len(ordered)}"
    title += f", :x: {expired} expired)" if expired else ")"
    per_cluster = Counter(c.cluster for c in ordered)
    shown: dict[str, list[DigestCert]] = {}  # clusters in order of their soonest cert
    for cert in ordered[:CERTS_SHOWN]:
        shown.setdefault(cert.cluster, []).append(cert)
    lines: list[Line] = [(title, 0)]
    policy = digest.expiry_policy
    for cluster, certs in shown.items():
        count = plural(per_cluster[cluster], "certificate")
        head = f"*{escape(one_line(cluster, CLUSTER))}* · {count}"
        if len(certs) < per_cluster[cluster]:
            head += f" ({len(certs)} shown)"
        lines.append((head, 0))
        lines += [(cert_line(c, now=digest.now, tz=tz, policy=policy), 1) for c in certs]
    hint = f"{command} certs --within {CERT_WINDOW_DAYS}d"
    return sections(lines, budget=BUDGET["certs"], hint=hint, left_out=len(ordered[CERTS_SHOWN:]))


CREDENTIALS_SHOWN = 10
_CREDENTIAL_STATE = {"missing": ":x: *token gone*", "expired": ":x: *expired*"}


def credential_line(cred: DigestCredential, *, now: datetime, tz: tzinfo) -> str:
    """ ":x: *expired* · `F-3` *rancher* · harvester-prod · used by fleet-default/web"."""
    state = _CREDENTIAL_STATE.get(cred.state)
    if state is None:
        when = format_expiry(cred.expires_at, now=now, tz=tz) if cred.expires_at else "soon"
        state = f":hourglass_flowing_sand: *{when}*"
    line = f"{state} · {where(cred.finding_id, cred.cluster)} · {escape(one_line(cred.name, TEXT))}"
    if cred.guest_clusters:
        users = ", ".join(one_line(u, 80) for u in cred.guest_clusters[:5])
        more = len(cred.guest_clusters) - 5
        line += f" · used by {escape(users)}" + (f" and {more} more" if more > 0 else "")
    return line


def _credentials(digest: Digest, *, tz: tzinfo, command: str) -> list[Block]:
    items = digest.credentials
    lines = [credential_line(c, now=digest.now, tz=tz) for c in items[:CREDENTIALS_SHOWN]]
    title = "Harvester cloud credentials to renew (Rancher)"
    return titled("credentials", title, lines, len(items), f"{command} findings --severity info")


def rotation_line(rotation: DigestRotation) -> str:
    return (
        f"{sev(rotation.severity)} {where(rotation.finding_id, rotation.cluster)} · "
        f"{escape(one_line(rotation.message, 300))}"
    )


def _rotations(digest: Digest, *, command: str) -> list[Block]:
    items = sorted(digest.rotations, key=lambda r: (-r.severity.rank, r.cluster, r.finding_id))
    lines = [rotation_line(r) for r in items[:ROTATIONS_SHOWN]]
    hint = findings_hint([r.severity for r in items[ROTATIONS_SHOWN:]], command)
    return titled("rotations", "Overdue credential rotations", lines, len(items), hint)


def _fallback(digest: Digest) -> str:
    expired = sum(1 for c in digest.certs if c.not_after <= digest.now)
    parts = [plural(len(digest.changes), "change")]
    if digest.silences_expiring:
        parts.append(f"{plural(len(digest.silences_expiring), 'silence')} ending soon")
    if digest.certs:
        certs = f"{plural(len(digest.certs), 'certificate')} expiring within 30 days"
        parts.append(certs + (f" ({expired} expired)" if expired else ""))
    if digest.credentials:
        parts.append(f"{plural(len(digest.credentials), 'cloud credential')} to renew")
    if digest.rotations:
        parts.append(plural(len(digest.rotations), "overdue rotation"))
    return f"Harvester digest {digest.day}: " + ", ".join(parts)


def digest_message(digest: Digest, *, tz: tzinfo, command: str = DEFAULT_COMMAND) -> Message:
    """The whole digest as one message, within 50 blocks and 3,000 characters a section."""
    clusters = plural(len(digest.clusters), "cluster")
    head = [
        header(f"Harvester digest — {digest.day}"),
        context(f"Open: {counts_text(digest.open_counts)} · {clusters}", times_in(tz)),
    ]
    quiet = not (
        digest.changes
        or digest.silences_expiring
        or digest.remediations
        or digest.certs
        or digest.credentials
        or digest.rotations
    )
    if quiet:
        return message(f"Harvester digest {digest.day}: all quiet", [*head, section(ALL_QUIET)])
    blocks = [*head, *_changes(digest, tz=tz, command=command)]
    if digest.silences_expiring:
        blocks += _silences(digest, tz=tz)
    if digest.remediations:
        blocks += _remediations(digest, tz=tz, command=command)
    blocks += [divider(), *_certs(digest, tz=tz, command=command)]
    if digest.credentials:
        blocks += _credentials(digest, tz=tz, command=command)
    if digest.rotations:
        blocks += _rotations(digest, command=command)
    return message(_fallback(digest), blocks)
