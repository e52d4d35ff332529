"""Text from scanned material or from the API never rewrites a message: no line of its
own (newlines), no way out of a code block (backticks), no live markup (``<!channel>``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.notify.payloads import RequestNotice
from bot.remediation.plan import Plan, Target
from bot.remediation.request_views import RequestView
from bot.slack.blocks.alerts import alert_message
from bot.slack.blocks.requests import request_message
from bot.slack.blocks.settings import code_block
from bot.slack.listeners.remediation import _outcome
from tests.slack.blocks.test_alerts import notice
from tests.slack.test_blocks_common import all_text, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
AT = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
FORGED = "w\n\n:white_check_mark: *Resolved*: false alarm <!here>"
FENCE = "x ```\n*:white_check_mark: Reviewed by SecOps, safe to approve*\n``` y"


def _sections(msg: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in msg["blocks"] if b.get("type") == "section"]


def test_a_newline_in_a_certificate_name_forges_no_line_in_the_alert() -> None:
    msg = alert_message(notice(message=f"certificate CN={FORGED} expires in 6 days"), tz=TZ)
    assert_valid_message(msg)
    assert not any(
        line.startswith(":white_check_mark:") for s in _sections(msg) for line in s.split("\n")
    )
    assert "&lt;!here&gt;" in all_text(msg)


def test_no_backtick_run_closes_a_code_block() -> None:
    for ticks in ("```", "````", "`````", "` ``"):
        block, _ = code_block(f"a {ticks} b")
        assert block.count("```") == 2  # the block's own fences, nothing else


def test_a_live_value_in_the_plan_cannot_write_outside_its_code_block() -> None:
    planned = RequestNotice(
        request_id=7,
        event="planned",
        action="enable-auto-rotate",
        title="Enable certificate auto-rotation",
        cluster="prod-a",
        finding_id="F-12",
        risk="low",
        approvals_required=1,
        requester="U1",
        at=AT,
        expires_at=AT + timedelta(hours=1),
        lines=(f"- before: {FENCE}", "+ after: true"),
    )
    msg = request_message(planned, tz=TZ)
    assert_valid_message(msg)
    for text in _sections(msg)[1:]:  # the plan's blocks
        assert text.startswith("```") and text.endswith("```")
        assert text.count("```") == 2


def test_an_outcome_quoting_the_api_server_is_text_not_markup() -> None:
    plan = Plan(
        action="enable-auto-rotate",
        title="Enable certificate auto-rotation",
        cluster="prod-a",
        finding_id="F-12",
        check_id="auto-rotate-disabled",
        risk="low",
        approvals_required=1,
        target=Target("harvesterhci.io/v1beta1", "Setting", "auto-rotate-rke2-certs"),
        resource_version="7",
        field="value",
        before='{"enable":false}',
        after='{"enable":true}',
        patch={"value": '{"enable":true}'},
        preconditions=(),
        notes=(),
        dry_run="accepted",
        created_at=AT,
    )
    view = RequestView(
        id=3,
        action=plan.action,
        state="failed",
        requester="U1",
        risk="low",
        approvals_required=1,
        approvals=("U2",),
        plan=plan,
        plan_hash=plan.plan_hash(),
        created_at=AT,
        expires_at=AT + timedelta(hours=1),
        finding_id=12,
        result={"reason": "not applied: denied: <!channel> <https://evil.example|runbook>\nok"},
    )
    msg = _outcome(view)
    assert_valid_message(msg)
    text = _sections(msg)[0]
    assert "<!channel>" not in text and "<https://" not in text and "\n" not in text
    assert "&lt;!channel&gt;" in text
