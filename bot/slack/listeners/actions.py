"""Buttons. The "Fix" button of a finding (``finding-fix``) belongs to the remediation
feature; until it lands the click is acknowledged and answered, to the clicker only,
that remediation is not enabled yet (the message with the button stays as it was)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.slack.blocks.findings import FIX_ACTION_ID
from bot.slack.blocks.notices import not_enabled_message
from bot.slack.services import SlackServices
from bot.slack.worker import responder


def register(app: App, services: SlackServices) -> None:
    def finding_fix(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        url = body.get("response_url")
        if isinstance(url, str) and url:
            message = not_enabled_message("fix", command=services.command)
            reply = {**message, "replace_original": False}
            services.worker.submit(lambda: reply, reply=responder(url), what="finding-fix")

    app.action(FIX_ACTION_ID)(finding_fix)
