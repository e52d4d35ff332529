"""Buttons. The "Fix" button of a finding (``finding-fix``) plans that finding's fix, like
``/harvester fix F-12``, for an operator; anyone else gets the denial, to them only.
While remediation is off (no SECBOT_APPROVERS) it answers that it is not enabled. The
answer goes to the clicker only; the message with the button stays as it was."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.findings.queries import parse_short_id
from bot.slack.auth import slack_group_lookup
from bot.slack.blocks.findings import FIX_ACTION_ID
from bot.slack.blocks.notices import denied_message, not_enabled_message
from bot.slack.command_types import Fix
from bot.slack.listeners import remediation
from bot.slack.listeners.outcome import Request
from bot.slack.services import SlackServices
from bot.slack.worker import Message, responder


def register(app: App, services: SlackServices) -> None:
    def finding_fix(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        url = body.get("response_url")
        if not isinstance(url, str) or not url:
            return
        user = str((body.get("user") or {}).get("id") or "")
        value = str(((body.get("actions") or [{}])[0]).get("value") or "")
        lookup = slack_group_lookup(client)

        def job() -> Message:
            if services.remediation is None:
                return not_enabled_message("fix", command=services.command)
            if not remediation.member(services.operators, user, lookup):
                return denied_message("fix", user_id=user, command=services.command)
            request = Request(services=services, user=user, now=services.clock(), lookup=lookup)
            return remediation.fix(Fix(finding_id=parse_short_id(value)), request).job()

        def answer() -> Message:
            return {**job(), "replace_original": False}

        services.worker.submit(answer, reply=responder(url), what="finding-fix")

    app.action(FIX_ACTION_ID)(finding_fix)
