"""The slash-command parser: every subcommand's valid forms, its usage errors, and arbitrary
text (it returns a Command or raises UsageError, nothing else, whatever it is given)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.severity import Severity
from bot.core.snapshot import CREDENTIAL_KINDS
from bot.errors import UserError
from bot.findings import rotations
from bot.slack.blocks.help import STATE_CHANGING, USAGE
from bot.slack.command_types import (
    Approve,
    Audit,
    Certs,
    Clusters,
    Command,
    Findings,
    Fix,
    GetSetting,
    Help,
    Reject,
    Remediation,
    Requests,
    Rotated,
    Scan,
    Show,
    Silence,
    Status,
    Unsilence,
    UsageError,
)
from bot.slack.commands import MAX_TEXT, parse, subcommand_of

VALID: list[tuple[str, Command]] = [
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP me please", Help()),
    ("frobnicate the cluster", Help(unknown="frobnicate")),
    ("&lt;script&gt;", Help(unknown="<script>")),
    ("clusters", Clusters()),
    ("status", Status()),
    ("status prod-1", Status(cluster="prod-1")),
    ("  Status   prod-1  ", Status(cluster="prod-1")),
    ("scan", Scan()),
    ("scan all", Scan()),
    ("scan ALL", Scan()),
    ("scan prod-1", Scan(cluster="prod-1")),
    ("certs", Certs()),
    ("certs prod-1", Certs(cluster="prod-1")),
    ("certs --within 7d", Certs(within_days=7)),
    ("certs --within=2w prod-1", Certs(cluster="prod-1", within_days=14)),
    ("certs prod-1 --within 90", Certs(cluster="prod-1", within_days=90)),
    ("certs --within 36h", Certs(within_days=2)),
    ("certs --WITHIN 1D", Certs(within_days=1)),
    ("findings", Findings()),
    ("findings prod-1", Findings(cluster="prod-1")),
    ("findings --severity warning", Findings(severity=Severity.WARNING)),
    ("findings --severity=CRITICAL lab", Findings(cluster="lab", severity=Severity.CRITICAL)),
    ("show F-123", Show(finding_id=123)),
    ("show f-7", Show(finding_id=7)),
    ("show 42", Show(finding_id=42)),
    (
        "silence F-1 7d known, renewal booked",
        Silence(1, timedelta(days=7), "known, renewal booked"),
    ),
    ("silence F-1 12h a  b\n c", Silence(1, timedelta(hours=12), "a b c")),
    (
        "silence F-1 2w see &lt;#C1&gt; &amp; INC-9",
        Silence(1, timedelta(weeks=2), "see <#C1> & INC-9"),
    ),
    ("unsilence F-9", Unsilence(finding_id=9)),
    ("rotated password all", Rotated(kind="password", node="all")),
    ("rotated SSH-KEYS node-0 prod-1", Rotated(kind="ssh-keys", node="node-0", cluster="prod-1")),
    ("rotated proxy-credentials All", Rotated(kind="proxy-credentials", node="all")),
    ("get setting http-proxy", GetSetting(name="http-proxy")),
    ("get Setting ssl-certificates prod-1", GetSetting(name="ssl-certificates", cluster="prod-1")),
    ("fix F-1", Remediation("fix")),
    ("approve", Remediation("approve")),
    ("reject R-1 no", Remediation("reject")),
    ("requests", Remediation("requests")),
    ("audit", Audit()),
    ("audit F-12", Audit(subject="F-12")),
    ("AUDIT f12", Audit(subject="F-12")),
    ("audit F-007", Audit(subject="F-7")),
    ("audit 50", Audit(limit=50)),
    ("audit 1", Audit(limit=1)),
    ("audit 100", Audit(limit=100)),
    ("audit 007", Audit(limit=7)),
    ("audit R-7", Audit(subject="R-7")),
    ("audit r12", Audit(subject="R-12")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t or "empty" for t, _ in VALID])
def test_valid_forms(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_every_subcommand_has_a_valid_form_here() -> None:
    covered = {subcommand_of(text) for text, _ in VALID}
    assert covered == set(USAGE)


INVALID: list[tuple[str, str, str]] = [
    ("clusters prod", "clusters", "unexpected 'prod'"),
    ("status a b", "status", "unexpected 'b'"),
    ("status -bad-", "status", "'-bad-' is not a cluster name"),
    ("scan prod lab", "scan", "unexpected 'lab'"),
    ("scan $(reboot)", "scan", "'$(reboot)' is not a cluster name"),
    ("certs --within soon", "certs", "'soon' is not a duration like 7d, 12h or 2w"),
    ("certs --within", "certs", "--within needs a value"),
    ("certs --within 0d", "certs", "the duration must be longer than zero"),
    ("certs --within 7d --within 8d", "certs", "--within given twice"),
    ("certs --severity info", "certs", "unknown option '--severity' (options: --within)"),
    (
        "findings --severity urgent",
        "findings",
        "'urgent' is not a severity (info, warning, critical)",
    ),
    ("show", "show", "which finding? Give its id, like F-123"),
    ("show G-1", "show", "'G-1' is not a finding id like F-123"),
    ("show F-1 F-2", "show", "unexpected 'F-2'"),
    ("silence F-1", "silence", "for how long? Give a duration like 7d, 12h or 2w"),
    ("silence F-1 7d", "silence", "a silence needs a reason"),
    ("silence F-1 7 days", "silence", "'7' is not a duration like 7d, 12h or 2w"),
    ("silence F-1 999999w x", "silence", "'999999w' is longer than ten years"),
    (
        "silence F-1 7d " + "x" * 501,
        "silence",
        "the reason is too long (501 characters; at most 500)",
    ),
    ("unsilence", "unsilence", "which finding? Give its id, like F-123"),
    ("rotated", "rotated", "which credential? (one of: password, ssh-keys, proxy-credentials)"),
    (
        "rotated keys all",
        "rotated",
        "'keys' is not a credential kind (one of: password, ssh-keys, proxy-credentials)",
    ),
    ("rotated password", "rotated", "which node? Give a node name or all"),
    ("rotated password Node_0", "rotated", "'Node_0' is not a node name"),
    ("get node x", "get", "only `get setting NAME` is supported"),
    ("get setting", "get", "which setting?"),
    ("get setting Http_Proxy", "get", "'Http_Proxy' is not a setting name"),
    ("audit 0", "audit", "show 1 to 100 records, not 0"),
    ("audit 101", "audit", "show 1 to 100 records, not 101"),
    ("audit 000101", "audit", "show 1 to 100 records, not 101"),
    (
        "audit X-7",
        "audit",
        "'X-7' is not a finding id like F-123, a request id like R-7 or a number of records",
    ),
    ("audit R-x", "audit", "'R-x' is not a request id like R-7"),
    ("audit F-", "audit", "'F-' is not a finding id like F-123"),
    (
        "audit 1000000",
        "audit",
        "'1000000' is not a finding id like F-123, a request id like R-7 or a number of records",
    ),
    ("audit F-1 20", "audit", "unexpected '20'"),
    ("audit --limit 5", "audit", "unknown option '--limit' (options: none)"),
]


@pytest.mark.parametrize(
    ("text", "subcommand", "problem"), INVALID, ids=[t[:40] for t, _, _ in INVALID]
)
def test_usage_errors_carry_the_subcommands_usage_line(
    text: str, subcommand: str, problem: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text, command="/hv")
    error = caught.value
    assert (error.subcommand, error.problem) == (subcommand, problem)
    assert error.usage == f"/hv {USAGE[subcommand]}"
    assert str(error) == f"{problem}. Usage: /hv {USAGE[subcommand]}"
    assert isinstance(error, UserError)


def test_oversized_text_is_refused_with_the_usage_line_or_help() -> None:
    with pytest.raises(UsageError) as caught:
        parse("silence F-1 7d " + "x" * MAX_TEXT)
    assert caught.value.problem == "the text is too long (4,015 characters; at most 4,000)"
    assert parse("x" * 10_000) == Help(unknown="x" * 40)
    assert parse("status prod " + " " * MAX_TEXT) == Status(cluster="prod")  # blanks are not text


def test_subcommand_of_for_authorisation() -> None:
    assert [subcommand_of(t) for t in ("SCAN all", "silence", "", "nope", " rotated x")] == [
        "scan",
        "silence",
        "help",
        "help",
        "rotated",
    ]
    assert {"scan", "silence", "unsilence", "rotated"} <= STATE_CHANGING


def test_credential_kinds_are_the_services() -> None:
    assert rotations.CREDENTIAL_KINDS == CREDENTIAL_KINDS


words = st.sampled_from(
    [
        *USAGE,
        "all",
        "--within",
        "--severity",
        "--within=",
        "F-1",
        "7d",
        "0d",
        "setting",
        "&amp;",
        "100",
        "101",
        "R-7",
    ]
)
texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(words, st.text(max_size=12)), max_size=8).map(" ".join),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=MAX_TEXT - 5, max_size=MAX_TEXT + 5),
)


@settings(max_examples=400, deadline=None)
@given(texts)
@example("silence F-99999999999999 7d x")
@example("certs --within 9999999999999999999d")
@example("silence F-1 ٣d reason")
@example("show F-١٢")
@example("status \x00\u202e")
@example("audit 99999999999999")
@example("audit F-99999999999999")
def test_arbitrary_text_gives_a_command_or_a_usage_error(text: str) -> None:
    try:
        command = parse(text)
    except UsageError as e:
        assert e.subcommand in USAGE
        assert e.usage.endswith(USAGE[e.subcommand])
        return
    assert type(command).__name__ in {
        "Help",
        "Clusters",
        "Status",
        "Scan",
        "Certs",
        "Findings",
        "Show",
        "Silence",
        "Unsilence",
        "Rotated",
        "GetSetting",
        "Audit",
        "Remediation",
    }
    if isinstance(command, Audit):
        assert 1 <= command.limit <= 100
        assert command.subject is None or re.fullmatch(r"F-[0-9]{1,12}", command.subject)
    if isinstance(command, Remediation):
        assert command.subcommand in {"fix", "approve", "reject", "requests"}
    if isinstance(command, Silence):
        assert command.reason and len(command.reason) <= 500
        assert all(c.isprintable() for c in command.reason)
        assert timedelta(0) < command.duration <= timedelta(days=3650)


# With remediation on (SECBOT_APPROVERS set), the remediation subcommands parse for real.
REMEDIATION_VALID: list[tuple[str, Command]] = [
    ("fix F-12", Fix(finding_id=12)),
    ("fix f12 enable-auto-rotate", Fix(finding_id=12, action="enable-auto-rotate")),
    ("approve R-7", Approve(request_id=7)),
    ("APPROVE r7", Approve(request_id=7)),
    ("approve 7", Approve(request_id=7)),
    ("reject R-7   not   now ", Reject(request_id=7, reason="not now")),
    ("requests", Requests()),
    ("requests pending", Requests(pending=True)),
]
REMEDIATION_INVALID: list[tuple[str, str, str]] = [
    ("fix", "fix", "which finding?"),
    ("fix F-1 Bad_Action", "fix", "is not a remediation id"),
    ("fix F-1 a b", "fix", "unexpected 'b'"),
    ("approve", "approve", "which request? Give its id, like R-7"),
    ("approve R-x", "approve", "'R-x' is not a request id like R-7"),
    ("approve R-0", "approve", "is not a request id like R-7"),
    ("reject R-7", "reject", "a rejection needs a reason"),
    ("requests all", "requests", "only `requests pending` filters"),
]


@pytest.mark.parametrize(("text", "expected"), REMEDIATION_VALID)
def test_remediation_forms(text: str, expected: Command) -> None:
    assert parse(text, remediation=True) == expected


@pytest.mark.parametrize(("text", "subcommand", "problem"), REMEDIATION_INVALID)
def test_remediation_usage_errors(text: str, subcommand: str, problem: str) -> None:
    with pytest.raises(UsageError) as e:
        parse(text, remediation=True)
    assert e.value.subcommand == subcommand
    assert problem in str(e.value)


@given(st.text(max_size=300))
@settings(max_examples=300)
@example("reject R-1 \u0000x")
@example("fix F-99999999999999")
def test_remediation_parsing_never_crashes(text: str) -> None:
    try:
        command = parse(text, remediation=True)
    except UsageError as e:
        assert e.subcommand in USAGE
        return
    if isinstance(command, Reject):
        assert command.reason and all(c.isprintable() for c in command.reason)
        assert len(command.reason) <= 500
    if isinstance(command, Approve | Reject):
        assert command.request_id >= 1
