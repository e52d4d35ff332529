"""The bot's own pool for slow Slack work (scans, long lists, live reads).

A listener acks at once and hands the slow part to ``Worker.submit``; the job returns the
message to show and the worker sends it through the request's ``response_url``. Bolt's
listener executor is not used for this: it also runs the acks of later requests, and a
scan parked on it would starve them (reference/libraries.md §1.2).

Bounded twice: ``threads`` jobs run at once, and at most ``max_pending`` are accepted
(running or queued); beyond that ``submit`` raises ``Busy`` (a UserError the person
sees) instead of queueing work nobody will wait for. A job's failure is answered, never
lost: a ``UserError`` as its message, anything else as an error id that is also logged
with the traceback. Identical reads in flight at the same time (``key``) share one run.

``response_url`` POSTs go through ``WebhookClient`` with the same retry handlers as the
Web API client (429 honouring Retry-After, 5xx, connection errors): Bolt's own
``respond()`` retries connection errors only.
"""

from __future__ import annotations

import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from bot.errors import UserError
from bot.logctx import bound
from bot.slack.blocks.notices import error_message as internal_error_message
from bot.slack.blocks.notices import usage_message, user_error_message
from bot.slack.command_types import UsageError

log = logging.getLogger(__name__)

Message = dict[str, Any]
Reply = Callable[[Message], None]


class Busy(UserError):
    """Too much slow work is already queued."""


def retry_handlers() -> list[RetryHandler]:
    """429 (sleeps Retry-After), 500/503 and dropped connections: a few retries each."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def new_error_id() -> str:
    return uuid.uuid4().hex[:8]


def user_reply(error: UserError) -> Message:
    """What the person sees for a UserError: the usage line for bad arguments, else the
    message itself."""
    if isinstance(error, UsageError):
        return usage_message(error.subcommand, command=error.command, problem=error.problem)
    return user_error_message(str(error))


def responder(response_url: str, *, timeout: int = 10) -> Reply:
    """Send messages to ``response_url`` (ephemeral unless the message says otherwise)."""
    client = WebhookClient(url=response_url, timeout=timeout, retry_handlers=retry_handlers())

    def send(message: Message) -> None:
        answer = client.send_dict({"response_type": "ephemeral", **message})
        if answer.status_code != 200:
            # The URL is per request and carries no secret, but it is not useful in logs.
            log.warning("response_url answered %s: %s", answer.status_code, answer.body[:200])

    return send


class Worker:
    """A bounded thread pool whose jobs answer through a ``Reply``."""

    def __init__(
        self,
        *,
        threads: int,
        max_pending: int | None = None,
        error_message: Callable[[str], Message] = internal_error_message,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self.max_pending = max_pending if max_pending is not None else threads * 8
        self._lock = threading.Lock()
        self._pending = 0
        self._inflight: dict[Hashable, list[Reply]] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slack-worker")
        self._error_message = error_message

    def submit(
        self, job: Callable[[], Message], *, reply: Reply, what: str, key: Hashable = None
    ) -> None:
        """Run ``job`` and send what it returns; ``Busy`` when the queue is full.

        Jobs with the same ``key`` (a read, e.g. the parsed ``status`` command) share one
        run while it is in flight: a burst of identical questions costs one query, and
        each asker still gets the answer, computed after they asked.
        """
        with self._lock:
            if key is not None and key in self._inflight:
                self._inflight[key].append(reply)
                return
            if self._pending >= self.max_pending:
                raise Busy(
                    f"I am busy with {self.max_pending} other requests; try again in a minute."
                )
            self._pending += 1
            if key is not None:
                self._inflight[key] = [reply]

        context = f"slack {what} {secrets.token_hex(4)}"

        def run() -> None:
            try:
                with bound(context):
                    self._answer(job, reply=reply, what=what, key=key)
            finally:
                self._done()

        try:
            self._pool.submit(run)
        except RuntimeError:  # shut down
            with self._lock:
                self._inflight.pop(key, None)
            self._done()
            raise Busy("I am shutting down; try again in a minute.") from None

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished (running or queued)."""
        with self._lock:
            return self._pending

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def _answer(
        self, job: Callable[[], Message], *, reply: Reply, what: str, key: Hashable
    ) -> None:
        try:
            message = job()
        except UserError as e:
            message = user_reply(e)
        except Exception as e:  # boundary: one job's bug must reach its requester and the log
            error_id = new_error_id()
            log.exception("internal error %s in %s", error_id, what, exc_info=e)
            message = self._error_message(error_id)
        finally:
            with self._lock:  # later askers start a fresh run
                replies = self._inflight.pop(key) if key is not None else [reply]
        for send in replies:
            try:
                send(message)
            except Exception:  # boundary: nobody is left to tell but the log
                log.exception("could not send the answer of %s", what)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting work; queued jobs are dropped, running ones finish if ``wait``."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
