"""Read models of the audit log: what ``verify`` answers and what Slack shows.

Plain frozen dataclasses with no store behind them, so pure builders (bot/slack/blocks)
can render them; filled by bot.audit.log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record as readers see it (Slack ``audit``), without the chain's hashes."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of ``bot.audit.log.verify``.

    ``count``: records that verified (all of them when ``ok``); ``first_broken``: the
    seq of the first record that did not, with ``reason``. ``hmac_checked`` says whether
    HMACs were checked (a key was given); ``hmac_seen`` whether any record carries one.
    ``last_hash``: the hash of the newest record that verified ("" for none).
    """

    ok: bool
    count: int
    first_broken: int | None = None
    reason: str | None = None
    hmac_checked: bool = False
    hmac_seen: bool = False
    last_hash: str = ""
