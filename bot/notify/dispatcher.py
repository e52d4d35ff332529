"""The outbox dispatcher: send what is due, exactly once, in order.

One ``run_once`` (the scheduler calls it every few seconds, on the leader):

1. claim up to ``batch`` due rows, each by a conditional write (bot.store.repos.outbox),
   in one short transaction; nothing is held open while Slack is called;
2. send each through the sink, oldest first: an alert is posted; a "resolved" is posted
   as a reply in the thread of the finding's alert, and the alert is re-rendered as
   resolved (chat.update; failing to update does not fail the reply). A "resolved" whose
   alert has not gone out yet waits for it;
3. record the outcome, guarded by the claim token: sent (with the Slack channel id and
   ts, for later threads), retry later (``TemporaryError``: after the far end's
   Retry-After when it gave one, else exponential backoff), or dead (``PermanentError``,
   or the last attempt failed). A 429 also pauses the rest of this round for that channel.

Dead letters are logged (error level, dedupe key and reason, never the payload) and
counted in ``Stats``; ``secbot scheduler list`` shows the totals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.masking import mask_text
from bot.errors import PermanentError, RateLimited, TemporaryError
from bot.notify.payloads import Digest, FindingNotice, ScanSummary
from bot.notify.sinks import Message, Posted, Renderer, Sink
from bot.store.db import Engine, Session, session_scope
from bot.store.models_ops import OutboxRow
from bot.store.repos import outbox as outbox_repo

log = logging.getLogger(__name__)


@dataclass
class Stats:
    """What one ``run_once`` did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)  # how long a claim keeps others away
    batch: int = 50
    wait_for_alert: timedelta = timedelta(seconds=10)  # a "resolved" waiting for its alert


class _Wait(Exception):
    """The row cannot go yet (its alert has not been sent); not a failure."""


class Dispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        sink: Sink,
        renderer: Renderer,
        clock: Callable[[], datetime],
        policy: Policy | None = None,
    ) -> None:
        self._engine = engine
        self._sink = sink
        self._renderer = renderer
        self._clock = clock
        self._policy = policy or Policy()

    def run_once(self) -> Stats:
        """Send every due message once (see module docstring)."""
        stats = Stats()
        token = secrets.token_hex(16)
        now = self._clock()
        with session_scope(self._engine) as session:
            ids = outbox_repo.due(session, now=now, limit=self._policy.batch)
            mine = [
                i
                for i in ids
                if outbox_repo.claim(
                    session, i, now=now, until=now + self._policy.lease, token=token
                )
            ]
        paused: dict[str, datetime] = {}  # channel -> not before (a 429 said so)
        for row_id in mine:
            self._one(row_id, token=token, stats=stats, paused=paused)
        return stats

    def _one(self, row_id: int, *, token: str, stats: Stats, paused: dict[str, datetime]) -> None:
        with session_scope(self._engine) as session:
            row = outbox_repo.get(session, row_id)
            if row is None:  # pragma: no cover - rows are never deleted
                return
            session.expunge(row)
        now = self._clock()
        if row.channel in paused:
            self._finish(
                lambda s: outbox_repo.defer(s, row_id, token=token, at=paused[row.channel])
            )
            stats.deferred += 1
            return
        try:
            posted, thread_ts = self._send(row)
        except _Wait:
            at = now + self._policy.wait_for_alert
            self._finish(lambda s: outbox_repo.defer(s, row_id, token=token, at=at))
            stats.deferred += 1
        except TemporaryError as e:
            self._failed(row, token=token, error=e, now=now, stats=stats, paused=paused)
        except PermanentError as e:
            self._dead(row, token=token, error=str(e), stats=stats)
        except Exception as e:  # boundary: a bad payload or a renderer bug fails one row only
            log.exception("outbox: could not send %s", row.dedupe_key)
            self._failed(
                row,
                token=token,
                error=TemporaryError(f"internal error: {type(e).__name__}"),
                now=now,
                stats=stats,
                paused=paused,
            )
        else:
            done = self._clock()
            self._finish(
                lambda s: outbox_repo.mark_sent(
                    s,
                    row_id,
                    token=token,
                    now=done,
                    channel_id=posted.channel_id,
                    ts=posted.ts,
                    thread_ts=thread_ts,
                )
            )
            stats.sent += 1

    def _send(self, row: OutboxRow) -> tuple[Posted, str | None]:
        if row.kind == "resolved":
            return self._send_resolved(row)
        message = self._render(row)
        return self._sink.post(channel=row.channel, message=message), None

    def _render(self, row: OutboxRow) -> Message:
        if row.kind == "digest":
            return self._renderer.digest(Digest.from_json(row.payload))
        if row.kind == "alert":
            return self._renderer.alert(FindingNotice.from_json(row.payload))
        if row.kind == "summary":
            return self._renderer.summary(ScanSummary.from_json(row.payload))
        raise PermanentError(f"unknown outbox kind {row.kind!r}")

    def _send_resolved(self, row: OutboxRow) -> tuple[Posted, str | None]:
        notice = FindingNotice.from_json(row.payload)
        with session_scope(self._engine) as session:
            root = outbox_repo.thread_root(
                session, finding_id=notice.finding_id, channel=row.channel
            )
            if root is not None:
                session.expunge(root)
        if root is not None and root.state == outbox_repo.PENDING:
            raise _Wait
        reply = self._renderer.resolved_reply(notice)
        if root is None or root.state != outbox_repo.SENT or not root.slack_ts:
            return self._sink.post(channel=row.channel, message=reply), None
        posted = self._sink.post(channel=row.channel, message=reply, thread_ts=root.slack_ts)
        original = FindingNotice.from_json(root.payload)
        try:
            self._sink.update(
                channel_id=root.slack_channel or posted.channel_id,
                ts=root.slack_ts,
                message=self._renderer.resolved_original(original, notice),
            )
        except (TemporaryError, PermanentError) as e:
            # The reply is what matters; the stale original is cosmetic.
            log.warning(
                "outbox: could not mark the alert of F-%s resolved: %s", notice.finding_id, e
            )
        return posted, root.slack_ts

    def _failed(
        self,
        row: OutboxRow,
        *,
        token: str,
        error: TemporaryError,
        now: datetime,
        stats: Stats,
        paused: dict[str, datetime],
    ) -> None:
        attempts = row.attempts  # already counts this attempt (raised when claimed)
        if attempts >= self._policy.max_attempts:
            self._dead(
                row, token=token, error=f"gave up after {attempts} attempts: {error}", stats=stats
            )
            return
        backoff = min(self._policy.backoff * (2 ** (attempts - 1)), self._policy.max_backoff)
        wait = max(timedelta(seconds=error.delay), backoff)
        if isinstance(error, RateLimited):
            # Honour Retry-After exactly, and keep the channel quiet until then.
            wait = timedelta(seconds=max(error.delay, 1))
            paused[row.channel] = now + wait
        at = now + wait
        text = mask_text(str(error))
        self._finish(lambda s: outbox_repo.retry_later(s, row.id, token=token, at=at, error=text))
        stats.retried += 1
        stats.errors.append(text)

    def _dead(self, row: OutboxRow, *, token: str, error: str, stats: Stats) -> None:
        text = mask_text(error)
        log.error("outbox: dead letter %s to %s: %s", row.dedupe_key, row.channel, text)
        self._finish(lambda s: outbox_repo.mark_dead(s, row.id, token=token, error=text))
        stats.dead += 1
        stats.errors.append(text)

    def _finish(self, write: Callable[[Session], bool]) -> None:
        with session_scope(self._engine) as session:
            if not write(session):
                # Someone else took the row (our claim expired): they own it now.
                log.warning("outbox: lost a claim while sending; the other dispatcher owns it")
