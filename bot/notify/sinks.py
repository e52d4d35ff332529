"""Where messages go, and how payloads become messages: the two seams of the dispatcher.

A ``Sink`` posts a rendered message (Slack: bot.slack.sink.SlackSink; the console:
bot.notify.console.ConsoleSink) and may update one it posted before. It reports failures
in the bot's own terms, so the dispatcher needs no Slack knowledge:

- ``TemporaryError(delay=…)``: try again later (429 with its Retry-After, 5xx, a
  connection that failed); ``delay`` is the least time to wait, when the far end said;
- ``PermanentError``: retrying cannot help (channel not found, not in channel, bad auth,
  invalid blocks): the message is dead-lettered at once.

A ``Renderer`` turns payloads (bot.notify.payloads, bot.notify.digest_payloads) into
messages; the Slack one lives in bot/slack/blocks (pure builders), and the console prints
the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bot.notify.digest_payloads import Digest
from bot.notify.payloads import FindingNotice, RequestNotice, ScanSummary

Message = dict[str, Any]  # {"text": fallback, "blocks": [...]}


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: the channel id (updates need it) and its ts."""

    channel_id: str
    ts: str


class Sink(Protocol):
    def post(
        self,
        *,
        channel: str,
        message: Message,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        """Post ``message`` to ``channel`` (a name like ``#ops`` or an id), optionally as a
        reply in the thread of ``thread_ts`` (``broadcast``: also shown in the channel)."""
        ...

    def update(self, *, channel_id: str, ts: str, message: Message) -> None:
        """Replace the message ``ts`` in ``channel_id`` (one this sink posted)."""
        ...


class Renderer(Protocol):
    def alert(self, notice: FindingNotice) -> Message:
        """A top-level message: new, reopened, escalated or unsilenced finding."""
        ...

    def resolved_reply(self, notice: FindingNotice) -> Message:
        """The thread reply when the finding resolved (``notice.event == "resolved"``)."""
        ...

    def resolved_original(self, original: FindingNotice, resolved: FindingNotice) -> Message:
        """The original alert, re-rendered to show it has resolved (chat.update)."""
        ...

    def summary(self, summary: ScanSummary) -> Message:
        """Many new findings of one scan as one message (see ScanSummary)."""
        ...

    def request(self, planned: RequestNotice, outcome: RequestNotice | None = None) -> Message:
        """The approval message of a request: with Approve / Reject buttons while it is
        open; with ``outcome`` (a final event) instead of buttons once it is decided."""
        ...

    def request_reply(self, update: RequestNotice) -> Message:
        """A later event of a request, as a reply in its approval message's thread."""
        ...

    def digest(self, digest: Digest) -> Message:
        """The daily digest, within Slack's limits (50 blocks, 3,000 chars a section)."""
        ...
