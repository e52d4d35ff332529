"""The console sink (bot.notify.sinks.Sink): what secbot would post to Slack, printed.

Used when ``SLACK_BOT_TOKEN`` is not set: ``secbot serve`` says so once, clearly
(``announce``), and everything that would have been posted is printed with a label, so a
newcomer sees the bot work before creating a Slack app. Messages are the same dicts the
builders make for Slack; the console shows their fallback text and the text of their
blocks, one indented line each.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from bot.notify.sinks import Posted

BANNER = (
    "secbot: Slack is not configured (SLACK_BOT_TOKEN is not set). Nothing is posted to "
    "Slack: what would be posted is printed here, marked [console]. Set SLACK_BOT_TOKEN and "
    "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) to connect; "
    "deploy/slack-app-manifest.yaml creates the Slack app."
)


def _texts(value: Any) -> Iterator[str]:
    """Every ``text`` string inside a block, depth first (text objects, fields, elements)."""
    if isinstance(value, Mapping):
        text = value.get("text")
        if isinstance(text, str):
            yield text
        for key, item in value.items():
            if key != "text" or not isinstance(item, str):
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _unescape(text: str) -> str:
    # Slack's mrkdwn escapes exactly these three; a terminal shows them as typed.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render(message: Mapping[str, Any]) -> list[str]:
    """The lines the console shows for one message (fallback, then block texts)."""
    lines = [_unescape(str(message.get("text") or ""))]
    for block in message.get("blocks") or []:
        lines += ["    " + _unescape(line) for text in _texts(block) for line in text.splitlines()]
    return lines


class ConsoleSink:
    """Prints messages; thread-safe so that lines of two messages never interleave."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._announced = False
        self._count = 0  # fake message timestamps, so threads still work on the console

    def announce(self) -> None:
        """Say once that Slack is not configured (later calls print nothing)."""
        with self._lock:
            if self._announced:
                return
            self._announced = True
            print(BANNER, file=self._stream, flush=True)

    def post(
        self,
        *,
        channel: str,
        message: Mapping[str, Any],
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> Posted:
        """Print what would be posted to ``channel`` (a thread reply says so)."""
        where = f"{channel} (thread {thread_ts})" if thread_ts else channel
        if thread_ts and broadcast:
            where += " and the channel"
        with self._lock:
            self._count += 1
            ts = f"{self._count}.000000"
        self._print(f"would post to {where}", message)
        return Posted(channel_id=channel, ts=ts)

    def update(self, *, channel_id: str, ts: str, message: Mapping[str, Any]) -> None:
        """Print what the message ``ts`` would be changed to."""
        self._print(f"would update {ts} in {channel_id} to", message)

    def _print(self, what: str, message: Mapping[str, Any]) -> None:
        lines = render(message)
        with self._lock:
            print(f"[console] {what}: {lines[0]}", file=self._stream)
            for line in lines[1:]:
                print(f"[console] {line}", file=self._stream)
            self._stream.flush()
