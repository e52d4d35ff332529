"""The outbox dispatcher: send what is due, exactly once, in order.

One ``run_once`` (the scheduler calls it every few seconds, on the leader) walks the due
rows, oldest first, and for each one:

1. claims it by a conditional write (bot.store.repos.outbox), just before sending it, so
   a claim only ever covers one send (a 10 s Slack timeout, well inside the lease);
   nothing is held open while Slack is called;
2. sends it through the sink. An alert about a finding that already has an alert in
   the channel (an escalation, an expired silence) is a reply in that alert's thread,
   broadcast to the channel, and the alert is re-rendered to show the finding as it is
   now; a "resolved" is a reply in that thread, and the alert is re-rendered as
   resolved (a failed update never fails the reply). A reply whose alert has not gone
   out yet waits for it;
3. records the outcome, guarded by the claim token: sent (with the Slack channel id and
   ts, for later threads), retry later (``TemporaryError``: backoff; ``RateLimited``:
   exactly Retry-After, without using up an attempt, and the channel rests for the rest
   of the round), or dead (``PermanentError``; a failing Slack or network after
   ``max_attempts`` and ``give_up_after``; an internal error after ``max_attempts``).

Dead letters are logged (error level, dedupe key and reason, never the payload) and
counted; ``secbot scheduler list`` shows the totals.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.masking import mask_text
from bot.errors import PermanentError, RateLimited, TemporaryError
from bot.notify.digest_payloads import Digest
from bot.notify.payloads import FindingNotice, RequestNotice, ScanSummary
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
    max_backoff: timedelta = timedelta(minutes=15)
    # Slack or the network failing: keep trying at least this long (and max_attempts
    # times): an outage of an hour or a night must not lose the alert that a certificate
    # expires in five days. An internal error (a renderer bug) gives up after the attempts.
    give_up_after: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(minutes=2)  # how long a claim keeps others away
    batch: int = 50
    wait_for_alert: timedelta = timedelta(seconds=10)  # a "resolved" waiting for its alert


@dataclass(frozen=True)
class _Thread:
    ts: str  # of the thread's first message (the alert that started it)
    channel_id: str
    original: FindingNotice  # what that first message showed


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
        with session_scope(self._engine) as session:
            ids = outbox_repo.due(session, now=self._clock(), limit=self._policy.batch)
        paused: dict[str, datetime] = {}  # channel -> not before (a 429 said so)
        for row_id in ids:
            self._one(row_id, stats=stats, paused=paused)
        return stats

    def _one(self, row_id: int, *, stats: Stats, paused: dict[str, datetime]) -> None:
        token = secrets.token_hex(16)
        now = self._clock()
        with session_scope(self._engine) as session:
            row = outbox_repo.get(session, row_id)
            if row is None or row.state != outbox_repo.PENDING:
                return  # another dispatcher sent it since we listed it
            if not outbox_repo.claim(
                session, row_id, now=now, until=now + self._policy.lease, token=token
            ):
                return  # another dispatcher is sending it right now
            session.flush()
            session.refresh(row)
            session.expunge(row)
        if row.channel in paused:
            at = paused[row.channel]
            self._finish(lambda s: outbox_repo.defer(s, row_id, token=token, at=at))
            stats.deferred += 1
            return
        try:
            posted, thread_ts = self._send(row)
        except _Wait:
            at = now + self._policy.wait_for_alert
            self._finish(lambda s: outbox_repo.defer(s, row_id, token=token, at=at))
            stats.deferred += 1
        except RateLimited as e:
            # Slack said when: not a failure of this message, so no attempt is used up.
            at = now + timedelta(seconds=max(e.delay, 1))
            paused[row.channel] = at
            self._finish(lambda s: outbox_repo.defer(s, row_id, token=token, at=at))
            stats.retried += 1
            stats.errors.append(mask_text(str(e)))
        except TemporaryError as e:
            self._failed(row, token=token, error=e, now=now, stats=stats, outage=True)
        except PermanentError as e:
            self._dead(row, token=token, error=str(e), stats=stats)
        except Exception as e:  # boundary: a bad payload or a renderer bug fails one row only
            error_id = secrets.token_hex(4)
            # The traceback only at DEBUG: exception texts are not ours to trust.
            log.error(
                "outbox: could not send %s: %s (error %s)",
                row.dedupe_key,
                type(e).__name__,
                error_id,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            error = TemporaryError(f"internal error {type(e).__name__} (error {error_id})")
            self._failed(row, token=token, error=error, now=now, stats=stats, outage=False)
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
        if row.kind == "request-update":
            return self._send_request_update(row)
        message = self._render(row)
        thread = self._thread(row) if row.kind in ("alert", "resolved") else None
        if thread is None:
            return self._sink.post(channel=row.channel, message=message), None
        # A follow-up: in the alert's thread; an escalation also shows in the channel.
        posted = self._sink.post(
            channel=row.channel, message=message, thread_ts=thread.ts, broadcast=row.kind == "alert"
        )
        notice = FindingNotice.from_json(row.payload)
        current = (
            self._renderer.resolved_original(thread.original, notice)
            if row.kind == "resolved"
            else self._renderer.alert(notice)
        )
        try:
            self._sink.update(channel_id=thread.channel_id, ts=thread.ts, message=current)
        except (TemporaryError, PermanentError) as e:
            # The reply is what matters; a stale original is cosmetic.
            log.warning("outbox: could not update the alert of F-%s: %s", notice.finding_id, e)
        return posted, thread.ts

    def _thread(self, row: OutboxRow) -> _Thread | None:
        """The thread a follow-up goes in: that of the newest alert about its finding (or
        the finding it continues); None for a new or reopened finding (a thread of its
        own) and when there is no alert to follow. ``_Wait`` while that alert is unsent."""
        notice = FindingNotice.from_json(row.payload)
        anchor = notice.follows or notice.finding_id
        if row.kind == "alert" and notice.event in ("new", "reopened"):
            return None
        with session_scope(self._engine) as session:
            last = outbox_repo.last_alert(
                session, finding_id=anchor, channel=row.channel, before=row.id
            )
            if last is None or last.state == outbox_repo.DEAD:
                return None
            if last.state == outbox_repo.PENDING:
                raise _Wait
            ts = last.thread_ts or last.slack_ts
            root = outbox_repo.posted_as(session, channel=row.channel, ts=ts) if ts else None
            if root is None or ts is None:
                return None
            return _Thread(
                ts=ts,
                channel_id=root.slack_channel or row.channel,
                original=FindingNotice.from_json(root.payload),
            )

    def _send_request_update(self, row: OutboxRow) -> tuple[Posted, str | None]:
        """A later event of a remediation request: a reply under its approval message;
        a final one also replaces the message's buttons with the outcome."""
        update = RequestNotice.from_json(row.payload)
        with session_scope(self._engine) as session:
            root = outbox_repo.by_key(session, f"request:{row.channel}:R-{update.request_id}")
            if root is not None:
                session.expunge(root)
        if root is not None and root.state == outbox_repo.PENDING:
            raise _Wait
        reply = self._renderer.request_reply(update)
        if root is None or root.state != outbox_repo.SENT or not root.slack_ts:
            return self._sink.post(channel=row.channel, message=reply), None
        posted = self._sink.post(channel=row.channel, message=reply, thread_ts=root.slack_ts)
        if update.final or update.event == "approved":
            planned = RequestNotice.from_json(root.payload)
            try:
                self._sink.update(
                    channel_id=root.slack_channel or posted.channel_id,
                    ts=root.slack_ts,
                    message=self._renderer.request(planned, update),
                )
            except (TemporaryError, PermanentError) as e:
                log.warning(
                    "outbox: could not update the message of R-%s: %s", update.request_id, e
                )
        return posted, root.slack_ts

    def _render(self, row: OutboxRow) -> Message:
        if row.kind == "digest":
            return self._renderer.digest(Digest.from_json(row.payload))
        if row.kind == "alert":
            return self._renderer.alert(FindingNotice.from_json(row.payload))
        if row.kind == "resolved":
            return self._renderer.resolved_reply(FindingNotice.from_json(row.payload))
        if row.kind == "summary":
            return self._renderer.summary(ScanSummary.from_json(row.payload))
        if row.kind == "request":
            return self._renderer.request(RequestNotice.from_json(row.payload))
        raise PermanentError(f"unknown outbox kind {row.kind!r}")

    def _failed(
        self,
        row: OutboxRow,
        *,
        token: str,
        error: TemporaryError,
        now: datetime,
        stats: Stats,
        outage: bool,
    ) -> None:
        attempts = row.attempts  # already counts this attempt (raised when claimed)
        policy = self._policy
        if attempts >= policy.max_attempts and (
            not outage or now - row.created_at >= policy.give_up_after
        ):
            reason = f"gave up after {attempts} attempts: {error}"
            self._dead(row, token=token, error=reason, stats=stats)
            return
        backoff = min(self._policy.backoff * (2 ** (attempts - 1)), self._policy.max_backoff)
        at = now + max(timedelta(seconds=error.delay), backoff)
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
