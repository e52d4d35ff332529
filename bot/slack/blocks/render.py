"""``SlackRenderer``: the dispatcher's ``Renderer`` (bot.notify.sinks) for Slack.

It only binds the two things every message needs, the time zone dates are shown in and
the slash command the hints name, and delegates to the pure builders (alerts, summary, digest).
The console prints the same messages, so it can use this renderer too.
"""

from __future__ import annotations

from datetime import tzinfo

from bot.notify.digest_payloads import Digest
from bot.notify.payloads import FindingNotice, RequestNotice, ScanSummary
from bot.notify.sinks import Message
from bot.slack.blocks import alerts
from bot.slack.blocks.common import DEFAULT_COMMAND
from bot.slack.blocks.digest import digest_message
from bot.slack.blocks.requests import request_message, request_reply
from bot.slack.blocks.summary import summary_message


class SlackRenderer:
    """Block Kit messages for finding notices and the digest."""

    def __init__(self, tz: tzinfo, command: str = DEFAULT_COMMAND) -> None:
        self.tz = tz
        self.command = command

    def alert(self, notice: FindingNotice) -> Message:
        return alerts.alert_message(notice, tz=self.tz, command=self.command)

    def resolved_reply(self, notice: FindingNotice) -> Message:
        return alerts.resolved_reply(notice, tz=self.tz)

    def resolved_original(self, original: FindingNotice, resolved: FindingNotice) -> Message:
        return alerts.resolved_original(original, resolved, tz=self.tz, command=self.command)

    def summary(self, summary: ScanSummary) -> Message:
        return summary_message(summary, tz=self.tz, command=self.command)

    def request(self, planned: RequestNotice, outcome: RequestNotice | None = None) -> Message:
        return request_message(planned, outcome, tz=self.tz, command=self.command)

    def request_reply(self, update: RequestNotice) -> Message:
        return request_reply(update, tz=self.tz)

    def digest(self, digest: Digest) -> Message:
        return digest_message(digest, tz=self.tz, command=self.command)
