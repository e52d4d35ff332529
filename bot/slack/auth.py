"""Who may change state: the operator allow list (``SECBOT_OPERATORS``).

Operators are Slack user ids (``U…``/``W…``) and user-group ids (``S…``), never display
names (anyone can rename themselves). A group's members come from
``usergroups.users.list`` (Tier 2: about 20 calls a minute), so each group's answer is
cached for ``ttl`` seconds (5 minutes by default): a person removed from a group loses
operator rights within that time. The lookup fails closed: when Slack cannot tell, the
person is not an operator for this request and is told why.

``operator_middleware`` builds the Bolt listener middleware that applies the rule to the
slash command before its listener runs: read subcommands pass; state-changing ones
(``blocks.help.STATE_CHANGING``) from anyone else get an ephemeral denial that explains
the rule, and a log line with the user id and the subcommand (never a display name).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt import Ack, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.slack.blocks.help import STATE_CHANGING
from bot.slack.commands import subcommand_of

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 300.0
# A group lookup runs before the ack: it gets a short timeout and no rate-limit retry
# (whose Retry-After sleep could outlast Slack's 3-second budget).
LOOKUP_TIMEOUT_SECONDS = 2

GroupLookup = Callable[[str], Sequence[str]]


class LookupFailed(Exception):
    """Slack could not say who is in a user group."""


class Operators:
    """The allow list; thread-safe, with a per-group membership cache."""

    def __init__(
        self,
        ids: Sequence[str],
        *,
        ttl: float = GROUP_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = frozenset(i for i in ids if i[:1] in ("U", "W"))
        self.groups = tuple(i for i in ids if i[:1] == "S")
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.users or self.groups)

    def is_operator(self, user_id: str, *, lookup: GroupLookup) -> bool:
        """True when ``user_id`` is listed or is in a listed group (LookupFailed: unknown)."""
        if user_id in self.users:
            return True
        failed: LookupFailed | None = None
        for group in self.groups:
            try:
                if user_id in self._members(group, lookup):
                    return True
            except LookupFailed as e:
                failed = e
        if failed is not None:
            raise failed
        return False

    def _members(self, group: str, lookup: GroupLookup) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(group)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        members = frozenset(lookup(group))
        with self._lock:
            self._cache[group] = (now, members)
        return members


def slack_group_lookup(client: WebClient) -> GroupLookup:
    """``usergroups.users.list`` through a quick copy of ``client`` (same token and URL)."""

    def lookup(group: str) -> Sequence[str]:
        quick = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=LOOKUP_TIMEOUT_SECONDS,
            retry_handlers=[],
        )
        try:
            answer = quick.usergroups_users_list(usergroup=group)
        except (SlackApiError, SlackRequestError, OSError) as e:
            error = e.response.get("error") if isinstance(e, SlackApiError) else type(e).__name__
            log.warning("usergroups.users.list %s failed: %s", group, error)
            raise LookupFailed(group) from e
        users = answer.get("users") or []
        return [u for u in users if isinstance(u, str)]

    return lookup


def denial_text(subcommand: str, *, command: str) -> str:
    """Why the person may not run ``subcommand`` (raw text; Slack shows it as is)."""
    return (
        f":lock: Only operators may run `{command} {subcommand}`: it changes state. "
        "Operators are the Slack users and user groups listed by id in SECBOT_OPERATORS. "
        "Ask whoever runs secbot to add you; reading commands are open to everyone."
    )


def operator_middleware(
    operators: Operators,
    *,
    command: str,
    deny: Callable[[str, str], dict[str, Any]] | None = None,
) -> Callable[..., BoltResponse | None]:
    """Listener middleware of the slash command: state-changing subcommands need an operator.

    ``deny(subcommand, user_id)`` builds the ephemeral reply (the listeners pass the Block
    Kit builder); the default is ``denial_text``.
    """
    reply = deny or (lambda sub, _user: {"text": denial_text(sub, command=command)})

    def require_operator(
        body: dict[str, Any], ack: Ack, client: WebClient, next_: Callable[[], None]
    ) -> BoltResponse | None:
        subcommand = subcommand_of(str(body.get("text") or ""))
        if subcommand not in STATE_CHANGING:
            next_()
            return None
        user = str(body.get("user_id") or "")
        try:
            allowed = bool(user) and operators.is_operator(user, lookup=slack_group_lookup(client))
        except LookupFailed:
            log.warning("denied %s to user %s: user-group lookup failed", subcommand, user)
            return ack(
                response_type="ephemeral",
                text=":warning: I could not check your user-group membership with Slack "
                "just now, so I cannot let you change anything. Try again in a minute.",
            )
        if allowed:
            next_()
            return None
        log.warning("denied %s to user %s: not an operator", subcommand, user)
        return ack(response_type="ephemeral", **reply(subcommand, user))

    return require_operator
