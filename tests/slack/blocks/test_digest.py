"""The digest: exact key lines, DST-proof local dates, Slack's limits with honest counts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.policy import CheckPolicy
from bot.core.severity import Severity
from bot.notify.digest_payloads import (
    Digest,
    DigestCert,
    DigestChange,
    DigestCredential,
    DigestRemediation,
    DigestRotation,
    DigestSilence,
)
from bot.slack.blocks.common import context, section
from bot.slack.blocks.digest import (
    ALL_QUIET,
    CERTS_SHOWN,
    CHANGE_EVENTS,
    digest_message,
)
from bot.slack.blocks.digest_layout import sections as pack_sections
from bot.slack.blocks.digest_layout import sev
from bot.slack.blocks.render import SlackRenderer
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
# The morning DST starts in Berlin: 09:00 CEST is 07:00 UTC, yesterday's 09:00 CET 08:00 UTC.
NOW = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
SINCE = datetime(2026, 3, 28, 8, 0, tzinfo=UTC)
HOSTILE = "<!channel> <http://evil|click> &amp;"
ESCAPED = "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def digest(**kw: Any) -> Digest:
    base = Digest(
        channel="#ops",
        day="2026-03-29",
        since=SINCE,
        now=NOW,
        clusters=("prod-a", "prod-b"),
        open_counts={"critical": 2, "warning": 1},
    )
    return replace(base, **kw)


def change(event: str, fid: int, **kw: Any) -> DigestChange:
    base = DigestChange(
        event=event,
        finding_id=fid,
        cluster="prod-a",
        check_id="cert-expiring",
        title="Certificate expires soon",
        severity=Severity.CRITICAL,
        tier=None,
        at=NOW - timedelta(hours=3),
    )
    return replace(base, **kw)


def cert(cluster: str, name: str, not_after: datetime, fid: int | None = None) -> DigestCert:
    return DigestCert(
        cluster=cluster,
        subject=f"CN={name}",
        location=f"Secret/default/{name}#data.tls.crt[0]",
        not_after=not_after,
        finding_id=fid,
    )


def sections(msg: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in msg["blocks"] if b["type"] == "section"]


def contexts(msg: dict[str, Any]) -> list[str]:
    return [b["elements"][0]["text"] for b in msg["blocks"] if b["type"] == "context"]


def lines_of(msg: dict[str, Any]) -> list[str]:
    """Every line of sections and context lines, in block order (header and summary out)."""
    texts = [
        b["text"]["text"] if b["type"] == "section" else b["elements"][0]["text"]
        for b in msg["blocks"][2:]
        if b["type"] in ("section", "context")
    ]
    return [line for text in texts for line in text.split("\n")]


def _part(lines: list[str], start: str, end: str) -> list[str]:
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    return lines[first : next(i for i, line in enumerate(lines) if line.startswith(end))]


def test_all_quiet_is_one_line() -> None:
    msg = digest_message(digest(), tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "Harvester digest 2026-03-29: all quiet"
    assert msg["blocks"] == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Harvester digest — 2026-03-29", "emoji": True},
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Open: :red_circle: 2 critical · :large_orange_circle: 1 warning · "
                    "2 clusters",
                    "verbatim": True,
                },
                {"type": "mrkdwn", "text": "Times in Europe/Berlin", "verbatim": True},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": ALL_QUIET, "verbatim": True}},
    ]
    assert ALL_QUIET == (
        ":white_check_mark: All quiet: nothing changed, no certificate expires within 30 days."
    )


def test_full_digest_exact_across_the_dst_change() -> None:
    d = digest(
        changes=(
            change("resolved", 14, severity=Severity.WARNING, cluster="prod-b"),
            change("new", 12),
            change("escalated", 13, tier="7d"),
            change("silenced", 15, severity=Severity.WARNING, actor="U012AB3CD"),
        ),
        silences_expiring=(
            DigestSilence(
                finding_id=15,
                cluster="prod-a",
                check_id="ssl-parameters-weak",
                owner="U012AB3CD",
                expires_at=utc(3, 31, 7),
                reason="vendor fix due",
            ),
        ),
        certs=(
            cert("prod-a", "web", utc(3, 28, 12), fid=12),  # 13:00 CET yesterday: expired
            cert("prod-b", "api", utc(3, 30, 6, 30)),  # 08:30 CEST tomorrow
            cert("prod-a", "ui", utc(4, 1, 22, 30)),  # 00:30 CEST Apr 02: 4 local days
            cert("prod-b", "lab", utc(4, 20, 10)),
        ),
        rotations=(
            DigestRotation(
                finding_id=20,
                cluster="prod-b",
                severity=Severity.WARNING,
                message="root password on node-1 is 200 days old (max 180)",
            ),
        ),
    )
    msg = digest_message(d, tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == (
        "Harvester digest 2026-03-29: 4 changes, 1 silence ending soon, 4 certificates "
        "expiring within 30 days (1 expired), 1 overdue rotation"
    )
    assert [b["type"] for b in msg["blocks"]] == [
        "header",
        "context",
        "section",
        "section",
        "divider",
        "section",
        "section",
    ]
    assert sections(msg) == [
        "*What changed since yesterday, 09:00*\n"
        ":new: *New* (1)\n"
        ":red_circle: critical `F-12` *prod-a* · Certificate expires soon\n"
        ":arrow_up: *Escalated* (1)\n"
        ":red_circle: critical `F-13` *prod-a* · Certificate expires soon (now 7d)\n"
        ":white_check_mark: *Resolved* (1)\n"
        ":large_orange_circle: warning `F-14` *prod-b* · Certificate expires soon\n"
        ":zzz: *Silenced* (1)\n"
        ":large_orange_circle: warning `F-15` *prod-a* · Certificate expires soon · "
        "by <@U012AB3CD>",
        "*Silences ending within 3 days* (1)\n"
        "`F-15` *prod-a* · `ssl-parameters-weak` · ends in 2 days, Mar 31 · <@U012AB3CD> — "
        "vendor fix due",
        "*Certificates expiring within 30 days* (4, :x: 1 expired)\n"
        "*prod-a* · 2 certificates\n"
        ":x: *Expired yesterday, 13:00* · CN=web · `Secret/default/web#data.tls.crt[0]` · `F-12`\n"
        ":red_circle: critical · *expires in 4 days, Apr 02* · CN=ui · "
        "`Secret/default/ui#data.tls.crt[0]`\n"
        "*prod-b* · 2 certificates\n"
        ":red_circle: critical · *expires tomorrow, 08:30* · CN=api · "
        "`Secret/default/api#data.tls.crt[0]`\n"
        ":large_orange_circle: warning · *expires in 22 days, Apr 20* · CN=lab · "
        "`Secret/default/lab#data.tls.crt[0]`",
        "*Overdue credential rotations* (1)\n"
        ":large_orange_circle: warning `F-20` *prod-b* · root password on node-1 is 200 days "
        "old (max 180)",
    ]
    assert "Remediations" not in all_text(msg)  # that part only when something ran


def test_remediations_part_when_something_ran() -> None:
    ran = DigestRemediation(
        request_id="R-7",
        cluster="prod-a",
        action="http-proxy-add-nodes",
        result="verified",
        at=utc(3, 28, 15, 30),
    )
    msg = digest_message(digest(remediations=(ran,)), tz=TZ)
    assert_valid_message(msg)
    assert sections(msg)[1] == (
        "*Remediations executed* (1)\n"
        "`R-7` *prod-a* · `http-proxy-add-nodes` · verified · yesterday, 16:30"
    )


def test_nothing_changed_and_no_certificates_are_said_explicitly() -> None:
    only_certs = digest_message(digest(certs=(cert("prod-a", "web", utc(4, 2, 7)),)), tz=TZ)
    assert sections(only_certs)[0] == "*What changed since yesterday, 09:00*\nNothing changed."
    only_changes = digest_message(digest(changes=(change("new", 1),)), tz=TZ)
    assert sections(only_changes)[-1] == (
        ":white_check_mark: No certificate expires within 30 days."
    )
    assert only_changes["text"] == "Harvester digest 2026-03-29: 1 change"


def _cert_lines(msg: dict[str, Any]) -> dict[str, str]:
    """Each listed certificate's line by its name (``cert(…, name, …)``)."""
    found = re.compile(r".* · CN=(\S+) · `")
    return {m[1]: line for line in lines_of(msg) if (m := found.match(line))}


def test_certificates_take_the_severity_of_the_policy_the_digest_carries() -> None:
    # SECBOT_EXPIRY_*_DAYS=14/21/90: cert-expiring says info at 25 days, warning at 18.
    certs = (
        cert("prod-a", "mid", NOW + timedelta(days=25)),
        cert("prod-a", "soon", NOW + timedelta(days=18)),
        cert("prod-a", "web", NOW + timedelta(days=14)),
    )
    policy = CheckPolicy(expiry_critical_days=14, expiry_warning_days=21, expiry_info_days=90)
    d = digest(certs=certs, critical_days=14, warning_days=21, info_days=90)
    assert d.expiry_policy == policy
    lines = _cert_lines(digest_message(d, tz=TZ))
    days_left = {"mid": 25, "soon": 18, "web": 14}
    checks_say = {name: policy.expiry_severity(days) for name, days in days_left.items()}
    assert checks_say == {"mid": Severity.INFO, "soon": Severity.WARNING, "web": Severity.CRITICAL}
    assert {name: line.split(" · ")[0] for name, line in lines.items()} == {
        name: sev(severity) for name, severity in checks_say.items() if severity is not None
    }
    assert lines["mid"].startswith(":large_blue_circle: info · *expires in 25 days, Apr 23*")
    assert lines["soon"].startswith(":large_orange_circle: warning · ")
    assert lines["web"].startswith(":red_circle: critical · ")
    # Info days inside the 30-day window (7/14/21): past them cert-expiring says nothing,
    # and the digest calls the certificate fine, as `certs` does.
    tight = digest(certs=certs, critical_days=7, warning_days=14, info_days=21)
    assert _cert_lines(digest_message(tight, tz=TZ))["mid"].startswith(
        ":large_green_circle: fine · *expires in 25 days"
    )


def test_the_thresholds_default_to_the_check_policy_defaults() -> None:
    d, default = digest(), CheckPolicy()
    assert (d.critical_days, d.warning_days, d.info_days) == (
        default.expiry_critical_days,
        default.expiry_warning_days,
        default.expiry_info_days,
    )
    assert d.expiry_policy == default


def _old_row(with_critical_days: bool) -> dict[str, Any]:
    """A digest as the outbox holds it from before its expiry thresholds were carried:
    ``critical_days`` only (or, older still, not even that)."""

    def row_cert(name: str, not_after: datetime, fid: int | None) -> dict[str, Any]:
        location = f"Secret/default/{name}#data.tls.crt[0]"
        return {
            "cluster": "prod-a",
            "subject": f"CN={name}",
            "location": location,
            "not_after": not_after.isoformat(),
            "finding_id": fid,
        }

    row: dict[str, Any] = {
        "channel": "#ops",
        "day": "2026-03-29",
        "since": SINCE.isoformat(),
        "now": NOW.isoformat(),
        "clusters": ["prod-a"],
        "changes": [],
        "silences_expiring": [],
        "remediations": [],
        "certs": [
            row_cert("gone", NOW - timedelta(days=2), 7),
            row_cert("web", NOW + timedelta(days=10), 8),
            row_cert("mid", NOW + timedelta(days=25), None),
        ],
        "credentials": [],
        "rotations": [],
        "open_counts": {"critical": 2, "warning": 0, "info": 0},
        "until": (NOW - timedelta(minutes=2)).isoformat(),
    }
    if with_critical_days:
        row["critical_days"] = 14
    return row


@pytest.mark.parametrize("with_critical_days", [True, False])
def test_a_digest_queued_before_the_thresholds_were_carried_loads_and_renders(
    with_critical_days: bool,
) -> None:
    old = Digest.from_json(_old_row(with_critical_days))
    assert old.expiry_policy == CheckPolicy()  # the defaults it was planned under
    msg = SlackRenderer(TZ).digest(old)
    assert_valid_message(msg)
    lines = _cert_lines(msg)
    assert lines["gone"].startswith(":x: *Expired 2 days ago")
    assert lines["web"].startswith(":red_circle: critical · *expires in 10 days")
    assert lines["mid"].startswith(":large_orange_circle: warning · *expires in 25 days")
    # and it goes back out as today's shape, with the thresholds
    assert Digest.from_json(old.to_json()) == old
    assert (old.to_json()["warning_days"], old.to_json()["info_days"]) == (30, 90)


def test_an_old_digest_planned_under_a_long_critical_threshold_still_renders() -> None:
    """SECBOT_EXPIRY_CRITICAL_DAYS=45 (warning 60, info 120) was valid before the digest
    carried the other thresholds: its rows must not become an invalid policy (45/30/90)."""
    row = _old_row(with_critical_days=True)
    row["critical_days"] = 45
    old = Digest.from_json(row)
    assert (old.critical_days, old.warning_days, old.info_days) == (45, 45, 90)
    lines = _cert_lines(SlackRenderer(TZ).digest(old))
    assert lines["web"].startswith(":red_circle: critical · *expires in 10 days")
    assert lines["mid"].startswith(":red_circle: critical · *expires in 25 days")  # as before


def _counted(lines: list[str], item: re.Pattern[str]) -> int:
    """Items shown plus the counts of "N more" lines."""
    shown = sum(1 for line in lines if item.match(line))
    more = sum(int(m.group(1)) for line in lines if (m := re.match(r"(\d+) more\b", line)))
    return shown + more


_CHANGE_ITEM = re.compile(r":(red_circle|large_orange_circle|large_blue_circle): \w+ `F-")
_CERT_ITEM = re.compile(r":(x|red_circle|large_orange_circle): (\*Expired|\w+ · \*expires)")


def _big(text: str = "Certificate expires soon", cluster: str = "cluster") -> Digest:
    sevs = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
    changes = tuple(
        change(
            CHANGE_EVENTS[i % 6],
            i,
            severity=sevs[i % 3],
            title=text,
            cluster=f"{cluster}-{i % 100:03d}",
            actor="U012AB3CD",
        )
        for i in range(500)
    )
    certs = tuple(
        cert(f"{cluster}-{i % 100:03d}", f"{text}-{i}", NOW + timedelta(minutes=20 * i - 600))
        for i in range(2000)
    )
    rotations = tuple(
        DigestRotation(finding_id=5000 + i, cluster=cluster, severity=sevs[i % 2], message=text)
        for i in range(100)
    )
    silences = tuple(
        DigestSilence(
            finding_id=i,
            cluster=cluster,
            check_id="cert-expiring",
            owner="U012AB3CD",
            expires_at=NOW + timedelta(hours=i),
            reason=text,
        )
        for i in range(100)
    )
    return digest(changes=changes, certs=certs, rotations=rotations, silences_expiring=silences)


@pytest.mark.parametrize("size", ["short", "long"])
def test_huge_digest_stays_within_limits_and_counts_the_rest(size: str) -> None:
    # "long" lines fill sections fast, so whole chunks are cut as well as capped lists.
    d = _big() if size == "short" else _big(text="x" * 400, cluster="c" * 200)
    msg = digest_message(d, tz=TZ)
    assert_valid_message(msg)  # <= 50 blocks, every section <= 3,000 characters
    lines = lines_of(msg)
    changes = _part(lines, "*What changed", "*Silences")
    assert _counted(changes, _CHANGE_ITEM) == 500
    assert _counted(_part(lines, "*Certificates", "*Overdue"), _CERT_ITEM) == 2000
    assert _part(lines, "*Certificates", "*Overdue")[-1] == (
        "1950 more — use `/harvester certs --within 30d`"
    )
    assert msg["text"] == (
        "Harvester digest 2026-03-29: 500 changes, 100 silences ending soon, 2000 certificates "
        "expiring within 30 days (31 expired), 100 overdue rotations"
    )


def test_huge_digest_exact_overflow_lines() -> None:
    msg = digest_message(_big(), tz=TZ)
    # header, summary, changes 2, silences 1 + more, divider, certs 3 + more, rotations 1 + more
    assert len(msg["blocks"]) == 13
    changes = _part(lines_of(msg), "*What changed", "*Silences")
    # Per event: 10 listed, the rest counted, with the filter that lists them (the
    # mildest severity left out) where `findings` can show them (open findings only).
    assert [line for line in changes if "more" in line] == [
        "74 more — use `/harvester findings --severity critical`",  # new: all critical
        "74 more — use `/harvester findings --severity warning`",  # escalated
        "73 more — use `/harvester findings --severity info`",  # reopened
        "73 more",  # resolved
        "73 more",  # silenced
        "73 more — use `/harvester findings --severity info`",  # unsilenced
    ]
    assert contexts(msg)[1:] == [
        "90 more",  # silences ending
        "1950 more — use `/harvester certs --within 30d`",
        "90 more — use `/harvester findings --severity warning`",  # rotations
    ]


def test_parts_past_their_block_budget_count_whole_chunks() -> None:
    lines = [("*Title*", 0), *((f"{i:04d} " + "y" * 995, 1) for i in range(20)), ("7 more", 7)]
    blocks = pack_sections(lines, budget=3, hint="x", left_out=5)
    # Two 1,000-character lines fit a section (three would need 3,002): two sections are
    # kept (items 0-3), then the count of everything else: 16 listed items cut, the 7 of
    # the inline "more" line, the 5 never listed.
    assert [b["type"] for b in blocks] == ["section", "section", "context"]
    assert [[line[:4] for line in b["text"]["text"].split("\n")] for b in blocks[:2]] == [
        ["*Tit", "0000", "0001"],
        ["0002", "0003"],
    ]
    assert blocks[2]["elements"][0]["text"] == "28 more — use `x`"
    assert pack_sections(lines[:3], budget=3, hint=None) == [
        section("\n".join(t for t, _ in lines[:3]))
    ]
    assert pack_sections(lines, budget=2, hint=None)[-1] == context("25 more")  # 18 + 7


def test_certificates_soonest_first_grouped_by_cluster_and_capped_by_urgency() -> None:
    late = [cert("a-late", f"l{i}", NOW + timedelta(days=20, hours=i)) for i in range(60)]
    urgent = cert("z-urgent", "expired", NOW - timedelta(days=3))
    msg = digest_message(digest(certs=(*late, urgent)), tz=TZ)
    cert_text = sections(msg)[1].split("\n")
    # The expired certificate of the later-named cluster comes first; 49 of a-late fit.
    assert cert_text[:3] == [
        "*Certificates expiring within 30 days* (61, :x: 1 expired)",
        "*z-urgent* · 1 certificate",
        ":x: *Expired 3 days ago, Mar 26* · CN=expired · `Secret/default/expired#data.tls.crt[0]`",
    ]
    assert cert_text[3] == f"*a-late* · 60 certificates ({CERTS_SHOWN - 1} shown)"
    assert cert_text[4].startswith(":large_orange_circle: warning · *expires in 20 days, Apr 18*")
    assert contexts(msg)[-1] == "11 more — use `/harvester certs --within 30d`"


def test_hostile_text_is_escaped() -> None:
    d = digest(
        clusters=(HOSTILE,),
        changes=(
            change("silenced", 1, cluster=HOSTILE, title=HOSTILE, actor=HOSTILE, tier=HOSTILE),
            change("escalated", 2, cluster=HOSTILE, tier=HOSTILE),
        ),
        silences_expiring=(
            DigestSilence(
                finding_id=1,
                cluster=HOSTILE,
                check_id=HOSTILE,
                owner=HOSTILE,
                expires_at=NOW + timedelta(days=1),
                reason=HOSTILE,
            ),
        ),
        remediations=(
            DigestRemediation(
                request_id=HOSTILE, cluster=HOSTILE, action=HOSTILE, result=HOSTILE, at=NOW
            ),
        ),
        certs=(DigestCert(cluster=HOSTILE, subject=HOSTILE, location=HOSTILE, not_after=NOW),),
        rotations=(
            DigestRotation(
                finding_id=3, cluster=HOSTILE, severity=Severity.WARNING, message=HOSTILE
            ),
        ),
    )
    msg = digest_message(d, tz=TZ, command="/hv")
    assert_valid_message(msg)  # no "<" Slack would parse as a mention or link
    text = all_text(msg)
    assert text.count(ESCAPED) >= 12
    assert "<@" not in text  # the hostile "owner" and "actor" are not user ids


def test_renderer_renders_the_digest_with_its_zone_and_command() -> None:
    d = _big()
    msg = SlackRenderer(TZ, "/hv").digest(Digest.from_json(d.to_json()))
    assert msg == digest_message(d, tz=TZ, command="/hv")
    assert "`/hv certs --within 30d`" in all_text(msg)


def test_cloud_credentials_to_renew_follow_the_certificates() -> None:
    creds = (
        DigestCredential(3, "rancher", "harvester-lab", "missing"),
        DigestCredential(4, "rancher", "<b>old</b>", "expired", NOW - timedelta(days=2)),
        DigestCredential(
            5,
            "rancher",
            "harvester-prod",
            "expiring",
            NOW + timedelta(days=5, hours=1),
            tuple(f"fleet-default/g{i}" for i in range(7)),
        ),
    )
    msg = digest_message(digest(credentials=creds), tz=TZ)
    assert_valid_message(msg)
    assert msg["text"].endswith("3 cloud credentials to renew")
    text = next(t for t in sections(msg) if "cloud credentials to renew" in t)
    lines = text.splitlines()
    assert lines[0] == "*Harvester cloud credentials to renew (Rancher)* (3)"
    assert lines[1] == ":x: *token gone* · `F-3` *rancher* · harvester-lab"
    assert lines[2] == ":x: *expired* · `F-4` *rancher* · &lt;b&gt;old&lt;/b&gt;"
    assert lines[3].startswith(":hourglass_flowing_sand: *expires in 5 days, Apr 03* · `F-5`")
    assert lines[3].endswith(
        "used by fleet-default/g0, fleet-default/g1, fleet-default/g2, "
        "fleet-default/g3, fleet-default/g4 and 2 more"
    )
    # the section comes after the certificates
    order = [t.split("*")[1] if t.startswith("*") else t for t in sections(msg)]
    assert order.index("Harvester cloud credentials to renew (Rancher)") > 0


def test_many_credentials_stay_within_the_budget() -> None:
    creds = tuple(
        DigestCredential(i, "rancher", f"cred-{i}", "expiring", NOW + timedelta(days=9))
        for i in range(300)
    )
    msg = digest_message(digest(credentials=creds), tz=TZ)
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50
    assert "290 more — use `/harvester findings --severity info`" in all_text(msg)
