"""What a subcommand's answer is: a message to ack with, or slow work for the worker."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

from bot.slack.auth import GroupLookup
from bot.slack.services import SlackServices
from bot.slack.worker import Message


@dataclass(frozen=True, slots=True)
class Request:
    """Who asked, and when: what every answer needs besides the command."""

    services: SlackServices
    user: str  # Slack user id
    now: datetime
    # Who is in a user group (approver groups); the listener's Web API client behind it.
    lookup: GroupLookup = lambda _group: ()


@dataclass(frozen=True, slots=True)
class Later:
    """Slow work: ``job`` runs on the worker and its message goes to the response_url;
    ``ack`` (if any) is shown at once. Reads that do not depend on who asks carry a
    ``key`` (the parsed command): identical ones in flight share one run."""

    job: Callable[[], Message]
    ack: Message | None = None
    key: Hashable = None


Outcome = Message | Later
