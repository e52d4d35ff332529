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
Each denial is also audited ("command.denied", by ``audit_denials``) in a transaction of
its own, since nothing else is written: who tried what, and why they were refused. The
Fix button (``listeners.actions``) audits its denials with the same hook, naming the
finding as well.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from slack_bolt import Ack, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.audit.log import AuditLog
from bot.errors import UserError
from bot.slack.blocks.help import STATE_CHANGING
from bot.slack.commands import subcommand_of
from bot.store.db import Engine, session_scope

log = logging.getLogger(__name__)

GROUP_TTL_SECONDS = 300.0
# A group lookup runs before the ack: it gets a short timeout and no rate-limit retry
# (whose Retry-After sleep could outlast Slack's 3-second budget).
LOOKUP_TIMEOUT_SECONDS = 2

GroupLookup = Callable[[str], Sequence[str]]
# (subcommand, user id, why): called for every denial, before the denial is answered.
DenialHook = Callable[[str, str, str], None]
NOT_OPERATOR = "not an operator"
LOOKUP_FAILED = "user-group lookup failed"
LOOKUP_FAILED_TEXT = (
    ":warning: I could not check your user-group membership with Slack just now, so I "
    "cannot let you change anything. Try again in a minute."
)


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


def audit_denials(
    *,
    engine: Engine,
    audit: AuditLog,
    clock: Callable[[], datetime],
    command: str,
    finding: str | None = None,
) -> DenialHook:
    """A DenialHook that writes a "command.denied" audit record in its own transaction.

    For the slash command it runs before the ack (the middleware answers by returning
    it): one small row, and denials are rare; on SQLite it may queue briefly behind a
    scan's write. The person is refused either way: when the database cannot be used (a
    UserError from the store), the failure is logged as an error instead of turning the
    denial into one. ``finding`` ("F-12", the Fix button's) is added to the payload.
    """

    def record(subcommand: str, user: str, why: str) -> None:
        payload = {"command": f"{command} {subcommand}", "user": user, "why": why}
        if finding is not None:
            payload["finding"] = finding
        try:
            with session_scope(engine) as session:
                audit.record(
                    session,
                    actor=user[:64] or "unknown",
                    action="command.denied",
                    subject=f"command:{subcommand}",
                    payload=payload,
                    at=clock(),
                )
        except UserError as e:
            log.error("could not audit the denial of %s to user %s: %s", subcommand, user, e)

    return record


def operator_middleware(
    operators: Operators,
    *,
    command: str,
    deny: Callable[[str, str], dict[str, Any]] | None = None,
    on_denied: DenialHook | None = None,
) -> Callable[..., BoltResponse | None]:
    """Listener middleware of the slash command: state-changing subcommands need an operator.

    ``deny(subcommand, user_id)`` builds the ephemeral reply (the listeners pass the Block
    Kit builder); the default is ``denial_text``. ``on_denied`` (``audit_denials``) is
    told of every denial before it is answered.
    """
    reply = deny or (lambda sub, _user: {"text": denial_text(sub, command=command)})
    denied = on_denied or (lambda _sub, _user, _why: None)

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
            log.warning("denied %s to user %s: %s", subcommand, user, LOOKUP_FAILED)
            denied(subcommand, user, LOOKUP_FAILED)
            return ack(response_type="ephemeral", text=LOOKUP_FAILED_TEXT)
        if allowed:
            next_()
            return None
        log.warning("denied %s to user %s: %s", subcommand, user, NOT_OPERATOR)
        denied(subcommand, user, NOT_OPERATOR)
        return ack(response_type="ephemeral", **reply(subcommand, user))

    return require_operator
