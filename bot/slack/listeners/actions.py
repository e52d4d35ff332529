"""Buttons. The "Fix" button of a finding (``finding-fix``) plans that finding's fix, like
``/harvester fix F-12``, for an operator; anyone else gets the denial, to them only, and
the denial is audited as the slash command's is ("command.denied" by ``audit_denials``,
in a transaction of its own), naming the finding too. While remediation is off (no
SECBOT_APPROVERS) it answers that it is not enabled. The answer goes to the clicker
only; the message with the button stays as it was."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.findings.queries import parse_short_id
from bot.findings.views import short_id
from bot.slack.auth import (
    LOOKUP_FAILED,
    LOOKUP_FAILED_TEXT,
    NOT_OPERATOR,
    GroupLookup,
    LookupFailed,
    audit_denials,
    slack_group_lookup,
)
from bot.slack.blocks.findings import FIX_ACTION_ID
from bot.slack.blocks.notices import denied_message, not_enabled_message
from bot.slack.command_types import Fix
from bot.slack.listeners import remediation
from bot.slack.listeners.outcome import Request
from bot.slack.services import SlackServices
from bot.slack.worker import Message, responder

log = logging.getLogger(__name__)


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
            # Refused and audited first, as the slash command is, even while remediation
            # is off (the button is shown on every finding).
            why = _refusal(services, user, lookup)
            if why is not None:
                finding = _finding_named(value)
                log.warning("denied fix of %s to user %s: %s", finding, user, why)
                audit_denials(
                    engine=services.engine,
                    audit=services.audit,
                    clock=services.clock,
                    command=services.command,
                    finding=finding,
                )("fix", user, why)
                if why == LOOKUP_FAILED:
                    return {"text": LOOKUP_FAILED_TEXT}
                return denied_message("fix", user_id=user, command=services.command)
            if services.remediation is None:
                return not_enabled_message("fix", command=services.command)
            request = Request(services=services, user=user, now=services.clock(), lookup=lookup)
            return remediation.fix(Fix(finding_id=parse_short_id(value)), request).job()

        def answer() -> Message:
            return {**job(), "replace_original": False}

        services.worker.submit(answer, reply=responder(url), what="finding-fix")

    app.action(FIX_ACTION_ID)(finding_fix)


def _refusal(services: SlackServices, user: str, lookup: GroupLookup) -> str | None:
    """Why ``user`` may not fix (the audited reason), or None for an operator. A failed
    group lookup refuses, as for the slash command."""
    try:
        allowed = bool(user) and services.operators.is_operator(user, lookup=lookup)
    except LookupFailed:
        return LOOKUP_FAILED
    return None if allowed else NOT_OPERATOR


def _finding_named(value: str) -> str:
    """The button's finding as "F-12"; a value that is no finding id, cut short, as is."""
    try:
        return short_id(parse_short_id(value))
    except ValueError:
        return value[:40]
